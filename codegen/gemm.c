/*
 * gemm.c — generates sinter's own sgemm for one shape as LLVM IR: the ISA
 * and the microkernel's tile chosen from the target CPU's features, cache
 * blocking from the machine's cache sizes, packing of both operands into
 * zero-padded panels (codegen/gemm_pack.c; gemm_gen.h has what the two
 * files share), and a microkernel of LLVM vector FMAs whose edge
 * tiles store through masks (gemm.h says what the pieces are).
 *
 * The function emitted, for C = alpha op(A) op(B) (+ C):
 *
 *   for jc in [0, N) by NC                         B block in L3
 *     for pc in [0, K) by KC
 *       pack op(B)[pc.., jc..] into KC x NR panels (work + offB)
 *       for ic in [0, M) by MC                     A block in L2
 *         pack op(A)[ic.., pc..] into MR x KC panels (work)
 *         panels: for jr in [0, nc) by NR          B micro-panel in L1
 *           for ir in [0, mc) by MR
 *             micro(A panel ir, B panel jr,
 *                   C[ic+ir, jc+jr], kc, mr, nr,
 *                   add to C: accumulate or pc > 0)
 *
 * On the runtime's pool (the spec says parallel) C is cut into P
 * rectangles of whole tiles, P the pool's threads (at most cg_gemm_groups),
 * tr rows of them by P / tr columns (cg_gemm_split), and one job of
 * rt_parallel_for runs the loop nest above over each rectangle, with
 * packed blocks of its own (docs/ARCHITECTURE.md, "Threads").
 *
 * Sizes are constants, so LLVM sees every trip count; only the edge tiles'
 * mr, nr, the last blocks' kc, mc, nc and a part's rectangle vary at run time.
 */
#include "codegen/gemm_gen.h"
#include "codegen/scalar.h"

#include <stdio.h>
#include <string.h>

/* ---- the microkernel ---- */

static LLVMValueRef splat(GemmGen *g, LLVMValueRef x)
{
	return cg_vec_splat(g->b, g->vec, x);
}

/*
 * Stores the tile acc[mr][nv] at c (rows ldc apart): alpha * acc, plus C's
 * old value when add_c.  Columns past nr are masked off in every vector
 * (llvm.masked.load/store: AVX-512 mask registers, AVX2 vmaskmov), rows
 * past mr are skipped; a full tile has all-true masks, which costs
 * nothing per k step since the store happens once per kc of FMAs.
 */
static void cg_gemm_store_tile(GemmGen *g, LLVMValueRef *acc, LLVMValueRef c, LLVMValueRef mr, LLVMValueRef *mask,
	bool add_c)
{
	const CgGemmIsa *isa = g->isa;
	LLVMValueRef alpha = g->s->alpha == 1.0f ? NULL : splat(g, LLVMConstReal(g->f32, g->s->alpha));
	LLVMTypeRef over[] = { g->vec, g->ptr };
	LLVMValueRef align = LLVMConstInt(LLVMInt32TypeInContext(g->ctx), 4, false);
	LLVMBasicBlockRef end = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "stored");
	for (int i = 0; i < isa->mr; i++) {
		if (i > 0) {
			LLVMBasicBlockRef row = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "row");
			LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, ci(g, i), mr, ""), row, end);
			LLVMPositionBuilderAtEnd(g->b, row);
		}
		for (int v = 0; v < isa->nv; v++) {
			LLVMValueRef p = gep(g, c, ci(g, i * g->s->ldc + v * isa->lanes));
			LLVMValueRef x = acc[i * isa->nv + v];
			if (alpha)
				x = LLVMBuildFMul(g->b, x, alpha, "");
			if (add_c) {
				LLVMValueRef la[] = { p, align, mask[v], LLVMConstNull(g->vec) };
				x = LLVMBuildFAdd(g->b, cg_gemm_call_intrinsic(g, "llvm.masked.load", over, 2, la, 4), x, "");
			}
			LLVMValueRef sa[] = { x, p, align, mask[v] };
			cg_gemm_call_intrinsic(g, "llvm.masked.store", over, 2, sa, 4);
		}
	}
	LLVMBuildBr(g->b, end);
	LLVMPositionBuilderAtEnd(g->b, end);
}

/* The widened f32 of the even (low half: << 16) or odd (high half: the
   low bits cleared) bf16 of each 32-bit lane of x (a vector of f32 that
   holds bf16 pairs). */
static LLVMValueRef cg_gemm_widen(GemmGen *g, LLVMValueRef x, bool odd)
{
	LLVMTypeRef iv = LLVMVectorType(LLVMInt32TypeInContext(g->ctx), (unsigned)g->isa->lanes);
	LLVMValueRef u = LLVMBuildBitCast(g->b, x, iv, "");
	LLVMValueRef c[g->isa->lanes];
	for (int l = 0; l < g->isa->lanes; l++)
		c[l] = LLVMConstInt(LLVMInt32TypeInContext(g->ctx), odd ? 0xFFFF0000u : 16, false);
	LLVMValueRef cv = LLVMConstVector(c, (unsigned)g->isa->lanes);
	u = odd ? LLVMBuildAnd(g->b, u, cv, "") : LLVMBuildShl(g->b, u, cv, "");
	return LLVMBuildBitCast(g->b, u, g->vec, "");
}

/* One k step of one accumulator: acc + a b, one FMA.  In a bf16 product a
   and b hold a pair of bf16 per lane and the step is VDPBF16PS's: + a_odd
   b_odd, rounded, then + a_even b_even, rounded; the products are exact in
   f32, so two FMAs in that order give its bits but for denormals, which it
   flushes (docs/ARCHITECTURE.md, "bf16 products"). */
static LLVMValueRef cg_gemm_step(GemmGen *g, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b)
{
	const char *fma = g->isa->fma ? "llvm.fma" : "llvm.fmuladd";
	if (!g->s->bf16) {
		LLVMValueRef args[] = { a, b, acc };
		return cg_gemm_call_intrinsic(g, fma, &g->vec, 1, args, 3);
	}
	if (g->isa->dpbf16) {
		/* <16 x float> (<16 x float>, <32 x bfloat>, <32 x bfloat>) in LLVM 19 */
		static const char name[] = "llvm.x86.avx512bf16.dpbf16ps.512";
		unsigned id = LLVMLookupIntrinsicID(name, sizeof name - 1);
		LLVMTypeRef ft = LLVMIntrinsicGetType(g->ctx, id, NULL, 0), pt[3];
		LLVMGetParamTypes(ft, pt);
		LLVMValueRef args[] = { acc, LLVMBuildBitCast(g->b, a, pt[1], ""), LLVMBuildBitCast(g->b, b, pt[2], "") };
		return LLVMBuildCall2(g->b, ft, LLVMGetIntrinsicDeclaration(g->mod, id, NULL, 0), args, 3, "");
	}
	for (int odd = 1; odd >= 0; odd--) {
		LLVMValueRef args[] = { cg_gemm_widen(g, a, odd), cg_gemm_widen(g, b, odd), acc };
		acc = cg_gemm_call_intrinsic(g, fma, &g->vec, 1, args, 3);
	}
	return acc;
}

/*
 * The k steps of a tile into the accumulators' slots: per step nv vectors
 * of B (from the packed panel b, or with rows from b + rows[k], under
 * mask when there is one), MR broadcasts of A, MR * nv FMAs.
 */
static void cg_gemm_ksteps(GemmGen *g, LLVMValueRef *slot, LLVMValueRef a, LLVMValueRef b, LLVMValueRef rows,
	LLVMValueRef ksteps, LLVMValueRef *mask)
{
	int mr = g->isa->mr, nv = g->isa->nv, lanes = g->isa->lanes;
	LLVMValueRef bv[nv];
	GemmLoop kl;
	LLVMValueRef k = cg_gemm_loop(g, &kl, ci(g, 0), ksteps, 1);
	LLVMValueRef bk = rows ? LLVMBuildLoad2(g->b, g->i64, gep_t(g, g->i64, rows, k), "") : mul(g, k, g->nr);
	LLVMValueRef ak = mul(g, k, mr);
	for (int v = 0; v < nv; v++) {
		LLVMValueRef at = gep(g, b, add(g, bk, ci(g, v * lanes)));
		if (mask) {
			LLVMTypeRef over[] = { g->vec, g->ptr };
			LLVMValueRef la[] = { at, LLVMConstInt(LLVMInt32TypeInContext(g->ctx), 4, false), mask[v],
				LLVMConstNull(g->vec) };
			bv[v] = cg_gemm_call_intrinsic(g, "llvm.masked.load", over, 2, la, 4);
			continue;
		}
		bv[v] = LLVMBuildLoad2(g->b, g->vec, at, "");
		/* a packed panel is aligned; a row of the image need not be */
		LLVMSetAlignment(bv[v], rows ? 4 : (unsigned)lanes * 4);
	}
	for (int i = 0; i < mr; i++) {
		LLVMValueRef ai = splat(g, LLVMBuildLoad2(g->b, g->f32, gep(g, a, add(g, ak, ci(g, i))), ""));
		for (int v = 0; v < nv; v++) {
			LLVMValueRef *s = &slot[i * nv + v];
			LLVMValueRef acc0 = LLVMBuildLoad2(g->b, g->vec, *s, "");
			LLVMBuildStore(g->b, cg_gemm_step(g, acc0, ai, bv[v]), *s);
		}
	}
	cg_gemm_loop_end(g, &kl);
}

/*
 * micro(a, b, c, kc, mr, nr, add_c, rows): the MR x NR tile at c from the
 * packed A panel a (kc x MR, MR contiguous) and B panel b (kc x NR).  Each
 * k step loads nv vectors of B, broadcasts MR elements of A and issues
 * MR * nv FMAs into accumulators that SROA keeps in registers.
 *
 * B read in place (GemmGen.direct): b is the tile's first column in the
 * image and rows[k] the offset of k's row, whose NR floats the step loads
 * (an edge tile's under its column masks: past nr they may lie outside
 * the image).
 * The FMAs are the packed kernel's, in its order: the same bits.
 */
static LLVMValueRef cg_gemm_micro(GemmGen *g)
{
	const CgGemmIsa *isa = g->isa;
	int mr = isa->mr, nv = isa->nv, lanes = isa->lanes, nacc = mr * nv;
	LLVMTypeRef pt[] = { g->ptr, g->ptr, g->ptr, g->i64, g->i64, g->i64, g->i1, g->ptr };
	LLVMValueRef f = cg_gemm_function(g, "sinter_gemm_micro", pt, 8, true);
	LLVMValueRef a = LLVMGetParam(f, 0), bp = LLVMGetParam(f, 1), c = LLVMGetParam(f, 2);
	LLVMValueRef kc = LLVMGetParam(f, 3), mrv = LLVMGetParam(f, 4), nrv = LLVMGetParam(f, 5);
	LLVMValueRef add_c = LLVMGetParam(f, 6), rows = LLVMGetParam(f, 7);
	LLVMValueRef slot[nacc], acc[nacc], mask[nv];
	for (int i = 0; i < nacc; i++) {
		slot[i] = LLVMBuildAlloca(g->b, g->vec, "acc");
		LLVMBuildStore(g->b, LLVMConstNull(g->vec), slot[i]);
	}
	/* lane l of vector v is column v*lanes + l: on when below nr */
	LLVMTypeRef i64v = LLVMVectorType(g->i64, (unsigned)lanes);
	LLVMValueRef nsplat = cg_vec_splat(g->b, i64v, nrv);
	for (int v = 0; v < nv; v++) {
		LLVMValueRef col[lanes];
		for (int l = 0; l < lanes; l++)
			col[l] = ci(g, v * lanes + l);
		mask[v] = LLVMBuildICmp(g->b, LLVMIntSLT, LLVMConstVector(col, (unsigned)lanes), nsplat, "");
	}
	/* Ask for C's tile now, so that its lines (rows ldc apart: often 4 KB
	   apart, the same L1 set) arrive while the FMAs run, not at the store. */
	LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
	for (int i = 0; i < mr; i++)
		for (int v = 0; v < nv; v++) {
			LLVMValueRef pa[] = { gep(g, c, ci(g, i * g->s->ldc + v * lanes)), LLVMConstInt(i32, 1, false),
				LLVMConstInt(i32, 3, false), LLVMConstInt(i32, 1, false) };
			cg_gemm_call_intrinsic(g, "llvm.prefetch", &g->ptr, 1, pa, 4);
		}
	/* A bf16 product steps over pairs of k: a panel's 32-bit word holds
	   the pair's two bf16 (cg_gemm_pack_nest), so the loads are those of
	   f32 panels half as deep. */
	LLVMValueRef ksteps = g->s->bf16 ? LLVMBuildAShr(g->b, cg_gemm_kpad(g, kc), ci(g, 1), "") : kc;
	if (!g->direct)
		cg_gemm_ksteps(g, slot, a, bp, NULL, ksteps, NULL);
	else {
		/* B in place: whole tiles load NR floats of a row as they are,
		   an edge tile's loads are masked (its columns past nr may lie
		   past the image's end) */
		LLVMBasicBlockRef whole = LLVMAppendBasicBlockInContext(g->ctx, f, "whole");
		LLVMBasicBlockRef edge = LLVMAppendBasicBlockInContext(g->ctx, f, "edge");
		LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, f, "ksteps_done");
		LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, nrv, ci(g, g->nr), ""), whole, edge);
		LLVMPositionBuilderAtEnd(g->b, whole);
		cg_gemm_ksteps(g, slot, a, bp, rows, ksteps, NULL);
		LLVMBuildBr(g->b, done);
		LLVMPositionBuilderAtEnd(g->b, edge);
		cg_gemm_ksteps(g, slot, a, bp, rows, ksteps, mask);
		LLVMBuildBr(g->b, done);
		LLVMPositionBuilderAtEnd(g->b, done);
	}
	for (int i = 0; i < nacc; i++)
		acc[i] = LLVMBuildLoad2(g->b, g->vec, slot[i], "");
	LLVMBasicBlockRef with_c = LLVMAppendBasicBlockInContext(g->ctx, f, "add_c");
	LLVMBasicBlockRef without = LLVMAppendBasicBlockInContext(g->ctx, f, "set_c");
	LLVMBuildCondBr(g->b, add_c, with_c, without);
	LLVMPositionBuilderAtEnd(g->b, with_c);
	cg_gemm_store_tile(g, acc, c, mrv, mask, true);
	LLVMBuildRetVoid(g->b);
	LLVMPositionBuilderAtEnd(g->b, without);
	cg_gemm_store_tile(g, acc, c, mrv, mask, false);
	LLVMBuildRetVoid(g->b);
	return f;
}

/* ---- the product ---- */

/* What the panel walk of one A block reads: the packed A block (rows ic..
   of C, mc of them), the packed B block (a B read in place: its rows'
   offsets), C at the block's corner, its sizes, add to C; for an epilogue
   (s.epi): the function and its context, the corner (ic, jc) in C, and
   whether this is the last K block; B at the block's first column (read
   in place only). */
enum { PANEL_WA, PANEL_WB, PANEL_C, PANEL_KC, PANEL_MC, PANEL_NC, PANEL_ADD, PANEL_EPI, PANEL_ECTX, PANEL_I0,
	PANEL_J0, PANEL_LAST, PANEL_B, PANEL_FIELDS };

static LLVMTypeRef cg_gemm_panel_type(GemmGen *g)
{
	LLVMTypeRef f[PANEL_FIELDS] = { g->ptr, g->ptr, g->ptr, g->i64, g->i64, g->i64, g->i1, g->ptr, g->ptr,
		g->i64, g->i64, g->i1, g->ptr };
	return LLVMStructTypeInContext(g->ctx, f, PANEL_FIELDS, false);
}

/* The fields of the context block ctx (a function's first parameter). */
static void cg_gemm_fields(GemmGen *g, LLVMTypeRef st, unsigned nfield, LLVMValueRef ctx, LLVMValueRef *field)
{
	for (unsigned i = 0; i < nfield; i++)
		field[i] = LLVMBuildLoad2(g->b, LLVMStructGetTypeAtIndex(st, i),
			LLVMBuildStructGEP2(g->b, st, ctx, i, ""), "");
}

/* epi(ectx, i0, j0, mr, nr) when this is the tile's last K block. */
static void cg_gemm_call_epi(GemmGen *g, LLVMValueRef *field, LLVMValueRef ir, LLVMValueRef jr, LLVMValueRef mr,
	LLVMValueRef nr)
{
	LLVMBasicBlockRef call = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "epi");
	LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "epi_done");
	LLVMBuildCondBr(g->b, field[PANEL_LAST], call, done);
	LLVMPositionBuilderAtEnd(g->b, call);
	LLVMTypeRef pt[] = { g->ptr, g->i64, g->i64, g->i64, g->i64 };
	LLVMValueRef args[] = { field[PANEL_ECTX], add(g, field[PANEL_I0], ir), add(g, field[PANEL_J0], jr), mr, nr };
	LLVMBuildCall2(g->b, LLVMFunctionType(g->voidty, pt, 5, false), field[PANEL_EPI], args, 5, "");
	LLVMBuildBr(g->b, done);
	LLVMPositionBuilderAtEnd(g->b, done);
}

/*
 * panels(ctx, lo, hi): the microkernel over the B micro-panels [lo, hi) of
 * the packed B block (columns lo*NR ..) and every A micro-panel of the
 * packed A block, in increasing rows for each column panel, so a column's
 * tiles are finished in increasing rows, which an epilogue's column sums
 * rely on (codegen/epilogue.c).
 */
static LLVMValueRef cg_gemm_panels(GemmGen *g, LLVMValueRef micro)
{
	LLVMTypeRef pt[] = { g->ptr, g->i64, g->i64 };
	LLVMValueRef f = cg_gemm_function(g, "sinter_gemm_panels", pt, 3, true), field[PANEL_FIELDS];
	cg_gemm_fields(g, cg_gemm_panel_type(g), PANEL_FIELDS, LLVMGetParam(f, 0), field);
	LLVMValueRef kc = field[PANEL_KC], mc = field[PANEL_MC], nc = field[PANEL_NC];
	LLVMValueRef lo = LLVMGetParam(f, 1), hi = LLVMGetParam(f, 2), kp = cg_gemm_kpad(g, kc);
	LLVMValueRef end = min64(g, mul(g, hi, g->nr), nc);
	GemmLoop jrl, irl;
	LLVMValueRef jr = cg_gemm_loop(g, &jrl, mul(g, lo, g->nr), end, g->nr);
	LLVMValueRef nr = min64(g, ci(g, g->nr), LLVMBuildNSWSub(g->b, nc, jr, ""));
	LLVMValueRef ir = cg_gemm_loop(g, &irl, ci(g, 0), mc, g->isa->mr);
	LLVMValueRef mr = min64(g, ci(g, g->isa->mr), LLVMBuildNSWSub(g->b, mc, ir, ""));
	LLVMValueRef bt = g->direct ? gep(g, field[PANEL_B], jr)
	                            : gep_t(g, g->elt, field[PANEL_WB], LLVMBuildNSWMul(g->b, jr, kp, ""));
	LLVMValueRef ma[] = { gep_t(g, g->elt, field[PANEL_WA], LLVMBuildNSWMul(g->b, ir, kp, "")), bt,
		gep(g, field[PANEL_C], add(g, mul(g, ir, g->s->ldc), jr)), kc, mr, nr, field[PANEL_ADD],
		g->direct ? field[PANEL_WB] : LLVMConstNull(g->ptr) };
	LLVMBuildCall2(g->b, LLVMGlobalGetValueType(micro), micro, ma, 8, "");
	if (g->s->epi)
		cg_gemm_call_epi(g, field, ir, jr, mr, nr);
	cg_gemm_loop_end(g, &irl);
	cg_gemm_loop_end(g, &jrl);
	LLVMBuildRetVoid(g->b);
	return f;
}

/* The functions one loop nest calls, and the operands' strides:
   op(A)[i][k] = A[i*sxa + k*ska], op(B)[k][j] = B[k*skb + j*sxb] (a
   tapped B's row stride 0: pack_b adds its rows' offsets). */
typedef struct {
	LLVMValueRef pack_a, pack_b, panels;
	int64_t sxa, ska, skb, sxb;
} GemmNest;

/*
 * The loop nest of the product over C's rows [r0, r1) and columns
 * [c0, c1) (whole MR and NR panels but at C's edges), with the packed
 * blocks at wa and wb and the panel walk's context block ctx:
 *
 *   for jc in [c0, c1) by NC, for pc in [0, K) by KC:
 *     pack op(B)'s block; for ic in [r0, r1) by MC: pack op(A)'s, walk the panels
 *
 * The serial product is one nest over all of C; each part of a product on
 * the pool is one nest over its rectangle (cg_gemm_part).
 */
static void cg_gemm_nest(GemmGen *g, const GemmNest *n, LLVMValueRef *op, LLVMValueRef wa, LLVMValueRef wb,
	LLVMValueRef ctx, LLVMValueRef r0, LLVMValueRef r1, LLVMValueRef c0, LLVMValueRef c1)
{
	const CgGemmSpec *s = g->s;
	LLVMValueRef A = op[0], B = op[1], C = op[2];
	LLVMTypeRef ta_t = s->a_bf16 ? g->elt : g->f32, tb_t = s->b_bf16 ? g->elt : g->f32;
	LLVMTypeRef pack_t = LLVMGlobalGetValueType(n->pack_a), panel_t = cg_gemm_panel_type(g);
	GemmLoop jl, pl, il;
	LLVMValueRef jc = cg_gemm_loop(g, &jl, c0, c1, g->blk->nc);
	LLVMValueRef nc = min64(g, ci(g, g->blk->nc), LLVMBuildNSWSub(g->b, c1, jc, ""));
	LLVMValueRef pc = cg_gemm_loop(g, &pl, ci(g, 0), ci(g, s->k), g->blk->kc);
	LLVMValueRef kc = min64(g, ci(g, g->blk->kc), LLVMBuildNSWSub(g->b, ci(g, s->k), pc, ""));
	/* a tapped B's first stored row: k's (pc) or, transposed, n's (jc) */
	LLVMValueRef row0 = s->taps.kh == 0 ? ci(g, 0) : s->tb ? jc : pc;
	LLVMValueRef bblk = gep_t(g, tb_t, B, add(g, mul(g, pc, n->skb), mul(g, jc, n->sxb)));
	LLVMValueRef pb[] = { wb, bblk, kc, nc, row0 };
	LLVMBuildCall2(g->b, pack_t, n->pack_b, pb, 5, "");
	/* the first K block sets C unless the product accumulates into it */
	LLVMValueRef add_c = s->accumulate ? LLVMConstInt(g->i1, 1, false)
	                                   : LLVMBuildICmp(g->b, LLVMIntNE, pc, ci(g, 0), "");
	LLVMValueRef last = LLVMBuildICmp(g->b, LLVMIntEQ, add(g, pc, kc), ci(g, s->k), "");
	LLVMValueRef ic = cg_gemm_loop(g, &il, r0, r1, g->blk->mc);
	LLVMValueRef mc = min64(g, ci(g, g->blk->mc), LLVMBuildNSWSub(g->b, r1, ic, ""));
	LLVMValueRef pa[] = { wa, gep_t(g, ta_t, A, add(g, mul(g, ic, n->sxa), mul(g, pc, n->ska))), kc, mc, ci(g, 0) };
	LLVMBuildCall2(g->b, pack_t, n->pack_a, pa, 5, "");
	LLVMValueRef none = LLVMConstNull(g->ptr);
	LLVMValueRef vals[PANEL_FIELDS] = { wa, wb, gep(g, C, add(g, mul(g, ic, s->ldc), jc)), kc, mc, nc, add_c,
		s->epi ? op[3] : none, s->epi ? op[4] : none, ic, jc, last, bblk };
	for (unsigned i = 0; i < PANEL_FIELDS; i++)
		LLVMBuildStore(g->b, vals[i], LLVMBuildStructGEP2(g->b, panel_t, ctx, i, ""));
	LLVMValueRef npanel = LLVMBuildSDiv(g->b, add(g, nc, ci(g, g->nr - 1)), ci(g, g->nr), "");
	LLVMValueRef args[] = { ctx, ci(g, 0), npanel };
	LLVMBuildCall2(g->b, LLVMGlobalGetValueType(n->panels), n->panels, args, 3, "");
	cg_gemm_loop_end(g, &il);
	cg_gemm_loop_end(g, &pl);
	cg_gemm_loop_end(g, &jl);
}

/* What a product on the pool hands its parts: A, B, C, the workspace,
   epi, ectx, and the parts this run makes. */
enum { PART_A, PART_B, PART_C, PART_WORK, PART_EPI, PART_ECTX, PART_N, PART_FIELDS };

static LLVMTypeRef cg_gemm_part_type(GemmGen *g)
{
	LLVMTypeRef f[PART_FIELDS] = { g->ptr, g->ptr, g->ptr, g->ptr, g->ptr, g->ptr, g->i64 };
	return LLVMStructTypeInContext(g->ctx, f, PART_FIELDS, false);
}

/* i * n / d for i64 values and constants n, d (the parts' even shares). */
static LLVMValueRef cg_gemm_share(GemmGen *g, LLVMValueRef i, int64_t n, LLVMValueRef d)
{
	return LLVMBuildSDiv(g->b, mul(g, i, n), d, "");
}

/*
 * part(pctx, lo, hi): the parts [lo, hi) of a product on the pool.  With
 * P parts, C is cut into tr x tc rectangles (tr = cg_gemm_split's choice
 * for P, tc = P / tr) of whole MR rows and NR columns as even as they
 * come; part t takes rectangle (t / tc, t % tc) and runs the serial loop
 * nest over it with packed blocks of its own (slot t of the workspace).
 */
static LLVMValueRef cg_gemm_part(GemmGen *g, const GemmNest *n, int64_t groups)
{
	const CgGemmSpec *s = g->s;
	LLVMTypeRef pt[] = { g->ptr, g->i64, g->i64 }, part_t = cg_gemm_part_type(g);
	LLVMValueRef f = cg_gemm_function(g, "sinter_gemm_part", pt, 3, true), field[PART_FIELDS];
	LLVMValueRef ctx = LLVMBuildAlloca(g->b, cg_gemm_panel_type(g), "panel");
	cg_gemm_fields(g, part_t, PART_FIELDS, LLVMGetParam(f, 0), field);
	LLVMValueRef parts = field[PART_N], tr = ci(g, 1);
	for (int64_t p = 2; p <= groups; p++) {
		int64_t r = cg_gemm_split(s, g->isa, g->blk, p);
		if (r != 1)
			tr = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntEQ, parts, ci(g, p), ""), ci(g, r), tr, "");
	}
	LLVMValueRef tc = LLVMBuildSDiv(g->b, parts, tr, "");
	int64_t rows = (s->m + g->isa->mr - 1) / g->isa->mr, cols = (s->n + g->nr - 1) / g->nr;
	GemmLoop tl;
	LLVMValueRef t = cg_gemm_loop(g, &tl, LLVMGetParam(f, 1), LLVMGetParam(f, 2), 1);
	LLVMValueRef ti = LLVMBuildSDiv(g->b, t, tc, ""), tj = LLVMBuildSRem(g->b, t, tc, "");
	LLVMValueRef one = ci(g, 1);
	LLVMValueRef r0 = mul(g, cg_gemm_share(g, ti, rows, tr), g->isa->mr);
	LLVMValueRef r1 = min64(g, mul(g, cg_gemm_share(g, add(g, ti, one), rows, tr), g->isa->mr), ci(g, s->m));
	LLVMValueRef c0 = mul(g, cg_gemm_share(g, tj, cols, tc), g->nr);
	LLVMValueRef c1 = min64(g, mul(g, cg_gemm_share(g, add(g, tj, one), cols, tc), g->nr), ci(g, s->n));
	int64_t na, nb;
	cg_gemm_blocks(s, g->isa, g->blk, &na, &nb);
	LLVMValueRef wa = gep_t(g, g->elt, field[PART_WORK], LLVMBuildNSWMul(g->b, t, ci(g, na + nb), ""));
	LLVMValueRef op[] = { field[PART_A], field[PART_B], field[PART_C], field[PART_EPI], field[PART_ECTX] };
	cg_gemm_nest(g, n, op, wa, gep_t(g, g->elt, wa, ci(g, na)), ctx, r0, r1, c0, c1);
	cg_gemm_loop_end(g, &tl);
	LLVMBuildRetVoid(g->b);
	return f;
}

/* The parts a run makes: the pool's threads (rt_pool_threads(), asked at
   run time), at least 1, at most the groups the workspace holds. */
static LLVMValueRef cg_gemm_parts(GemmGen *g, int64_t groups)
{
	LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx), ft = LLVMFunctionType(i32, NULL, 0, false);
	LLVMValueRef f = LLVMGetNamedFunction(g->mod, "rt_pool_threads");
	if (!f)
		f = LLVMAddFunction(g->mod, "rt_pool_threads", ft);
	LLVMValueRef t = LLVMBuildSExt(g->b, LLVMBuildCall2(g->b, ft, f, NULL, 0, ""), g->i64, "");
	t = min64(g, t, ci(g, groups));
	return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, t, ci(g, 1), ""), ci(g, 1), t, "");
}

/* A call of rt_parallel_for(n, fn, ctx), declared in mod on first use. */
static void cg_gemm_parallel_for(GemmGen *g, LLVMValueRef n, LLVMValueRef fn, LLVMValueRef ctx)
{
	LLVMTypeRef pt[] = { g->i64, g->ptr, g->ptr }, rt_t = LLVMFunctionType(g->voidty, pt, 3, false);
	LLVMValueRef pf = LLVMGetNamedFunction(g->mod, "rt_parallel_for");
	if (!pf)
		pf = LLVMAddFunction(g->mod, "rt_parallel_for", rt_t);
	LLVMValueRef args[] = { n, fn, ctx };
	LLVMBuildCall2(g->b, rt_t, pf, args, 3, "");
}

LLVMValueRef cg_gemm_emit(LLVMModuleRef mod, const char *name, const CgGemmSpec *s, const CgGemmIsa *isa,
	const CgGemmBlocking *blk)
{
	GemmGen g = { .ctx = LLVMGetModuleContext(mod), .mod = mod, .s = s, .isa = isa, .blk = blk };
	g.b = LLVMCreateBuilderInContext(g.ctx);
	g.f32 = LLVMFloatTypeInContext(g.ctx);
	g.i1 = LLVMInt1TypeInContext(g.ctx);
	g.i64 = LLVMInt64TypeInContext(g.ctx);
	g.ptr = LLVMPointerTypeInContext(g.ctx, 0);
	g.voidty = LLVMVoidTypeInContext(g.ctx);
	g.vec = LLVMVectorType(g.f32, (unsigned)isa->lanes);
	g.nr = isa->nv * isa->lanes;
	g.elt = s->bf16 ? LLVMInt16TypeInContext(g.ctx) : g.f32;
	bool taps = s->taps.kh > 0;
	int64_t ldb = taps ? 0 : s->ldb;
	g.direct = cg_gemm_direct(s);
	GemmNest n = { .sxa = s->ta ? 1 : s->lda, .ska = s->ta ? s->lda : 1, .skb = s->tb ? 1 : ldb,
		.sxb = s->tb ? ldb : 1 };
	LLVMValueRef micro = cg_gemm_micro(&g);
	if ((s->a_bf16 || s->b_bf16) && !s->bf16)
		die("codegen: a product with bf16 operands in memory that is not a bf16 product");
	if (taps && s->bf16)
		die("codegen: a bf16 product reading an image's taps");
	GemmSrc ha = { n.ska, n.sxa, s->a_bf16, NULL, false };
	GemmSrc hb = { n.skb, n.sxb, s->b_bf16, taps ? &s->taps : NULL, !s->tb };
	n.pack_a = cg_gemm_pack(&g, "sinter_gemm_pack_a", isa->mr, &ha);
	n.pack_b = g.direct ? cg_gemm_tap_rows(&g, "sinter_gemm_rows_b", &s->taps)
	                    : cg_gemm_pack(&g, "sinter_gemm_pack_b", g.nr, &hb);
	n.panels = cg_gemm_panels(&g, micro);
	int64_t na, nb, groups = cg_gemm_groups(s, isa, blk);
	cg_gemm_blocks(s, isa, blk, &na, &nb);
	LLVMValueRef part = s->parallel ? cg_gemm_part(&g, &n, groups) : NULL;
	LLVMTypeRef pt[] = { g.ptr, g.ptr, g.ptr, g.ptr, g.ptr, g.ptr };
	LLVMValueRef f = cg_gemm_function(&g, name, pt, s->epi ? 6 : 4, false);
	/* the epilogue reads C's tiles through its own pointers, and its
	   context is only read: neither is noalias (A, B and the workspace
	   are: the epilogue writes none of them, fused.c sees to that) */
	if (s->epi) {
		unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
		static const unsigned at[] = { 3, 5, 6 }; /* C, epi, ectx: parameter index + 1 */
		for (int i = 0; i < 3; i++)
			LLVMRemoveEnumAttributeAtIndex(f, at[i], noalias);
	}
	LLVMValueRef none = LLVMConstNull(g.ptr);
	LLVMValueRef op[] = { LLVMGetParam(f, 0), LLVMGetParam(f, 1), LLVMGetParam(f, 2), LLVMGetParam(f, 3),
		s->epi ? LLVMGetParam(f, 4) : none, s->epi ? LLVMGetParam(f, 5) : none };
	if (!s->parallel) {
		LLVMValueRef ctx = LLVMBuildAlloca(g.b, cg_gemm_panel_type(&g), "panel");
		LLVMValueRef nop[] = { op[0], op[1], op[2], op[4], op[5] };
		cg_gemm_nest(&g, &n, nop, op[3], gep_t(&g, g.elt, op[3], ci(&g, na)), ctx, ci(&g, 0), ci(&g, s->m),
			ci(&g, 0), ci(&g, s->n));
	} else {
		LLVMTypeRef part_t = cg_gemm_part_type(&g);
		LLVMValueRef pctx = LLVMBuildAlloca(g.b, part_t, "parts");
		LLVMValueRef parts = cg_gemm_parts(&g, groups);
		for (unsigned i = 0; i < PART_FIELDS; i++)
			LLVMBuildStore(g.b, i < PART_N ? op[i] : parts, LLVMBuildStructGEP2(g.b, part_t, pctx, i, ""));
		cg_gemm_parallel_for(&g, parts, part, pctx);
	}
	LLVMBuildRetVoid(g.b);
	LLVMDisposeBuilder(g.b);
	return f;
}
