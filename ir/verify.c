/*
 * verify.c — checks that a Region is well formed: SSA order, arities,
 * operand pools, every node's type equal to what its shape rule gives now,
 * writes only into parameter or state slots (each slot at most once), one
 * definition per input index, and outputs that name existing values.
 * Passes run it after every rewrite, so a broken pass is caught at the pass
 * that broke the region rather than in the interpreter or codegen.
 */
#include "ir/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool bad(const Region *r, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static bool bad(const Region *r, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		int k = snprintf(err, errlen, "region %s: ", r->name ? r->name : "?");
		if (k >= 0 && (size_t)k < errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
			va_end(ap);
		}
	}
	return false;
}

static bool same_str(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

/* Do PARAM/STATE nodes a and b name the same storage slot? */
static bool same_slot(const Node *a, const Node *b)
{
	return a->op == b->op && same_str(a->name, b->name) && (a->op == OP_PARAM || same_str(a->sname, b->sname));
}

static bool check_node(const Region *r, int v, char *err, size_t errlen)
{
	const Node *n = &r->node[v];
	if ((unsigned)n->op >= OP_COUNT)
		return bad(r, err, errlen, "%%%d has bad op %d", v, (int)n->op);
	const OpInfo *info = &op_info[n->op];
	if (info->arity >= 0 ? n->narg != info->arity : n->narg < 1)
		return bad(r, err, errlen, "%%%d = %s has %d operands, expected %s%d", v, info->name, n->narg,
			info->arity >= 0 ? "" : "at least ", info->arity >= 0 ? info->arity : 1);
	if (n->narg > 0 && (n->arg < 0 || n->arg > r->narg - n->narg))
		return bad(r, err, errlen, "%%%d = %s: operand list %d..%d outside the pool of %d", v, info->name,
			n->arg, n->arg + n->narg, r->narg);
	if (n->nia < 0 || n->nia > 3 * MAX_RANK)
		return bad(r, err, errlen, "%%%d = %s: %d integer attributes", v, info->name, n->nia);
	if (n->loc < 0 || n->loc > r->nloc)
		return bad(r, err, errlen, "%%%d = %s: location %d outside the table of %d", v, info->name, n->loc, r->nloc);
	for (int k = 0; k < n->narg; k++) {
		int a = r->arg[n->arg + k];
		if (a < 0 || a >= v)
			return bad(r, err, errlen, "%%%d = %s: operand %d is %%%d, not an earlier value", v, info->name, k, a);
	}
	/* re-derive the type; the rules of F_GIVEN ops validate the stored type instead */
	Node copy = *n;
	char msg[400];
	if (!op_shape[n->op](r, &copy, r->arg + n->arg, msg, sizeof msg))
		return bad(r, err, errlen, "%%%d = %s: %s", v, info->name, msg);
	if (!type_eq(&copy.type, &n->type)) {
		char a[160], b[160];
		return bad(r, err, errlen, "%%%d = %s has type %s but its operands give %s", v, info->name,
			type_str(&n->type, a, sizeof a), type_str(&copy.type, b, sizeof b));
	}
	return true;
}

/* NULL sorts first. */
static int cmp_str(const char *a, const char *b)
{
	return a && b ? strcmp(a, b) : (a != NULL) - (b != NULL);
}

/* Orders nodes by the slot they name (op, name, state), so equal slots are neighbours. */
static int by_slot(const void *pa, const void *pb, void *ctx)
{
	const Region *r = ctx;
	const Node *a = &r->node[*(const int *)pa], *b = &r->node[*(const int *)pb];
	if (a->op != b->op)
		return (a->op > b->op) - (a->op < b->op);
	int c = cmp_str(a->name, b->name);
	return c || a->op == OP_PARAM ? c : cmp_str(a->sname, b->sname);
}

/* The family of a written slot (ir_slots_overlap): NULL for the parameters. */
static const char *family(const Node *s)
{
	return s->op == OP_PARAM ? NULL : s->sname;
}

/* Orders written slots by family, then place (at), then name. */
static int by_place(const void *pa, const void *pb, void *ctx)
{
	const Region *r = ctx;
	const Node *a = &r->node[*(const int *)pa], *b = &r->node[*(const int *)pb];
	int c = cmp_str(family(a), family(b));
	if (c)
		return c;
	if (a->at != b->at)
		return (a->at > b->at) - (a->at < b->at);
	return cmp_str(a->name, b->name);
}

/* Orders written slots by family, then name. */
static int by_name(const void *pa, const void *pb, void *ctx)
{
	const Region *r = ctx;
	const Node *a = &r->node[*(const int *)pa], *b = &r->node[*(const int *)pb];
	int c = cmp_str(family(a), family(b));
	return c ? c : cmp_str(a->name, b->name);
}

static int64_t slot_end(const Node *s)
{
	return s->at + type_bytes(&s->type);
}

/*
 * Might two nodes break a rule of ir_verify's pairwise checks (an input
 * index defined twice, one slot with two types or offsets, two writes into
 * the same bytes)?  Sorting finds that in n log n; it may answer yes
 * without a fault (say, at an empty slot), never no with one.  Only a yes
 * pays for the pairwise checks, which find the first fault and name it.
 */
static bool maybe_pair_fault(const Region *r)
{
	int n = r->nnode, ns = 0, nw = 0;
	bool maybe = false;
	bool *input = calloc((size_t)r->ninput + 1, sizeof *input);
	int *slot = malloc(((size_t)n + 1) * sizeof *slot), *wr = malloc(((size_t)n + 1) * sizeof *wr);
	if (!input || !slot || !wr) {
		free(input);
		free(slot);
		free(wr);
		return true; /* the slow way needs no memory */
	}
	for (int v = 0; v < n && !maybe; v++) {
		const Node *nd = &r->node[v];
		if (nd->op == OP_INPUT) {
			maybe = nd->ia[0] < 0 || nd->ia[0] >= r->ninput || input[nd->ia[0]];
			if (!maybe)
				input[nd->ia[0]] = true;
		} else if (nd->op == OP_PARAM || nd->op == OP_STATE) {
			slot[ns++] = v;
		} else if (nd->op == OP_WRITE && ir_is_slot(r->node[ir_operand(r, v, 0)].op)) {
			wr[nw++] = ir_operand(r, v, 0);
		}
	}
	/* the nodes of one slot agree on its type and offset */
	qsort_r(slot, (size_t)ns, sizeof *slot, by_slot, (void *)r);
	for (int i = 1; i < ns && !maybe; i++) {
		const Node *a = &r->node[slot[i - 1]], *b = &r->node[slot[i]];
		maybe = !by_slot(&slot[i - 1], &slot[i], (void *)r) && (!type_eq(&a->type, &b->type) || a->at != b->at);
	}
	/* placed writes of one family: each starts after every earlier one ends */
	qsort_r(wr, (size_t)nw, sizeof *wr, by_place, (void *)r);
	int64_t end = 0;
	for (int i = 0; i < nw && !maybe; i++) {
		const Node *b = &r->node[wr[i]];
		if (b->at < 0)
			continue;
		bool first = i == 0 || cmp_str(family(&r->node[wr[i - 1]]), family(b)) || r->node[wr[i - 1]].at < 0;
		maybe = !first && b->at < end;
		end = first || slot_end(b) > end ? slot_end(b) : end;
	}
	/* an unplaced write clashes with any write of its name (but a packed block's) */
	qsort_r(wr, (size_t)nw, sizeof *wr, by_name, (void *)r);
	for (int i = 0, j; i < nw && !maybe; i = j) {
		bool unplaced = false;
		int k = 0;
		for (j = i; j < nw && !by_name(&wr[i], &wr[j], (void *)r); j++)
			if (r->node[wr[j]].op != OP_PACKED) {
				k++;
				unplaced |= r->node[wr[j]].at < 0;
			}
		maybe = unplaced && k >= 2;
	}
	free(input);
	free(slot);
	free(wr);
	return maybe;
}

bool ir_verify(const Region *r, char *err, size_t errlen)
{
	if (r->nnode < 0 || r->narg < 0 || r->nout < 0 || r->ninput < 0)
		return bad(r, err, errlen, "negative counts");
	for (int v = 0; v < r->nnode; v++)
		if (!check_node(r, v, err, errlen))
			return false;
	bool pairs = maybe_pair_fault(r);
	for (int v = 0; pairs && v < r->nnode; v++) {
		const Node *n = &r->node[v];
		if (n->op == OP_INPUT) {
			if (n->ia[0] < 0 || n->ia[0] >= r->ninput)
				return bad(r, err, errlen, "%%%d = input %lld but the region has %d inputs", v,
					(long long)n->ia[0], r->ninput);
			for (int w = 0; w < v; w++)
				if (r->node[w].op == OP_INPUT && r->node[w].ia[0] == n->ia[0])
					return bad(r, err, errlen, "input %lld is defined twice (%%%d and %%%d)",
						(long long)n->ia[0], w, v);
		}
		if (n->op == OP_PARAM || n->op == OP_STATE) {
			/* two nodes naming one slot must agree on what it holds */
			for (int w = 0; w < v; w++)
				if (same_slot(&r->node[w], n) && (!type_eq(&r->node[w].type, &n->type) || r->node[w].at != n->at))
					return bad(r, err, errlen, "%%%d and %%%d name the same slot with different types or offsets", w, v);
		}
		if (n->op == OP_WRITE) {
			const Node *slot = &r->node[ir_operand(r, v, 0)];
			for (int w = 0; w < v; w++)
				if (r->node[w].op == OP_WRITE && ir_slots_overlap(&r->node[ir_operand(r, w, 0)], slot))
					return bad(r, err, errlen, "%%%d and %%%d both write the bytes of slot \"%s\"%s%s", w, v,
						slot->name ? slot->name : "", slot->op == OP_PARAM ? "" : " state ",
						slot->op == OP_PARAM || !slot->sname ? "" : slot->sname);
		}
	}
	for (int i = 0; i < r->nout; i++)
		if (r->out[i] < 0 || r->out[i] >= r->nnode)
			return bad(r, err, errlen, "output %d is %%%d, which is not in the region", i, r->out[i]);
	return true;
}
