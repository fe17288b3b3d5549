/*
 * codegen.h — compiling regions to native code with LLVM 19 and running them
 * through ORC LLJIT.
 *
 * One exported LLVM function per region, calling one small internal
 * function per kernel (nodes whose code would be identical share one).  Its
 * arguments are arrays of data pointers: the region never sees Tensors,
 * Stores or names, so the same code can later be linked ahead of time into
 * a binary.  Intermediate values live in one caller-supplied scratch block
 * at offsets fixed at compile time: the memplan offsets when the region has
 * been planned (every value has offset >= 0; the arena is then the front of
 * scratch), otherwise one fresh offset per value.
 *
 * Typical use (what host.c does instead of interp_run; the runner is the
 * host's, host/run.c, so that binaries of `sinter build` run regions
 * without LLVM):
 *
 *     CgModule *m = cg_jit_new(err, sizeof err);        // once per process
 *     CgRegion *cr = cg_compile(m, r, err, sizeof err); // once per region
 *     host_run_compiled(cr, &store, inputs, outputs);   // every step
 *     cg_jit_free(m);                                   // frees every CgRegion
 *
 * This header needs no LLVM headers; only codegen/ is compiled against them.
 *
 * Inside codegen/, files include only downward (an arrow: "calls into"):
 *
 *   jit.c                     optimize, JIT or write an object file
 *     |
 *   region.c   region.h       a region's module: where values live, one
 *     |                       call of a kernel function per node or fused
 *     |                       kernel, outputs, WRITEs
 *     +-----------+------------+------------+
 *     |           |            |            |
 *   kernels.c  reduce.c <-- fused.c --> matmul.c    the kernel emitters: a
 *   kernels.h  reduce.h     fused.h     matmul.h    kernel function's body
 *     |           |         fused_plan.c    |       (fused.c runs a GEMM
 *     |           |            |            |       first, accumulates with
 *     |           |            |            |       reduce.c's accumulators;
 *     |           |            |            |       matmul.c: which kernel
 *     |           |            |            |       computes a product)
 *     +-----------+------------+            gemm.c  gemm.h   sinter's own
 *     |                        |                    sgemm for one shape,
 *   scalar.c  scalar.h    parallel.c  parallel.h    emitted into the module
 *     |                        |                    (jit.c too: sinter gemm;
 *     +------------------------+                    calls nothing else of
 *     |                                             codegen/; its packing
 *     |                                             in gemm_pack.c)
 *   builder.c  builder.h      the emission context Cg and the IR-builder
 *                             helpers: constants, loads, loops, walks, calls
 */
#ifndef SINTER_CODEGEN_H
#define SINTER_CODEGEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ir/ir.h"

/*
 * The generated entry point.
 *   inputs[k]   data of OP_INPUT k (read only), of exactly the node's type
 *   slots[k]    data of the k-th PARAM/STATE node in node order (see
 *               ir_slot_nodes); read during the region, overwritten at its
 *               end by the region's WRITEs
 *   outputs[k]  caller-allocated buffers of type_numel * dtype_size bytes of
 *               output k's type (r->node[r->out[k]].type); filled before any
 *               WRITE happens, so an output that reads a slot sees the old value.
 *               Output buffers must not overlap each other, the inputs, the
 *               slots or scratch; inputs may overlap only slots the region
 *               does not write (a fused kernel may compute a written value
 *               straight into its slot, kernel/kernel.h, kernel_through).
 *   scratch     64-byte aligned block of CgRegion.scratch bytes (NULL if 0);
 *               its contents need not survive between calls
 *   seed, step  as Store.seed and Store.step: RAND/RANDN/DROPOUT streams
 * Returns 0, or 1 when an index reaching take, scatter_rows or one_hot was
 * outside its table: the region then stopped before its outputs and WRITEs,
 * having recorded the first bad index through rt_index_record (loads and
 * stores use a clamped index, so nothing is read or written out of bounds).
 * A call is not reentrant only through its scratch block: concurrent calls
 * need one scratch block each.
 */
typedef int32_t CgRegionFn(void *const *inputs, void *const *slots, void *const *outputs, void *scratch,
	uint64_t seed, uint64_t step);

/*
 * Which kernel computes a region's matrix products (`--gemm=`): sinter's
 * own (codegen/gemm.c, emitted into the region's module), cblas_sgemm, or
 * per product by the rule of codegen/matmul.c (auto).  Chosen at compile
 * time, so a binary of `sinter build` runs the kernels its build chose.
 */
typedef enum { CG_GEMM_AUTO, CG_GEMM_SINTER, CG_GEMM_OPENBLAS } CgGemmChoice;

typedef struct {
	CgGemmChoice choice;
	bool blas_avx512; /* OpenBLAS runs its AVX-512 kernels (auto then prefers it) */
	FILE *verbose;    /* one line per product compiled, naming its kernel; NULL: quiet */
} CgGemmConfig;

/* Sets how every region compiled from now on computes its products
   (default: auto, OpenBLAS without AVX-512 kernels, quiet). */
void cg_gemm_configure(const CgGemmConfig *c);
/* "auto", "sinter", "openblas" -> *c; false for anything else. */
bool cg_gemm_choice_parse(const char *s, CgGemmChoice *c);

/* The products of a compiled region, by kernel ([0] sinter's, [1]
   OpenBLAS's): MATMUL nodes, GEMM calls per run (a batched product calls
   once per matrix), floating-point operations per run; and how many
   kernels run their epilogue on the tiles of sinter's GEMM. */
typedef struct {
	int products[2];
	int64_t calls[2];
	double flops[2];
	int epilogues;      /* fused kernels whose other members run on their GEMM's tiles (epilogue.c) */
} CgGemmStats;

/* An LLJIT instance and every region compiled into it. */
typedef struct CgModule CgModule;

/* One compiled region; owned by its CgModule. */
typedef struct {
	CgRegionFn *fn;
	size_t scratch;     /* bytes of scratch fn needs (a multiple of 64) */
	int nslot;          /* number of PARAM/STATE nodes */
	int *slot;          /* [nslot] their node indices: slots[k] is node slot[k] */
	const Region *r;    /* the region compiled; must outlive the CgRegion (host_run_compiled reads it) */
	void *buf;          /* host_run_compiled's scratch block, allocated on first use */
	double ms;          /* wall time cg_compile took (build, O3, machine code) */
	CgGemmStats gemm;   /* its matrix products by kernel (--stats) */
} CgRegion;

/* Creates the JIT for the host CPU; NULL and a message in err on failure. */
CgModule *cg_jit_new(char *err, size_t errlen);
/*
 * Compiles r (after autodiff: an OP_GRAD is an internal error) into m.
 * Returns NULL and a message in err when LLVM fails.
 */
CgRegion *cg_compile(CgModule *m, const Region *r, char *err, size_t errlen);
/* Frees the JIT, its code and every CgRegion compiled into it. */
void cg_jit_free(CgModule *m);

/*
 * Writes the regions rs[0..n) as one object file for the host CPU (position
 * independent), region i as the function fnames[i] of type CgRegionFn;
 * scratch[i] receives the scratch bytes it needs, gemm[i] its products by
 * kernel.  False and a message in err on failure (no file is left behind
 * by a failed write of LLVM's).
 */
bool cg_emit_object(const Region *const *rs, const char *const *fnames, int n, int64_t *scratch,
	CgGemmStats *gemm, const char *path, char *err, size_t errlen);

/* The optimized LLVM IR of r as text (for `sinter llvm`); caller frees.
   NULL and a message in err when LLVM fails. */
char *cg_llvm_text(const Region *r, char *err, size_t errlen);

/* "LLVM 19.1.7, host CPU znver4": what code is generated with and for
   (sinter --version). */
void cg_describe(char *buf, size_t len);

/* B read in place from a padded image (runtime/conv_taps.c): B's stored
   rows (k, or n when tb) are the taps of the image's channels, its
   elements contiguous.  The image is stored as sh x sw phase planes per
   channel (phase (a, b) holds the padded pixels whose row is a and column
   b modulo the stride; one plane for a unit stride), pplane floats each,
   rows rs apart, a channel's phases `plane` floats in all.  Row (c * kh +
   ki) * kw + kj, with u = ki * dh and v = kj * dw, starts at
   c * plane + ((u % sh) * sw + v % sw) * pplane + (u / sh) * rs + v / sw.
   kh == 0: B is a plain matrix (rows ldb apart). */
typedef struct {
	int64_t kh, kw, dh, dw, sh, sw, rs, pplane, plane;
} CgGemmTaps;

/*
 * A matrix product of sinter's own GEMM generator (codegen/gemm.c), fixed
 * at compile time.  Row-major like cblas_sgemm with CblasRowMajor: op(A) is
 * [m, k], op(B) is [k, n], C is [m, n]; ta: A is stored [k, m] (its rows
 * lda apart), tb: B is stored [n, k].  All sizes at least 1.
 */
typedef struct {
	int64_t m, n, k;
	bool ta, tb;
	int64_t lda, ldb, ldc;
	float alpha;
	bool accumulate; /* C += alpha op(A) op(B); else C = alpha op(A) op(B) (C's old contents unread) */
	bool parallel;   /* on the runtime's pool (rt_parallel_for): C cut into as many rectangles as
	                    the pool has threads, each a serial product with packed blocks of its own
	                    (cg_gemm_split says how); the result is bitwise the serial one */
	bool bf16;       /* bf16 operands, f32 accumulation: A and B (f32 in memory) are rounded to bf16
	                    as they are packed (rt_bf16_from_f32's bits), pairs of k interleaved for
	                    vdpbf16ps; C is f32 (docs/ARCHITECTURE.md, "bf16 products") */
	bool a_bf16, b_bf16; /* only with bf16: A (B) is stored as bf16 bits, 2 bytes an element (lda,
	                    ldb count elements): packing copies the bits, which rounding their f32
	                    widening would give unchanged (a bf16 value stored for the backward is
	                    read so, without an f32 copy) */
	bool epi;        /* an epilogue per tile: the function takes two more arguments, epi and ectx,
	                    and once a tile of C is final (its last K block stored) calls
	                    epi(ectx, i0, j0, mr, nr): the tile's first row and column in C and its
	                    rows and columns (CgGemmEpiFn), while the tile is in L1 */
	bool epi_cols;   /* with epi: the epilogue sums columns over rows (a bias gradient), so a
	                    column's tiles must be finished by one thread in increasing rows: on the
	                    pool, C is cut into columns only */
	CgGemmTaps taps; /* kh > 0: B's rows are taps of an image (f32 only; ldb unused) */
} CgGemmSpec;
/* What a product computes, which auto's rule reads besides its shape: a
   convolution's products were measured apart from the matrix products'
   (matmul.c, cg_gemm_choose). */
typedef enum {
	CG_GEMM_FOR_MATMUL, /* a MATMUL, an attention's tiles */
	CG_GEMM_FOR_CONV_Y, /* a convolution's y = w @ col */
	CG_GEMM_FOR_CONV_DX, /* its data gradient, col = w^T @ dy */
	CG_GEMM_FOR_CONV_DW, /* its weight gradient, dw += dy @ col^T */
	CG_GEMM_FOR_CONV_TAPS, /* any of the three reading the image in place (s->taps): only sinter's
	                          kernel can, and false means im2col's products instead */
} CgGemmFor;
/* The `--gemm=` rule for product s, which computes `use`: true for
   sinter's kernel; why says which part of the rule decided, for --verbose. */
bool cg_gemm_choose(const CgGemmSpec *s, CgGemmFor use, char *why, size_t len);

/* The generated product: work is a 64-byte aligned block of
   CgGemm.workspace bytes holding the packed panels. */
typedef void CgGemmFn(const float *a, const float *b, float *c, void *work);
/* A product with s.epi, and the epilogue it calls on each final tile. */
typedef void CgGemmEpiFn(void *ectx, int64_t i0, int64_t j0, int64_t mr, int64_t nr);
typedef void CgGemmFnEpi(const float *a, const float *b, float *c, void *work, CgGemmEpiFn *epi, void *ectx);

typedef struct {
	CgGemmFn *fn;
	int64_t workspace;  /* bytes */
	const char *isa;    /* "avx512", "avx2", "sse" */
	bool dpbf16;        /* a bf16 product's microkernel uses vdpbf16ps (else widening FMAs) */
	int mr, nr;         /* the microkernel's tile */
	int64_t kc, mc, nc; /* the cache blocking, evened out over this product's sizes */
	int64_t groups;     /* on the pool (s.parallel): the most parts (rectangles of C, each with
	                       packed blocks of its own) a run cuts it into; 1 serial */
} CgGemm;

/* How the product s on the pool, cut into `parts` parts, splits C on the
   host CPU: that many rows of parts (the rest columns of them); see
   cg_gemm_split in codegen/gemm.h. */
int64_t cg_gemm_host_split(const CgGemmSpec *s, int64_t parts);

/* Compiles the product s for the host CPU into m (its code lives as long as
   m).  False and a message in err when LLVM fails. */
bool cg_gemm_compile(CgModule *m, const CgGemmSpec *s, CgGemm *out, char *err, size_t errlen);

/* The product s compiled for the x86-64 CPU named cpu (an LLVM CPU name such
   as "znver4", "haswell"; NULL: the host) as assembly text (asm) or
   optimized LLVM IR; caller frees.  NULL and a message in err on failure. */
char *cg_gemm_text(const CgGemmSpec *s, const char *cpu, bool asm_text, char *err, size_t errlen);

#endif
