/*
 * autodiff.c — reverse-mode differentiation: replaces every OP_GRAD node
 * (grad(L, x) = d L / d x) by ordinary IR built from the gradient rules in
 * grad.c.  One backward sweep runs per distinct loss L and serves all of its
 * GRAD nodes; the region is then reordered so that the backward nodes sit
 * after the forward nodes and before the users of the gradients.
 *
 * Contract: requires a verified region.  Guarantees that no GRAD node
 * remains, that the result verifies, and that forward values are unchanged
 * (forward nodes are only reordered, never edited, and none is removed
 * except the GRAD nodes themselves).
 */
#include "ir/ops.h"

#include <stdlib.h>
#include <string.h>

struct AdCtx {
	Region *r;
	int nfwd;   /* nodes before the sweep began: only these receive gradients */
	int *grad;  /* [nfwd] accumulated d L / d value, -1 = none yet */
	bool *need; /* [nfwd] the value depends (differentiably) on some target */
};

Region *ad_region(AdCtx *ad)
{
	return ad->r;
}

void ad_accum(AdCtx *ad, int x, int c)
{
	Region *r = ad->r;
	if (x < 0 || x >= ad->nfwd)
		die("autodiff: contribution to %%%d, which is not a forward value", x);
	if (!ad->need[x])
		return; /* nothing we differentiate for flows through x; the rule's nodes die later */
	/* a bf16 value's gradient is held in f32: its casts are its only users,
	   and the adds of several contributions compute in f32 */
	Type want = r->node[x].type;
	if (want.dt == DT_BF16)
		want.dt = DT_F32;
	if (!type_eq(&r->node[c].type, &want)) {
		char a[160], b[160];
		die("autodiff: %s rule gives %%%d a gradient of type %s, expected %s",
			op_info[r->node[x].op].name, x, type_str(&r->node[c].type, a, sizeof a),
			type_str(&want, b, sizeof b));
	}
	ad->grad[x] = ad->grad[x] < 0 ? c : ir_op2(r, OP_ADD, ad->grad[x], c);
}

/* Does a gradient arriving at v flow on to v's operands? */
static bool passes(const Region *r, int v)
{
	const Node *n = &r->node[v];
	return !(op_info[n->op].flags & F_NOGRAD) && (n->type.dt == DT_F32 || n->type.dt == DT_BF16) &&
		op_grad[n->op] != gr_none;
}

/*
 * One backward sweep from loss L; new nodes are appended to r.  Returns
 * repl[nnode]: for every GRAD node on L the value that replaces it, else -1.
 */
static int *sweep(Region *r, int L)
{
	int n = r->nnode;
	AdCtx ad = { r, n, xmalloc((size_t)n * sizeof(int)), xcalloc((size_t)n, sizeof(bool)) };
	for (int v = 0; v < n; v++) {
		ad.grad[v] = -1;
		if (r->node[v].op == OP_GRAD && ir_operand(r, v, 0) == L)
			ad.need[ir_operand(r, v, 1)] = true;
	}
	/* forward pruning: only nodes between a target and L need a gradient */
	for (int v = 0; v <= L; v++)
		for (int k = 0; !ad.need[v] && passes(r, v) && k < r->node[v].narg; k++)
			ad.need[v] = ad.need[ir_operand(r, v, k)];
	if (ad.need[L])
		ad.grad[L] = ir_const(r, r->node[L].type, 1.0);
	/* backward pruning is implicit: only values L reaches ever get a gradient */
	for (int v = L; v >= 0; v--)
		if (ad.grad[v] >= 0 && passes(r, v))
			op_grad[r->node[v].op](&ad, v, ad.grad[v]);
	int *zero = xmalloc((size_t)n * sizeof *zero);
	for (int v = 0; v < n; v++) {
		zero[v] = -1;
		if (r->node[v].op == OP_GRAD && ir_operand(r, v, 0) == L) {
			int x = ir_operand(r, v, 1);
			if (ad.grad[x] < 0)
				ad.grad[x] = ir_const(r, r->node[x].type, 0.0); /* x does not influence L */
			zero[v] = ad.grad[x];
		}
	}
	int *repl = xmalloc((size_t)r->nnode * sizeof *repl);
	for (int v = 0; v < r->nnode; v++)
		repl[v] = v < n ? zero[v] : -1;
	free(zero);
	free(ad.grad);
	free(ad.need);
	return repl;
}

/* A binary min-heap of node indices: Kahn's algorithm keeps the original order where it can. */
static void heap_push(int *h, int *n, int x)
{
	int i = (*n)++;
	for (; i > 0 && h[(i - 1) / 2] > x; i = (i - 1) / 2)
		h[i] = h[(i - 1) / 2];
	h[i] = x;
}

static int heap_pop(int *h, int *n)
{
	int top = h[0], x = h[--*n], i = 0;
	for (;;) {
		int c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (h[c] >= x)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = x;
	return top;
}

static void mark(bool *alive, int *stack, int *sp, int v)
{
	if (!alive[v]) {
		alive[v] = true;
		stack[(*sp)++] = v;
	}
}

/*
 * Redirects every use of a replaced GRAD node, drops those GRAD nodes and
 * the backward nodes nothing uses, and rebuilds the node array in a stable
 * topological order (forward nodes first, backward nodes as late as their
 * users allow).  nfwd = nodes before the sweep.
 */
static void rebuild(Region *r, const int *repl, int nfwd)
{
	int n = r->nnode;
	for (int i = 0; i < r->narg; i++)
		if (r->arg[i] < n && repl[r->arg[i]] >= 0)
			r->arg[i] = repl[r->arg[i]];
	for (int i = 0; i < r->nout; i++)
		if (repl[r->out[i]] >= 0)
			r->out[i] = repl[r->out[i]];

	/* liveness: every kept forward node and every output is a root */
	bool *alive = xcalloc((size_t)n, sizeof *alive);
	int *stack = xmalloc((size_t)n * sizeof *stack), sp = 0;
	for (int v = 0; v < nfwd; v++)
		if (repl[v] < 0)
			mark(alive, stack, &sp, v);
	for (int i = 0; i < r->nout; i++)
		mark(alive, stack, &sp, r->out[i]);
	while (sp > 0) {
		int v = stack[--sp];
		for (int k = 0; k < r->node[v].narg; k++)
			mark(alive, stack, &sp, ir_operand(r, v, k));
	}

	/* Kahn's algorithm over the live nodes, then the region in that order */
	int *deg = xcalloc((size_t)n + 1, sizeof *deg), *ustart, *users;
	for (int v = 0; v < n; v++)
		deg[v] = alive[v] ? r->node[v].narg : 0;
	ir_users(r, &ustart, &users);
	int *heap = stack, nh = 0, *order = xmalloc(((size_t)n + 1) * sizeof *order), no = 0;
	for (int v = 0; v < n; v++)
		if (alive[v] && deg[v] == 0)
			heap_push(heap, &nh, v);
	while (nh > 0) {
		int v = heap_pop(heap, &nh);
		order[no++] = v;
		for (int i = ustart[v]; i < ustart[v + 1]; i++)
			if (alive[users[i]] && --deg[users[i]] == 0)
				heap_push(heap, &nh, users[i]);
	}
	ir_select(r, order, no);
	free(alive);
	free(stack);
	free(deg);
	free(ustart);
	free(users);
	free(order);
}

void ad_run(Region *r)
{
	/*
	 * The loss of the first GRAD node cannot depend on any GRAD node (all of
	 * them come later), so it is safe to differentiate; each round removes
	 * at least that node, and a loss that used earlier gradients becomes
	 * ordinary IR by the time its own round comes.
	 */
	for (;;) {
		int g = 0;
		while (g < r->nnode && r->node[g].op != OP_GRAD)
			g++;
		if (g == r->nnode)
			return;
		int nfwd = r->nnode;
		int *repl = sweep(r, ir_operand(r, g, 0));
		rebuild(r, repl, nfwd);
		free(repl);
	}
}
