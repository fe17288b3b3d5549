/*
 * pack_unshare.c — the packing pass's first step (pack.c calls it): gives
 * every optimizer update its own copy of the nodes common-subexpression
 * elimination merged between updates, so that each parameter's chain is
 * its own and can be packed.
 */
#include "passes/pack.h"

#include <string.h>

/*
 * Common-subexpression elimination merges equal pieces of different
 * updates: two BatchNorm biases that receive the same gradient (a
 * residual block's two branches) share `beta1' * g` and `beta2' * g * g`.
 * A node of two chains belongs to neither, which kept both parameters out
 * of the packed update (ResNet-8's update was five kernels).  Before chains
 * are found, every update whose walk from its writes reaches a member of
 * an earlier update gets its own copy of it (and of the shared nodes below
 * it); packing then recomputes them over the packed span anyway.  The
 * copies compute the same values bit for bit.
 */
typedef struct {
	Region *r;
	Arena *a;
	int *owner, *clone, *cfor; /* [cap] first update to reach a node; its copy for update cfor */
	int cap;
} Unshare;

static void unshare_grow(Unshare *S)
{
	if (S->r->nnode <= S->cap)
		return;
	int ncap = 2 * S->r->nnode;
	size_t o = (size_t)S->cap * sizeof(int), nb = (size_t)ncap * sizeof(int);
	S->owner = arena_grow(S->a, S->owner, o, nb);
	S->clone = arena_grow(S->a, S->clone, o, nb);
	S->cfor = arena_grow(S->a, S->cfor, o, nb);
	for (int v = S->cap; v < ncap; v++)
		S->owner[v] = S->cfor[v] = -1;
	S->cap = ncap;
}

/* The node update iu reads for v: v itself, or iu's copy of v when an
   earlier update owns it.  Walks what visit() would make members. */
static int unshare_claim(Unshare *S, int iu, const Type *t, int v)
{
	Region *r = S->r;
	const Node *nd = &r->node[v];
	if (ir_is_slot(nd->op) || nd->type.rank == 0 || !type_eq(&nd->type, t) || !pack_member_op(r, v))
		return v;
	if (S->owner[v] == iu || S->cfor[v] == iu)
		return S->owner[v] == iu ? v : S->clone[v];
	int narg = nd->narg, args[8];
	if (narg > 8)
		return v; /* visit() refuses such a chain anyway */
	bool mine = S->owner[v] < 0;
	if (mine)
		S->owner[v] = iu;
	for (int k = 0; k < narg; k++) {
		int o = ir_operand(r, v, k);
		args[k] = unshare_claim(S, iu, t, o);
		if (mine && args[k] != o)
			r->arg[r->node[v].arg + k] = args[k];
	}
	if (mine)
		return v;
	Node q = r->node[v];
	q.group = -1;
	int c = pack_emit(r, &q, args, narg);
	unshare_grow(S);
	S->clone[v] = c;
	S->cfor[v] = iu;
	return c;
}

void pack_unshare(Region *r)
{
	int n0 = r->nnode, nslot = 16;
	while (nslot < 2 * n0)
		nslot *= 2;
	Unshare S = { .r = r, .a = arena_new() };
	unshare_grow(&S);
	int *slot = arena_alloc(S.a, (size_t)nslot * sizeof *slot), nid = 0; /* name -> update + 1, zeroed */
	const char **names = arena_alloc(S.a, ((size_t)n0 + 1) * sizeof *names);
	for (int w = 0; w < n0; w++) {
		const Node *s = pack_update_write(r, w);
		if (!s)
			continue;
		unsigned m = (unsigned)nslot - 1, h = pack_hash_name(s->name) & m;
		while (slot[h] && strcmp(names[slot[h] - 1], s->name))
			h = (h + 1) & m;
		if (!slot[h]) {
			names[nid] = s->name;
			slot[h] = ++nid;
		}
		Type t = s->type;
		int val = ir_operand(r, w, 1), got = unshare_claim(&S, slot[h] - 1, &t, val);
		if (got != val)
			r->arg[r->node[w].arg + 1] = got;
	}
	if (r->nnode > n0) {
		/* the copies go right before their first reader: a depth-first
		   post-order keeps the original nodes in their order */
		int n = r->nnode, *order = arena_alloc(S.a, (size_t)n * sizeof *order), m = 0;
		int *stack = arena_alloc(S.a, (size_t)n * sizeof *stack), sp;
		char *st = arena_alloc(S.a, (size_t)n);
		for (int root = 0; root < n; root++) {
			if (st[root])
				continue;
			stack[0] = root;
			st[root] = 1;
			sp = 1;
			while (sp) {
				int v = stack[sp - 1], k = 0, narg = r->node[v].narg;
				for (; k < narg && st[ir_operand(r, v, k)]; k++)
					;
				if (k < narg) {
					int o = ir_operand(r, v, k);
					st[o] = 1;
					stack[sp++] = o;
				} else {
					order[m++] = v;
					sp--;
				}
			}
		}
		ir_reorder(r, order);
	}
	arena_free(S.a);
}
