/*
 * interp_shape.c — the reference interpreter's kernels that move data rather
 * than compute on it: broadcast, transpose, concat, slice and its gradient;
 * take, scatter_rows and one_hot; and the values a region generates itself
 * (arange, tril, constants, counter-based random numbers shared with the
 * generated code).  Conventions: ir/interp.c.
 */
#include "ir/interp.h"
#include "runtime/runtime.h"

#include <stdlib.h>

/* ---- shape ops ---- */

KERNEL(ik_broadcast)
{
	Walk w;
	walk_init(&w, &out->type, 2);
	cstrides(&out->type, w.st[0]);
	bstrides(&in[0]->type, &out->type, w.st[1]);
	walk_copy(&w, out->data, in[0]->data, dtype_size(out->type.dt));
}

KERNEL(ik_transpose)
{
	const Node *nd = &r->node[v];
	int64_t st[MAX_RANK];
	cstrides(&in[0]->type, st);
	Walk w;
	walk_init(&w, &out->type, 2);
	cstrides(&out->type, w.st[0]);
	/* output axis k walks input axis perm[k] */
	for (int k = 0; k < out->type.rank; k++)
		w.st[1][k] = st[nd->ia[k]];
	walk_copy(&w, out->data, in[0]->data, dtype_size(out->type.dt));
}

KERNEL(ik_concat)
{
	const Node *nd = &r->node[v];
	const Type *ot = &out->type;
	int ax = (int)nd->ia[0];
	size_t inner = dtype_size(ot->dt);
	int64_t outer = 1;
	for (int a = 0; a < ax; a++)
		outer *= ot->dim[a];
	for (int a = ax + 1; a < ot->rank; a++)
		inner *= (size_t)ot->dim[a];
	char *d = out->data;
	for (int64_t p = 0; p < outer; p++)
		for (int k = 0; k < nd->narg; k++) {
			size_t chunk = (size_t)in[k]->type.dim[ax] * inner;
			memcpy(d, (const char *)in[k]->data + p * chunk, chunk);
			d += chunk;
		}
}

/* Walk over the sliced index space `sp`: operand `which` addresses the full tensor. */
static void slice_walk(Walk *w, const Node *nd, const Type *sp, const Type *full, int which)
{
	int64_t st[MAX_RANK];
	cstrides(full, st);
	walk_init(w, sp, 2);
	cstrides(sp, w->st[1 - which]);
	for (int k = 0; k < full->rank; k++) {
		w->off[which] += nd->ia[3 * k] * st[k];
		w->st[which][k] = nd->ia[3 * k + 2] * st[k];
	}
}

KERNEL(ik_slice)
{
	Walk w;
	slice_walk(&w, &r->node[v], &out->type, &in[0]->type, 1);
	walk_copy(&w, out->data, in[0]->data, dtype_size(out->type.dt));
}

KERNEL(ik_unslice)
{
	Walk w;
	memset(out->data, 0, tbytes(&out->type));
	slice_walk(&w, &r->node[v], &in[0]->type, &out->type, 0);
	walk_copy(&w, out->data, in[0]->data, dtype_size(out->type.dt));
}

/* ---- data ---- */

/* Index i of idx, checked against a table of nrows: a bad one stops the run (ir_index_fail). */
static int64_t row_index(const Region *r, int v, const Tensor *idx, int64_t i, int64_t nrows)
{
	int32_t k = ((const int32_t *)idx->data)[i];
	if (k < 0 || k >= nrows)
		ir_index_fail(r, r->node[v].op, r->node[v].loc, k, nrows);
	return k;
}

KERNEL(ik_take)
{
	const Tensor *tab = in[0], *idx = in[1];
	if (idx->type.dt != DT_I32 || tab->type.rank < 1)
		die("interp: take needs a table and i32 indices");
	int64_t nrows = tab->type.dim[0], ni = type_numel(&idx->type);
	size_t row = nrows ? tbytes(&tab->type) / (size_t)nrows : 0;
	for (int64_t i = 0; i < ni; i++)
		memcpy((char *)out->data + i * row,
			(const char *)tab->data + row_index(r, v, idx, i, nrows) * row, row);
}

KERNEL(ik_scatter_rows)
{
	const Tensor *idx = in[0], *g = in[1];
	const Type *ot = &out->type;
	if (ot->dt != DT_F32 || g->type.dt != DT_F32 || idx->type.dt != DT_I32)
		die("interp: scatter_rows needs i32 indices and f32 rows");
	int64_t nrows = ot->dim[0], ni = type_numel(&idx->type);
	int64_t row = nrows ? type_numel(ot) / nrows : 0;
	float *o = out->data;
	const float *p = g->data;
	memset(o, 0, tbytes(ot));
	for (int64_t i = 0; i < ni; i++) {
		float *d = o + row_index(r, v, idx, i, nrows) * row;
		for (int64_t j = 0; j < row; j++)
			d[j] += p[i * row + j];
	}
}

KERNEL(ik_one_hot)
{
	const Type *ot = &out->type;
	int64_t n = ot->dim[ot->rank - 1], ni = type_numel(&in[0]->type);
	const int32_t *idx = in[0]->data;
	memset(out->data, 0, tbytes(ot));
	for (int64_t i = 0; i < ni; i++) {
		if (idx[i] < 0 || idx[i] >= n)
			ir_index_fail(r, OP_ONE_HOT, r->node[v].loc, idx[i], n);
		store_val(ot->dt, out->data, i * n + idx[i], 1.0);
	}
}

KERNEL(ik_arange)
{
	int64_t n = type_numel(&out->type);
	for (int64_t i = 0; i < n; i++)
		store_val(out->type.dt, out->data, i, (double)i);
}

KERNEL(ik_tril)
{
	const Type *ot = &out->type;
	int64_t rows = ot->rank >= 2 ? ot->dim[ot->rank - 2] : 1;
	int64_t cols = ot->rank >= 1 ? ot->dim[ot->rank - 1] : 1;
	int64_t n = type_numel(ot), k = r->node[v].ia[0];
	for (int64_t e = 0; e < n; e++) {
		int64_t i = (e / cols) % rows, j = e % cols;
		store_val(ot->dt, out->data, e, j <= i + k ? 1.0 : 0.0);
	}
}

KERNEL(ik_const)
{
	int64_t n = type_numel(&out->type);
	for (int64_t i = 0; i < n; i++)
		store_val(out->type.dt, out->data, i, r->node[v].f);
}

/* ---- counter-based random numbers (runtime/rng.c, shared with generated code) ---- */

/* A stream's key depends on (seed, stream, step) only and every element is a
   pure function of (key, index), so dropout's backward pass redraws its mask. */
static uint64_t stream_key(const Store *s, int64_t stream)
{
	if (!s)
		die("interp: random op without a Store");
	return rt_mix64(rt_mix64(rt_mix64(s->seed + 0x9E3779B97F4A7C15ull) ^ (uint64_t)stream) ^ s->step);
}

KERNEL(ik_rand)
{
	uint64_t key = stream_key(s, r->node[v].ia[0]);
	for (int64_t i = 0, n = type_numel(&out->type); i < n; i++)
		((float *)out->data)[i] = rt_uniform(key, (uint64_t)i);
}

KERNEL(ik_randn)
{
	uint64_t key = stream_key(s, r->node[v].ia[0]);
	for (int64_t i = 0, n = type_numel(&out->type); i < n; i++)
		((float *)out->data)[i] = rt_normal(key, (uint64_t)i);
}

KERNEL(ik_dropout)
{
	const Node *nd = &r->node[v];
	int64_t n = type_numel(&out->type);
	float p = (float)nd->f, *o = out->data;
	const float *x = in[0]->data;
	if (p <= 0) {
		if (o != x)
			memcpy(o, x, tbytes(&out->type));
		return;
	}
	uint64_t key = stream_key(s, nd->ia[0]);
	float scale = p < 1 ? 1.0f / (1.0f - p) : 0.0f;
	for (int64_t i = 0; i < n; i++)
		o[i] = rt_uniform(key, (uint64_t)i) >= p ? x[i] * scale : 0.0f;
}
