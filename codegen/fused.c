/*
 * fused.c — the code of a fused kernel (kernel/kernel.h): one LLVM
 * function per kernel, holding one loop nest over the kernel's index space
 * X.  Every member is computed in registers; only the values other code
 * reads (materialized, kernel_internal) are stored.
 *
 * Kernels whose reductions (if any) run over the trailing axes walk the
 * kept axes outside and, for each such point (a row), make as many passes
 * over the row as the reductions need: a softmax is a pass for the max, a
 * pass for the sum of exponentials, a pass for the results.  Values at the
 * row's points (SMALL members: the reductions and what follows from them)
 * are computed between the passes; an internal value a later pass reads
 * again is kept in a row buffer, which stays in the L1 cache.  Kernels
 * reducing other axes (a column sum) walk X once in memory order,
 * accumulating into arrays, then compute their SMALL members in a second
 * loop over the kept axes.  A GEMM member runs first (matmul.c: sinter's
 * GEMM or cblas_sgemm), and the loops read its output; or, when the rest
 * can run on the product's tiles, the GEMM calls it on each tile
 * (epilogue.c).
 *
 * Each element does its loads first and its stores last, so a result may
 * overwrite an operand in place where memplan planned it (kernels without
 * reductions only).  Pointers the kernel writes are `noalias` parameters
 * when no other parameter's bytes overlap them, which is what lets LLVM
 * vectorize without run-time checks.  Kernels with the same code (the
 * optimizer update of parameters of one shape) share one function.  What
 * is decided before any code is emitted (passes, buffers, accesses, that
 * key) is in fused_plan.c.
 */
#include "codegen/fused.h"
#include "codegen/fused_plan.h"
#include "codegen/gemm.h"
#include "codegen/matmul.h"
#include "codegen/parallel.h"
#include "codegen/reduce.h"
#include "codegen/scalar.h"
#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- loads, values, stores ---- */

static LLVMValueRef load_at(Fk *f, int u, int a, LLVMValueRef ptr, DType dt)
{
	for (int i = f->ncache - 1; i >= 0; i--)
		if (f->cache[i].u == u && f->cache[i].a == a)
			return f->cache[i].x;
	LLVMValueRef x = cg_load(f->g, dt, ptr, f->idx[a]);
	if (f->ncache == f->capcache) {
		size_t old = (size_t)f->capcache * sizeof *f->cache;
		f->capcache = 2 * f->capcache + 32;
		f->cache = arena_grow(f->a, f->cache, old, (size_t)f->capcache * sizeof *f->cache);
	}
	f->cache[f->ncache++] = (Cached){ u, a, f->depth, x };
	return x;
}

/* Loads cached in a scope (a loop body) are forgotten when it closes. */
static void scope_in(Fk *f)
{
	f->depth++;
}

static void scope_out(Fk *f)
{
	while (f->ncache > 0 && f->cache[f->ncache - 1].depth >= f->depth)
		f->ncache--;
	f->depth--;
}

/* Operand k of member i, as member i reads it. */
static LLVMValueRef operand(Fk *f, int i, int k)
{
	Cg *g = f->g;
	int v = f->mem[i], u = ir_operand(f->r, v, k), j = f->mi[u];
	const Node *un = &f->r->node[u];
	if (un->op == OP_CONST)
		return cg_const_of(g, un->type.dt, un->f);
	if (j >= 0 && u != f->s.head) {
		if (f->level[j] == KL_SMALL || f->pass[j] == f->curpass)
			return f->val[j];
		if (f->rowbuf[j])
			return load_at(f, u, f->rowacc, f->rbuf[j], un->type.dt);
		return load_at(f, u, f->nat[j], g->ptr[u], un->type.dt);
	}
	return load_at(f, u, f->opacc[f->opstart[i] + k], g->ptr[u], un->type.dt);
}

static LLVMValueRef compute(Fk *f, int i)
{
	Cg *g = f->g;
	LLVMBuilderRef b = g->b;
	const Region *r = f->r;
	int v = f->mem[i];
	const Node *nd = &r->node[v];
	DType odt = nd->type.dt, idt = nd->narg ? r->node[ir_operand(r, v, nd->narg == 3 ? 1 : 0)].type.dt : odt;
	switch (nd->op) {
	case OP_BROADCAST:
	case OP_RESHAPE:
	case OP_STOP_GRADIENT:
		return operand(f, i, 0);
	case OP_CAST:
		return cg_convert(g, idt, odt, operand(f, i, 0));
	case OP_WHERE: {
		LLVMValueRef c = LLVMBuildICmp(b, LLVMIntNE, operand(f, i, 0), LLVMConstInt(g->i8, 0, 0), "");
		LLVMValueRef x = operand(f, i, 1), y = operand(f, i, 2);
		return LLVMBuildSelect(b, c, x, y, "");
	}
	case OP_DROPOUT: {
		LLVMValueRef x = operand(f, i, 0);
		float p = (float)nd->f;
		if (p <= 0)
			return x;
		float scale = p < 1 ? 1.0f / (1.0f - p) : 0.0f;
		LLVMValueRef keep = LLVMBuildFCmp(b, LLVMRealOGE, cg_uniform(g, f->dkey[i], f->idx[f->nat[i]]), cg_f32(g, p), "");
		return LLVMBuildSelect(b, keep, LLVMBuildFMul(b, x, cg_f32(g, scale), ""), cg_f32(g, 0), "");
	}
	default:
		if (op_info[nd->op].flags & F_UNARY)
			return cg_unary(g, nd->op, idt, operand(f, i, 0));
		if (op_info[nd->op].flags & F_BINARY) {
			LLVMValueRef x = operand(f, i, 0), y = operand(f, i, 1);
			return cg_binary(g, nd->op, idt, x, y);
		}
		break;
	}
	die("codegen: %s (%%%d) in a fused kernel", op_info[nd->op].name, v);
}

static CgRed red_of(Fk *f, int i)
{
	const Node *nd = &f->r->node[f->mem[i]];
	return cg_red(f->g, nd->op, f->r->node[ir_operand(f->r, f->mem[i], 0)].type.dt, nd->type.dt);
}

/* Stores the values of level lev (BIG: of pass p) that leave the kernel or a pass. */
static void store_members(Fk *f, int lev, int p)
{
	Cg *g = f->g;
	for (int i = 0; i < f->n; i++) {
		if (f->level[i] != lev || (lev == KL_BIG && f->pass[i] != p))
			continue;
		int v = f->mem[i];
		DType dt = f->r->node[v].type.dt;
		if (f->mat[i])
			cg_store(g, dt, g->ptr[v], f->idx[f->nat[i]], f->val[i]);
		if (f->rowbuf[i])
			cg_store(g, dt, f->rbuf[i], f->idx[f->rowacc], f->val[i]);
	}
}

/* ---- loop nests ---- */

typedef void Body(Fk *f, const void *ctx);

typedef struct {
	int axis;    /* innermost axis of the (merged) loop */
	int64_t dim;
} LoopAx;

static int64_t numel_of(const Type *x, unsigned mask)
{
	int64_t m = 1;
	for (int a = 0; a < x->rank; a++)
		if (mask >> a & 1)
			m *= x->dim[a];
	return m;
}

/*
 * A row walk's state: reduction accumulators and row buffers.  Serial
 * (at = NULL): made here, the row buffers in scratch.  Parallel: each
 * thread needs its own, so they are allocas in the entry block `at` of the
 * loop's function (at most PAR_ROWBUF_MAX bytes), and the builder goes on
 * at the end of `then`.
 */
static void row_state(Fk *f, LLVMBasicBlockRef at, LLVMBasicBlockRef then)
{
	Cg *g = f->g;
	if (at)
		LLVMPositionBuilderAtEnd(g->b, at);
	for (int i = 0; i < f->n; i++) {
		const Node *nd = &f->r->node[f->mem[i]];
		int64_t row = numel_of(&f->s.x, f->s.red);
		if (f->rowbuf[i])
			f->rbuf[i] = at ? LLVMBuildArrayAlloca(g->b, cg_elem_type(g, nd->type.dt), cg_i64(g, row), "row")
				: cg_scratch(g, row * (int64_t)dtype_size(nd->type.dt));
		if (is_red(nd))
			f->accum[i] = LLVMBuildAlloca(g->b, red_of(f, i).acc, "acc");
	}
	if (then)
		LLVMPositionBuilderAtEnd(g->b, then);
}

/* Lanes asked of a column walk's loop: the host's f32 vector, at least 8. */
int cg_fused_lanes(void)
{
	int n = cg_gemm_host_isa().lanes;
	return n > 8 ? n : 8;
}

static void nest_rec(Fk *f, const LoopAx *L, int nl, int l, Body *body, const void *ctx)
{
	if (l == nl) {
		body(f, ctx);
		return;
	}
	Cg *g = f->g;
	Loop lp;
	ParLoop P;
	bool par = l == 0 && f->parallel;
	LLVMValueRef i = par ? cg_par_begin(g, &P, L[l].dim) : cg_loop_begin(g, &lp, L[l].dim);
	/* a column walk accumulates f32 values in f64: LLVM would take the f64
	   width (4 lanes with AVX2, 8 with AVX-512); the f32 width keeps the
	   float work at the full vector (the accumulators take two registers) */
	if (!par && !f->rows && l == nl - 1 && L[l].dim >= 64)
		lp.width = cg_fused_lanes();
	if (par) {
		row_state(f, P.entry, P.body);
		f->parallel = false; /* the walks over each row stay serial */
	}
	LLVMValueRef *save = arena_alloc(f->a, ((size_t)f->nacc + 1) * sizeof *save);
	memcpy(save, f->idx, (size_t)f->nacc * sizeof *save);
	for (int a = 0; a < f->nacc; a++) {
		int64_t s = f->acc[a].st[L[l].axis];
		if (s)
			f->idx[a] = LLVMBuildAdd(g->b, f->idx[a], s == 1 ? i : LLVMBuildMul(g->b, i, cg_i64(g, s), ""), "");
	}
	nest_rec(f, L, nl, l + 1, body, ctx);
	memcpy(f->idx, save, (size_t)f->nacc * sizeof *save);
	if (par) {
		cg_par_end(g, &P);
		f->parallel = true;
	} else
		cg_loop_end(g, &lp);
}

/* Loops over the axes in mask (outer to inner), merging neighbours that
   every access steps through as one.  A merged loop never mixes reduced and
   kept axes: an accumulator steps through the kept ones only. */
static int loops_of(Fk *f, unsigned mask, LoopAx *L)
{
	int nl = 0;
	for (int a = 0; a < f->s.x.rank; a++) {
		int64_t d = f->s.x.dim[a];
		if (!(mask >> a & 1) || d == 1)
			continue;
		bool merge = nl > 0;
		for (int k = 0; merge && k < f->nacc; k++)
			merge = f->acc[k].st[L[nl - 1].axis] == f->acc[k].st[a] * d;
		if (merge) {
			L[nl - 1].dim *= d;
			L[nl - 1].axis = a;
		} else {
			L[nl++] = (LoopAx){ a, d };
		}
	}
	return nl;
}

/* body runs at each point of the axes in mask. */
static void nest(Fk *f, unsigned mask, Body *body, const void *ctx)
{
	LoopAx L[MAX_RANK];
	nest_rec(f, L, loops_of(f, mask, L), 0, body, ctx);
}

/* The innermost loop over kept axes of a column walk, or -1. */
static int kept_loop(Fk *f, const LoopAx *L, int nl)
{
	for (int l = nl - 1; l >= 0; l--)
		if (!(f->s.red >> L[l].axis & 1))
			return l;
	return -1;
}

/* Whether kept loop l (kept_loop) makes two blocks for col_blocks, with
   enough threads: the shape's answer, the same for any --threads. */
static bool kept_splits(const LoopAx *L, int l)
{
	return l >= 0 && L[l].dim % 2 == 0 && L[l].dim / 2 >= 64;
}

/* Blocks a column walk's kept points split into: one per thread of the
   pool (at most 8), each at least 64 points wide so that its inner loop
   stays a long vector loop; 0: a serial walk (one thread, or too narrow).
   Fewer, wider blocks are better: a block reads a short piece of every row,
   and the hardware prefetcher does not follow such a walk across pages. */
static int col_blocks(Fk *f)
{
	LoopAx L[MAX_RANK];
	unsigned all = (1u << f->s.x.rank) - 1;
	int nl = loops_of(f, all, L), l = kept_loop(f, L, nl);
	int threads = rt_pool_expected();
	if (!kept_splits(L, l))
		return 0;
	int nb = 2;
	while (nb * 2 <= threads && nb < 8)
		nb *= 2;
	for (; l >= 0 && threads > 1 && nb >= 2; nb /= 2)
		if (L[l].dim % nb == 0 && L[l].dim / nb >= 64)
			return nb;
	return 0;
}

/*
 * Blocks of a column walk of at least CG_PAR_MIN points whose kept loop is
 * too narrow for col_blocks with any number of threads (BatchNorm's sums
 * over N, H and W of 16 to 64 channels): its outermost loop, when a
 * reduced one (the images), is cut into RED_BLOCKS blocks (or 4 or 2,
 * whichever divides it), each accumulating into an array of its own,
 * which col_final adds up in block order.  The count comes from the shape
 * alone, never from the thread count or SINTER_PAR_MIN (which only decide
 * whether the blocks run on the pool), so the sums are the same bits with
 * any --threads and in `sinter build` binaries; against one walk they
 * differ by the rounding of the f64 partial sums, below the f32 result's.
 * 0: no such loop, or the arrays would pass RED_ACCUM_MAX entries.
 */
enum { RED_BLOCKS = 8, RED_ACCUM_MAX = 1 << 13 };

static int red_blocks(Fk *f)
{
	LoopAx L[MAX_RANK];
	unsigned all = (1u << f->s.x.rank) - 1;
	int nl = loops_of(f, all, L), l = kept_loop(f, L, nl);
	if (numel_of(&f->s.x, all) < CG_PAR_MIN || nl < 2 || !(f->s.red >> L[0].axis & 1) || kept_splits(L, l))
		return 0;
	for (int nb = RED_BLOCKS; nb >= 2; nb /= 2)
		if (L[0].dim % nb == 0 && nb * f->nkept <= RED_ACCUM_MAX)
			return nb;
	return 0;
}

/* A block of a column walk in blocks (f->redsplit) accumulates into
   arrays on the stack of the thread that runs it, made in the parallel
   function's entry and set to the reductions' initial values here: LLVM
   knows an alloca apart from every buffer the walk stores to, so a
   reduced inner loop keeps its sum in registers, where through the
   shared array (a pointer the parallel function receives) it would load
   and store it at every element. */
static void block_accums(Fk *f, LLVMBasicBlockRef entry)
{
	Cg *g = f->g;
	for (int i = 0; i < f->n; i++) {
		if (!is_red(&f->r->node[f->mem[i]]))
			continue;
		CgRed R = red_of(f, i);
		LLVMBasicBlockRef at = LLVMGetInsertBlock(g->b);
		cg_position_top(g, entry);
		f->accum[i] = LLVMBuildArrayAlloca(g->b, R.acc, cg_i64(g, f->nkept), "acc");
		LLVMPositionBuilderAtEnd(g->b, at);
		Loop L;
		LLVMValueRef j = cg_loop_begin(g, &L, f->nkept);
		LLVMBuildStore(g->b, cg_red_init(g, &R), LLVMBuildInBoundsGEP2(g->b, R.acc, f->accum[i], &j, 1, ""));
		cg_loop_end(g, &L);
	}
}

/* After block b's walk: its arrays into block b's part of the shared ones. */
static void block_accums_out(Fk *f, LLVMValueRef b, LLVMValueRef *shared)
{
	Cg *g = f->g;
	for (int i = 0; i < f->n; i++) {
		if (!is_red(&f->r->node[f->mem[i]]))
			continue;
		CgRed R = red_of(f, i);
		Loop L;
		LLVMValueRef j = cg_loop_begin(g, &L, f->nkept);
		LLVMValueRef x = LLVMBuildLoad2(g->b, R.acc, LLVMBuildInBoundsGEP2(g->b, R.acc, f->accum[i], &j, 1, ""), "");
		LLVMValueRef to = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, b, cg_i64(g, f->nkept), ""), j, "");
		LLVMBuildStore(g->b, x, LLVMBuildInBoundsGEP2(g->b, R.acc, shared[i], &to, 1, ""));
		cg_loop_end(g, &L);
	}
}

/*
 * A column walk over all of X.  With f->colsplit blocks, the innermost kept
 * loop is cut into that many blocks, which run on the pool: every point of
 * one block accumulates into its own entries, in the order a serial walk
 * takes, so the results are the same bit for bit.  With f->redsplit
 * blocks, the outermost loop is (red_blocks), each block's reductions
 * into their own arrays.
 */
static void nest_cols(Fk *f, Body *body, const void *ctx)
{
	Cg *g = f->g;
	LoopAx L[MAX_RANK];
	unsigned all = (1u << f->s.x.rank) - 1;
	int nl = loops_of(f, all, L), l = f->redsplit ? 0 : kept_loop(f, L, nl);
	int nb = f->redsplit ? f->redsplit : f->colsplit;
	if (!nb || l < 0) {
		nest_rec(f, L, nl, 0, body, ctx);
		return;
	}
	int64_t bs = L[l].dim / nb;
	/* a walk in blocks of the images below SINTER_PAR_MIN: its blocks in turn */
	bool par = f->colsplit || numel_of(&f->s.x, all) >= cg_par_min();
	ParLoop P;
	Loop lp;
	LLVMValueRef b = par ? cg_par_begin(g, &P, nb) : cg_loop_begin(g, &lp, nb);
	LLVMValueRef *shared = arena_alloc(f->a, ((size_t)f->n + 1) * sizeof *shared);
	memcpy(shared, f->accum, (size_t)f->n * sizeof *shared);
	if (f->redsplit)
		block_accums(f, par ? P.entry : LLVMGetEntryBasicBlock(g->fn));
	LLVMValueRef *save = arena_alloc(f->a, ((size_t)f->nacc + 1) * sizeof *save);
	memcpy(save, f->idx, (size_t)f->nacc * sizeof *save);
	for (int a = 0; a < f->nacc; a++) {
		int64_t st = f->acc[a].st[L[l].axis];
		if (st)
			f->idx[a] = LLVMBuildAdd(g->b, f->idx[a], LLVMBuildMul(g->b, b, cg_i64(g, st * bs), ""), "");
	}
	L[l].dim = bs;
	nest_rec(f, L, nl, 0, body, ctx);
	memcpy(f->idx, save, (size_t)f->nacc * sizeof *save);
	if (f->redsplit)
		block_accums_out(f, b, shared);
	memcpy(f->accum, shared, (size_t)f->n * sizeof *shared);
	if (par)
		cg_par_end(g, &P);
	else
		cg_loop_end(g, &lp);
}

/* ---- the points of the walks ---- */

/* Where reduction member i accumulates at the current point: one
   accumulator per row in a row walk, an array over the kept points in a
   column walk. */
static LLVMValueRef accum_at(Fk *f, int i, const CgRed *R)
{
	if (f->rows)
		return f->accum[i];
	LLVMValueRef at = f->idx[f->nat[i]];
	return LLVMBuildInBoundsGEP2(f->g->b, R->acc, f->accum[i], &at, 1, "");
}

/* Reduction member i's result, read from its accumulator: of a column
   walk in blocks (f->redsplit), the blocks' partial results combined in
   block order. */
static LLVMValueRef red_result(Fk *f, int i)
{
	Cg *g = f->g;
	CgRed R = red_of(f, i);
	LLVMValueRef at = accum_at(f, i, &R), acc = LLVMBuildLoad2(g->b, R.acc, at, "");
	for (int b = 1; b < f->redsplit; b++) {
		LLVMValueRef off = cg_i64(g, b * f->nkept);
		LLVMValueRef x = LLVMBuildLoad2(g->b, R.acc, LLVMBuildInBoundsGEP2(g->b, R.acc, at, &off, 1, ""), "");
		acc = cg_red_merge(g, &R, acc, x);
	}
	return cg_red_final(g, &R, acc);
}

/* Combines reduction member i's operand at this point into its accumulator.
   A row walk loads the accumulator before the operand, a column walk after
   it: the orders the two walks have always emitted (fixed here, no longer
   left to the C compiler's order of evaluating arguments), which LLVM keeps
   in the vectorized loops it makes. */
static void accumulate(Fk *f, int i)
{
	Cg *g = f->g;
	CgRed R = red_of(f, i);
	LLVMValueRef at = accum_at(f, i, &R);
	LLVMValueRef a = f->rows ? LLVMBuildLoad2(g->b, R.acc, at, "") : NULL, x = operand(f, i, 0);
	if (!a)
		a = LLVMBuildLoad2(g->b, R.acc, at, "");
	LLVMBuildStore(g->b, cg_red_combine(g, &R, a, x), at);
}

/* A point of X in pass *ctx (a column walk makes one pass, 0): the BIG
   members that pass computes, and the reductions accumulating in it. */
void cg_fused_point(Fk *f, const void *ctx)
{
	int p = *(const int *)ctx;
	scope_in(f);
	for (int i = 0; i < f->n; i++) {
		int v = f->mem[i];
		const Node *nd = &f->r->node[v];
		if (nd->op == OP_CONST || v == f->s.head)
			continue;
		if (f->level[i] == KL_BIG && f->pass[i] == p)
			f->val[i] = compute(f, i);
		else if (is_red(nd) && f->redpass[i] == p)
			accumulate(f, i);
	}
	store_members(f, KL_BIG, p);
	scope_out(f);
}

static void small_members(Fk *f, int p)
{
	for (int i = 0; i < f->n; i++) {
		const Node *nd = &f->r->node[f->mem[i]];
		if (f->level[i] == KL_SMALL && !is_red(nd) && f->pass[i] == p)
			f->val[i] = compute(f, i);
	}
}

/* A row: its passes, each a walk over the row, with its SMALL members
   computed between them. */
static void row_outer(Fk *f, const void *ctx)
{
	Cg *g = f->g;
	(void)ctx;
	scope_in(f);
	for (int p = 0;; p++) {
		small_members(f, p);
		if (p == f->npass)
			break;
		for (int i = 0; i < f->n; i++)
			if (is_red(&f->r->node[f->mem[i]]) && f->redpass[i] == p) {
				CgRed R = red_of(f, i);
				LLVMBuildStore(g->b, cg_red_init(g, &R), f->accum[i]);
			}
		f->curpass = p;
		nest(f, f->s.red, cg_fused_point, &p);
		for (int i = 0; i < f->n; i++)
			if (is_red(&f->r->node[f->mem[i]]) && f->redpass[i] == p)
				f->val[i] = red_result(f, i);
	}
	store_members(f, KL_SMALL, 0);
	scope_out(f);
}

/* A kept point after a column walk: the reductions' results and the SMALL
   members computed from them. */
static void col_final(Fk *f, const void *ctx)
{
	(void)ctx;
	scope_in(f);
	for (int i = 0; i < f->n; i++)
		if (is_red(&f->r->node[f->mem[i]]))
			f->val[i] = red_result(f, i);
	small_members(f, 0);
	store_members(f, KL_SMALL, 0);
	scope_out(f);
}

/* ---- the kernel function ---- */

/* Row buffers a parallel walk keeps on each thread's stack (1 MiB, runtime/pool.c). */
enum { PAR_ROWBUF_MAX = 64 << 10 };

static int64_t rowbuf_bytes(Fk *f)
{
	int64_t b = 0;
	for (int i = 0; i < f->n; i++)
		if (f->rowbuf[i])
			b += numel_of(&f->s.x, f->s.red) * (int64_t)dtype_size(f->r->node[f->mem[i]].type.dt);
	return b;
}

/* Iterations of the outermost loop of the row walk (nest: axes not reduced,
   unit axes skipped, merged where every access allows). */
static int64_t outer_dim(Fk *f)
{
	for (int a = 0; a < f->s.x.rank; a++)
		if (!(f->s.red >> a & 1) && f->s.x.dim[a] > 1)
			return f->s.x.dim[a];
	return 1;
}

/* The body: GEMM, per-call values, then the walks. */
static void body(Fk *f)
{
	Cg *g = f->g;
	const Region *r = f->r;
	unsigned all = (1u << f->s.x.rank) - 1;
	/* the members after the GEMM on its tiles (epilogue.c), else after it */
	bool tiled = cg_epi_ok(f);
	if (f->s.head >= 0 && !tiled)
		cg_matmul(g, f->s.head);
	for (int a = 0; a < f->nacc; a++)
		f->idx[a] = cg_i64(g, 0);
	bool loops = false;
	f->parallel = f->rows && numel_of(&f->s.x, all) >= cg_par_min() && outer_dim(f) > 1
		&& rowbuf_bytes(f) <= PAR_ROWBUF_MAX;
	f->nkept = numel_of(&f->s.x, all & ~f->s.red);
	if (!tiled && !f->rows) {
		/* exclusive: red_blocks only where col_blocks never splits */
		f->colsplit = numel_of(&f->s.x, all) >= cg_par_min() ? col_blocks(f) : 0;
		f->redsplit = red_blocks(f);
	}
	int64_t blocks = f->redsplit ? f->redsplit : 1;
	for (int i = 0; i < f->n; i++) {
		int v = f->mem[i];
		const Node *nd = &r->node[v];
		if (nd->op == OP_CONST || v == f->s.head)
			continue;
		loops = true;
		/* loads that are the same at every point: once per call */
		for (int k = 0; k < nd->narg; k++) {
			int a = f->opacc[f->opstart[i] + k];
			Access zero;
			memset(&zero, 0, sizeof zero);
			if (a >= 0 && !memcmp(&f->acc[a], &zero, sizeof zero))
				operand(f, i, k);
		}
		if (nd->op == OP_DROPOUT && nd->f > 0)
			f->dkey[i] = cg_stream_key(g, nd->ia[0]);
		if (is_red(nd) && !f->rows) {
			CgRed R = red_of(f, i);
			int64_t no = f->nkept * blocks;
			f->accoff[i] = g->used;
			f->accum[i] = cg_scratch(g, no * (R.acc == g->f64 || R.acc == g->i64 ? 8 : 4));
			if (f->redsplit)
				continue; /* each block writes its part whole (block_accums_out) */
			Loop L;
			LLVMValueRef j = cg_loop_begin(g, &L, no);
			LLVMBuildStore(g->b, cg_red_init(g, &R), LLVMBuildInBoundsGEP2(g->b, R.acc, f->accum[i], &j, 1, ""));
			cg_loop_end(g, &L);
		}
	}
	if (!loops)
		return;
	if (tiled) {
		f->curpass = 0;
		cg_epi_run(f);
		if (f->s.red)
			nest(f, all & ~f->s.red, col_final, NULL);
	} else if (f->rows) {
		/* serial: the state is made once, here; parallel: in each thread */
		if (!f->parallel)
			row_state(f, NULL, NULL);
		nest(f, all & ~f->s.red, row_outer, NULL);
	} else {
		f->curpass = 0;
		nest_cols(f, cg_fused_point, &f->curpass);
		nest(f, all & ~f->s.red, col_final, NULL);
	}
}

void cg_fused(Cg *g, int group, int last)
{
	const Region *r = g->r;
	int nn = r->nnode;
	Fk f;
	memset(&f, 0, sizeof f);
	f.g = g;
	f.r = r;
	Arena *a = f.a = arena_new();
	size_t n1 = (size_t)nn + 1;
	f.mem = arena_alloc(a, n1 * sizeof *f.mem);
	f.n = kernel_members(r, group, f.mem);
	f.mi = arena_alloc(a, n1 * sizeof *f.mi);
	f.param = arena_alloc(a, n1 * sizeof *f.param);
	for (int v = 0; v < nn; v++)
		f.mi[v] = f.param[v] = -1;
	for (int i = 0; i < f.n; i++)
		f.mi[f.mem[i]] = i;
	n1 = (size_t)f.n + 1;
	f.level = arena_alloc(a, n1 * sizeof *f.level);
	if (!kernel_space(r, f.mem, f.n, &f.s, f.level))
		die("codegen: kernel k%d of region %s is not one loop nest", group, r->name);
	f.rows = f.s.rows;
	/* a member read outside the kernel before the kernel runs */
	for (int w = 0; w <= last; w++)
		for (int k = 0; r->node[w].group != group && k < r->node[w].narg; k++)
			if (r->node[ir_operand(r, w, k)].group == group)
				die("codegen: %%%d reads kernel k%d before its last member %%%d", w, group, last);
	f.pass = arena_alloc(a, n1 * sizeof *f.pass);
	f.redpass = arena_alloc(a, n1 * sizeof *f.redpass);
	f.mat = arena_alloc(a, n1 * sizeof *f.mat);
	f.rowbuf = arena_alloc(a, n1 * sizeof *f.rowbuf);
	f.par = arena_alloc(a, (4 * n1 + 4) * sizeof *f.par);
	f.kcap = 256;
	f.key = arena_alloc(a, f.kcap);
	f.opstart = arena_alloc(a, n1 * sizeof *f.opstart);
	f.nat = arena_alloc(a, n1 * sizeof *f.nat);
	f.val = arena_alloc(a, n1 * sizeof *f.val);
	f.accum = arena_alloc(a, n1 * sizeof *f.accum);
	f.rbuf = arena_alloc(a, n1 * sizeof *f.rbuf);
	f.dkey = arena_alloc(a, n1 * sizeof *f.dkey);
	f.accoff = arena_alloc(a, n1 * sizeof *f.accoff);
	cg_fused_plan(&f);
	f.idx = arena_alloc(a, ((size_t)f.nacc + 1) * sizeof *f.idx);

	LLVMTypeRef *pt = arena_alloc(a, ((size_t)f.npar + 3) * sizeof *pt);
	LLVMValueRef *args = arena_alloc(a, ((size_t)f.npar + 3) * sizeof *args);
	for (int p = 0; p < f.npar; p++) {
		pt[p] = g->ptrty;
		args[p] = f.par[p].outer;
	}
	int np = cg_fn_tail(g, pt, args, f.npar);
	LLVMTypeRef ft = LLVMFunctionType(g->voidty, pt, (unsigned)np, 0);
	LLVMValueRef fn = cg_fn_find(g, f.key);
	if (fn) {
		LLVMBuildCall2(g->b, ft, fn, args, (unsigned)np, "");
		goto out;
	}
	char name[64];
	snprintf(name, sizeof name, "k%d_fused%d", last, group);
	fn = cg_fn_new(g, name, ft, f.key);
	/* and scratch: only its temporaries past the buffers are reached through it */
	unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
	for (int p = 0; p <= f.npar; p++)
		if (p == f.npar || f.par[p].alone)
			LLVMAddAttributeAtIndex(fn, (unsigned)p + 1, LLVMCreateEnumAttribute(g->ctx, noalias, 0));
	LLVMBuildCall2(g->b, ft, fn, args, (unsigned)np, "");

	/* the body, with every buffer a parameter */
	LLVMValueRef *saved = arena_alloc(a, ((size_t)nn + 1) * sizeof *saved);
	memcpy(saved, g->ptr, (size_t)nn * sizeof *saved);
	CgOuter outer;
	cg_fn_enter(g, fn, (unsigned)f.npar, &outer);
	for (int v = 0; v < nn; v++)
		if (f.param[v] >= 0)
			g->ptr[v] = LLVMGetParam(fn, (unsigned)f.param[v]);
	g->scope = NULL;
	g->nown = 0;
	body(&f);
	LLVMBuildRetVoid(g->b);
	memcpy(g->ptr, saved, (size_t)nn * sizeof *saved);
	cg_fn_leave(g, &outer);
out:
	arena_free(a);
}
