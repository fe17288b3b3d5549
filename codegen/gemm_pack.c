/*
 * gemm_pack.c — the packing of sinter's GEMM (codegen/gemm.c has the
 * product): op(A) into MR x KC micro-panels and op(B) into KC x NR ones, in
 * the order the microkernel reads them, zero-padded past the edges; an
 * operand whose k is contiguous is transposed in registers, L x L at a
 * time, instead of gathered float by float (docs/ARCHITECTURE.md,
 * "Packing").  A tapped B (a convolution's image read in place,
 * CgGemmSpec.taps) is packed the same way from rows whose offsets the
 * loop computes.  A bf16 product's panels are rounded and placed in
 * vectors too: pairs of k as 32-bit words transposed in registers, or two
 * rows of k interleaved ("bf16 products").
 */
#include "codegen/gemm_gen.h"
#include "codegen/scalar.h"

/* ---- packing ---- */

/* The offset of a tapped operand's stored row r (CgGemmTaps; divisions by
   constants, the phase terms only for a stride above 1). */
static LLVMValueRef cg_gemm_tap_row(GemmGen *g, const CgGemmTaps *t, LLVMValueRef r)
{
	LLVMValueRef c = LLVMBuildUDiv(g->b, r, ci(g, t->kh * t->kw), "");
	LLVMValueRef tap = LLVMBuildURem(g->b, r, ci(g, t->kh * t->kw), "");
	LLVMValueRef u = mul(g, LLVMBuildUDiv(g->b, tap, ci(g, t->kw), ""), t->dh);
	LLVMValueRef v = mul(g, LLVMBuildURem(g->b, tap, ci(g, t->kw), ""), t->dw);
	LLVMValueRef at = mul(g, c, t->plane);
	if (t->sh > 1 || t->sw > 1) {
		LLVMValueRef phase = add(g, mul(g, LLVMBuildURem(g->b, u, ci(g, t->sh), ""), t->sw),
			LLVMBuildURem(g->b, v, ci(g, t->sw), ""));
		at = add(g, at, mul(g, phase, t->pplane));
		u = LLVMBuildUDiv(g->b, u, ci(g, t->sh), "");
		v = LLVMBuildUDiv(g->b, v, ci(g, t->sw), "");
	}
	return add(g, add(g, at, mul(g, u, t->rs)), v);
}

LLVMValueRef cg_gemm_tap_rows(GemmGen *g, const char *name, const CgGemmTaps *t)
{
	LLVMTypeRef pt[] = { g->ptr, g->ptr, g->i64, g->i64, g->i64 };
	LLVMValueRef f = cg_gemm_function(g, name, pt, 5, true);
	LLVMValueRef dst = LLVMGetParam(f, 0), kc = LLVMGetParam(f, 2), r0 = LLVMGetParam(f, 4);
	GemmLoop kl;
	LLVMValueRef k = cg_gemm_loop(g, &kl, ci(g, 0), kc, 1);
	LLVMBuildStore(g->b, cg_gemm_tap_row(g, t, add(g, r0, k)), gep_t(g, g->i64, dst, k));
	cg_gemm_loop_end(g, &kl);
	LLVMBuildRetVoid(g->b);
	return f;
}

/* The source offset of element (x, k) as `how` reads it. */
static LLVMValueRef cg_gemm_src_at(GemmGen *g, const GemmSrc *how, LLVMValueRef r0, LLVMValueRef x, LLVMValueRef k)
{
	LLVMValueRef at = add(g, mul(g, k, how->sk), mul(g, x, how->sx));
	if (how->taps)
		at = add(g, at, cg_gemm_tap_row(g, how->taps, add(g, r0, how->rows_k ? k : x)));
	return at;
}

/*
 * One loop nest of pack(): dst[(p*kc + k)*R + r] = src[k*sk + x*sx] with
 * x = p*R + r, for r in [0, R).  clamped: the last panel, where x may reach
 * past xeff; it reads element xeff-1 instead (never out of bounds) and
 * stores 0, so the padded lanes of a tile add nothing.  The walk order
 * follows the source: along r when x is contiguous, along k when k is.
 *
 * A bf16 product stores rt_bf16_from_f32's bits instead, k in pairs as
 * vdpbf16ps reads them: dst[p*kp*R + (k/2)*2R + 2r + k%2] with kp = kc
 * rounded up to even; an odd kc's last pair ends with a zero (read from
 * k = kc-1, stored as 0, like the clamped x).  A source of bf16 bits
 * (src_bf16: CgGemmSpec.a_bf16, b_bf16) is copied as it is: rounding its
 * widening to f32 would give the same bits.
 */
static void cg_gemm_pack_nest(GemmGen *g, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef kc, LLVMValueRef xeff,
	LLVMValueRef p, int64_t R, const GemmSrc *how, LLVMValueRef r0, bool clamped, LLVMValueRef k0)
{
	GemmLoop outer, inner;
	int64_t sk = how->sk, sx = how->sx;
	bool src_bf16 = how->src_bf16;
	bool k_inner = sk == 1 && sx != 1, bf = g->s->bf16;
	LLVMValueRef kp = cg_gemm_kpad(g, kc);
	LLVMValueRef o = cg_gemm_loop(g, &outer, k_inner ? ci(g, 0) : k0, k_inner ? ci(g, R) : kp, 1);
	LLVMValueRef in = cg_gemm_loop(g, &inner, k_inner ? k0 : ci(g, 0), k_inner ? kp : ci(g, R), 1);
	LLVMValueRef k = k_inner ? in : o, r = k_inner ? o : in;
	LLVMValueRef x = add(g, mul(g, p, R), r), ok = NULL, kr = k;
	if (clamped) {
		ok = LLVMBuildICmp(g->b, LLVMIntSLT, x, xeff, "");
		x = LLVMBuildSelect(g->b, ok, x, LLVMBuildNSWSub(g->b, xeff, ci(g, 1), ""), "");
	}
	if (bf) {
		LLVMValueRef kin = LLVMBuildICmp(g->b, LLVMIntSLT, k, kc, "");
		kr = LLVMBuildSelect(g->b, kin, k, LLVMBuildNSWSub(g->b, kc, ci(g, 1), ""), "");
		ok = ok ? LLVMBuildAnd(g->b, ok, kin, "") : kin;
	}
	LLVMTypeRef st = src_bf16 ? g->elt : g->f32;
	LLVMValueRef v = LLVMBuildLoad2(g->b, st, gep_t(g, st, src, cg_gemm_src_at(g, how, r0, x, kr)), "");
	if (ok)
		v = LLVMBuildSelect(g->b, ok, v, LLVMConstNull(st), "");
	LLVMValueRef at;
	if (bf) {
		if (!src_bf16)
			v = cg_bf16_bits(g->b, v);
		LLVMValueRef pair = LLVMBuildAShr(g->b, k, ci(g, 1), "");
		at = add(g, add(g, mul(g, LLVMBuildNSWMul(g->b, p, kp, ""), R), mul(g, pair, 2 * R)),
			add(g, mul(g, r, 2), LLVMBuildAnd(g->b, k, ci(g, 1), "")));
	} else
		at = add(g, mul(g, add(g, LLVMBuildNSWMul(g->b, p, kc, ""), k), R), r);
	LLVMBuildStore(g->b, v, gep_t(g, g->elt, dst, at));
	cg_gemm_loop_end(g, &inner);
	cg_gemm_loop_end(g, &outer);
}

/* The 2-input shuffle that takes lane sel[l] of a ++ b (L lanes each). */
static LLVMValueRef cg_gemm_shuffle(GemmGen *g, LLVMValueRef a, LLVMValueRef b, const int *sel, int L)
{
	LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
	LLVMValueRef m[L];
	for (int l = 0; l < L; l++)
		m[l] = LLVMConstInt(i32, (unsigned long long)sel[l], false);
	return LLVMBuildShuffleVector(g->b, a, b, LLVMConstVector(m, (unsigned)L), "");
}

/*
 * Transposes the L x L block v[r][k] in place into v[k][r]: log2(L)
 * stages, stage d swapping bit d of the row with bit d of the lane (the
 * transpose swaps all of them), two shuffles per pair of rows r, r | d.
 * On AVX-512 a stage is L vpermt2ps; the whole block 4 L of them.
 */
static void cg_gemm_transpose(GemmGen *g, LLVMValueRef *v, int L)
{
	int lo[L], hi[L];
	for (int d = L / 2; d >= 1; d /= 2) {
		for (int k = 0; k < L; k++) {
			lo[k] = k & d ? L + (k - d) : k;  /* row r: its lane k from row r|d when k has bit d */
			hi[k] = k & d ? L + k : k + d;    /* row r|d: its lane k from row r when k lacks it */
		}
		for (int r = 0; r < L; r++)
			if (!(r & d)) {
				LLVMValueRef a = v[r], b = v[r | d];
				v[r] = cg_gemm_shuffle(g, a, b, lo, L);
				v[r | d] = cg_gemm_shuffle(g, a, b, hi, L);
			}
	}
}

/* The store of a short vector v to dst + at (elements of v's type), the
   first n lanes only when n < L (a constant mask), and none where `when`
   (an i1, or NULL: always) is false. */
static void cg_gemm_store_lanes(GemmGen *g, LLVMValueRef v, LLVMValueRef to, int n, int L, unsigned align,
	LLVMValueRef when)
{
	if (n == L && !when) {
		LLVMSetAlignment(LLVMBuildStore(g->b, v, to), align);
		return;
	}
	LLVMTypeRef i1 = LLVMInt1TypeInContext(g->ctx), i32 = LLVMInt32TypeInContext(g->ctx);
	LLVMTypeRef over[] = { LLVMTypeOf(v), g->ptr };
	LLVMValueRef on[L];
	for (int l = 0; l < L; l++)
		on[l] = LLVMConstInt(i1, l < n, false);
	LLVMValueRef mask = LLVMConstVector(on, (unsigned)L);
	if (when)
		mask = LLVMBuildAnd(g->b, mask, cg_vec_splat(g->b, LLVMVectorType(i1, (unsigned)L), when), "");
	LLVMValueRef sa[] = { v, to, LLVMConstInt(i32, align, false), mask };
	cg_gemm_call_intrinsic(g, "llvm.masked.store", over, 2, sa, 4);
}

/* n consecutive source elements at src + at as n bf16 (<n x i16>): f32
   rounded as rt_bf16_from_f32 does (cg_bf16_bits), bf16 bits as they are.
   With a mask (<n x i1>), the lanes off it are not read and come out 0. */
static LLVMValueRef cg_gemm_load_bf16(GemmGen *g, LLVMValueRef src, LLVMValueRef at, int n, bool src_bf16,
	LLVMValueRef mask)
{
	LLVMTypeRef et = src_bf16 ? g->elt : g->f32, t = LLVMVectorType(et, (unsigned)n);
	LLVMValueRef v, from = gep_t(g, et, src, at);
	if (mask) {
		LLVMTypeRef over[] = { t, g->ptr };
		LLVMValueRef args[] = { from, LLVMConstInt(LLVMInt32TypeInContext(g->ctx), src_bf16 ? 2 : 4, false), mask,
			LLVMConstNull(t) };
		v = cg_gemm_call_intrinsic(g, "llvm.masked.load", over, 2, args, 4);
	} else {
		v = LLVMBuildLoad2(g->b, t, from, "");
		LLVMSetAlignment(v, src_bf16 ? 2 : 4);
	}
	return src_bf16 ? v : cg_bf16_bits(g->b, v);
}

/* The lanes l < left of n (left an i64 the loop computes): a clamped
   panel's columns that exist. */
static LLVMValueRef cg_gemm_lanes_below(GemmGen *g, LLVMValueRef left, int n)
{
	LLVMValueRef idx[n];
	for (int l = 0; l < n; l++)
		idx[l] = ci(g, l);
	LLVMValueRef splat = cg_vec_splat(g->b, LLVMVectorType(LLVMTypeOf(left), (unsigned)n), left);
	return LLVMBuildICmp(g->b, LLVMIntSLT, LLVMConstVector(idx, (unsigned)n), splat, "");
}

/*
 * Panel p of a bf16 pack() from a source in rows of one k each (sx == 1:
 * A transposed, B not): per pair of k, each run of L of the panel's R
 * values is loaded from both rows, rounded to bf16 and interleaved into
 * the 2L halfwords (x, k) (x, k+1) the microkernel reads, one store.  An
 * odd kc's last k goes through the nest, which pairs it with a zero.  In
 * the clamped last panel (xeff non-NULL) the loads are masked to the x
 * below xeff: the lanes past it are zeros, as the nest stores them.
 */
static void cg_gemm_pack_pairs_x(GemmGen *g, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef kc, LLVMValueRef p,
	int64_t R, const GemmSrc *how, LLVMValueRef xeff)
{
	int L = g->isa->lanes;
	LLVMValueRef kp = cg_gemm_kpad(g, kc), even = LLVMBuildAnd(g->b, kc, ci(g, -2), "");
	GemmLoop kl;
	LLVMValueRef k = cg_gemm_loop(g, &kl, ci(g, 0), even, 2);
	LLVMValueRef base = add(g, mul(g, LLVMBuildNSWMul(g->b, p, kp, ""), R), mul(g, k, R));
	for (int64_t r0 = 0; r0 < R; r0 += L) {
		int n = R - r0 < L ? (int)(R - r0) : L, sel[2 * L];
		LLVMValueRef x = add(g, mul(g, p, R), ci(g, r0));
		LLVMValueRef on = xeff ? cg_gemm_lanes_below(g, LLVMBuildNSWSub(g->b, xeff, x, ""), n) : NULL;
		LLVMValueRef v0 = cg_gemm_load_bf16(g, src, cg_gemm_src_at(g, how, NULL, x, k), n, how->src_bf16, on);
		LLVMValueRef v1 = cg_gemm_load_bf16(g, src, cg_gemm_src_at(g, how, NULL, x, add(g, k, ci(g, 1))), n,
			how->src_bf16, on);
		for (int l = 0; l < 2 * n; l++)
			sel[l] = l / 2 + (l % 2) * n;
		LLVMValueRef w = cg_gemm_shuffle(g, v0, v1, sel, 2 * n);
		LLVMSetAlignment(LLVMBuildStore(g->b, w, gep_t(g, g->elt, dst, add(g, base, ci(g, 2 * r0)))), 2);
	}
	cg_gemm_loop_end(g, &kl);
	cg_gemm_pack_nest(g, dst, src, kc, xeff, p, R, how, NULL, xeff != NULL, even);
}

/*
 * Panel p of a bf16 pack() from a source whose k is contiguous (sk == 1:
 * A not transposed, B transposed).  A pair of k is one 32-bit word of the
 * panel, so this is cg_gemm_pack_panel's transpose on words: per 2L
 * consecutive k, each of L rows gives L words (its 2L values rounded to
 * bf16, in k order), the L x L words are transposed in registers, and
 * each pair's R words are one store.  The k past the last 2L go through
 * the nest.  In the clamped last panel (xeff non-NULL) a row at or past
 * xeff reads row xeff-1 (in bounds) and keeps zeros, as in the nest.
 */
static void cg_gemm_pack_pairs_k(GemmGen *g, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef kc, LLVMValueRef p,
	int64_t R, const GemmSrc *how, LLVMValueRef xeff)
{
	int L = g->isa->lanes, seq[2 * L];
	for (int l = 0; l < 2 * L; l++)
		seq[l] = l;
	LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx), words = LLVMVectorType(i32, (unsigned)L);
	LLVMValueRef kp = cg_gemm_kpad(g, kc);
	LLVMValueRef whole = mul(g, LLVMBuildSDiv(g->b, kc, ci(g, 2 * L), ""), 2 * L);
	GemmLoop kl;
	LLVMValueRef k0 = cg_gemm_loop(g, &kl, ci(g, 0), whole, 2 * L);
	/* the panel's first word of pair k0/2 (kp even: the panel starts on a word) */
	LLVMValueRef base = add(g, mul(g, LLVMBuildNSWMul(g->b, p, LLVMBuildAShr(g->b, kp, ci(g, 1), ""), ""), R),
		mul(g, LLVMBuildAShr(g->b, k0, ci(g, 1), ""), R));
	for (int64_t r0 = 0; r0 < R; r0 += L) {
		LLVMValueRef v[L];
		int n = R - r0 < L ? (int)(R - r0) : L;
		for (int l = 0; l < L; l++) {
			if (l >= n) {
				v[l] = LLVMConstNull(words);
				continue;
			}
			LLVMValueRef x = add(g, mul(g, p, R), ci(g, r0 + l)), ok = NULL, w;
			if (xeff) {
				ok = LLVMBuildICmp(g->b, LLVMIntSLT, x, xeff, "");
				x = LLVMBuildSelect(g->b, ok, x, LLVMBuildNSWSub(g->b, xeff, ci(g, 1), ""), "");
			}
			LLVMValueRef at = cg_gemm_src_at(g, how, NULL, x, k0);
			if (how->src_bf16)
				w = cg_gemm_load_bf16(g, src, at, 2 * L, true, NULL);
			else
				w = cg_gemm_shuffle(g, cg_gemm_load_bf16(g, src, at, L, false, NULL),
					cg_gemm_load_bf16(g, src, add(g, at, ci(g, L)), L, false, NULL), seq, 2 * L);
			v[l] = LLVMBuildBitCast(g->b, w, words, "");
			if (ok)
				v[l] = LLVMBuildSelect(g->b, ok, v[l], LLVMConstNull(words), "");
		}
		cg_gemm_transpose(g, v, L);
		for (int j = 0; j < L; j++)
			cg_gemm_store_lanes(g, v[j], gep_t(g, i32, dst, add(g, base, ci(g, j * R + r0))), n, L, 4, NULL);
	}
	cg_gemm_loop_end(g, &kl);
	cg_gemm_pack_nest(g, dst, src, kc, xeff, p, R, how, NULL, xeff != NULL, whole);
}

/*
 * The k in [k0, k0 + L) of panel p, k contiguous in the source: one load
 * of L floats from each of the panel's rows, an L x L transpose per L rows
 * and one store of the R values of each k (masked for the last R mod L).
 * left (an i64, 1 to L - 1) makes it the last, partial block: the loads
 * read the k below kc only (masked: nothing past a row's end is touched)
 * and only the rows of those k are stored, so the next panel's are not.
 * Where the clamp is on, rows past xeff read row xeff - 1 and keep zeros.
 */
static void cg_gemm_pack_block(GemmGen *g, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef kc, LLVMValueRef xeff,
	LLVMValueRef p, int64_t R, const GemmSrc *how, LLVMValueRef row0, bool clamped, LLVMValueRef k0,
	LLVMValueRef left)
{
	int L = g->isa->lanes;
	LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
	LLVMValueRef zero = LLVMConstNull(g->vec), on = left ? cg_gemm_lanes_below(g, left, L) : NULL;
	for (int64_t r0 = 0; r0 < R; r0 += L) {
		LLVMValueRef v[L];
		int n = R - r0 < L ? (int)(R - r0) : L;
		for (int l = 0; l < L; l++) {
			if (l >= n) {
				v[l] = zero;
				continue;
			}
			LLVMValueRef x = add(g, mul(g, p, R), ci(g, r0 + l)), ok = NULL;
			if (clamped) { /* rows past xeff read row xeff-1, keep zeros */
				ok = LLVMBuildICmp(g->b, LLVMIntSLT, x, xeff, "");
				x = LLVMBuildSelect(g->b, ok, x, LLVMBuildNSWSub(g->b, xeff, ci(g, 1), ""), "");
			}
			LLVMValueRef from = gep(g, src, cg_gemm_src_at(g, how, row0, x, k0));
			if (on) {
				LLVMTypeRef over[] = { g->vec, g->ptr };
				LLVMValueRef args[] = { from, LLVMConstInt(i32, 4, false), on, zero };
				v[l] = cg_gemm_call_intrinsic(g, "llvm.masked.load", over, 2, args, 4);
			} else {
				v[l] = LLVMBuildLoad2(g->b, g->vec, from, "");
				LLVMSetAlignment(v[l], 4);
			}
			if (ok)
				v[l] = LLVMBuildSelect(g->b, ok, v[l], zero, "");
		}
		cg_gemm_transpose(g, v, L);
		for (int k = 0; k < L; k++) {
			LLVMValueRef at = add(g, mul(g, add(g, LLVMBuildNSWMul(g->b, p, kc, ""), add(g, k0, ci(g, k))), R),
				ci(g, r0));
			/* in the partial block, only the k below kc */
			LLVMValueRef when = left ? LLVMBuildICmp(g->b, LLVMIntSLT, ci(g, k), left, "") : NULL;
			cg_gemm_store_lanes(g, v[k], gep(g, dst, at), n, L, 4, when);
		}
	}
}

/*
 * Panel p of pack() when k is the source's contiguous axis (sk == 1: A
 * not transposed, B transposed) of an f32 product: the nest would read
 * one float of each of R rows per k, a gather.  Instead, per L consecutive
 * k (L = the ISA's lanes), one vector load from each row, an L x L
 * transpose in registers per L rows, and one vector store per k of the
 * panel's R values (a masked store for the last R mod L); the k past the
 * last whole L are one more such block, its loads and stores masked to
 * them (cg_gemm_pack_block).  The panel holds the same floats at
 * the same places either way.  A bf16 product's panels go to
 * cg_gemm_pack_pairs_k or _x (either orientation of the source; the
 * clamped last one too: an attention tile of 64 rows has a panel of 8 of
 * MR 14, which took a tenth of a bf16 tile product's time element by
 * element), tapped sources (none today) to the nest.
 */
static void cg_gemm_pack_panel(GemmGen *g, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef kc, LLVMValueRef xeff,
	LLVMValueRef p, int64_t R, const GemmSrc *how, LLVMValueRef row0, bool clamped)
{
	int L = g->isa->lanes;
	/* k contiguous: sk 1 and rows along x (strided, or a tapped operand's rows) */
	bool k_rows = how->sk == 1 && (how->sx != 1 || how->taps) && !(how->taps && how->rows_k);
	if (g->s->bf16 && !how->taps && L >= 4 && (k_rows || how->sx == 1)) {
		LLVMValueRef edge = clamped ? xeff : NULL;
		if (k_rows)
			cg_gemm_pack_pairs_k(g, dst, src, kc, p, R, how, edge);
		else
			cg_gemm_pack_pairs_x(g, dst, src, kc, p, R, how, edge);
		return;
	}
	if (!k_rows || g->s->bf16 || L < 4) {
		cg_gemm_pack_nest(g, dst, src, kc, xeff, p, R, how, row0, clamped, ci(g, 0));
		return;
	}
	LLVMValueRef whole = mul(g, LLVMBuildSDiv(g->b, kc, ci(g, L), ""), L);
	GemmLoop kl;
	LLVMValueRef k0 = cg_gemm_loop(g, &kl, ci(g, 0), whole, L);
	cg_gemm_pack_block(g, dst, src, kc, xeff, p, R, how, row0, clamped, k0, NULL);
	cg_gemm_loop_end(g, &kl);
	/* the last kc mod L, one block more (a weight gradient's K, the pixels
	   of an image's grid, is rarely a multiple of L) */
	LLVMValueRef f = LLVMGetBasicBlockParent(LLVMGetInsertBlock(g->b));
	LLVMBasicBlockRef tail = LLVMAppendBasicBlockInContext(g->ctx, f, "ktail");
	LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, f, "kdone");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, whole, kc, ""), tail, done);
	LLVMPositionBuilderAtEnd(g->b, tail);
	cg_gemm_pack_block(g, dst, src, kc, xeff, p, R, how, row0, clamped, whole, LLVMBuildNSWSub(g->b, kc, whole, ""));
	LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, done);
}

/* pack(dst, src, kc, xeff, r0): the panels of R rows (of A) or columns
   (of B) covering x in [0, xeff), each kc long; whole panels without the
   clamp. */
LLVMValueRef cg_gemm_pack(GemmGen *g, const char *name, int64_t R, const GemmSrc *how)
{
	LLVMTypeRef pt[] = { g->ptr, g->ptr, g->i64, g->i64, g->i64 };
	LLVMValueRef f = cg_gemm_function(g, name, pt, 5, true);
	LLVMValueRef dst = LLVMGetParam(f, 0), src = LLVMGetParam(f, 1), kc = LLVMGetParam(f, 2);
	LLVMValueRef xeff = LLVMGetParam(f, 3), r0 = LLVMGetParam(f, 4);
	LLVMValueRef whole = LLVMBuildSDiv(g->b, xeff, ci(g, R), "");
	GemmLoop pl;
	LLVMValueRef p = cg_gemm_loop(g, &pl, ci(g, 0), whole, 1);
	cg_gemm_pack_panel(g, dst, src, kc, xeff, p, R, how, r0, false);
	cg_gemm_loop_end(g, &pl);
	/* the partial panel, if any */
	LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(g->ctx, f, "part");
	LLVMBasicBlockRef out = LLVMAppendBasicBlockInContext(g->ctx, f, "out");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, mul(g, whole, R), xeff, ""), part, out);
	LLVMPositionBuilderAtEnd(g->b, part);
	cg_gemm_pack_panel(g, dst, src, kc, xeff, whole, R, how, r0, true);
	LLVMBuildBr(g->b, out);
	LLVMPositionBuilderAtEnd(g->b, out);
	LLVMBuildRetVoid(g->b);
	return f;
}
