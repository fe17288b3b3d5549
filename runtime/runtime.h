/*
 * runtime.h — the small C library every sinter program links: data sets,
 * batching and shuffling, counter-based random numbers, safetensors files,
 * the run log and progress display.  Nothing here depends on the compiler.
 *
 * Errors a user can cause (missing or malformed files) are returned as
 * false/NULL with a message in err; the caller adds the source location.
 */
#ifndef SINTER_RUNTIME_H
#define SINTER_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- random numbers (runtime/rng.c): counter based, no hidden state ---- */
uint64_t rt_mix64(uint64_t x);                      /* splitmix64 finalizer */
uint64_t rt_key(uint64_t seed, const char *name);   /* stream key from seed and a name */
float rt_uniform(uint64_t key, uint64_t i);         /* i-th draw of stream key, in [0, 1) */
float rt_normal(uint64_t key, uint64_t i);          /* i-th standard normal draw */
void rt_fill_uniform(float *p, int64_t n, float lo, float hi, uint64_t key);
void rt_fill_normal(float *p, int64_t n, float mean, float std, uint64_t key);
/* Uniform random permutation of 0..n-1 (Fisher–Yates driven by key). */
void rt_permutation(int64_t *out, int64_t n, uint64_t key);

/* ---- exp and tanh (runtime/mathf.c): the interpreter's and generated
   code's, operation for operation (codegen/scalar.c emits them inline) ---- */
float rt_expf(float x);
float rt_tanhf(float x);
#define RT_EXP_HI 88.72283935546875f   /* above: inf */
#define RT_EXP_LO -87.33654022216797f  /* below: 0 (no subnormal results) */
#define RT_LOG2E 1.44269502162933349609375f
#define RT_LN2_HI 0.693145751953125f     /* ln 2 = HI + LO; k * HI is exact */
#define RT_LN2_LO 1.428606765330187e-06f
#define RT_TANH_SMALL 0.625f           /* below: the odd polynomial */
#define RT_TANH_ONE 9.0f               /* above: +-1 */
enum { RT_EXP_N = 8, RT_TANH_N = 5 };
extern const float RT_EXP_C[RT_EXP_N], RT_TANH_C[RT_TANH_N];

/* ---- bf16 (the upper half of an f32): the one conversion the interpreter,
   host, safetensors I/O and generated code (codegen/scalar.c) all use,
   bit for bit PyTorch's c10::BFloat16: round to nearest even, every NaN
   becomes the quiet NaN 0x7FC0 (the sign of a NaN is not kept) ---- */
static inline uint16_t rt_bf16_from_f32(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	if (x != x)
		return 0x7FC0;
	return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

static inline float rt_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float x;
	memcpy(&x, &u, sizeof x);
	return x;
}

/* ---- the memory limit (runtime/memlimit.c) ---- */
/* "512M", "8G", "1.5GiB", "4096": bytes (units are powers of 1024); false
   for anything else, zero or 2^62 and more. */
bool rt_parse_bytes(const char *s, int64_t *out);
/* "37.3 GiB" (bytes below 1 KiB as "N bytes"). */
char *rt_format_bytes(int64_t bytes, char *buf, size_t n);
/* Physical memory available now (MemAvailable, else free pages). */
int64_t rt_mem_available(void);
/* The limit: set by --max-memory, else the memory available when first asked. */
void rt_mem_set_limit(int64_t bytes);
int64_t rt_mem_limit(void);
/* Large blocks that outlive a statement count as held (negative: freed). */
void rt_mem_hold(int64_t bytes);
int64_t rt_mem_held(void);
/* Whether `bytes` more fit in the limit next to what is held; if not, err
   says "<what> needs N bytes ...; the memory limit is ...". */
bool rt_mem_check(int64_t bytes, const char *what, char *err, size_t errlen);

/* ---- data sets (runtime/data.c) ---- */
typedef enum { RT_F32, RT_I32, RT_BF16 } RtDType; /* RT_BF16: safetensors only, never a data set */

/*
 * A data set is a list of examples (x, y).  It stays in memory in its file's
 * element type (bytes for IDX, uint16 for token files, bytes for text) and is
 * converted per batch.  x and y of one example have fixed shapes.
 */
typedef struct RtDataset RtDataset;

enum { RT_EXAMPLE_RANK = 4 }; /* axes of one example at most */

typedef struct {
	RtDType dt;
	int rank;
	int64_t dim[RT_EXAMPLE_RANK]; /* shape of one example, without the batch axis */
} RtShape;

/* IDX images + labels, optionally gzipped.  x: f32 pixels / 255, flattened to
   [H*W] unless flatten is false ([1, H, W]); y: i32 label []. */
RtDataset *rt_idx_open(const char *images, const char *labels, bool flatten, char *err, size_t errlen);
/* Byte-level text: example i is x = bytes[i .. i+T), y = bytes[i+1 .. i+T+1),
   both i32[T]; there are len - T examples. */
RtDataset *rt_text_open(const char *path, int64_t context, char *err, size_t errlen);
/* uint16 tokens after a 256-int32 header (magic 20240520, version, count);
   examples as for text. vocab > 0: a token >= vocab is an error naming the
   file and the token's position. */
RtDataset *rt_tokens_open(const char *path, int64_t context, int64_t vocab, char *err, size_t errlen);
/* Numeric CSV (runtime/csv.c): features f32[F] (every column but the
   target, in file order), y the target column: i32 [] when every target
   cell is an integer written without a point or exponent and within i32,
   else f32 [].  The target is the column named target when it is not NULL
   (header required), else column target_col (negative: from the end).
   Blank lines are skipped; rows are counted as lines of the file.  A bad
   cell, a ragged row, a missing target, an empty file or one with a header
   only fail with the file, row and column in err. */
RtDataset *rt_csv_open(const char *path, const char *target, int64_t target_col, bool header,
                       char *err, size_t errlen);
/* n examples held in memory: x is n rows of xs (4-byte f32 or i32 each), y
   n rows of ys, or NULL for examples without a y (yshape's rank is then
   -1).  Takes both malloc'ed buffers, which count as held; the caller has
   checked the memory limit. */
RtDataset *rt_dataset_memory(RtShape xs, void *x, RtShape ys, void *y, int64_t n);
/* Examples [from, to) of ds as a new data set sharing its memory (held-out splits). */
RtDataset *rt_dataset_slice(RtDataset *ds, int64_t from, int64_t to);
int64_t rt_dataset_len(const RtDataset *ds);
/* How many examples an example overlaps after it: the context T of a text
   or token set (example i holds i .. i+T), 0 for sets of separate examples. */
int64_t rt_dataset_overlap(const RtDataset *ds);
RtShape rt_dataset_xshape(const RtDataset *ds);
RtShape rt_dataset_yshape(const RtDataset *ds);
/* Writes examples idx[0..n) into x and y (row-major, batch axis first). */
void rt_dataset_fill(const RtDataset *ds, const int64_t *idx, int64_t n, void *x, void *y);
void rt_dataset_free(RtDataset *ds);

/* ---- documents and packed rows (runtime/docs.c) ---- */
/* Byte-level documents: the file (or a directory's files, as text reads
   them) split at every occurrence of sep (nsep > 0 bytes; a file's end
   also ends a document).  Documents of fewer than 2 bytes, which have
   nothing to predict, are left out.  *sep_found tells whether sep occurred
   at all.  An empty file, or one without a document of 2 bytes, fails. */
RtDataset *rt_documents_open(const char *path, const char *sep, size_t nsep, bool *sep_found, char *err,
                             size_t errlen);
/* Token documents: a token file (as tokens() reads it, tokens checked
   against vocab when vocab > 0) split after every eot token, which ends
   its document (so the model learns to predict the end of a text).
   Documents of fewer than 2 tokens are left out; *eot_found tells whether
   eot occurred at all. */
RtDataset *rt_token_documents_open(const char *path, int64_t vocab, int64_t eot, bool *eot_found, char *err,
                                   size_t errlen);
bool rt_dataset_is_docs(const RtDataset *ds);
/* Document i of a set of documents: its first byte, and *len tokens of
   rt_dataset_doc_width(ds) bytes each (1: text; 2: u16 LE token ids). */
const unsigned char *rt_dataset_doc(const RtDataset *ds, int64_t i, int64_t *len);
int rt_dataset_doc_width(const RtDataset *ds);

/* How documents are laid into rows of T positions.  GREEDY: in order,
   each row filled to the end, a document that does not fit cut at the row's
   end and continued in the next row.  BEST_FIT: best-fit decreasing, cutting
   only documents longer than T (into pieces of T and a rest).  PADDED: one
   piece per row, the rest of the row padding (the baseline). */
typedef enum { RT_PACK_GREEDY, RT_PACK_BEST_FIT, RT_PACK_PADDED } RtPackStrategy;
typedef struct RtPack RtPack;
/* One pass over the documents of ds as rows of T positions (T >= 2); with
   shuffle, the order of the documents (and, for BEST_FIT and PADDED, of
   the rows) is drawn from key. */
RtPack *rt_pack_plan(const RtDataset *ds, int64_t T, RtPackStrategy strategy, bool shuffle, uint64_t key);
/* About the most bytes rt_pack_plan allocates for ds at T while it plans
   (an estimate from above, for the memory limit). */
int64_t rt_pack_bytes(const RtDataset *ds, int64_t T);
int64_t rt_pack_rows(const RtPack *p);
/* Positions that hold a document's byte (the rest is padding). */
int64_t rt_pack_tokens(const RtPack *p);
/* Documents cut into two or more pieces. */
int64_t rt_pack_splits(const RtPack *p);
/* Rows row0 .. row0 + n of the plan into x, y, seg, pos (each n * T, row
   major); rows past the plan's end are all padding.  A position of piece
   j of a row (from 0) holding byte i of its document: x the byte, y the
   next byte of the document or -1 after its last, seg j, pos its place in
   the piece.  Padding: x 0, y -1, seg -1, pos 0. */
void rt_pack_fill(const RtPack *p, const RtDataset *ds, int64_t row0, int64_t n, int32_t *x, int32_t *y,
                  int32_t *seg, int32_t *pos);
void rt_pack_free(RtPack *p);

/* ---- batching (runtime/data.c) ---- */
/* The example order for one pass over n examples: 0..n-1, or a permutation
   drawn from key when shuffle is set.  Caller frees. */
int64_t *rt_batch_order(int64_t n, bool shuffle, uint64_t key);
/* Number of batches of size b over n examples. */
int64_t rt_batch_count(int64_t n, int64_t b, bool drop_last);

/* ---- safetensors (runtime/safetensors.c) ---- */
typedef struct {
	const char *name;   /* dotted parameter name */
	RtDType dt;
	int rank;
	int64_t dim[8];
	void *data;         /* row-major */
} RtTensor;

/* Elements of a shape, or -1 if a dim is negative or 4 bytes each overflow. */
int64_t rt_tensor_numel(int rank, const int64_t *dim);
/* Bytes of one element: 4, 2 for RT_BF16. */
static inline int64_t rt_dtype_size(RtDType dt)
{
	return dt == RT_BF16 ? 2 : 4;
}
/* Writes tensors (sorted by name in the header) to path through a temporary
   file renamed into place, so a failed write never leaves a partial file. */
bool rt_safetensors_save(const char *path, const RtTensor *t, int n, char *err, size_t errlen);
/* Reads every tensor of path (F32, I32, BF16); *out is malloc'ed, each data too. */
bool rt_safetensors_load(const char *path, RtTensor **out, int *n, char *err, size_t errlen);
void rt_tensors_free(RtTensor *t, int n);

/* ---- run log and progress (runtime/log.c) ---- */
/* Milliseconds on the monotonic clock: the run log's step times and every
   --time-passes figure (differences only; the origin means nothing). */
double rt_now_ms(void);

typedef struct RtLog RtLog;
/* path NULL: no JSON-lines file.  progress: draw the one-line display on
   stderr (the caller passes isatty(2)).  The file is truncated and locked
   for the life of the log; a path another live run logs to is an error. */
RtLog *rt_log_open(const char *path, bool progress, char *err, size_t errlen);
/* Total steps expected, for the ETA (0 = unknown). */
void rt_log_set_total(RtLog *l, int64_t total);
/* One record: {"step": step, "time": seconds since open, name: value, ...}. */
void rt_log_record(RtLog *l, int64_t step, int n, const char *const *names, const double *values);
/* Clears the progress line (before other output to the terminal). */
void rt_log_clear_line(RtLog *l);
void rt_log_close(RtLog *l);

/* ---- interruption (runtime/log.c) ---- */
/* SIGINT/SIGTERM handlers: the first signal is only remembered (polled with
   rt_signal_pending, which returns its number, else 0); a second one removes
   the registered temporary file and exits at once with 128 + its number. */
void rt_signals_install(void);
int rt_signal_pending(void);
/* The temporary file a second signal removes (NULL: none). */
void rt_tmp_register(const char *path);

/* ---- a bad index in generated code (runtime/log.c) ---- */
/* Called by generated code after a range-checked kernel saw a bad index:
   records the first index of idx[0..ni) outside [0, n) with the op (an
   OpKind) and its Node.loc; the region function then returns 1. */
void rt_index_record(const int32_t *idx, int64_t ni, int64_t n, int32_t loc, int32_t op);
/* What the last rt_index_record recorded. */
void rt_index_take(int32_t *op, int32_t *loc, int64_t *index, int64_t *n);

/* ---- thread pool (runtime/pool.c) ---- */
/* Starts nthreads - 1 worker threads (nthreads <= 0: one per online core);
   calling it again resizes the pool.  rt_parallel_for starts the default
   pool itself if nobody called this first.  At most RT_MAX_THREADS. */
#define RT_MAX_THREADS 256
void rt_pool_init(int nthreads);
/* Threads that run a job, the caller included (1 before rt_pool_init). */
int rt_pool_threads(void);
/* Threads the next job will run on: the pool's, or before rt_pool_init the
   default pool's (one per core); code generation sizes its blocks by it. */
int rt_pool_expected(void);
/* Online cores (sysconf), at least 1. */
int rt_pool_cores(void);
/* Runs fn(ctx, lo, hi) on disjoint ranges covering [0, n), on the pool's
   threads and the caller's; returns when all are done.  Calls from inside
   fn, or while another thread's job runs, run serially on the caller. */
void rt_parallel_for(int64_t n, void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx);
/* Stops the workers (rt_pool_init or rt_parallel_for start them again). */
void rt_pool_shutdown(void);
/* Returns once no worker holds a job (the profiler then reads their spans). */
void rt_pool_wait_idle(void);
/* OpenBLAS on one thread: rt_gemm_serial_begin sets it around every
   OpenBLAS call of a step (returning the thread count to hand back to
   rt_gemm_serial_end), so its own threads never run beside the pool's
   (pool.c).  Below RT_GEMM_SERIAL_MAX multiply-adds a product runs on one
   thread: the size from which OpenBLAS's own threads paid off when they
   ran its products, kept for the pool's parts (rt_sgemm, and sinter's
   kernel: CgGemmSpec.parallel, conv.c's RtConvProduct.parallel). */
enum { RT_GEMM_SERIAL_MAX = 1 << 22 };
int rt_gemm_serial_begin(void);
void rt_gemm_serial_end(int threads);
/* cblas_sgemm's row-major C[m, n] = alpha op(A) op(B) + beta C, on the
   pool: C is cut into one block of whole rows (or columns, when it has
   fewer of them) per pool thread, and each part is a call of OpenBLAS on
   one thread.  So OpenBLAS's own threads never run beside the pool's
   (runtime/pool.c).  Below RT_GEMM_SERIAL_MAX multiply-adds, or on one
   thread, one call.  The cut can change a product's last bits, as
   OpenBLAS's threads could (it takes a short part to other kernels):
   generated code and the interpreter both call it, so they agree. */
void rt_sgemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
	const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* ---- the profiler (runtime/profile.c): --profile and --profile-summary ---- */
/* Nonzero while profiling: generated code tests it before each mark, so a
   run without the flags pays one load and branch per kernel. */
extern int32_t rt_prof_on;
/* Starts profiling: the Chrome trace to path (NULL: none; written to a
   temporary file renamed into place at exit), the kernel table on stderr
   at exit when summary is set.  False and err when path cannot be written. */
bool rt_prof_open(const char *path, bool summary, char *err, size_t errlen);
/* Microseconds since rt_prof_open: the trace's clock. */
double rt_prof_now(void);
/* Registers a kernel of a region: its name, the JSON members of its
   events' args (may be NULL), flops (GEMMs) and bytes per call; its id. */
int32_t rt_prof_kernel(const char *name, const char *region, const char *args, double flop, double bytes, bool gemm);
/* Generated code: the kernel computing node `node` (-1: the copies of
   outputs and writes) has just finished. */
void rt_prof_mark(int32_t node);
/* A pool worker ran pieces of one job from t0 to t1. */
void rt_prof_pool_span(int worker, double t0, double t1);
/* An event of the main thread's host work (cat: "load", "compile"). */
void rt_prof_span(const char *name, const char *cat, double t0, double t1);
/* An event of communication between ranks (runtime/dist.c), on a track
   of its own: it overlaps the kernels. */
void rt_prof_comm(const char *name, double t0, double t1);
/* Around a region run: the marks in between become its kernel events,
   kid[node] naming the kernel of each marked node (kid[nkid - 1]: the
   copies); the workers' spans are named after the kernels they ran in. */
void rt_prof_region_begin(void);
void rt_prof_region_end(const char *region, int64_t step, double t0, double t1, const int32_t *kid, int32_t nkid);
/* A training step ended at t1 (it began where the last one ended). */
void rt_prof_step(int64_t step, double t1);
/* Writes the trace's end, renames it into place and prints the table;
   idempotent, and called at exit. */
void rt_prof_close(void);

/* ---- 2-D convolution, NCHW (runtime/conv.c) ---- */
/* The geometry of one convolution: x f32[n, c, h, w], w f32[o, c / groups,
   kh, kw], y f32[n, o, oh, ow]; stride, padding, dilation per axis.
   Generated code passes it as a constant array of RT_CONV_FIELDS int64s. */
typedef struct {
	int64_t n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, groups;
} RtConv;
enum { RT_CONV_FIELDS = 16 };
/* The images go in at most RT_CONV_PARTS parts on the thread pool; each
   image's output in blocks of whole rows, about RT_CONV_BLOCK pixels; an
   image of at most RT_CONV_GROUP / 2 output pixels in groups of images of
   at most RT_CONV_GROUP pixels, one product per group. */
enum { RT_CONV_PARTS = 4, RT_CONV_BLOCK = 256, RT_CONV_GROUP = 256 };
/* The most floats of one image's padded plane and grid for a tapped
   convolution (runtime/conv_taps.c); larger images go through im2col. */
enum { RT_CONV_TAPS_MAX = 1 << 20 };
typedef enum { RT_CONV_Y, RT_CONV_DX, RT_CONV_DW } RtConvOp;
/* Bytes of the work buffer (the parts' im2col matrices and partial weight
   gradients) that rt_conv2d, _dx or _dw needs (0: none): the memory plan
   holds it for the call only. */
int64_t rt_conv2d_work(const RtConv *g, RtConvOp op);
/* The parts the images of a call are cut into (each packs on its own). */
int64_t rt_conv2d_parts(const RtConv *g);
/* The distinct GEMMs of one call, row-major as cblas_sgemm: C[m, n] (rows
   ldc apart; += when acc) = op(A)[m, k] op(B)[k, n], A transposed when ta,
   B when tb; `calls` of them per call; parallel: a batch of one image,
   whose product is large enough for the pool (no parts to share it). */
/* A tapped product's B (runtime/conv_taps.c): not a matrix but the padded
   image in phase planes, its rows where codegen's CgGemmTaps says (the
   same fields); kh == 0: a plain B. */
typedef struct {
	int64_t kh, kw, dh, dw, sh, sw, rs, pplane, plane;
} RtConvTaps;
typedef struct {
	int64_t m, n, k, lda, ldb, ldc, calls;
	bool ta, tb, acc, parallel;
	RtConvTaps taps;
} RtConvProduct;
/* A block of whole output rows and the last, shorter one (when there is) */
enum { RT_CONV_PRODUCTS = 2 };
/* The products rt_conv2d, _dx or _dw calls (1 or 2) into out: with taps,
   the tapped product (rt_conv2d_taps says when there is one), else im2col's. */
int rt_conv2d_products(const RtConv *g, RtConvOp op, bool taps, RtConvProduct out[RT_CONV_PRODUCTS]);
/* Whether op of g has a tapped product (GEMMs reading the padded image in
   place, runtime/conv_taps.c: any stride for the forward and the weight
   gradient, a unit one for the data gradient; not a plain 1x1), and with
   any_waste false, whether it is worth it (few junk columns, an image too
   large for conv.c's groups; or an unpadded layer's forward and weight
   gradient, which im2col copies row by row); codegen chooses and says so in
   RtConvGemm.taps. */
bool rt_conv2d_taps(const RtConv *g, RtConvOp op, bool any_waste);
/* A product of generated code (codegen/gemm.c's CgGemmFn), packing into work. */
typedef void (*RtGemmFn)(const void *a, const void *b, float *c, void *work);
/* The kernels generated code hands a call: fn[i] computes product i of
   rt_conv2d_products (NULL: cblas_sgemm), each part of the batch packing
   into its own `stride` bytes of the gemm_work block the call is given. */
typedef struct {
	RtGemmFn fn[RT_CONV_PRODUCTS];
	int64_t stride;
	int64_t taps; /* nonzero: fn[0] is the tapped product (rt_conv2d_products with taps) */
} RtConvGemm;
/* y = conv(x, w); dx = the data gradient of dy; dw = the weight gradient.
   k NULL (and gemm_work unused): every product on cblas_sgemm. */
void rt_conv2d(const RtConv *g, const float *x, const float *w, float *y, float *work, const RtConvGemm *k,
	char *gemm_work);
void rt_conv2d_dx(const RtConv *g, const float *dy, const float *w, float *dx, float *work, const RtConvGemm *k,
	char *gemm_work);
void rt_conv2d_dw(const RtConv *g, const float *x, const float *dy, float *dw, float *work, const RtConvGemm *k,
	char *gemm_work);

/* ---- fused attention (runtime/attention.c) ---- */
/* b batches of h heads of t positions of d features; scores scaled by
   `scale`, masked to j <= i when causal and to equal segment ids when a
   segment i32[b, t] is given.  Where the operands lie is strides, in
   elements, so that one kernel serves both forms of the op (ir/attention.c):
   q, k, v f32[b, h, t, d] each, or one f32[b, t, 3 h d] with q, k, v side
   by side and the heads in each, as a GPT's qkv product makes them.
   Generated code passes it as a constant {i64 x 5, double, i64 x 11}. */
typedef struct {
	int64_t b, h, t, d, causal;
	double scale;
	/* q, k, v and their gradients: the rows of (batch i, head j) start at
	   i x_b + j x_h and lie x_row apart; in the gradient, dk starts dx_part
	   after dq and dv dx_part after dk */
	int64_t x_b, x_h, x_row, dx_part;
	/* o and do: row r of (i, j) at i o_b + j o_h + r o_row (y, d floats),
	   its log-sum-exp at i o_b + j l_h + l_off + r o_row */
	int64_t o_b, o_h, o_row, l_h, l_off;
	/* 1: the tile products take bf16 operands (each rounded with
	   rt_bf16_from_f32) and sum in f32, --precision=bf16's products */
	int64_t bf16;
	/* only with bf16: bit 0 (1, 2) set when q (k, v) is stored as bf16
	   bits, 2 bytes an element (the strides above still count elements),
	   which the products read as they are: a bf16 qkv product's output,
	   whose widening to f32 generated code skips */
	int64_t x_bf16;
} RtAttn;
/* Query and key block sizes of a tile; the (batch, head) pairs go in at
   most RT_ATTN_PARTS parts on the thread pool. */
enum { RT_ATTN_BQ = 64, RT_ATTN_BK = 64, RT_ATTN_PARTS = 8 };
/* Bytes of the work buffer rt_attention and rt_attention_grad need: the
   parts' tiles; the memory plan holds it for the call only. */
int64_t rt_attention_work(const RtAttn *g);
/* The parts a call cuts its (batch, head) pairs into (each packs its
   tile products' panels on its own). */
int64_t rt_attention_parts(const RtAttn *g);
/* The tile products, per tile of ni query rows and nj keys: the scores
   s = scale q k^T (forward and backward), acc += p v (forward), and in
   the backward dv += p^T dy, dp = dy v^T, dq += scale ds k, dk += scale
   ds^T q. */
typedef enum { RT_ATTN_S, RT_ATTN_PV, RT_ATTN_DV, RT_ATTN_DP, RT_ATTN_DQ, RT_ATTN_DK, RT_ATTN_PRODS } RtAttnProd;
/* One of them, row-major as cblas_sgemm: C[m, n] (rows ldc apart; += when
   acc) = alpha op(A)[m, k] op(B)[k, n], A transposed when ta, B when tb. */
typedef struct {
	int64_t m, n, k, lda, ldb, ldc;
	bool ta, tb, acc;
	float alpha;
	/* A's (B's) source: 0 q, 1 k, 2 v (its bit of RtAttn.x_bf16 says
	   whether it is bf16), -1 a tile or the output's gradient (f32) */
	int ax, bx;
} RtAttnProduct;
/* Tiles are whole blocks or the edge block of T mod the block size: side
   0 is a whole block (RT_ATTN_BQ rows, RT_ATTN_BK keys), 1 the edge.  The
   rows (keys) of side s of g's tiles, 0 when g has no such tiles. */
int64_t rt_attention_side(const RtAttn *g, bool keys, int s);
/* Product p of a tile with ni query rows and nj keys. */
RtAttnProduct rt_attention_product(const RtAttn *g, RtAttnProd p, int64_t ni, int64_t nj);
/* The kernels generated code hands a call: fn[p][si][sj] computes product
   p of tiles of side si (rows) and sj (keys) (NULL: cblas_sgemm), each
   part packing into its own `stride` bytes of the gemm_work block. */
typedef struct {
	RtGemmFn fn[RT_ATTN_PRODS][2][2];
	int64_t stride;
} RtAttnGemm;
/* o: each row's output y and its log-sum-exp, where g's strides say.
   kern NULL (and gemm_work unused): every tile product on cblas_sgemm,
   or with g->bf16 a loop that rounds the operands. */
void rt_attention(const RtAttn *g, const void *q, const void *k, const void *v, const int32_t *seg, float *o,
	float *work, const RtAttnGemm *kern, char *gemm_work);
/* dqkv = the gradients of q, k, v (where g's x_ strides and dx_part say)
   given o and dout (both laid out as o: dout's lse is the lse's gradient). */
void rt_attention_grad(const RtAttn *g, const void *q, const void *k, const void *v, const float *o,
	const float *dout, const int32_t *seg, float *dqkv, float *work, const RtAttnGemm *kern, char *gemm_work);

#endif
