/*
 * space.c — the index space of a kernel (kernel/kernel.h): what role a node
 * can play in one, the single space X all members iterate, each member's
 * level in it and the strides with which members read their operands.  The
 * fusion pass asks kernel_space whether a grown kernel is still one loop
 * nest; remat asks it before moving a node into a kernel, the printer to
 * describe a kernel, and codegen to lay out the loops.  It reads the nodes
 * given and changes nothing.
 */
#include "kernel/kernel.h"

#include <stdlib.h>
#include <string.h>

#include "ir/ops.h"

int kernel_role(const Region *r, int v)
{
	const Node *n = &r->node[v];
	if (type_numel(&n->type) == 0)
		return KR_NONE;
	for (int k = 0; k < n->narg; k++)
		if (type_numel(&r->node[ir_operand(r, v, k)].type) == 0)
			return KR_NONE;
	if (n->op == OP_MATMUL)
		return n->type.dt == DT_F32 ? KR_GEMM : KR_NONE;
	if (op_has(n->op, F_ACCUM)) {
		const Type *t = &r->node[ir_operand(r, v, 0)].type;
		if (n->op != OP_SUM && t->dt == DT_BOOL)
			return KR_NONE;
		/* reducing only unit axes is a reshape: no index space to reduce over */
		bool real = false;
		for (int i = 0; i < n->nia; i++)
			real |= t->dim[n->ia[i]] > 1;
		return real ? KR_REDUCE : KR_NONE;
	}
	return op_has(n->op, F_LOOP) ? KR_ELEM : KR_NONE;
}

/* ---- index spaces and maps ---- */

static void cstrides(const Type *t, int64_t *st)
{
	int64_t m = 1;
	for (int a = t->rank - 1; a >= 0; a--) {
		st[a] = m;
		m *= t->dim[a];
	}
}

/* Strides of t read at the points of sp (NumPy right alignment; 0 where t broadcasts). */
static void bstrides(const Type *t, const Type *sp, int64_t *st)
{
	int64_t m = 1;
	for (int a = sp->rank - 1, b = t->rank - 1; a >= 0; a--, b--) {
		st[a] = (b < 0 || t->dim[b] == 1) ? 0 : m;
		if (b >= 0)
			m *= t->dim[b];
	}
}

/* X with the reduced axes kept as 1. */
static Type keep_type(const KernelSpace *s)
{
	Type t = s->x;
	for (int a = 0; a < t.rank; a++)
		if (s->red >> a & 1)
			t.dim[a] = 1;
	return t;
}

static Type drop_type(const KernelSpace *s)
{
	Type t = s->x;
	t.rank = 0;
	for (int a = 0; a < s->x.rank; a++)
		if (!(s->red >> a & 1))
			t.dim[t.rank++] = s->x.dim[a];
	return t;
}

static int level_of(const KernelSpace *s, const Type *t)
{
	if (type_same_dims(t, &s->x))
		return KL_BIG;
	if (s->red) {
		Type k = keep_type(s), d = drop_type(s);
		if (type_same_dims(t, &k) || type_same_dims(t, &d))
			return KL_SMALL;
	}
	return KL_NONE;
}

void kernel_natural(const KernelSpace *s, const Type *t, int level, int64_t *st)
{
	(void)t; /* a member's type is fixed by its level */
	if (level == KL_BIG) {
		cstrides(&s->x, st);
		return;
	}
	Type k = keep_type(s);
	cstrides(&k, st);
	for (int a = 0; a < s->x.rank; a++)
		if (s->red >> a & 1)
			st[a] = 0;
}

void kernel_read_map(const KernelSpace *s, const Region *r, int v, int k, int level, int64_t *st)
{
	const Node *nd = &r->node[v];
	const Type *tu = &r->node[ir_operand(r, v, k)].type, *tv = &nd->type;
	memset(st, 0, MAX_RANK * sizeof *st);
	if (nd->op == OP_RESHAPE) {
		/* element i of the result is element i of the operand */
		kernel_natural(s, tv, level, st);
		return;
	}
	if (op_has(nd->op, F_REDUCE)) {
		cstrides(&s->x, st);
		return;
	}
	int64_t b[MAX_RANK];
	bstrides(tu, tv, b);
	if (tv->rank == s->x.rank) {
		for (int a = 0; a < s->x.rank; a++)
			st[a] = level == KL_SMALL && (s->red >> a & 1) ? 0 : b[a];
		return;
	}
	/* a SMALL value without the reduced axes */
	for (int a = 0, j = 0; a < s->x.rank; a++)
		st[a] = s->red >> a & 1 ? 0 : b[j++];
}

bool kernel_same_map(const KernelSpace *s, const int64_t *a, const int64_t *b)
{
	for (int i = 0; i < s->x.rank; i++)
		if (s->x.dim[i] > 1 && a[i] != b[i])
			return false;
	return true;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Index of v in sorted[0..n), or -1. */
static int find(const int *sorted, int n, int v)
{
	int lo = 0, hi = n - 1;
	while (lo <= hi) {
		int m = (lo + hi) / 2;
		if (sorted[m] == v)
			return m;
		if (sorted[m] < v)
			lo = m + 1;
		else
			hi = m - 1;
	}
	return -1;
}

bool kernel_space(const Region *r, const int *mem, int n, KernelSpace *s, int *level)
{
	memset(s, 0, sizeof *s);
	s->head = -1;
	s->rows = true;
	bool have_red = false;
	int big = -1;
	for (int i = 0; i < n; i++) {
		int v = mem[i];
		const Node *nd = &r->node[v];
		if (nd->op == OP_CONST)
			continue;
		int k = kernel_role(r, v);
		if (k == KR_NONE)
			return false;
		if (k == KR_GEMM) {
			if (s->head >= 0)
				return false;
			s->head = v;
		}
		if (k == KR_REDUCE) {
			const Type *ot = &r->node[ir_operand(r, v, 0)].type;
			unsigned mask = 0;
			for (int j = 0; j < nd->nia; j++)
				mask |= 1u << nd->ia[j];
			if (!have_red) {
				s->x = *ot;
				s->red = mask;
				have_red = true;
			} else if (!type_same_dims(ot, &s->x) || mask != s->red) {
				return false;
			}
		}
		if (big < 0 || type_numel(&nd->type) > type_numel(&r->node[big].type))
			big = v;
	}
	if (big < 0)
		return false;
	if (!have_red)
		s->x = r->node[big].type;
	s->x.dt = DT_F32;
	bool seen = false;
	for (int a = 0; a < s->x.rank; a++) {
		if (s->x.dim[a] == 1)
			continue;
		if (s->red >> a & 1)
			seen = true;
		else if (seen)
			s->rows = false;
	}
	int *sorted = xmalloc(((size_t)n + 1) * sizeof *sorted), *lev = xmalloc(((size_t)n + 1) * sizeof *lev);
	memcpy(sorted, mem, (size_t)n * sizeof *sorted);
	qsort(sorted, (size_t)n, sizeof *sorted, cmp_int);
	bool ok = true;
	for (int i = 0; i < n; i++) {
		const Node *nd = &r->node[sorted[i]];
		lev[i] = nd->op == OP_CONST ? KL_NONE : level_of(s, &nd->type);
		if (nd->op != OP_CONST && (lev[i] == KL_NONE || (op_has(nd->op, F_REDUCE) && lev[i] != KL_SMALL) ||
		    (sorted[i] == s->head && lev[i] != KL_BIG)))
			ok = false;
	}
	for (int i = 0; ok && i < n; i++) {
		int v = sorted[i];
		const Node *nd = &r->node[v];
		if (nd->op == OP_CONST)
			continue;
		for (int k = 0; ok && k < nd->narg; k++) {
			int u = ir_operand(r, v, k), j = find(sorted, n, u);
			if (j < 0)
				continue;
			if (v == s->head) {
				ok = false; /* the GEMM runs before everything else */
				break;
			}
			if (r->node[u].op == OP_CONST || u == s->head)
				continue; /* an immediate, or read from the GEMM's buffer */
			int64_t rm[MAX_RANK], nm[MAX_RANK];
			kernel_read_map(s, r, v, k, lev[i], rm);
			kernel_natural(s, &r->node[u].type, lev[j], nm);
			if (!kernel_same_map(s, rm, nm))
				ok = false;
			/* reducing other than trailing axes walks all of X once: nothing
			   at X's points can wait for a reduction to finish */
			if (!s->rows && lev[i] == KL_BIG && lev[j] == KL_SMALL)
				ok = false;
		}
	}
	if (ok && level)
		for (int i = 0; i < n; i++)
			level[i] = lev[find(sorted, n, mem[i])];
	free(sorted);
	free(lev);
	return ok;
}
