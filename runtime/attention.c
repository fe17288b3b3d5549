/*
 * attention.c — fused scaled dot-product attention for generated code:
 * the forward pass and its gradient, FlashAttention's way on the CPU.
 *
 * Per (batch, head), q, k, v are [T, D] and the scores s = scale q k^T are
 * only ever held one tile at a time: a block of RT_ATTN_BQ queries against
 * a block of RT_ATTN_BK keys.  The forward keeps, per query row, the
 * running maximum m and sum l of exp(s - m) and rescales its accumulator
 * of p v when m grows (online softmax), so the T x T matrix is never
 * written; it stores y and the row's log-sum-exp m + log l, which is all
 * the backward keeps besides q, k and v.  Where q, k, v, y, the lse and
 * the gradients lie is RtAttn's strides: [B, H, T, D] tensors with o =
 * [y | lse] of D + 1 floats per row, or the packed form's [B, T, 3C] x
 * read in place, y [B, T, C] and the lse in H more columns of its rows,
 * and dq, dk, dv written into one [B, T, 3C] gradient; the tile products
 * take the row strides as their leading dimensions, so no layout costs a
 * copy.  With --precision=bf16, q, k and v may be stored as bf16 bits
 * (RtAttn.x_bf16: a bf16 qkv product's output), which the generated tile
 * products pack as they are; their rows then lie 2 bytes an element apart.
 * The backward recomputes each tile's probabilities from q, k and the
 * saved lse (p = exp(s - lse)), and with D_i = rowsum(dy * y) - dlse
 * (the lse column's own gradient folded in) gives ds = p (dp - D_i):
 *   dv += p^T dy,  dp = dy v^T,  dq += scale ds k,  dk += scale ds^T q.
 * The tile products are described by rt_attention_product, one per kind
 * and side of a tile (whole block or edge); generated code may hand the
 * call sinter's kernels for them in an RtAttnGemm (function pointers, as
 * conv.c's RtConvGemm: the runtime never sees codegen/), the others are
 * single-threaded cblas_sgemm calls.
 *
 * Masking is computed in the tile from the positions (causal: key j <= i)
 * and the segment ids (same segment), never stored.  A tile every pair of
 * which is masked is skipped whole: causal tiles above the diagonal, and
 * tiles whose query and key blocks have disjoint ranges of segment ids,
 * which for packed rows (ids non-decreasing along the row) are the key
 * blocks lying before the first document of the query block.  The test
 * is exact for any ids; only the amount skipped depends on their order.
 * A query row always sees itself (its own segment, j = i), so no row has
 * every key masked.
 *
 * The (batch, head) pairs go in at most RT_ATTN_PARTS parts on the thread
 * pool, each with its own scratch in the work buffer the caller owns
 * (rt_attention_work bytes); every pair is computed the same way whatever
 * part or thread runs it, so results do not depend on --threads.
 */
#include "runtime/runtime.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

enum { BQ = RT_ATTN_BQ, BK = RT_ATTN_BK };

/* The tile loops in versions for AVX-512 and AVX2 besides the baseline
   x86-64 the runtime is compiled for, chosen when the program loads (the
   runtime runs on any x86-64; generated code targets the host, and these
   should too). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WIDE __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define WIDE
#endif

int64_t rt_attention_parts(const RtAttn *g)
{
	int64_t n = g->b * g->h;
	return n < RT_ATTN_PARTS ? n : RT_ATTN_PARTS;
}

/* Query rows of a tile: BQ, or T when shorter. */
static int64_t tile_rows(const RtAttn *g)
{
	return g->t < BQ ? g->t : BQ;
}

/* Floats of one part's scratch: two score tiles, an accumulator tile, the
   rows' running max and sum (forward) or D (backward, T of them). */
static int64_t part_floats(const RtAttn *g)
{
	int64_t bq = tile_rows(g), rows = g->t > 2 * bq ? g->t : 2 * bq;
	return 2 * bq * BK + bq * g->d + rows;
}

int64_t rt_attention_work(const RtAttn *g)
{
	return rt_attention_parts(g) * part_floats(g) * (int64_t)sizeof(float);
}

int64_t rt_attention_side(const RtAttn *g, bool keys, int s)
{
	int64_t blk = keys ? BK : BQ;
	return s == 0 ? (g->t >= blk ? blk : 0) : g->t % blk;
}

RtAttnProduct rt_attention_product(const RtAttn *g, RtAttnProd p, int64_t ni, int64_t nj)
{
	/* q, k, v, dq, dk and dv rows x_row apart, y's and dy's o_row */
	int64_t D = g->d, lx = g->x_row, lo = g->o_row;
	float scale = (float)g->scale;
	switch (p) {
	case RT_ATTN_S: /* s[ni, nj] (rows BK apart) = scale q k^T */
		return (RtAttnProduct){ ni, nj, D, lx, lx, BK, false, true, false, scale, 0, 1 };
	case RT_ATTN_PV: /* acc[ni, D] += p v */
		return (RtAttnProduct){ ni, D, nj, BK, lx, D, false, false, true, 1.0f, -1, 2 };
	case RT_ATTN_DV: /* dv[nj, D] += p^T dy */
		return (RtAttnProduct){ nj, D, ni, BK, lo, lx, true, false, true, 1.0f, -1, -1 };
	case RT_ATTN_DP: /* dp[ni, nj] = dy v^T */
		return (RtAttnProduct){ ni, nj, D, lo, lx, BK, false, true, false, 1.0f, -1, 2 };
	case RT_ATTN_DQ: /* dq[ni, D] += scale ds k */
		return (RtAttnProduct){ ni, D, nj, BK, lx, lx, false, false, true, scale, -1, 1 };
	case RT_ATTN_DK: /* dk[nj, D] += scale ds^T q */
		return (RtAttnProduct){ nj, D, ni, BK, lx, lx, true, false, true, scale, -1, 0 };
	default:
		return (RtAttnProduct){ .ax = -1, .bx = -1 };
	}
}

/* What a part computes its tiles with: the geometry, the generated
   kernels (or NULL) and the part's own packing block for them. */
typedef struct {
	const RtAttn *g;
	const RtAttnGemm *kern;
	void *gw;
} Ctx;

/* Is operand x (0 q, 1 k, 2 v; -1 none of them) stored as bf16 bits? */
static bool x_bf16(const RtAttn *g, int x)
{
	return x >= 0 && (g->x_bf16 >> x & 1);
}

/* Element i (in elements from p) of operand x: q, k, v are bf16 or f32. */
static inline const void *x_at(const RtAttn *g, int x, const void *p, int64_t i)
{
	return (const char *)p + i * (x_bf16(g, x) ? 2 : 4);
}

/* Element i of an operand, rounded to bf16: f32 rounded with
   rt_bf16_from_f32, or bf16 bits as they are (the same value for what a
   rounding stored). */
static inline float bf16_at(const void *p, bool bf, int64_t i)
{
	return bf ? rt_bf16_to_f32(((const uint16_t *)p)[i]) : rt_bf16_to_f32(rt_bf16_from_f32(((const float *)p)[i]));
}

/* A bf16 tile product where no generated kernel is handed in (the
   interpreter's --precision=bf16; tests/unit/test_runtime.c with bf16
   q, k, v): each operand rounded to bf16, the exact products summed in
   f32 in k order, where the generated kernel sums pairs of k per K block
   (the same values up to the order of the f32 sums). */
static void tile_gemm_bf16(const RtAttn *g, const RtAttnProduct *d, const void *a, const void *b, float *c)
{
	bool abf = x_bf16(g, d->ax), bbf = x_bf16(g, d->bx);
	for (int64_t i = 0; i < d->m; i++)
		for (int64_t j = 0; j < d->n; j++) {
			float s = 0;
			for (int64_t k = 0; k < d->k; k++)
				s += bf16_at(a, abf, d->ta ? k * d->lda + i : i * d->lda + k) *
				     bf16_at(b, bbf, d->tb ? j * d->ldb + k : k * d->ldb + j);
			float *to = c + i * d->ldc + j;
			*to = d->alpha * s + (d->acc ? *to : 0.0f);
		}
}

/* Product p of a tile of ni rows and nj keys: c = alpha a b (+ c). */
static void tile_gemm(const Ctx *x, RtAttnProd p, int64_t ni, int64_t nj, const void *a, const void *b, float *c)
{
	RtGemmFn fn = x->kern ? x->kern->fn[p][ni != BQ][nj != BK] : NULL;
	if (fn) {
		fn(a, b, c, x->gw);
		return;
	}
	RtAttnProduct d = rt_attention_product(x->g, p, ni, nj);
	if (x->g->bf16) {
		tile_gemm_bf16(x->g, &d, a, b, c);
		return;
	}
	cblas_sgemm(CblasRowMajor, d.ta ? CblasTrans : CblasNoTrans, d.tb ? CblasTrans : CblasNoTrans, (int)d.m,
		(int)d.n, (int)d.k, d.alpha, a, (int)d.lda, b, (int)d.ldb, d.acc ? 1.0f : 0.0f, c, (int)d.ldc);
}

/* e^x for x <= 0 (scores minus their row maximum), within a few ulp: a
   loop over a tile of these vectorizes, where one of expf does not. */
static inline float exp_neg(float x)
{
	x = x < -87.0f ? -87.0f : x;
	float t = x * 1.44269504f + 12582912.0f; /* 1.5 * 2^23: rounds to an integer */
	float n = t - 12582912.0f;
	int32_t bits;
	memcpy(&bits, &t, sizeof bits);
	float r = x - n * 0.693359375f + n * 2.12194440e-4f;
	float p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
			  1.6666665459e-1f) * r + 5.0000001201e-1f;
	p = p * r * r + r + 1.0f;
	int32_t e = (bits - 0x4B400000 + 127) << 23;
	float s;
	memcpy(&s, &e, sizeof s);
	return p * s;
}

/* A row of a tile's maximum and sum, in LANES partial results combined in
   a fixed order: vector code without reassociating floats (which the
   compiler may not do by itself, nor should: the rounding trick of
   exp_neg needs its additions as written). */
enum { LANES = 16 };
_Static_assert(BK % LANES == 0, "a tile row is whole lanes");

static inline float row_max(const float *row)
{
	float mv[LANES];
	for (int k = 0; k < LANES; k++)
		mv[k] = row[k];
	for (int64_t j = LANES; j < BK; j += LANES)
		for (int k = 0; k < LANES; k++)
			mv[k] = row[j + k] > mv[k] ? row[j + k] : mv[k];
	float mx = mv[0];
	for (int k = 1; k < LANES; k++)
		mx = mv[k] > mx ? mv[k] : mx;
	return mx;
}

static inline float row_sum(const float *row)
{
	float sv[LANES] = { 0 };
	for (int64_t j = 0; j < BK; j += LANES)
		for (int k = 0; k < LANES; k++)
			sv[k] += row[j + k];
	float sum = 0;
	for (int k = 0; k < LANES; k++)
		sum += sv[k];
	return sum;
}

/* sum of a[d] b[d] over d < n in double (exact products), in DLANES
   partial sums combined in a fixed order: one sum in order is a chain of
   dependent additions, which took half of the backward's own time (the
   products' excepted) in the GPT step. */
enum { DLANES = 8 };

static inline double row_dot(const float *a, const float *b, int64_t n)
{
	double sv[DLANES] = { 0 };
	int64_t d = 0;
	for (; d + DLANES <= n; d += DLANES)
		for (int k = 0; k < DLANES; k++)
			sv[k] += (double)a[d + k] * b[d + k];
	for (int k = 0; d + k < n; k++)
		sv[k] += (double)a[d + k] * b[d + k];
	double sum = 0;
	for (int k = 0; k < DLANES; k++)
		sum += sv[k];
	return sum;
}

/* The pair of blocks [i0, i1) x [j0, j1) of one row's segment ids: SKIP
   when every pair is masked, FULL when none is. */
typedef enum { TILE_SKIP, TILE_MASKED, TILE_FULL } TileKind;

static inline TileKind tile_kind(const RtAttn *g, const int32_t *seg, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
	if (g->causal && j0 > i1 - 1)
		return TILE_SKIP;
	bool full = !g->causal || j1 - 1 <= i0;
	if (!seg)
		return full ? TILE_FULL : TILE_MASKED;
	int32_t qlo = seg[i0], qhi = seg[i0], klo = seg[j0], khi = seg[j0];
	for (int64_t i = i0; i < i1; i++) {
		qlo = seg[i] < qlo ? seg[i] : qlo;
		qhi = seg[i] > qhi ? seg[i] : qhi;
	}
	for (int64_t j = j0; j < j1; j++) {
		klo = seg[j] < klo ? seg[j] : klo;
		khi = seg[j] > khi ? seg[j] : khi;
	}
	if (khi < qlo || klo > qhi)
		return TILE_SKIP;
	return full && qlo == qhi && klo == khi && qlo == klo ? TILE_FULL : TILE_MASKED;
}

/* The scores of a tile, scaled, in s[BQ][BK]: columns past the block and
   masked pairs -inf. */
static inline void scores(const Ctx *x, const void *q, const void *k, const int32_t *seg, TileKind kind,
	int64_t i0, int64_t ni, int64_t j0, int64_t nj, float *s)
{
	const RtAttn *g = x->g;
	tile_gemm(x, RT_ATTN_S, ni, nj, x_at(g, 0, q, i0 * g->x_row), x_at(g, 1, k, j0 * g->x_row), s);
	for (int64_t i = 0; i < ni; i++) {
		float *row = s + i * BK;
		for (int64_t j = nj; j < BK; j++)
			row[j] = -INFINITY;
		if (kind == TILE_FULL)
			continue;
		for (int64_t j = 0; j < nj; j++) {
			bool keep = (!g->causal || j0 + j <= i0 + i) && (!seg || seg[j0 + j] == seg[i0 + i]);
			row[j] = keep ? row[j] : -INFINITY;
		}
	}
}

/* The walk over the key blocks of query block [i0, i0 + ni). */
typedef struct {
	int64_t i0, ni, j0, nj;
} Tile;

static Tile tile_first(const RtAttn *g, int64_t i0)
{
	Tile t = { i0, g->t - i0 < BQ ? g->t - i0 : BQ, -BK, 0 };
	return t;
}

/* Moves t to the next key block not skipped and puts its scores in s;
   false past the last. */
static inline bool tile_next(const Ctx *x, const int32_t *seg, const void *q, const void *k, Tile *t, float *s)
{
	const RtAttn *g = x->g;
	for (t->j0 += BK; t->j0 < g->t; t->j0 += BK) {
		t->nj = g->t - t->j0 < BK ? g->t - t->j0 : BK;
		TileKind kind = tile_kind(g, seg, t->i0, t->i0 + t->ni, t->j0, t->j0 + t->nj);
		if (kind != TILE_SKIP) {
			scores(x, q, k, seg, kind, t->i0, t->ni, t->j0, t->nj, s);
			return true;
		}
	}
	return false;
}

/* One (batch, head): q, k, v [T, D] (rows x_row apart); y [T, D] and lse
   [T] (rows o_row apart). */
WIDE static void forward_one(const Ctx *x, const void *q, const void *k, const void *v, const int32_t *seg,
	float *y, float *lse, float *work)
{
	const RtAttn *g = x->g;
	int64_t T = g->t, D = g->d, lx = g->x_row, lo = g->o_row;
	int64_t bq = tile_rows(g);
	float *s = work, *acc = work + 2 * bq * BK, *m = acc + bq * D, *l = m + bq;
	for (int64_t i0 = 0; i0 < T; i0 += BQ) {
		Tile t = tile_first(g, i0);
		int64_t ni = t.ni, j0, nj;
		for (int64_t i = 0; i < ni; i++)
			m[i] = -INFINITY, l[i] = 0;
		memset(acc, 0, (size_t)(ni * D) * sizeof *acc);
		while (tile_next(x, seg, q, k, &t, s)) {
			j0 = t.j0, nj = t.nj;
			for (int64_t i = 0; i < ni; i++) {
				float *row = s + i * BK, mx = row_max(row);
				if (mx == -INFINITY) {
					memset(row, 0, BK * sizeof *row); /* nothing of this row in the tile */
					continue;
				}
				float mnew = mx > m[i] ? mx : m[i];
				for (int64_t j = 0; j < BK; j++)
					row[j] = row[j] == -INFINITY ? 0.0f : exp_neg(row[j] - mnew);
				float sum = row_sum(row);
				float corr = m[i] == -INFINITY ? 0.0f : exp_neg(m[i] - mnew);
				l[i] = l[i] * corr + sum;
				m[i] = mnew;
				float *a = acc + i * D;
				for (int64_t d = 0; d < D; d++)
					a[d] *= corr;
			}
			tile_gemm(x, RT_ATTN_PV, ni, nj, s, x_at(g, 2, v, j0 * lx), acc);
		}
		for (int64_t i = 0; i < ni; i++) {
			float *yr = y + (i0 + i) * lo, inv = 1.0f / l[i];
			for (int64_t d = 0; d < D; d++)
				yr[d] = acc[i * D + d] * inv;
			lse[(i0 + i) * lo] = m[i] + logf(l[i]);
		}
	}
}

/* Where one (batch, head)'s o or do lies: y [T, D] and lse [T], rows
   o_row apart. */
typedef struct {
	const float *y, *lse;
} Out;

/* One (batch, head): dq, dk, dv [T, D] each (rows x_row apart), already
   zero. */
WIDE static void backward_one(const Ctx *x, const void *q, const void *k, const void *v, const int32_t *seg,
	Out o, Out dout, float *dq, float *dk, float *dv, float *work)
{
	const RtAttn *g = x->g;
	int64_t T = g->t, D = g->d, lx = g->x_row, lo = g->o_row;
	int64_t bq = tile_rows(g);
	float *p = work, *dp = work + bq * BK, *di = work + 2 * bq * BK + bq * D;
	for (int64_t i = 0; i < T; i++)
		di[i] = (float)(row_dot(dout.y + i * lo, o.y + i * lo, D) - dout.lse[i * lo]);
	for (int64_t i0 = 0; i0 < T; i0 += BQ) {
		Tile t = tile_first(g, i0);
		int64_t ni = t.ni, j0, nj;
		while (tile_next(x, seg, q, k, &t, p)) {
			j0 = t.j0, nj = t.nj;
			for (int64_t i = 0; i < ni; i++) {
				float *row = p + i * BK, lse = o.lse[(i0 + i) * lo];
				for (int64_t j = 0; j < BK; j++)
					row[j] = row[j] == -INFINITY ? 0.0f : exp_neg(row[j] - lse);
			}
			/* dv[j0..] += p^T dy;  dp = dy v^T */
			tile_gemm(x, RT_ATTN_DV, ni, nj, p, dout.y + i0 * lo, dv + j0 * lx);
			tile_gemm(x, RT_ATTN_DP, ni, nj, dout.y + i0 * lo, x_at(g, 2, v, j0 * lx), dp);
			for (int64_t i = 0; i < ni; i++) {
				float *pr = p + i * BK, *dr = dp + i * BK, d0 = di[i0 + i];
				for (int64_t j = 0; j < nj; j++)
					dr[j] = pr[j] * (dr[j] - d0);
			}
			/* dq[i0..] += scale ds k;  dk[j0..] += scale ds^T q */
			tile_gemm(x, RT_ATTN_DQ, ni, nj, dp, x_at(g, 1, k, j0 * lx), dq + i0 * lx);
			tile_gemm(x, RT_ATTN_DK, ni, nj, dp, x_at(g, 0, q, i0 * lx), dk + j0 * lx);
		}
	}
}

typedef struct {
	const RtAttn *g;
	const void *q, *k, *v;
	const float *o, *dout;
	const int32_t *seg;
	float *out, *work;
	const RtAttnGemm *kern;
	char *gemm_work;
	int64_t parts;
} Job;

static void run_range(void *ctx, int64_t p0, int64_t p1)
{
	const Job *j = ctx;
	const RtAttn *g = j->g;
	int64_t n = g->b * g->h;
	for (int64_t p = p0; p < p1; p++) {
		float *work = j->work + p * part_floats(g);
		Ctx x = { g, j->kern, j->kern ? j->gemm_work + p * j->kern->stride : NULL };
		for (int64_t bh = n * p / j->parts; bh < n * (p + 1) / j->parts; bh++) {
			int64_t b = bh / g->h, h = bh % g->h;
			int64_t xo = b * g->x_b + h * g->x_h, oo = b * g->o_b + h * g->o_h, lo = b * g->o_b + h * g->l_h + g->l_off;
			const int32_t *seg = j->seg ? j->seg + b * g->t : NULL;
			const void *q = x_at(g, 0, j->q, xo), *k = x_at(g, 1, j->k, xo), *v = x_at(g, 2, j->v, xo);
			if (!j->dout) {
				forward_one(&x, q, k, v, seg, j->out + oo, j->out + lo, work);
				continue;
			}
			float *dq = j->out + xo, *dk = dq + g->dx_part, *dv = dk + g->dx_part;
			for (int64_t i = 0; i < g->t; i++) {
				memset(dq + i * g->x_row, 0, (size_t)g->d * sizeof *dq);
				memset(dk + i * g->x_row, 0, (size_t)g->d * sizeof *dk);
				memset(dv + i * g->x_row, 0, (size_t)g->d * sizeof *dv);
			}
			Out o = { j->o + oo, j->o + lo }, dout = { j->dout + oo, j->dout + lo };
			backward_one(&x, q, k, v, seg, o, dout, dq, dk, dv, work);
		}
	}
}

static void run_parts(Job *j)
{
	j->parts = rt_attention_parts(j->g);
	int threads = rt_gemm_serial_begin();
	if (j->parts == 1)
		run_range(j, 0, 1);
	else if (j->parts > 1)
		rt_parallel_for(j->parts, run_range, j);
	rt_gemm_serial_end(threads);
}

void rt_attention(const RtAttn *g, const void *q, const void *k, const void *v, const int32_t *seg, float *o,
	float *work, const RtAttnGemm *kern, char *gemm_work)
{
	Job j = { .g = g, .q = q, .k = k, .v = v, .seg = seg, .out = o, .work = work, .kern = kern,
		.gemm_work = gemm_work };
	run_parts(&j);
}

void rt_attention_grad(const RtAttn *g, const void *q, const void *k, const void *v, const float *o,
	const float *dout, const int32_t *seg, float *dqkv, float *work, const RtAttnGemm *kern, char *gemm_work)
{
	Job j = { .g = g, .q = q, .k = k, .v = v, .o = o, .dout = dout, .seg = seg, .out = dqkv, .work = work,
		.kern = kern, .gemm_work = gemm_work };
	run_parts(&j);
}
