/*
 * parallel.c — loops on the runtime's thread pool.  cg_par_begin/cg_par_end
 * bracket a loop body the way cg_loop_begin/cg_loop_end do, but emit
 *
 *     kernel:            ctx = { every value the body uses from kernel }
 *                        rt_parallel_for(n, kernel.par, &ctx)
 *     kernel.par(ctx, lo, hi):
 *                        for i in [lo, hi): body
 *
 * The body is built in the new function with the caller's values used
 * directly; cg_par_end then rewrites every operand that refers to an
 * instruction or argument of another function into a load from ctx.  So
 * the code that emits a body needs no change to run it in parallel.
 * cg_map_par cuts a strided walk into chunks of rows this way, with the
 * remainder rows walked serially after the call.
 *
 * Results are bitwise those of the serial loop as long as iterations are
 * independent: every element is computed by the same code from the same
 * index, whichever thread runs it.
 */
#include "codegen/parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The element function of the caller, called with global indices. */
typedef struct {
	ElemFn *fn;
	const void *ctx;
	const Opnd *op;          /* the caller's operands */
	int nop;
	LLVMValueRef base[4];    /* i64 element offset of the chunk in each operand */
} Shift;

static void shifted(Cg *g, const void *ctx, const Opnd *rel, const LLVMValueRef *idx)
{
	const Shift *s = ctx;
	LLVMValueRef at[4];
	(void)rel;
	for (int k = 0; k < s->nop; k++) {
		at[k] = LLVMBuildAdd(g->b, s->base[k], idx[k], "");
		LLVMSetNSW(at[k], 1);
	}
	s->fn(g, s->ctx, s->op, at);
}

int64_t cg_par_min(void)
{
	const char *e = getenv("SINTER_PAR_MIN");
	if (e && *e) {
		char *end;
		long long v = strtoll(e, &end, 10);
		if (!*end && v >= 1)
			return v;
	}
	return CG_PAR_MIN;
}

/* Does v belong to a function other than f (so f cannot use it directly)? */
static bool foreign(LLVMValueRef v, LLVMValueRef f)
{
	if (LLVMIsAArgument(v))
		return LLVMGetParamParent(v) != f;
	if (LLVMIsAInstruction(v))
		return LLVMGetBasicBlockParent(LLVMGetInstructionParent(v)) != f;
	return false;
}

/* Captured values: the outer values f uses, in order of first use. */
typedef struct {
	LLVMValueRef *v;
	int n, cap;
} Captures;

static int capture_index(Captures *c, LLVMValueRef v)
{
	for (int i = 0; i < c->n; i++)
		if (c->v[i] == v)
			return i;
	c->v = cg_grow(c->v, c->n, &c->cap, sizeof *c->v);
	c->v[c->n] = v;
	return c->n++;
}

/*
 * Rewrites every use in f of a value of another function into a load from
 * f's parameter 0, a struct of the captured values built at entry; returns
 * that struct's type and the captured values in c.  f's first block (entry)
 * must be empty; it receives the loads and a branch to `first`.
 */
static LLVMTypeRef capture(Cg *g, LLVMValueRef f, LLVMBasicBlockRef entry, LLVMBasicBlockRef first, Captures *c)
{
	for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb))
		for (LLVMValueRef in = LLVMGetFirstInstruction(bb); in; in = LLVMGetNextInstruction(in)) {
			int n = LLVMGetNumOperands(in);
			for (int j = 0; j < n; j++) {
				LLVMValueRef v = LLVMGetOperand(in, (unsigned)j);
				if (v && foreign(v, f))
					capture_index(c, v);
			}
		}
	LLVMTypeRef *ft = xmalloc(((size_t)c->n + 1) * sizeof *ft);
	for (int i = 0; i < c->n; i++)
		ft[i] = LLVMTypeOf(c->v[i]);
	LLVMTypeRef st = LLVMStructTypeInContext(g->ctx, ft, (unsigned)c->n, 0);
	free(ft);

	LLVMBuilderRef b = LLVMCreateBuilderInContext(g->ctx);
	LLVMPositionBuilderAtEnd(b, entry);
	LLVMValueRef *load = xmalloc(((size_t)c->n + 1) * sizeof *load);
	for (int i = 0; i < c->n; i++) {
		LLVMValueRef p = LLVMBuildStructGEP2(b, st, LLVMGetParam(f, 0), (unsigned)i, "");
		load[i] = LLVMBuildLoad2(b, LLVMTypeOf(c->v[i]), p, "");
	}
	LLVMBuildBr(b, first);
	LLVMDisposeBuilder(b);
	for (LLVMBasicBlockRef bb = first; bb; bb = LLVMGetNextBasicBlock(bb))
		for (LLVMValueRef in = LLVMGetFirstInstruction(bb); in; in = LLVMGetNextInstruction(in)) {
			int n = LLVMGetNumOperands(in);
			for (int j = 0; j < n; j++) {
				LLVMValueRef v = LLVMGetOperand(in, (unsigned)j);
				if (v && foreign(v, f))
					LLVMSetOperand(in, (unsigned)j, load[capture_index(c, v)]);
			}
		}
	free(load);
	return st;
}

LLVMValueRef cg_par_begin(Cg *g, ParLoop *P, int64_t n)
{
	if (n < 1)
		die("codegen: parallel loop of %lld iterations", (long long)n);
	P->n = n;
	P->outer = g->fn;
	P->back = LLVMGetInsertBlock(g->b);
	size_t len;
	const char *oname = LLVMGetValueName2(P->outer, &len);
	char name[128];
	snprintf(name, sizeof name, "%.*s.par", (int)(len < 100 ? len : 100), oname);
	LLVMTypeRef pt[3] = { g->ptrty, g->i64, g->i64 };
	P->fn = LLVMAddFunction(g->mod, name, LLVMFunctionType(g->voidty, pt, 3, 0));
	LLVMSetLinkage(P->fn, LLVMInternalLinkage);
	cg_fn_attr(g, P->fn, "nounwind");
	P->entry = LLVMAppendBasicBlockInContext(g->ctx, P->fn, "entry");
	P->body = LLVMAppendBasicBlockInContext(g->ctx, P->fn, "iter");
	g->fn = P->fn;
	LLVMPositionBuilderAtEnd(g->b, P->body);
	P->i = LLVMBuildPhi(g->b, g->i64, "i");
	LLVMValueRef lo = LLVMGetParam(P->fn, 1);
	LLVMAddIncoming(P->i, &lo, &P->entry, 1);
	return P->i;
}

void cg_par_end(Cg *g, ParLoop *P)
{
	LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
	LLVMValueRef next = LLVMBuildAdd(g->b, P->i, cg_i64(g, 1), "");
	LLVMSetNSW(next, 1);
	LLVMAddIncoming(P->i, &next, &latch, 1);
	LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(g->ctx, P->fn, "exit");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, next, LLVMGetParam(P->fn, 2), ""), P->body, exit);
	LLVMPositionBuilderAtEnd(g->b, exit);
	LLVMBuildRetVoid(g->b);
	Captures cap = { 0 };
	LLVMTypeRef st = capture(g, P->fn, P->entry, P->body, &cap);

	/* the call: the captured values into a stack struct, then the pool */
	g->fn = P->outer;
	cg_position_top(g, LLVMGetEntryBasicBlock(P->outer));
	LLVMValueRef box = LLVMBuildAlloca(g->b, st, "par.ctx");
	LLVMPositionBuilderAtEnd(g->b, P->back);
	for (int i = 0; i < cap.n; i++)
		LLVMBuildStore(g->b, cap.v[i], LLVMBuildStructGEP2(g->b, st, box, (unsigned)i, ""));
	LLVMTypeRef at[3] = { g->i64, g->ptrty, g->ptrty };
	LLVMValueRef args[3] = { cg_i64(g, P->n), P->fn, box };
	cg_call(g, "rt_parallel_for", g->voidty, at, args, 3);
	free(cap.v);
}

/* The axis to cut: the outermost one of more than one element (-1: none). */
static int split_axis(const Type *space)
{
	for (int a = 0; a < space->rank; a++)
		if (space->dim[a] > 1)
			return a;
	return -1;
}

void cg_map_par(Cg *g, const Type *space, Opnd *op, int nop, ElemFn *fn, const void *ctx)
{
	int64_t total = type_numel(space);
	int a0 = split_axis(space);
	if (nop > 4 || a0 < 0 || total < cg_par_min()) {
		cg_map(g, space, op, nop, fn, ctx);
		return;
	}
	int64_t d0 = space->dim[a0], inner = total / d0;
	int64_t rows = CG_PAR_GRAIN / inner > 1 ? CG_PAR_GRAIN / inner : 1; /* per chunk */
	if (rows > d0 / 2)
		rows = d0 / 2 > 1 ? d0 / 2 : 1;
	int64_t nfull = d0 / rows, rem = d0 - nfull * rows;
	if (nfull < 2) {
		cg_map(g, space, op, nop, fn, ctx);
		return;
	}
	/* chunk c: rows [c * rows, (c + 1) * rows) of axis a0, walked with the
	   caller's element function at global indices */
	ParLoop P;
	LLVMValueRef c = cg_par_begin(g, &P, nfull);
	Type sub = *space;
	sub.dim[a0] = rows;
	Shift s = { .fn = fn, .ctx = ctx, .op = op, .nop = nop };
	Opnd rel[4];
	for (int k = 0; k < nop; k++) {
		rel[k] = op[k];
		rel[k].off = 0;
		LLVMValueRef step = LLVMBuildMul(g->b, c, cg_i64(g, rows * op[k].st[a0]), "");
		LLVMSetNSW(step, 1);
		s.base[k] = LLVMBuildAdd(g->b, cg_i64(g, op[k].off), step, "");
		LLVMSetNSW(s.base[k], 1);
	}
	cg_map(g, &sub, rel, nop, shifted, &s);
	cg_par_end(g, &P);

	/* the last rows, fewer than a chunk: serially, here */
	if (rem) {
		Opnd tail[4];
		for (int k = 0; k < nop; k++) {
			tail[k] = op[k];
			tail[k].off = op[k].off + nfull * rows * op[k].st[a0];
		}
		sub.dim[a0] = rem;
		cg_map(g, &sub, tail, nop, fn, ctx);
	}
}
