/*
 * builder.c — the IR-builder helpers every kernel is made of (builder.h):
 * constants, element loads and stores with their alias-scope tags, scratch
 * bump allocation, memory copies, counted loops with loop-carried values,
 * strided walks that merge axes so the contiguous case is one flat loop
 * LLVM vectorizes, calls of C functions and intrinsics, and the kernel
 * functions of a region with their sharing by key.  Knows nothing of ops:
 * what to compute is the callers' business (scalar.c and the kernels).
 */
#include "codegen/builder.h"

#include <llvm-c/DebugInfo.h>

#include <stdlib.h>
#include <string.h>

/* ---- constants, elements, memory ---- */

LLVMTypeRef cg_elem_type(Cg *g, DType dt)
{
	/* bf16 is stored as its bits; codegen/scalar.c converts them */
	return dt == DT_F32 ? g->f32 : dt == DT_I32 ? g->i32 : dt == DT_BF16 ? g->i16 : g->i8;
}

LLVMValueRef cg_i64(Cg *g, int64_t v)
{
	return LLVMConstInt(g->i64, (unsigned long long)v, 1);
}

LLVMValueRef cg_i32(Cg *g, int32_t v)
{
	return LLVMConstInt(g->i32, (unsigned long long)(int64_t)v, 1);
}

LLVMValueRef cg_f32(Cg *g, float v)
{
	return LLVMConstReal(g->f32, v);
}

LLVMValueRef cg_elem_ptr(Cg *g, DType dt, LLVMValueRef ptr, LLVMValueRef idx)
{
	return LLVMBuildInBoundsGEP2(g->b, cg_elem_type(g, dt), ptr, &idx, 1, "");
}

void cg_mark(Cg *g, LLVMValueRef inst, bool own)
{
	if (g->scope)
		LLVMSetMetadata(inst, own ? g->kind_scope : g->kind_noalias, g->scope);
}

LLVMValueRef cg_load(Cg *g, DType dt, LLVMValueRef ptr, LLVMValueRef idx)
{
	LLVMValueRef x = LLVMBuildLoad2(g->b, cg_elem_type(g, dt), cg_elem_ptr(g, dt, ptr, idx), "");
	LLVMSetAlignment(x, (unsigned)dtype_size(dt));
	bool own = false;
	for (int k = 0; k < g->nown; k++)
		own |= ptr == g->own[k];
	cg_mark(g, x, own);
	return x;
}

void cg_store(Cg *g, DType dt, LLVMValueRef ptr, LLVMValueRef idx, LLVMValueRef val)
{
	LLVMValueRef s = LLVMBuildStore(g->b, val, cg_elem_ptr(g, dt, ptr, idx));
	LLVMSetAlignment(s, (unsigned)dtype_size(dt));
	cg_mark(g, s, true);
}

void cg_position_top(Cg *g, LLVMBasicBlockRef bb)
{
	LLVMValueRef first = LLVMGetFirstInstruction(bb);
	if (first)
		LLVMPositionBuilderBefore(g->b, first);
	else
		LLVMPositionBuilderAtEnd(g->b, bb);
}

LLVMValueRef cg_vec_splat(LLVMBuilderRef b, LLVMTypeRef vt, LLVMValueRef x)
{
	LLVMTypeRef i32 = LLVMInt32TypeInContext(LLVMGetTypeContext(vt));
	LLVMValueRef v = LLVMBuildInsertElement(b, LLVMGetPoison(vt), x, LLVMConstInt(i32, 0, false), "");
	return LLVMBuildShuffleVector(b, v, LLVMGetPoison(vt), LLVMConstNull(LLVMVectorType(i32, LLVMGetVectorSize(vt))), "");
}

LLVMValueRef cg_scratch(Cg *g, int64_t bytes)
{
	int64_t off = g->used;
	g->used += align_up(bytes, 64);
	return cg_scratch_at(g, off);
}

LLVMValueRef cg_scratch_at(Cg *g, int64_t off)
{
	LLVMValueRef o = cg_i64(g, off);
	return LLVMBuildInBoundsGEP2(g->b, g->i8, g->scratch, &o, 1, "");
}

void cg_memcpy(Cg *g, LLVMValueRef dst, LLVMValueRef src, int64_t bytes)
{
	/* the same pointer: a copy the memory plan made in place (dropout with p = 0) */
	if (bytes > 0 && dst != src)
		LLVMBuildMemCpy(g->b, dst, 4, src, 4, cg_i64(g, bytes));
}

void cg_memset0(Cg *g, LLVMValueRef dst, int64_t bytes)
{
	if (bytes > 0)
		LLVMBuildMemSet(g->b, dst, LLVMConstInt(g->i8, 0, 0), cg_i64(g, bytes), 4);
}

/* ---- control flow ---- */

LLVMValueRef cg_loop_begin(Cg *g, Loop *L, int64_t n)
{
	if (n < 1)
		die("codegen: loop of %lld iterations", (long long)n);
	L->n = n;
	L->nv = NULL;
	L->width = 0;
	L->interleave = 0;
	L->pre = LLVMGetInsertBlock(g->b);
	L->body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
	LLVMBuildBr(g->b, L->body);
	LLVMPositionBuilderAtEnd(g->b, L->body);
	L->i = LLVMBuildPhi(g->b, g->i64, "i");
	LLVMValueRef zero = cg_i64(g, 0);
	LLVMAddIncoming(L->i, &zero, &L->pre, 1);
	return L->i;
}

LLVMValueRef cg_loop_begin_n(Cg *g, Loop *L, LLVMValueRef n)
{
	LLVMValueRef i = cg_loop_begin(g, L, 1);
	L->nv = n;
	return i;
}

LLVMValueRef cg_loop_phi(Cg *g, Loop *L, LLVMTypeRef t, LLVMValueRef init)
{
	LLVMValueRef p = LLVMBuildPhi(g->b, t, "acc");
	LLVMAddIncoming(p, &init, &L->pre, 1);
	return p;
}

void cg_loop_carry(Cg *g, LLVMValueRef phi, LLVMValueRef next)
{
	LLVMBasicBlockRef bb = LLVMGetInsertBlock(g->b);
	LLVMAddIncoming(phi, &next, &bb, 1);
}

void cg_loop_end(Cg *g, Loop *L)
{
	LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
	LLVMValueRef next = LLVMBuildAdd(g->b, L->i, cg_i64(g, 1), "");
	LLVMSetNUW(next, 1);
	LLVMSetNSW(next, 1);
	LLVMAddIncoming(L->i, &next, &latch, 1);
	LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "done");
	LLVMValueRef br = LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, next, L->nv ? L->nv : cg_i64(g, L->n), ""), L->body, exit);
	if (L->width > 0) {
		/* !llvm.loop !{self, !{"llvm.loop.vectorize.width", i32 width}
		   [, !{"llvm.loop.interleave.count", i32 interleave}]} */
		LLVMTypeRef i32 = LLVMInt32TypeInContext(g->ctx);
		LLVMMetadataRef self = LLVMTemporaryMDNode(g->ctx, NULL, 0);
		LLVMMetadataRef w[2] = { LLVMMDStringInContext2(g->ctx, "llvm.loop.vectorize.width", 25),
			LLVMValueAsMetadata(LLVMConstInt(i32, (unsigned)L->width, 0)) };
		LLVMMetadataRef ic[2] = { LLVMMDStringInContext2(g->ctx, "llvm.loop.interleave.count", 26),
			LLVMValueAsMetadata(LLVMConstInt(i32, (unsigned)L->interleave, 0)) };
		LLVMMetadataRef ops[3] = { self, LLVMMDNodeInContext2(g->ctx, w, 2), LLVMMDNodeInContext2(g->ctx, ic, 2) };
		LLVMMetadataRef id = LLVMMDNodeInContext2(g->ctx, ops, L->interleave > 0 ? 3 : 2);
		LLVMMetadataReplaceAllUsesWith(self, id);
		LLVMSetMetadata(br, LLVMGetMDKindIDInContext(g->ctx, "llvm.loop", 9), LLVMMetadataAsValue(g->ctx, id));
	}
	LLVMPositionBuilderAtEnd(g->b, exit);
}

/* ---- strided walks ---- */

void cg_cstrides(const Type *t, int64_t *st)
{
	int64_t m = 1;
	for (int a = t->rank - 1; a >= 0; a--) {
		st[a] = m;
		m *= t->dim[a];
	}
}

void cg_bstrides(const Type *t, const Type *sp, int64_t *st)
{
	int64_t m = 1;
	for (int a = sp->rank - 1, b = t->rank - 1; a >= 0; a--, b--) {
		st[a] = (b < 0 || t->dim[b] == 1) ? 0 : m;
		if (b >= 0)
			m *= t->dim[b];
	}
}

typedef struct {
	int rank, nop;
	int64_t dim[MAX_RANK];
	int64_t st[4][MAX_RANK];
	ElemFn *fn;
	const void *ctx;
	const Opnd *op;
} Nest;

static void nest(Cg *g, const Nest *w, int a, LLVMValueRef *idx)
{
	if (a == w->rank) {
		w->fn(g, w->ctx, w->op, idx);
		return;
	}
	Loop L;
	LLVMValueRef i = cg_loop_begin(g, &L, w->dim[a]), sub[4];
	for (int k = 0; k < w->nop; k++) {
		int64_t s = w->st[k][a];
		sub[k] = s == 0 ? idx[k] : LLVMBuildAdd(g->b, idx[k],
			s == 1 ? i : LLVMBuildMul(g->b, i, cg_i64(g, s), ""), "");
	}
	nest(g, w, a + 1, sub);
	cg_loop_end(g, &L);
}

void cg_map(Cg *g, const Type *space, Opnd *op, int nop, ElemFn *fn, const void *ctx)
{
	Nest w = { .nop = nop, .fn = fn, .ctx = ctx, .op = op };
	if (nop > 4)
		die("codegen: walk of %d operands", nop);
	/* drop unit axes; merge an axis into the previous one when every
	   operand steps through both as through one (the contiguous case
	   becomes a single flat loop, which LLVM vectorizes) */
	for (int a = 0; a < space->rank; a++) {
		int64_t d = space->dim[a];
		if (d == 0)
			return;
		if (d == 1)
			continue;
		bool merge = w.rank > 0;
		for (int k = 0; merge && k < nop; k++)
			merge = w.st[k][w.rank - 1] == op[k].st[a] * d;
		if (merge) {
			w.dim[w.rank - 1] *= d;
			for (int k = 0; k < nop; k++)
				w.st[k][w.rank - 1] = op[k].st[a];
		} else {
			w.dim[w.rank] = d;
			for (int k = 0; k < nop; k++)
				w.st[k][w.rank] = op[k].st[a];
			w.rank++;
		}
	}
	LLVMValueRef idx[4];
	for (int k = 0; k < nop; k++)
		idx[k] = cg_i64(g, op[k].off);
	nest(g, &w, 0, idx);
}

/* ---- calls ---- */

LLVMValueRef cg_call(Cg *g, const char *name, LLVMTypeRef ret, LLVMTypeRef *pt, LLVMValueRef *args, int n)
{
	LLVMTypeRef ft = LLVMFunctionType(ret, pt, (unsigned)n, 0);
	LLVMValueRef f = LLVMGetNamedFunction(g->mod, name);
	if (!f) {
		f = LLVMAddFunction(g->mod, name, ft);
		cg_fn_attr(g, f, "nounwind");
	}
	return LLVMBuildCall2(g->b, ft, f, args, (unsigned)n, "");
}

LLVMValueRef cg_intrinsic_n(Cg *g, const char *name, LLVMTypeRef *tys, int ntys, LLVMValueRef *args, int n)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	if (!id)
		die("codegen: no intrinsic %s", name);
	LLVMValueRef f = LLVMGetIntrinsicDeclaration(g->mod, id, tys, (size_t)ntys);
	LLVMTypeRef ft = LLVMIntrinsicGetType(g->ctx, id, tys, (size_t)ntys);
	return LLVMBuildCall2(g->b, ft, f, args, (unsigned)n, "");
}

LLVMValueRef cg_intrinsic(Cg *g, const char *name, LLVMTypeRef t, LLVMValueRef *args, int n)
{
	return cg_intrinsic_n(g, name, &t, 1, args, n);
}

void cg_fn_attr(Cg *g, LLVMValueRef f, const char *name)
{
	unsigned k = LLVMGetEnumAttributeKindForName(name, strlen(name));
	LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, k, 0));
}

/* ---- kernel functions ---- */

void *cg_grow(void *p, int n, int *cap, size_t elem)
{
	if (n < *cap)
		return p;
	*cap = *cap ? 2 * *cap : 16;
	p = realloc(p, (size_t)*cap * elem);
	if (!p)
		die("out of memory");
	return p;
}

LLVMValueRef cg_fn_find(Cg *g, const char *key)
{
	for (int c = 0; key && c < g->nkern; c++)
		if (!strcmp(g->kern[c].key, key))
			return g->kern[c].fn;
	return NULL;
}

/* Internal and noinline: small functions keep LLVM's work per function
   small, and a shared one is compiled once. */
LLVMValueRef cg_fn_new(Cg *g, const char *name, LLVMTypeRef ft, const char *key)
{
	LLVMValueRef f = LLVMAddFunction(g->mod, name, ft);
	LLVMSetLinkage(f, LLVMInternalLinkage);
	cg_fn_attr(g, f, "noinline");
	cg_fn_attr(g, f, "nounwind");
	if (key)
		cg_fn_keep(g, key, f);
	return f;
}

void cg_fn_keep(Cg *g, const char *key, LLVMValueRef f)
{
	g->kern = cg_grow(g->kern, g->nkern, &g->capkern, sizeof *g->kern);
	g->kern[g->nkern].key = strcpy(xmalloc(strlen(key) + 1), key);
	g->kern[g->nkern++].fn = f;
}

int cg_fn_tail(Cg *g, LLVMTypeRef *pt, LLVMValueRef *args, int n)
{
	pt[n] = g->ptrty;
	pt[n + 1] = pt[n + 2] = g->i64;
	args[n] = g->scratch;
	args[n + 1] = g->seed;
	args[n + 2] = g->step;
	return n + 3;
}

void cg_fn_enter(Cg *g, LLVMValueRef f, unsigned first, CgOuter *o)
{
	*o = (CgOuter){ LLVMGetInsertBlock(g->b), g->fn, g->scratch, g->seed, g->step };
	g->fn = f;
	g->scratch = LLVMGetParam(f, first);
	g->seed = LLVMGetParam(f, first + 1);
	g->step = LLVMGetParam(f, first + 2);
	LLVMPositionBuilderAtEnd(g->b, LLVMAppendBasicBlockInContext(g->ctx, f, "entry"));
}

void cg_fn_leave(Cg *g, const CgOuter *o)
{
	g->fn = o->fn;
	g->scratch = o->scratch;
	g->seed = o->seed;
	g->step = o->step;
	LLVMPositionBuilderAtEnd(g->b, o->back);
}
