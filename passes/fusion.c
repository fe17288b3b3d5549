/*
 * fusion.c — groups a region's nodes into fused kernels (Node.group), so
 * that code generation emits one loop nest per kernel and keeps every value
 * used only inside it in registers (passes/fusion.h says what a kernel is).
 *
 * Greedy, in node order: an elementwise op (unary, binary, where, cast,
 * broadcast, reshape, dropout) or a reduction (sum, max, min) joins the
 * kernel of one of its operands when the enlarged kernel is still one
 * legal loop nest, and then the kernels of its other operands are merged in
 * when that stays legal too.  A GEMM starts a kernel of its own, whose
 * members after it form its epilogue (bias, activation, even a softmax over
 * its rows).  So a softmax with its cross-entropy, a layer norm, their
 * backward chains and each parameter's optimizer update come out as a few
 * kernels.  Legal means (fusion_space): one index space for all members,
 * every operand computed inside the kernel read at exactly the points
 * where it is computed, at most one GEMM, and no path from the kernel back
 * into it through other nodes (which would make it impossible to run the
 * kernel as a unit).  A constant joins the kernel of its readers when they
 * all belong to one kernel (it becomes an immediate either way).
 *
 * Contract: requires a verified region in topological order.  Guarantees:
 * the same nodes, operands and outputs, reordered (values renumbered) only
 * as far as needed to make each kernel's members contiguous; every node's
 * group is -1 or a kernel id, ids dense from 0 in order of first member;
 * every kernel satisfies fusion_space; memory offsets are cleared.  Results
 * are unchanged: fusion only says which nodes run together.
 */
#include "passes/fusion.h"

#include <stdlib.h>
#include <string.h>

#include "ir/ops.h"

enum { K_NONE, K_ELEM, K_REDUCE, K_GEMM };

/* What role node v can play in a kernel. */
static int kind(const Region *r, int v)
{
	const Node *n = &r->node[v];
	if (type_numel(&n->type) == 0)
		return K_NONE;
	for (int k = 0; k < n->narg; k++)
		if (type_numel(&r->node[ir_operand(r, v, k)].type) == 0)
			return K_NONE;
	if (n->op == OP_MATMUL)
		return n->type.dt == DT_F32 ? K_GEMM : K_NONE;
	if (op_has(n->op, F_ACCUM)) {
		const Type *t = &r->node[ir_operand(r, v, 0)].type;
		if (n->op != OP_SUM && t->dt == DT_BOOL)
			return K_NONE;
		/* reducing only unit axes is a reshape: no index space to reduce over */
		bool real = false;
		for (int i = 0; i < n->nia; i++)
			real |= t->dim[n->ia[i]] > 1;
		return real ? K_REDUCE : K_NONE;
	}
	return op_has(n->op, F_LOOP) ? K_ELEM : K_NONE;
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
static Type keep_type(const FzSpace *s)
{
	Type t = s->x;
	for (int a = 0; a < t.rank; a++)
		if (s->red >> a & 1)
			t.dim[a] = 1;
	return t;
}

static Type drop_type(const FzSpace *s)
{
	Type t = s->x;
	t.rank = 0;
	for (int a = 0; a < s->x.rank; a++)
		if (!(s->red >> a & 1))
			t.dim[t.rank++] = s->x.dim[a];
	return t;
}

static int level_of(const FzSpace *s, const Type *t)
{
	if (type_same_dims(t, &s->x))
		return FZ_BIG;
	if (s->red) {
		Type k = keep_type(s), d = drop_type(s);
		if (type_same_dims(t, &k) || type_same_dims(t, &d))
			return FZ_SMALL;
	}
	return FZ_NONE;
}

void fusion_natural(const FzSpace *s, const Type *t, int level, int64_t *st)
{
	(void)t; /* a member's type is fixed by its level */
	if (level == FZ_BIG) {
		cstrides(&s->x, st);
		return;
	}
	Type k = keep_type(s);
	cstrides(&k, st);
	for (int a = 0; a < s->x.rank; a++)
		if (s->red >> a & 1)
			st[a] = 0;
}

void fusion_read_map(const FzSpace *s, const Region *r, int v, int k, int level, int64_t *st)
{
	const Node *nd = &r->node[v];
	const Type *tu = &r->node[ir_operand(r, v, k)].type, *tv = &nd->type;
	memset(st, 0, MAX_RANK * sizeof *st);
	if (nd->op == OP_RESHAPE) {
		/* element i of the result is element i of the operand */
		fusion_natural(s, tv, level, st);
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
			st[a] = level == FZ_SMALL && (s->red >> a & 1) ? 0 : b[a];
		return;
	}
	/* a SMALL value without the reduced axes */
	for (int a = 0, j = 0; a < s->x.rank; a++)
		st[a] = s->red >> a & 1 ? 0 : b[j++];
}

bool fusion_same_map(const FzSpace *s, const int64_t *a, const int64_t *b)
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

bool fusion_space(const Region *r, const int *mem, int n, FzSpace *s, int *level)
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
		int k = kind(r, v);
		if (k == K_NONE)
			return false;
		if (k == K_GEMM) {
			if (s->head >= 0)
				return false;
			s->head = v;
		}
		if (k == K_REDUCE) {
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
		lev[i] = nd->op == OP_CONST ? FZ_NONE : level_of(s, &nd->type);
		if (nd->op != OP_CONST && (lev[i] == FZ_NONE || (op_has(nd->op, F_REDUCE) && lev[i] != FZ_SMALL) ||
		    (sorted[i] == s->head && lev[i] != FZ_BIG)))
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
			fusion_read_map(s, r, v, k, lev[i], rm);
			fusion_natural(s, &r->node[u].type, lev[j], nm);
			if (!fusion_same_map(s, rm, nm))
				ok = false;
			/* reducing other than trailing axes walks all of X once: nothing
			   at X's points can wait for a reduction to finish */
			if (!s->rows && lev[i] == FZ_BIG && lev[j] == FZ_SMALL)
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

/* ---- the greedy grouping ---- */

typedef struct {
	const Region *r;
	int n;
	int *ustart, *users; /* users in CSR form, one entry per operand edge */
	int *group;          /* kernel of each node, -1 */
	int **mem, *nmem, *capmem;
	int nk, capk;
	int *mark, epoch;    /* mark[v] == epoch: v is in the candidate set */
	int *seen, sepoch;
	int *stack, *cand;
	int limit;           /* the node being grouped: later nodes belong to no kernel yet */
} Fz;

static void fz_init(Fz *f, const Region *r)
{
	int n = r->nnode;
	memset(f, 0, sizeof *f);
	f->r = r;
	f->n = n;
	ir_users(r, &f->ustart, &f->users);
	f->group = xmalloc(((size_t)n + 1) * sizeof *f->group);
	for (int v = 0; v < n; v++)
		f->group[v] = -1;
	f->mark = xcalloc((size_t)n + 1, sizeof *f->mark);
	f->seen = xcalloc((size_t)n + 1, sizeof *f->seen);
	f->stack = xmalloc(((size_t)n + 1) * sizeof *f->stack);
	f->cand = xmalloc(((size_t)n + 1) * sizeof *f->cand);
}

static void fz_free(Fz *f)
{
	for (int k = 0; k < f->nk; k++)
		free(f->mem[k]);
	free(f->mem);
	free(f->nmem);
	free(f->capmem);
	free(f->ustart);
	free(f->users);
	free(f->group);
	free(f->mark);
	free(f->seen);
	free(f->stack);
	free(f->cand);
}

static void add_member(Fz *f, int k, int v)
{
	if (f->nmem[k] == f->capmem[k]) {
		f->capmem[k] = f->capmem[k] ? 2 * f->capmem[k] : 8;
		f->mem[k] = realloc(f->mem[k], (size_t)f->capmem[k] * sizeof *f->mem[k]);
		if (!f->mem[k])
			die("out of memory");
	}
	f->mem[k][f->nmem[k]++] = v;
	f->group[v] = k;
}

static int new_kernel(Fz *f, int v)
{
	if (f->nk == f->capk) {
		f->capk = f->capk ? 2 * f->capk : 16;
		f->mem = realloc(f->mem, (size_t)f->capk * sizeof *f->mem);
		f->nmem = realloc(f->nmem, (size_t)f->capk * sizeof *f->nmem);
		f->capmem = realloc(f->capmem, (size_t)f->capk * sizeof *f->capmem);
		if (!f->mem || !f->nmem || !f->capmem)
			die("out of memory");
	}
	int k = f->nk++;
	f->mem[k] = NULL;
	f->nmem[k] = f->capmem[k] = 0;
	add_member(f, k, v);
	return k;
}

/*
 * Is the candidate set cand[0..n) (marked in f->mark) free of paths that
 * leave it and come back?  Such a path would need the kernel to run both
 * before and after the nodes on it.  Other kernels run as units, so
 * reaching one member of a kernel reaches all of them.  Nodes after
 * f->limit are not followed: every path from one runs to later nodes only,
 * none of them in a kernel or the candidate set (all candidates and kernel
 * members come up to f->limit), so the search stays near the candidates
 * instead of walking the rest of the region.
 */
static bool acyclic(Fz *f, int n)
{
	const int *cand = f->cand;
	int sp = 0;
	f->sepoch++;
	for (int i = 0; i < n; i++)
		f->stack[sp++] = cand[i];
	while (sp > 0) {
		int w = f->stack[--sp];
		int g = f->mark[w] == f->epoch ? -1 : f->group[w];
		for (int i = 0; g >= 0 && i < f->nmem[g]; i++) {
			int m = f->mem[g][i];
			if (f->seen[m] != f->sepoch) {
				f->seen[m] = f->sepoch;
				f->stack[sp++] = m;
			}
		}
		for (int e = f->ustart[w]; e < f->ustart[w + 1]; e++) {
			int x = f->users[e];
			if (f->mark[x] == f->epoch) {
				if (f->mark[w] != f->epoch)
					return false;
				continue;
			}
			if (x <= f->limit && f->seen[x] != f->sepoch) {
				f->seen[x] = f->sepoch;
				f->stack[sp++] = x;
			}
		}
	}
	return true;
}

/* Can kernel a together with kernel b (b < 0: none) and node v (v < 0: none) form one kernel? */
static bool legal(Fz *f, int a, int b, int v)
{
	int n = 0;
	f->epoch++;
	for (int i = 0; i < f->nmem[a]; i++)
		f->cand[n++] = f->mem[a][i];
	for (int i = 0; b >= 0 && i < f->nmem[b]; i++)
		f->cand[n++] = f->mem[b][i];
	if (v >= 0)
		f->cand[n++] = v;
	for (int i = 0; i < n; i++)
		f->mark[f->cand[i]] = f->epoch;
	FzSpace s;
	return fusion_space(f->r, f->cand, n, &s, NULL) && acyclic(f, n);
}

static void merge(Fz *f, int a, int b)
{
	for (int i = 0; i < f->nmem[b]; i++)
		add_member(f, a, f->mem[b][i]);
	f->nmem[b] = 0;
}

static void group_nodes(Fz *f)
{
	const Region *r = f->r;
	for (int v = 0; v < f->n; v++) {
		int k = kind(r, v);
		if (k == K_NONE)
			continue;
		if (k == K_GEMM) {
			new_kernel(f, v);
			continue;
		}
		const Node *nd = &r->node[v];
		int joined = -1;
		f->limit = v;
		for (int i = 0; i < nd->narg && joined < 0; i++) {
			int g = f->group[ir_operand(r, v, i)];
			if (g >= 0 && legal(f, g, -1, v)) {
				add_member(f, g, v);
				joined = g;
			}
		}
		/* alone, a reshape would copy what codegen otherwise shares */
		if (joined < 0 && ir_is_alias(r, v))
			continue;
		if (joined < 0)
			joined = new_kernel(f, v);
		for (int i = 0; i < nd->narg; i++) {
			int g = f->group[ir_operand(r, v, i)];
			if (g >= 0 && g != joined && legal(f, joined, g, -1))
				merge(f, joined, g);
		}
	}
	/* constants: into the one kernel of all their readers, if there is one */
	bool *out = xcalloc((size_t)f->n + 1, sizeof *out);
	for (int i = 0; i < r->nout; i++)
		out[r->out[i]] = true;
	for (int v = 0; v < f->n; v++) {
		if (r->node[v].op != OP_CONST || out[v] || f->ustart[v] == f->ustart[v + 1])
			continue;
		int g = f->group[f->users[f->ustart[v]]];
		for (int e = f->ustart[v]; e < f->ustart[v + 1] && g >= 0; e++) {
			int w = f->users[e];
			if (f->group[w] != g || r->node[w].op == OP_MATMUL)
				g = -1;
		}
		if (g >= 0)
			add_member(f, g, v);
	}
	free(out);
}

void fusion_run(Region *r)
{
	int n = r->nnode;
	for (int v = 0; v < n; v++) {
		r->node[v].group = -1;
		r->node[v].offset = -1;
	}
	r->arena_bytes = 0;
	if (n == 0)
		return;
	Fz f;
	fz_init(&f, r);
	group_nodes(&f);
	/* dense ids in order of first member */
	int *id = xmalloc(((size_t)f.nk + 1) * sizeof *id), next = 0;
	for (int k = 0; k < f.nk; k++)
		id[k] = -1;
	for (int v = 0; v < n; v++) {
		int g = f.group[v];
		if (g >= 0 && id[g] < 0)
			id[g] = next++;
		r->node[v].group = g >= 0 ? id[g] : -1;
	}
	free(id);
	fz_free(&f);
	int *order = xmalloc(((size_t)n + 1) * sizeof *order);
	for (int v = 0; v < n; v++)
		order[v] = v;
	if (!fusion_contract(r, order))
		die("fusion: the kernels of region %s depend on each other in a cycle", r->name);
	bool moved = false;
	for (int v = 0; v < n; v++)
		moved |= order[v] != v;
	if (moved)
		ir_reorder(r, order);
	free(order);
	/* renumbering may have changed which kernel comes first */
	fusion_renumber(r);
}

void fusion_renumber(Region *r)
{
	int n = r->nnode, ng = 0, next = 0;
	for (int v = 0; v < n; v++)
		if (r->node[v].group >= ng)
			ng = r->node[v].group + 1;
	int *first = xmalloc(((size_t)ng + 1) * sizeof *first);
	for (int g = 0; g < ng; g++)
		first[g] = -1;
	for (int v = 0; v < n; v++) {
		int g = r->node[v].group;
		if (g >= 0 && first[g] < 0)
			first[g] = next++;
		if (g >= 0)
			r->node[v].group = first[g];
	}
	free(first);
}
