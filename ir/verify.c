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
	/* re-derive the type; sh_given rules validate the stored type instead */
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

bool ir_verify(const Region *r, char *err, size_t errlen)
{
	if (r->nnode < 0 || r->narg < 0 || r->nout < 0 || r->ninput < 0)
		return bad(r, err, errlen, "negative counts");
	for (int v = 0; v < r->nnode; v++)
		if (!check_node(r, v, err, errlen))
			return false;
	for (int v = 0; v < r->nnode; v++) {
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
