/*
 * emit.c — builds a region's LLVM function: plans where every value lives,
 * emits the nodes in order (through kernels.c), copies the outputs and
 * performs the deferred WRITEs.  Also the small builders everything else
 * uses: constants, element loads and stores, counted loops, strided walks
 * with merged axes, scratch, memcpy and calls.
 *
 * Where values live: INPUT nodes read the caller's input pointer, PARAM and
 * STATE the slot pointer, RESHAPE, STOP_GRADIENT and same-type CAST share
 * their operand's buffer, the first output of a computed node is computed
 * straight into the caller's output buffer, and every other node gets its
 * own 64-byte aligned piece of scratch (bump allocation; memory planning
 * will replace it).
 */
#include "codegen/emit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- constants, elements, memory ---- */

LLVMTypeRef cg_elem_type(Cg *g, DType dt)
{
	return dt == DT_F32 ? g->f32 : dt == DT_I32 ? g->i32 : g->i8;
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

int64_t cg_bytes(const Type *t)
{
	return type_numel(t) * (int64_t)dtype_size(t->dt);
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
	cg_mark(g, x, ptr == g->out[0] || ptr == g->out[1]);
	return x;
}

void cg_store(Cg *g, DType dt, LLVMValueRef ptr, LLVMValueRef idx, LLVMValueRef val)
{
	LLVMValueRef s = LLVMBuildStore(g->b, val, cg_elem_ptr(g, dt, ptr, idx));
	LLVMSetAlignment(s, (unsigned)dtype_size(dt));
	cg_mark(g, s, true);
}

LLVMValueRef cg_scratch(Cg *g, int64_t bytes)
{
	LLVMValueRef off = cg_i64(g, g->used);
	g->used += (bytes + 63) & ~(int64_t)63;
	return LLVMBuildInBoundsGEP2(g->b, g->i8, g->scratch, &off, 1, "");
}

void cg_memcpy(Cg *g, LLVMValueRef dst, LLVMValueRef src, int64_t bytes)
{
	if (bytes > 0)
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
	L->pre = LLVMGetInsertBlock(g->b);
	L->body = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "loop");
	LLVMBuildBr(g->b, L->body);
	LLVMPositionBuilderAtEnd(g->b, L->body);
	L->i = LLVMBuildPhi(g->b, g->i64, "i");
	LLVMValueRef zero = cg_i64(g, 0);
	LLVMAddIncoming(L->i, &zero, &L->pre, 1);
	return L->i;
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
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntULT, next, cg_i64(g, L->n), ""), L->body, exit);
	LLVMPositionBuilderAtEnd(g->b, exit);
}

LLVMBasicBlockRef cg_if_begin(Cg *g, LLVMValueRef cond)
{
	LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "then");
	LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "join");
	LLVMBuildCondBr(g->b, cond, then, join);
	LLVMPositionBuilderAtEnd(g->b, then);
	return join;
}

void cg_if_end(Cg *g, LLVMBasicBlockRef join)
{
	LLVMBuildBr(g->b, join);
	LLVMPositionBuilderAtEnd(g->b, join);
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
		unsigned k = LLVMGetEnumAttributeKindForName("nounwind", 8);
		LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->ctx, k, 0));
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

/* ---- the region function ---- */

/* Ops whose value is their operand's bytes unchanged: they share its buffer. */
static bool is_alias(const Region *r, int v)
{
	const Node *nd = &r->node[v];
	return nd->op == OP_RESHAPE || nd->op == OP_STOP_GRADIENT
		|| (nd->op == OP_CAST && nd->type.dt == r->node[ir_operand(r, v, 0)].type.dt);
}

static int root_of(const Region *r, int v)
{
	while (is_alias(r, v))
		v = ir_operand(r, v, 0);
	return v;
}

static bool is_slot(const Node *nd)
{
	return nd->op == OP_PARAM || nd->op == OP_STATE;
}

/* Do slot nodes a and b name the same storage? */
static bool same_slot(const Region *r, int a, int b)
{
	const Node *x = &r->node[a], *y = &r->node[b];
	return x->op == y->op && !strcmp(x->name, y->name)
		&& (x->op == OP_PARAM || !strcmp(x->sname, y->sname));
}

/* Element k of one of the argument arrays (inputs, slots, outputs). */
static LLVMValueRef arg_ptr(Cg *g, LLVMValueRef arr, int k)
{
	LLVMValueRef i = cg_i64(g, k);
	LLVMValueRef p = LLVMBuildLoad2(g->b, g->ptrty, LLVMBuildInBoundsGEP2(g->b, g->ptrty, arr, &i, 1, ""), "");
	LLVMSetAlignment(p, 8);
	return p;
}

/* Decides and materializes every node's data pointer; out_of[v] = output computed in place. */
static void plan(Cg *g, int *out_of)
{
	const Region *r = g->r;
	int nslot = 0;
	for (int v = 0; v < r->nnode; v++)
		out_of[v] = -1;
	for (int k = r->nout - 1; k >= 0; k--)
		out_of[r->out[k]] = k;
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		if (nd->op == OP_GRAD)
			die("codegen: grad node %%%d reached codegen: run autodiff first", v);
		if (nd->op == OP_INPUT) {
			g->ptr[v] = arg_ptr(g, g->inputs, (int)nd->ia[0]);
			out_of[v] = -1;
		} else if (is_slot(nd)) {
			g->ptr[v] = arg_ptr(g, g->slots, nslot++);
			out_of[v] = -1;
		} else if (nd->op == OP_WRITE) {
			if (out_of[v] >= 0)
				die("codegen: write %%%d is a region output", v);
		} else if (is_alias(r, v)) {
			g->ptr[v] = g->ptr[ir_operand(r, v, 0)];
			out_of[v] = -1;
		} else if (out_of[v] >= 0) {
			g->ptr[v] = arg_ptr(g, g->outputs, out_of[v]);
		} else {
			g->ptr[v] = cg_scratch(g, cg_bytes(&nd->type));
		}
	}
}

/* Outputs first (they must see slots before the writes), then the writes;
   a write reading a slot that some write changes reads a snapshot. */
static void finish(Cg *g, const int *out_of)
{
	const Region *r = g->r;
	for (int k = 0; k < r->nout; k++) {
		int o = r->out[k];
		if (out_of[o] != k)
			cg_memcpy(g, arg_ptr(g, g->outputs, k), g->ptr[o], cg_bytes(&r->node[o].type));
	}
	LLVMValueRef *src = xcalloc((size_t)r->nnode + 1, sizeof *src);
	for (int v = 0; v < r->nnode; v++) {
		if (r->node[v].op != OP_WRITE)
			continue;
		int val = ir_operand(r, v, 1), root = root_of(r, val);
		src[v] = g->ptr[val];
		bool changed = false;
		for (int w = 0; is_slot(&r->node[root]) && w < r->nnode; w++)
			changed |= r->node[w].op == OP_WRITE && same_slot(r, ir_operand(r, w, 0), root);
		if (changed) {
			int64_t n = cg_bytes(&r->node[val].type);
			src[v] = cg_scratch(g, n);
			cg_memcpy(g, src[v], g->ptr[val], n);
		}
	}
	for (int v = 0; v < r->nnode; v++) {
		if (r->node[v].op != OP_WRITE)
			continue;
		int slot = ir_operand(r, v, 0);
		int64_t n = cg_bytes(&r->node[slot].type);
		if (src[v] != g->ptr[slot] && n > 0)
			LLVMBuildMemMove(g->b, g->ptr[slot], 4, src[v], 4, cg_i64(g, n));
	}
	free(src);
}

LLVMModuleRef cg_build_module(LLVMContextRef ctx, const Region *r, const char *fname, int64_t *scratch)
{
	Cg g;
	memset(&g, 0, sizeof g);
	g.ctx = ctx;
	g.r = r;
	g.f32 = LLVMFloatTypeInContext(ctx);
	g.f64 = LLVMDoubleTypeInContext(ctx);
	g.i1 = LLVMInt1TypeInContext(ctx);
	g.i8 = LLVMInt8TypeInContext(ctx);
	g.i32 = LLVMInt32TypeInContext(ctx);
	g.i64 = LLVMInt64TypeInContext(ctx);
	g.ptrty = LLVMPointerTypeInContext(ctx, 0);
	g.voidty = LLVMVoidTypeInContext(ctx);
	g.mod = LLVMModuleCreateWithNameInContext(fname, ctx);
	LLVMTypeRef pt[6] = { g.ptrty, g.ptrty, g.ptrty, g.ptrty, g.i64, g.i64 };
	g.fn = LLVMAddFunction(g.mod, fname, LLVMFunctionType(g.voidty, pt, 6, 0));
	unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
	LLVMAddAttributeAtIndex(g.fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(ctx, nounwind, 0));
	LLVMValueRef *arg[6] = { &g.inputs, &g.slots, &g.outputs, &g.scratch, &g.seed, &g.step };
	for (int k = 0; k < 6; k++)
		*arg[k] = LLVMGetParam(g.fn, (unsigned)k);
	g.b = LLVMCreateBuilderInContext(ctx);
	LLVMPositionBuilderAtEnd(g.b, LLVMAppendBasicBlockInContext(ctx, g.fn, "entry"));

	g.ptr = xcalloc((size_t)r->nnode + 1, sizeof *g.ptr);
	int *out_of = xcalloc((size_t)r->nnode + 1, sizeof *out_of);
	plan(&g, out_of);
	g.kind_scope = LLVMGetMDKindIDInContext(ctx, "alias.scope", 11);
	g.kind_noalias = LLVMGetMDKindIDInContext(ctx, "noalias", 7);
	LLVMMetadataRef domain = LLVMMDNodeInContext2(ctx, (LLVMMetadataRef[]){ LLVMMDStringInContext2(ctx, fname, strlen(fname)) }, 1);
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		if (nd->op == OP_INPUT || is_slot(nd) || nd->op == OP_WRITE || is_alias(r, v))
			continue;
		char id[32];
		int n = snprintf(id, sizeof id, "%%%d", v);
		LLVMMetadataRef sc[2] = { LLVMMDStringInContext2(ctx, id, (size_t)n), domain };
		LLVMMetadataRef scope = LLVMMDNodeInContext2(ctx, sc, 2);
		g.scope = LLVMMetadataAsValue(ctx, LLVMMDNodeInContext2(ctx, &scope, 1));
		g.out[0] = g.ptr[v];
		g.out[1] = NULL;
		cg_node(&g, v);
	}
	g.scope = NULL;
	g.out[0] = NULL;
	finish(&g, out_of);
	LLVMBuildRetVoid(g.b);

	free(out_of);
	free(g.ptr);
	LLVMDisposeBuilder(g.b);
	*scratch = g.used;
	return g.mod;
}
