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
 * On the runtime's pool (the spec says parallel) the ic loop steps by a
 * group of G row blocks (G: the pool's threads, at most cg_gemm_groups),
 * and per group two jobs of rt_parallel_for: the group's A micro-panels
 * packed split over the threads, then the jr range split over them, each
 * walk packing its own B micro-panels (in the group at row 0) and running
 * the group's row blocks in order (docs/ARCHITECTURE.md, "Threads").
 *
 * Sizes are constants, so LLVM sees every trip count; only the edge tiles'
 * mr, nr, the last blocks' kc, mc, nc and the group vary at run time.
 */
#include "codegen/gemm_gen.h"
#include "codegen/scalar.h"

#include <stdio.h>
#include <string.h>

/* ---- the microkernel ---- */

static LLVMValueRef splat(GemmGen *g, LLVMValueRef x)
{
	LLVMValueRef v = LLVMBuildInsertElement(g->b, LLVMGetUndef(g->vec), x, LLVMConstInt(g->i64, 0, false), "");
	LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(LLVMInt32TypeInContext(g->ctx), (unsigned)g->isa->lanes));
	return LLVMBuildShuffleVector(g->b, v, LLVMGetUndef(g->vec), zeros, "");
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
 * micro(a, b, c, kc, mr, nr, add_c): the MR x NR tile at c from the packed
 * A panel a (kc x MR, MR contiguous) and B panel b (kc x NR).  Each k step
 * loads nv vectors of B, broadcasts MR elements of A and issues MR * nv
 * FMAs into accumulators that SROA keeps in registers.
 */
static LLVMValueRef cg_gemm_micro(GemmGen *g)
{
	const CgGemmIsa *isa = g->isa;
	int mr = isa->mr, nv = isa->nv, lanes = isa->lanes, nacc = mr * nv;
	LLVMTypeRef pt[] = { g->ptr, g->ptr, g->ptr, g->i64, g->i64, g->i64, g->i1 };
	LLVMValueRef f = cg_gemm_function(g, "sinter_gemm_micro", pt, 7, true);
	LLVMValueRef a = LLVMGetParam(f, 0), bp = LLVMGetParam(f, 1), c = LLVMGetParam(f, 2);
	LLVMValueRef kc = LLVMGetParam(f, 3), mrv = LLVMGetParam(f, 4), nrv = LLVMGetParam(f, 5);
	LLVMValueRef add_c = LLVMGetParam(f, 6);
	LLVMValueRef slot[nacc], acc[nacc], bv[nv], mask[nv];
	for (int i = 0; i < nacc; i++) {
		slot[i] = LLVMBuildAlloca(g->b, g->vec, "acc");
		LLVMBuildStore(g->b, LLVMConstNull(g->vec), slot[i]);
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
	GemmLoop kl;
	LLVMValueRef ksteps = g->s->bf16 ? LLVMBuildAShr(g->b, cg_gemm_kpad(g, kc), ci(g, 1), "") : kc;
	LLVMValueRef k = cg_gemm_loop(g, &kl, ci(g, 0), ksteps, 1);
	LLVMValueRef bk = mul(g, k, g->nr), ak = mul(g, k, mr);
	for (int v = 0; v < nv; v++) {
		bv[v] = LLVMBuildLoad2(g->b, g->vec, gep(g, bp, add(g, bk, ci(g, v * lanes))), "");
		LLVMSetAlignment(bv[v], (unsigned)lanes * 4);
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
	for (int i = 0; i < nacc; i++)
		acc[i] = LLVMBuildLoad2(g->b, g->vec, slot[i], "");
	/* lane l of vector v is column v*lanes + l: on when below nr */
	LLVMTypeRef i64v = LLVMVectorType(g->i64, (unsigned)lanes);
	LLVMValueRef nsplat = LLVMBuildInsertElement(g->b, LLVMGetUndef(i64v), nrv, ci(g, 0), "");
	LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(LLVMInt32TypeInContext(g->ctx), (unsigned)lanes));
	nsplat = LLVMBuildShuffleVector(g->b, nsplat, LLVMGetUndef(i64v), zeros, "");
	for (int v = 0; v < nv; v++) {
		LLVMValueRef col[lanes];
		for (int l = 0; l < lanes; l++)
			col[l] = ci(g, v * lanes + l);
		mask[v] = LLVMBuildICmp(g->b, LLVMIntSLT, LLVMConstVector(col, (unsigned)lanes), nsplat, "");
	}
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

/* What the panel walk of a group of row blocks reads: the packed A blocks
   (rows ig.. of C, MC at a time), the packed B block, C at the group's
   corner, its sizes, add to C; for an epilogue (s.epi): the function and
   its context, the group's corner (ig, jc) in C, and whether this is the
   last K block; and for the walks on the pool: where op(A)'s rows and
   op(B)'s columns of the block start, and whether the walk packs its own
   B micro-panels first. */
enum { PANEL_WA, PANEL_WB, PANEL_C, PANEL_KC, PANEL_MG, PANEL_NC, PANEL_ADD, PANEL_EPI, PANEL_ECTX, PANEL_I0,
	PANEL_J0, PANEL_LAST, PANEL_SA, PANEL_SB, PANEL_PACKB, PANEL_FIELDS };

static LLVMTypeRef cg_gemm_panel_type(GemmGen *g)
{
	LLVMTypeRef f[PANEL_FIELDS] = { g->ptr, g->ptr, g->ptr, g->i64, g->i64, g->i64, g->i1, g->ptr, g->ptr,
		g->i64, g->i64, g->i1, g->ptr, g->ptr, g->i1 };
	return LLVMStructTypeInContext(g->ctx, f, PANEL_FIELDS, false);
}

/* The fields of the context block ctx (a function's first parameter). */
static void cg_gemm_fields(GemmGen *g, LLVMValueRef ctx, LLVMValueRef *field)
{
	LLVMTypeRef st = cg_gemm_panel_type(g);
	for (unsigned i = 0; i < PANEL_FIELDS; i++)
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

/* pack(dst + lo panels, src + lo panels' first row or column, kc, the
   panels [lo, hi) of the xeff rows or columns): a range of a block's
   micro-panels of R, one piece of a pack split over the pool. */
static void cg_gemm_pack_range(GemmGen *g, LLVMValueRef pack, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef kc,
	LLVMValueRef xeff, LLVMValueRef lo, LLVMValueRef hi, int64_t R, int64_t sx, bool src_bf16)
{
	LLVMValueRef x0 = mul(g, lo, R);
	LLVMValueRef n = min64(g, LLVMBuildNSWSub(g->b, xeff, x0, ""), mul(g, LLVMBuildNSWSub(g->b, hi, lo, ""), R));
	LLVMValueRef args[] = { gep_t(g, g->elt, dst, LLVMBuildNSWMul(g->b, x0, cg_gemm_kpad(g, kc), "")),
		gep_t(g, src_bf16 ? g->elt : g->f32, src, mul(g, x0, sx)), kc, n };
	LLVMBuildCall2(g->b, LLVMGlobalGetValueType(pack), pack, args, 4, "");
}

/*
 * panels(ctx, lo, hi): the microkernel over the B micro-panels [lo, hi) of
 * a block (columns lo*NR ..) and every A micro-panel of the group's row
 * blocks, block by block in increasing rows; first, when the context says
 * so, the walk packs those B micro-panels itself.  The signature is
 * rt_parallel_for's: the panels are independent (disjoint columns of C,
 * each packed by the walk that reads it; the packed A blocks only read),
 * so the pool can split them, and each tile is computed exactly as the
 * serial walk computes it: same panels, same K blocks in the same order.
 * A column's tiles stay in one walk and in increasing rows, which an
 * epilogue's column sums rely on (codegen/epilogue.c).
 */
static LLVMValueRef cg_gemm_panels(GemmGen *g, LLVMValueRef micro, LLVMValueRef pack_b, int64_t sxb)
{
	LLVMTypeRef pt[] = { g->ptr, g->i64, g->i64 };
	LLVMValueRef f = cg_gemm_function(g, "sinter_gemm_panels", pt, 3, true), field[PANEL_FIELDS];
	cg_gemm_fields(g, LLVMGetParam(f, 0), field);
	LLVMValueRef kc = field[PANEL_KC], mg = field[PANEL_MG], nc = field[PANEL_NC];
	LLVMValueRef lo = LLVMGetParam(f, 1), hi = LLVMGetParam(f, 2), kp = cg_gemm_kpad(g, kc);
	LLVMBasicBlockRef packb = LLVMAppendBasicBlockInContext(g->ctx, f, "pack_b");
	LLVMBasicBlockRef walk = LLVMAppendBasicBlockInContext(g->ctx, f, "walk");
	LLVMBuildCondBr(g->b, field[PANEL_PACKB], packb, walk);
	LLVMPositionBuilderAtEnd(g->b, packb);
	cg_gemm_pack_range(g, pack_b, field[PANEL_WB], field[PANEL_SB], kc, nc, lo, hi, g->nr, sxb, g->s->b_bf16);
	LLVMBuildBr(g->b, walk);
	LLVMPositionBuilderAtEnd(g->b, walk);
	LLVMValueRef end = min64(g, mul(g, hi, g->nr), nc);
	GemmLoop icl, jrl, irl;
	LLVMValueRef ic = cg_gemm_loop(g, &icl, ci(g, 0), mg, g->blk->mc);
	LLVMValueRef mc = min64(g, ci(g, g->blk->mc), LLVMBuildNSWSub(g->b, mg, ic, ""));
	LLVMValueRef jr = cg_gemm_loop(g, &jrl, mul(g, lo, g->nr), end, g->nr);
	LLVMValueRef nr = min64(g, ci(g, g->nr), LLVMBuildNSWSub(g->b, nc, jr, ""));
	LLVMValueRef ir = cg_gemm_loop(g, &irl, ci(g, 0), mc, g->isa->mr);
	LLVMValueRef mr = min64(g, ci(g, g->isa->mr), LLVMBuildNSWSub(g->b, mc, ir, ""));
	LLVMValueRef row = add(g, ic, ir);
	LLVMValueRef ma[] = { gep_t(g, g->elt, field[PANEL_WA], LLVMBuildNSWMul(g->b, row, kp, "")),
		gep_t(g, g->elt, field[PANEL_WB], LLVMBuildNSWMul(g->b, jr, kp, "")),
		gep(g, field[PANEL_C], add(g, mul(g, row, g->s->ldc), jr)), kc, mr, nr, field[PANEL_ADD] };
	LLVMBuildCall2(g->b, LLVMGlobalGetValueType(micro), micro, ma, 7, "");
	if (g->s->epi)
		cg_gemm_call_epi(g, field, row, jr, mr, nr);
	cg_gemm_loop_end(g, &irl);
	cg_gemm_loop_end(g, &jrl);
	cg_gemm_loop_end(g, &icl);
	LLVMBuildRetVoid(g->b);
	return f;
}

/* pack_a_panels(ctx, lo, hi): the A micro-panels [lo, hi) of the group's
   rows, for rt_parallel_for (each panel is written by one piece). */
static LLVMValueRef cg_gemm_pack_a_panels(GemmGen *g, LLVMValueRef pack_a, int64_t sxa)
{
	LLVMTypeRef pt[] = { g->ptr, g->i64, g->i64 };
	LLVMValueRef f = cg_gemm_function(g, "sinter_gemm_pack_a_panels", pt, 3, true), field[PANEL_FIELDS];
	cg_gemm_fields(g, LLVMGetParam(f, 0), field);
	cg_gemm_pack_range(g, pack_a, field[PANEL_WA], field[PANEL_SA], field[PANEL_KC], field[PANEL_MG],
		LLVMGetParam(f, 1), LLVMGetParam(f, 2), g->isa->mr, sxa, g->s->a_bf16);
	LLVMBuildRetVoid(g->b);
	return f;
}

/* A call of rt_parallel_for(n, fn, ctx), declared in mod on first use. */
static void cg_gemm_parallel_for(GemmGen *g, LLVMValueRef n, LLVMValueRef fn, LLVMValueRef ctx)
{
	LLVMTypeRef rt[] = { g->i64, g->ptr, g->ptr };
	LLVMTypeRef rt_t = LLVMFunctionType(g->voidty, rt, 3, false);
	LLVMValueRef pf = LLVMGetNamedFunction(g->mod, "rt_parallel_for");
	if (!pf)
		pf = LLVMAddFunction(g->mod, "rt_parallel_for", rt_t);
	LLVMValueRef args[] = { n, fn, ctx };
	LLVMBuildCall2(g->b, rt_t, pf, args, 3, "");
}

/* The rows of C one group covers on the pool: blk->mc times the pool's
   threads (rt_pool_threads(), asked at run time), at most the groups the
   workspace holds (cg_gemm_groups). */
static LLVMValueRef cg_gemm_group_rows(GemmGen *g, int64_t gmax)
{
	LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx), ft = LLVMFunctionType(i32, NULL, 0, false);
	LLVMValueRef f = LLVMGetNamedFunction(g->mod, "rt_pool_threads");
	if (!f)
		f = LLVMAddFunction(g->mod, "rt_pool_threads", ft);
	LLVMValueRef t = LLVMBuildSExt(g->b, LLVMBuildCall2(g->b, ft, f, NULL, 0, ""), g->i64, "");
	t = min64(g, t, ci(g, gmax));
	t = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, t, ci(g, 1), ""), ci(g, 1), t, "");
	return mul(g, t, g->blk->mc);
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
	/* op(A)[i][k] = A[i*sxa + k*ska], op(B)[k][j] = B[k*skb + j*sxb] */
	int64_t sxa = s->ta ? 1 : s->lda, ska = s->ta ? s->lda : 1;
	int64_t skb = s->tb ? 1 : s->ldb, sxb = s->tb ? s->ldb : 1;
	LLVMValueRef micro = cg_gemm_micro(&g);
	if ((s->a_bf16 || s->b_bf16) && !s->bf16)
		die("codegen: a product with bf16 operands in memory that is not a bf16 product");
	LLVMValueRef pack_a = cg_gemm_pack(&g, "sinter_gemm_pack_a", isa->mr, ska, sxa, s->a_bf16);
	LLVMValueRef pack_b = cg_gemm_pack(&g, "sinter_gemm_pack_b", g.nr, skb, sxb, s->b_bf16);
	LLVMValueRef panels = cg_gemm_panels(&g, micro, pack_b, sxb);
	LLVMValueRef pack_a_panels = s->parallel ? cg_gemm_pack_a_panels(&g, pack_a, sxa) : NULL;
	LLVMTypeRef ta_t = s->a_bf16 ? g.elt : g.f32, tb_t = s->b_bf16 ? g.elt : g.f32;
	LLVMTypeRef pt[] = { g.ptr, g.ptr, g.ptr, g.ptr, g.ptr, g.ptr }, panel_t = cg_gemm_panel_type(&g);
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
	LLVMValueRef ctx = LLVMBuildAlloca(g.b, panel_t, "panel");
	LLVMValueRef A = LLVMGetParam(f, 0), B = LLVMGetParam(f, 1), C = LLVMGetParam(f, 2);
	LLVMValueRef wa = LLVMGetParam(f, 3);
	int64_t na, nb;
	cg_gemm_blocks(s, isa, blk, &na, &nb);
	LLVMValueRef wb = gep_t(&g, g.elt, wa, ci(&g, na));
	LLVMTypeRef pack_t = LLVMGlobalGetValueType(pack_a);
	LLVMValueRef group = s->parallel ? cg_gemm_group_rows(&g, cg_gemm_groups(s, isa, blk)) : NULL;

	GemmLoop jl, pl, il;
	LLVMValueRef jc = cg_gemm_loop(&g, &jl, ci(&g, 0), ci(&g, s->n), blk->nc);
	LLVMValueRef nc = min64(&g, ci(&g, blk->nc), LLVMBuildNSWSub(g.b, ci(&g, s->n), jc, ""));
	LLVMValueRef pc = cg_gemm_loop(&g, &pl, ci(&g, 0), ci(&g, s->k), blk->kc);
	LLVMValueRef kc = min64(&g, ci(&g, blk->kc), LLVMBuildNSWSub(g.b, ci(&g, s->k), pc, ""));
	LLVMValueRef sb = gep_t(&g, tb_t, B, add(&g, mul(&g, pc, skb), mul(&g, jc, sxb)));
	/* serial: B's block packed here, then per MC block A's and the panels;
	   on the pool (s->parallel): per group of row blocks, the group's A
	   panels packed split over the pool, then the panel walks, each of
	   which packs its own B micro-panels in the group at row 0 */
	if (!s->parallel) {
		LLVMValueRef pb[] = { wb, sb, kc, nc };
		LLVMBuildCall2(g.b, pack_t, pack_b, pb, 4, "");
	}
	/* the first K block sets C unless the product accumulates into it */
	LLVMValueRef add_c = s->accumulate ? LLVMConstInt(g.i1, 1, false)
	                                   : LLVMBuildICmp(g.b, LLVMIntNE, pc, ci(&g, 0), "");
	LLVMValueRef ic = cg_gemm_loop(&g, &il, ci(&g, 0), ci(&g, s->m), blk->mc);
	il.stepv = group;
	LLVMValueRef mc = min64(&g, group ? group : ci(&g, blk->mc), LLVMBuildNSWSub(g.b, ci(&g, s->m), ic, ""));
	LLVMValueRef sa = gep_t(&g, ta_t, A, add(&g, mul(&g, ic, sxa), mul(&g, pc, ska)));
	if (!s->parallel) {
		LLVMValueRef pa[] = { wa, sa, kc, mc };
		LLVMBuildCall2(g.b, pack_t, pack_a, pa, 4, "");
	}
	LLVMValueRef last = LLVMBuildICmp(g.b, LLVMIntEQ, add(&g, pc, kc), ci(&g, s->k), "");
	LLVMValueRef none = LLVMConstNull(g.ptr);
	LLVMValueRef packb = s->parallel ? LLVMBuildICmp(g.b, LLVMIntEQ, ic, ci(&g, 0), "") : LLVMConstInt(g.i1, 0, false);
	LLVMValueRef vals[PANEL_FIELDS] = { wa, wb, gep(&g, C, add(&g, mul(&g, ic, s->ldc), jc)), kc, mc, nc, add_c,
		s->epi ? LLVMGetParam(f, 4) : none, s->epi ? LLVMGetParam(f, 5) : none, ic, jc, last, sa, sb, packb };
	for (unsigned i = 0; i < PANEL_FIELDS; i++)
		LLVMBuildStore(g.b, vals[i], LLVMBuildStructGEP2(g.b, panel_t, ctx, i, ""));
	LLVMValueRef npanel = LLVMBuildSDiv(g.b, add(&g, nc, ci(&g, g.nr - 1)), ci(&g, g.nr), "");
	if (s->parallel) {
		LLVMValueRef napanel = LLVMBuildSDiv(g.b, add(&g, mc, ci(&g, isa->mr - 1)), ci(&g, isa->mr), "");
		cg_gemm_parallel_for(&g, napanel, pack_a_panels, ctx);
		cg_gemm_parallel_for(&g, npanel, panels, ctx);
	} else {
		LLVMValueRef args[] = { ctx, ci(&g, 0), npanel };
		LLVMBuildCall2(g.b, LLVMGlobalGetValueType(panels), panels, args, 3, "");
	}
	cg_gemm_loop_end(&g, &il);
	cg_gemm_loop_end(&g, &pl);
	cg_gemm_loop_end(&g, &jl);
	LLVMBuildRetVoid(g.b);
	LLVMDisposeBuilder(g.b);
	return f;
}
