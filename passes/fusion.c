/*
 * fusion.c — groups a region's nodes into fused kernels (Node.group), so
 * that code generation emits one loop nest per kernel and keeps every value
 * used only inside it in registers (kernel/kernel.h says what a kernel is).
 *
 * Greedy, in node order: an elementwise op (unary, binary, where, cast,
 * broadcast, reshape, dropout) or a reduction (sum, max, min) joins the
 * kernel of one of its operands when the enlarged kernel is still one
 * legal loop nest, and then the kernels of its other operands are merged in
 * when that stays legal too.  A GEMM starts a kernel of its own, whose
 * members after it form its epilogue (bias, activation, even a softmax over
 * its rows).  So a softmax with its cross-entropy, a layer norm, their
 * backward chains and each parameter's optimizer update come out as a few
 * kernels.  Legal means (kernel_space): one index space for all members,
 * every operand computed inside the kernel read at exactly the points
 * where it is computed, at most one GEMM, and no path from the kernel back
 * into it through other nodes (which would make it impossible to run the
 * kernel as a unit).  A constant joins the kernel of its readers when they
 * all belong to one kernel (it becomes an immediate either way).  The
 * global norm of clip_norm stays a kernel of its own (joins_norm).
 *
 * Contract: requires a verified region in topological order.  Guarantees:
 * the same nodes, operands and outputs, reordered (values renumbered) only
 * as far as needed to make each kernel's members contiguous; every node's
 * group is -1 or a kernel id, ids dense from 0 in order of first member;
 * every kernel satisfies kernel_space; memory offsets are cleared.  Results
 * are unchanged: fusion only says which nodes run together.
 */
#include "kernel/kernel.h"

#include <stdlib.h>
#include <string.h>

#include "ir/ops.h"

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

/*
 * Would the candidates take, after a reduction of a packed gradient to a
 * scalar (the global norm of clip_norm, host/gradstep.c), a member of rank
 * > 0 that reads a scalar of theirs (the update scaled by the clip)?  That
 * norm stays a kernel of its own: in a second phase of the norm's kernel
 * the update would be part of a reducing kernel, whose results are not
 * computed straight into their slots (kernel_through), and AdamW's new
 * parameters, m and v would take three parameter-sized buffers of the
 * activation arena.
 */
static bool joins_norm(const Fz *f, int n)
{
	const Region *r = f->r;
	bool packed = false, reduced = false;
	for (int i = 0; i < n; i++) {
		const Node *nd = &r->node[f->cand[i]];
		reduced |= op_has(nd->op, F_REDUCE) && nd->type.rank == 0;
		for (int k = 0; k < nd->narg; k++)
			packed |= r->node[ir_operand(r, f->cand[i], k)].op == OP_PACK;
	}
	for (int i = 0; packed && reduced && i < n; i++) {
		int c = f->cand[i];
		for (int k = 0; r->node[c].type.rank > 0 && k < r->node[c].narg; k++) {
			int o = ir_operand(r, c, k);
			if (f->mark[o] == f->epoch && r->node[o].type.rank == 0)
				return true;
		}
	}
	return false;
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
	KernelSpace s;
	return kernel_space(f->r, f->cand, n, &s, NULL) && acyclic(f, n) && !joins_norm(f, n);
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
		int k = kernel_role(r, v);
		if (k == KR_NONE)
			continue;
		if (k == KR_GEMM) {
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
		r->node[v].work = -1;
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
	if (!kernel_contract(r, order))
		die("fusion: the kernels of region %s depend on each other in a cycle", r->name);
	bool moved = false;
	for (int v = 0; v < n; v++)
		moved |= order[v] != v;
	if (moved)
		ir_reorder(r, order);
	free(order);
	/* renumbering may have changed which kernel comes first */
	kernel_renumber(r);
}
