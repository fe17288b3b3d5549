/*
 * kernels.c — the loops of every op except reductions and matmul
 * (reduce.c): elementwise ops and sources as one strided walk each
 * (cg_map merges axes, so the common same-shape case is one flat loop),
 * shape ops as strided copies, and the row-indexed data ops.  Each kernel
 * writes its node's buffer g->ptr[v], planned by region.c.
 */
#include "codegen/kernels.h"
#include "codegen/parallel.h"
#include "codegen/scalar.h"

#include <string.h>

/* What the element body of a walk computes; op[0] is always the result. */
typedef struct {
	OpKind op;
	DType dt;          /* element type of the (first value) operand */
	LLVMValueRef key;  /* random stream of RAND, RANDN, DROPOUT */
	LLVMValueRef cval; /* CONST value */
	float p, scale;    /* DROPOUT */
} Ew;

static void ew_body(Cg *g, const void *ctx, const Opnd *op, const LLVMValueRef *idx)
{
	const Ew *e = ctx;
	LLVMBuilderRef b = g->b;
	DType odt = op[0].dt;
	LLVMValueRef x = NULL, r;
	if (!op_has(e->op, F_SOURCE)) /* sources have no operand to load */
		x = cg_load(g, op[1].dt, op[1].ptr, idx[1]);
	switch (e->op) {
	case OP_CONST:
		r = e->cval;
		break;
	case OP_ARANGE:
		r = odt == DT_F32 ? LLVMBuildSIToFP(b, idx[0], g->f32, "")
			: odt == DT_I32 ? LLVMBuildTrunc(b, idx[0], g->i32, "")
			: LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntNE, idx[0], cg_i64(g, 0), ""), g->i8, "");
		break;
	case OP_RAND:
		r = cg_uniform(g, e->key, idx[0]);
		break;
	case OP_RANDN: {
		LLVMTypeRef pt[2] = { g->i64, g->i64 };
		LLVMValueRef a[2] = { e->key, idx[0] };
		r = cg_call(g, "rt_normal", g->f32, pt, a, 2);
		break;
	}
	case OP_DROPOUT: {
		LLVMValueRef keep = LLVMBuildFCmp(b, LLVMRealOGE, cg_uniform(g, e->key, idx[0]), cg_f32(g, e->p), "");
		r = LLVMBuildSelect(b, keep, LLVMBuildFMul(b, x, cg_f32(g, e->scale), ""), cg_f32(g, 0), "");
		break;
	}
	case OP_WHERE: {
		LLVMValueRef c = LLVMBuildICmp(b, LLVMIntNE, x, LLVMConstInt(g->i8, 0, 0), "");
		r = LLVMBuildSelect(b, c, cg_load(g, op[2].dt, op[2].ptr, idx[2]),
			cg_load(g, op[3].dt, op[3].ptr, idx[3]), "");
		break;
	}
	case OP_CAST:
		r = cg_convert(g, e->dt, odt, x);
		break;
	default:
		if (op_info[e->op].flags & F_UNARY)
			r = cg_unary(g, e->op, e->dt, x);
		else if (op_info[e->op].flags & F_BINARY)
			r = cg_binary(g, e->op, e->dt, x, cg_load(g, op[2].dt, op[2].ptr, idx[2]));
		else
			r = x; /* data movement: broadcast, transpose, slice, unslice */
		break;
	}
	cg_store(g, odt, op[0].ptr, idx[0], r);
}

/* Operand k of node v read in v's index space, with broadcasting. */
static Opnd operand(Cg *g, int v, int k)
{
	const Region *r = g->r;
	int o = ir_operand(r, v, k);
	Opnd p = { .ptr = g->ptr[o], .dt = r->node[o].type.dt };
	cg_bstrides(&r->node[o].type, &r->node[v].type, p.st);
	return p;
}

static Opnd result(Cg *g, int v)
{
	Opnd p = { .ptr = g->ptr[v], .dt = g->r->node[v].type.dt };
	cg_cstrides(&g->r->node[v].type, p.st);
	return p;
}

/* Elementwise ops and sources: one walk over the result's index space. */
static void elementwise(Cg *g, int v)
{
	const Node *nd = &g->r->node[v];
	Ew e = { .op = nd->op };
	Opnd op[4];
	op[0] = result(g, v);
	for (int k = 0; k < nd->narg; k++)
		op[k + 1] = operand(g, v, k);
	e.dt = nd->narg ? op[nd->narg == 3 ? 2 : 1].dt : nd->type.dt;
	if (nd->op == OP_CONST)
		e.cval = cg_const_of(g, nd->type.dt, nd->f);
	if (nd->op == OP_RAND || nd->op == OP_RANDN)
		e.key = cg_stream_key(g, nd->ia[0]);
	if (nd->op == OP_DROPOUT) {
		e.p = (float)nd->f;
		if (e.p <= 0) {
			/* computed in place, the value is already there */
			bool in_place = false;
			for (int k = 1; k < g->nown; k++)
				in_place |= g->own[k] == op[1].ptr;
			if (!in_place)
				cg_memcpy(g, op[0].ptr, op[1].ptr, type_bytes(&nd->type));
			return;
		}
		e.key = cg_stream_key(g, nd->ia[0]);
		e.scale = e.p < 1 ? 1.0f / (1.0f - e.p) : 0.0f;
	}
	cg_map_par(g, &nd->type, op, nd->narg + 1, ew_body, &e);
}

static void tril(Cg *g, int v)
{
	const Node *nd = &g->r->node[v];
	int64_t rows = nd->type.dim[0], cols = nd->type.dim[1];
	if (rows == 0 || cols == 0)
		return;
	Loop Li, Lj;
	LLVMValueRef i = cg_loop_begin(g, &Li, rows);
	LLVMValueRef j = cg_loop_begin(g, &Lj, cols);
	LLVMValueRef on = LLVMBuildICmp(g->b, LLVMIntSLE, j, LLVMBuildAdd(g->b, i, cg_i64(g, nd->ia[0]), ""), "");
	LLVMValueRef val = LLVMBuildSelect(g->b, on, cg_const_of(g, nd->type.dt, 1), cg_const_of(g, nd->type.dt, 0), "");
	cg_store(g, nd->type.dt, g->ptr[v], LLVMBuildAdd(g->b, LLVMBuildMul(g->b, i, cg_i64(g, cols), ""), j, ""), val);
	cg_loop_end(g, &Lj);
	cg_loop_end(g, &Li);
}

static void transpose(Cg *g, int v)
{
	const Node *nd = &g->r->node[v];
	Opnd op[2] = { result(g, v), operand(g, v, 0) };
	int64_t st[MAX_RANK];
	cg_cstrides(&g->r->node[ir_operand(g->r, v, 0)].type, st);
	/* result axis k walks operand axis perm[k] */
	for (int k = 0; k < nd->type.rank; k++)
		op[1].st[k] = st[nd->ia[k]];
	Ew e = { .op = nd->op };
	cg_map_par(g, &nd->type, op, 2, ew_body, &e);
}

/* SLICE copies a strided view of the operand; UNSLICE zero-fills and writes that view. */
static void slice(Cg *g, int v)
{
	const Node *nd = &g->r->node[v];
	const Type *in = &g->r->node[ir_operand(g->r, v, 0)].type;
	bool un = nd->op == OP_UNSLICE;
	const Type *full = un ? &nd->type : in, *sp = un ? in : &nd->type;
	Opnd op[2] = { result(g, v), operand(g, v, 0) };
	Opnd *f = &op[un ? 0 : 1];
	cg_cstrides(sp, op[un ? 1 : 0].st);
	int64_t st[MAX_RANK];
	cg_cstrides(full, st);
	f->off = 0;
	for (int k = 0; k < full->rank; k++) {
		f->off += nd->ia[3 * k] * st[k];
		f->st[k] = nd->ia[3 * k + 2] * st[k];
	}
	if (un)
		cg_memset0(g, op[0].ptr, type_bytes(full));
	Ew e = { .op = nd->op };
	cg_map_par(g, sp, op, 2, ew_body, &e);
}

static LLVMValueRef byte_ptr(Cg *g, LLVMValueRef base, LLVMValueRef off)
{
	return LLVMBuildInBoundsGEP2(g->b, g->i8, base, &off, 1, "");
}

/* PACK: each operand at its 64-byte-aligned place, the gaps zero; nothing
   to copy for an operand memplan computed in place (same scratch offset).
   emit false only answers whether there is anything to write. */
static bool pack_emit(Cg *g, int v, bool emit)
{
	const Region *r = g->r;
	int64_t end = 0, start = 0; /* start: ir_pack_start(r, v, k), summed as k goes */
	bool any = false;
	for (int k = 0; k < r->node[v].narg; k++) {
		int o = ir_operand(r, v, k);
		int64_t at = start, n = type_bytes(&r->node[o].type);
		start += ir_pack_align(n);
		bool gap = at > end, copy = g->home[v] < 0 || g->home[o] != g->home[v] + at;
		any |= gap || copy;
		if (emit && gap)
			cg_memset0(g, byte_ptr(g, g->ptr[v], cg_i64(g, end)), at - end);
		if (emit && copy)
			cg_memcpy(g, byte_ptr(g, g->ptr[v], cg_i64(g, at)), g->ptr[o], n);
		end = at + n;
	}
	return any;
}

static void pack(Cg *g, int v)
{
	pack_emit(g, v, true);
}

bool cg_pack_moves(Cg *g, int v)
{
	return pack_emit(g, v, false);
}

static void concat(Cg *g, int v)
{
	const Region *r = g->r;
	const Node *nd = &r->node[v];
	const Type *ot = &nd->type;
	int ax = (int)nd->ia[0];
	int64_t inner = (int64_t)dtype_size(ot->dt), outer = 1;
	for (int a = 0; a < ax; a++)
		outer *= ot->dim[a];
	for (int a = ax + 1; a < ot->rank; a++)
		inner *= ot->dim[a];
	int64_t total = ot->dim[ax] * inner;
	if (outer == 0 || total == 0)
		return;
	Loop L;
	LLVMValueRef p = outer > 1 ? cg_loop_begin(g, &L, outer) : cg_i64(g, 0);
	int64_t at = 0;
	for (int k = 0; k < nd->narg; k++) {
		int o = ir_operand(r, v, k);
		int64_t chunk = r->node[o].type.dim[ax] * inner;
		LLVMValueRef dst = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, p, cg_i64(g, total), ""), cg_i64(g, at), "");
		LLVMValueRef src = LLVMBuildMul(g->b, p, cg_i64(g, chunk), "");
		cg_memcpy(g, byte_ptr(g, g->ptr[v], dst), byte_ptr(g, g->ptr[o], src), chunk);
		at += chunk;
	}
	if (outer > 1)
		cg_loop_end(g, &L);
}

/*
 * A loop over the ni indices of a range-checked op, each read as the row
 * of a table of nrows: row is the index as i64, clamped to row 0 when it is
 * outside the table (a negative index is huge unsigned, and then outside
 * is true), so that no access leaves the table.  The loop carries the or of
 * every outside flag; the kernel returns it after the loop (g->bad) and the
 * region function stops (region.c): one compare, one select and one or per
 * index.
 */
typedef struct {
	Loop L;
	LLVMValueRef i, row, outside;
	LLVMValueRef acc, bad; /* some index before this one was outside; so far, this one included */
} RowLoop;

static void rows_begin(Cg *g, RowLoop *q, int idx, int64_t ni, int64_t nrows)
{
	LLVMBuilderRef b = g->b;
	q->i = cg_loop_begin(g, &q->L, ni);
	q->acc = cg_loop_phi(g, &q->L, g->i1, LLVMConstInt(g->i1, 0, 0));
	LLVMValueRef k = LLVMBuildSExt(b, cg_load(g, DT_I32, g->ptr[idx], q->i), g->i64, "");
	q->outside = LLVMBuildICmp(b, LLVMIntUGE, k, cg_i64(g, nrows), "");
	q->bad = LLVMBuildOr(b, q->acc, q->outside, "");
	q->row = LLVMBuildSelect(b, q->outside, cg_i64(g, 0), k, "");
}

static void rows_end(Cg *g, RowLoop *q)
{
	cg_loop_carry(g, q->acc, q->bad);
	cg_loop_end(g, &q->L);
	g->bad = q->bad;
}

static void take(Cg *g, int v)
{
	const Region *r = g->r;
	int tab = ir_operand(r, v, 0), idx = ir_operand(r, v, 1);
	const Type *tt = &r->node[tab].type;
	int64_t nrows = tt->dim[0], ni = type_numel(&r->node[idx].type);
	int64_t row = nrows ? type_bytes(tt) / nrows : 0;
	if (ni == 0)
		return;
	RowLoop q;
	rows_begin(g, &q, idx, ni, nrows);
	LLVMValueRef rb = cg_i64(g, row);
	cg_memcpy(g, byte_ptr(g, g->ptr[v], LLVMBuildMul(g->b, q.i, rb, "")),
		byte_ptr(g, g->ptr[tab], LLVMBuildMul(g->b, q.row, rb, "")), row);
	rows_end(g, &q);
}

static void scatter_rows(Cg *g, int v)
{
	const Region *r = g->r;
	const Type *ot = &r->node[v].type;
	int idx = ir_operand(r, v, 0), src = ir_operand(r, v, 1);
	int64_t nrows = ot->dim[0], ni = type_numel(&r->node[idx].type);
	int64_t row = nrows ? type_numel(ot) / nrows : 0;
	if (ot->dt != DT_F32)
		die("codegen: scatter_rows needs f32 rows");
	cg_memset0(g, g->ptr[v], type_bytes(ot));
	if (ni == 0)
		return;
	RowLoop q;
	rows_begin(g, &q, idx, ni, nrows);
	if (row > 0) {
		Loop Lj;
		LLVMValueRef rb = cg_i64(g, row);
		LLVMValueRef d0 = LLVMBuildMul(g->b, q.row, rb, ""), s0 = LLVMBuildMul(g->b, q.i, rb, "");
		LLVMValueRef j = cg_loop_begin(g, &Lj, row);
		LLVMValueRef d = LLVMBuildAdd(g->b, d0, j, "");
		LLVMValueRef sum = LLVMBuildFAdd(g->b, cg_load(g, DT_F32, g->ptr[v], d),
			cg_load(g, DT_F32, g->ptr[src], LLVMBuildAdd(g->b, s0, j, "")), "");
		cg_store(g, DT_F32, g->ptr[v], d, sum);
		cg_loop_end(g, &Lj);
	}
	rows_end(g, &q);
}

static void one_hot(Cg *g, int v)
{
	const Region *r = g->r;
	const Type *ot = &r->node[v].type;
	int idx = ir_operand(r, v, 0);
	int64_t n = ot->dim[ot->rank - 1], ni = type_numel(&r->node[idx].type);
	cg_memset0(g, g->ptr[v], type_bytes(ot));
	if (ni == 0 || n == 0)
		return;
	RowLoop q;
	rows_begin(g, &q, idx, ni, n);
	/* a bad index stores 0 at its row's first class (the run stops anyway) */
	LLVMValueRef one = LLVMBuildSelect(g->b, q.outside, cg_const_of(g, ot->dt, 0), cg_const_of(g, ot->dt, 1), "");
	LLVMValueRef at = LLVMBuildAdd(g->b, LLVMBuildMul(g->b, q.i, cg_i64(g, n), ""), q.row, "");
	cg_store(g, ot->dt, g->ptr[v], at, one);
	rows_end(g, &q);
}

/* Ops whose kernels check indices against a table: they return the flag. */
bool cg_range_checked(OpKind op)
{
	return op == OP_TAKE || op == OP_SCATTER_ROWS || op == OP_ONE_HOT;
}

/*
 * After the call of range-checked node v's kernel (its result rc): when it
 * saw a bad index, record which (rt_index_record) and return 1 from the
 * region function, before any output or WRITE is stored.
 */
void cg_index_exit(Cg *g, int v, LLVMValueRef rc)
{
	const Region *r = g->r;
	const Node *nd = &r->node[v];
	int idx = ir_operand(r, v, nd->op == OP_TAKE ? 1 : 0);
	int64_t n = nd->op == OP_TAKE ? r->node[ir_operand(r, v, 0)].type.dim[0]
		: nd->op == OP_ONE_HOT ? nd->type.dim[nd->type.rank - 1] : nd->type.dim[0];
	LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "indexfail");
	LLVMBasicBlockRef go = LLVMAppendBasicBlockInContext(g->ctx, g->fn, "indexok");
	LLVMBuildCondBr(g->b, LLVMBuildICmp(g->b, LLVMIntNE, rc, cg_i32(g, 0), ""), fail, go);
	LLVMPositionBuilderAtEnd(g->b, fail);
	LLVMTypeRef pt[5] = { g->ptrty, g->i64, g->i64, g->i32, g->i32 };
	LLVMValueRef a[5] = { g->ptr[idx], cg_i64(g, type_numel(&r->node[idx].type)), cg_i64(g, n),
		cg_i32(g, nd->loc), cg_i32(g, (int32_t)nd->op) };
	cg_call(g, "rt_index_record", g->voidty, pt, a, 5);
	LLVMBuildRet(g->b, cg_i32(g, 1));
	LLVMPositionBuilderAtEnd(g->b, go);
}

void cg_kernel(Cg *g, int v)
{
	const Node *nd = &g->r->node[v];
	switch (nd->op) {
	case OP_TRIL: tril(g, v); return;
	case OP_TRANSPOSE: transpose(g, v); return;
	case OP_SLICE:
	case OP_UNSLICE: slice(g, v); return;
	case OP_CONCAT: concat(g, v); return;
	case OP_PACK: pack(g, v); return;
	case OP_TAKE: take(g, v); return;
	case OP_SCATTER_ROWS: scatter_rows(g, v); return;
	case OP_ONE_HOT: one_hot(g, v); return;
	case OP_RESHAPE:
	case OP_STOP_GRADIENT:
		/* a copy only where a memory plan gave the value its own buffer */
		cg_memcpy(g, g->ptr[v], g->ptr[ir_operand(g->r, v, 0)], type_bytes(&nd->type));
		return;
	case OP_CONST: case OP_ARANGE: case OP_RAND: case OP_RANDN:
		elementwise(g, v);
		return;
	default:
		/* every other loop op (the maps and broadcast; reshape is above) */
		if (op_has(nd->op, F_LOOP)) {
			elementwise(g, v);
			return;
		}
		break;
	}
	die("codegen: no kernel for %s (%%%d)", op_info[nd->op].name, v);
}
