/*
 * build.c — appending nodes to a Region.  ir_emit is the one checked entry
 * point: it validates arity and operands, runs the op's shape rule and only
 * then appends, so a region never holds an ill-typed node.  The ir_* helpers
 * below it are conveniences for passes, which treat a shape error as a bug.
 */
#include "ir/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Region *ir_region_new(Arena *a, const char *name)
{
	Region *r = arena_alloc(a, sizeof *r);
	r->arena = a;
	r->name = arena_strdup(a, name ? name : "");
	return r;
}

char *ir_strdup(Region *r, const char *s)
{
	return arena_strdup(r->arena, s ? s : "");
}

/* Grows an arena-owned array to hold at least need elements (doubling).
   A pool always exists after the first call, even for need 0: r->arg +
   first must never be arithmetic on a NULL pointer (undefined behaviour). */
static void *grow(Arena *a, void *p, int *cap, int need, size_t elem)
{
	if (need <= *cap && p)
		return p;
	int ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	p = arena_grow(a, p, (size_t)*cap * elem, (size_t)ncap * elem);
	*cap = ncap;
	return p;
}

int ir_add_loc(Region *r, const char *file, int line, int col)
{
	if (!file)
		return 0;
	for (int k = 0; k < r->nloc; k++)
		if (r->loc[k].line == line && r->loc[k].col == col && !strcmp(r->loc[k].file, file))
			return k + 1;
	r->loc = grow(r->arena, r->loc, &r->caploc, r->nloc + 1, sizeof *r->loc);
	r->loc[r->nloc] = (IrLoc){ arena_strdup(r->arena, file), line, col };
	return ++r->nloc;
}

const IrLoc *ir_node_loc(const Region *r, int v)
{
	int k = r->node[v].loc;
	return k >= 1 && k <= r->nloc ? &r->loc[k - 1] : NULL;
}

char *ir_index_message(OpKind op, int64_t index, int64_t n, char *buf, size_t len)
{
	if (op == OP_ONE_HOT)
		snprintf(buf, len, "class index %lld out of range for %lld classes", (long long)index, (long long)n);
	else
		snprintf(buf, len, "index %lld out of range for %s %s a table of %lld rows", (long long)index,
			op_info[op].name, op == OP_TAKE ? "from" : "into", (long long)n);
	return buf;
}

static IrIndexHook *index_hook;

void ir_set_index_hook(IrIndexHook *hook)
{
	index_hook = hook;
}

_Noreturn void ir_index_fail(const Region *r, OpKind op, int loc, int64_t index, int64_t n)
{
	if (index_hook)
		index_hook(r, op, loc, index, n);
	/* no host to quote the source: the location alone */
	char msg[160];
	ir_index_message(op, index, n, msg, sizeof msg);
	const IrLoc *l = loc >= 1 && loc <= r->nloc ? &r->loc[loc - 1] : NULL;
	fflush(stdout);
	if (l)
		fprintf(stderr, "%s:%d:%d: error: %s\n", l->file, l->line, l->col, msg);
	else
		fprintf(stderr, "sinter: error: %s\n", msg);
	exit(1);
}

Node ir_proto(OpKind op)
{
	Node n;
	memset(&n, 0, sizeof n);
	n.op = op;
	n.group = -1;
	n.offset = -1;
	n.work = -1;
	n.at = -1;
	return n;
}

/* Whether n or one of its operands is bf16: only F_BF16 ops may meet one. */
static bool uses_bf16(const Region *r, const Node *n, const int *args, int nargs)
{
	bool any = n->type.dt == DT_BF16;
	for (int k = 0; k < nargs; k++)
		any |= r->node[args[k]].type.dt == DT_BF16;
	return any;
}

int ir_emit(Region *r, const Node *proto, const int *args, int nargs, char *err, size_t errlen)
{
	char dummy[8];
	if (!err) {
		err = dummy;
		errlen = sizeof dummy;
	}
	/* proto or args may point into r's own arrays; copy before growing them */
	Node n = *proto;
	if ((unsigned)n.op >= OP_COUNT)
		die("ir_emit: bad op %d", (int)n.op);
	const OpInfo *info = &op_info[n.op];
	if (info->arity >= 0 ? nargs != info->arity : nargs < 1) {
		snprintf(err, errlen, "%s: expected %s%d operand%s, got %d", info->name,
			info->arity >= 0 ? "" : "at least ",
			info->arity >= 0 ? info->arity : 1,
			(info->arity >= 0 ? info->arity : 1) == 1 ? "" : "s", nargs);
		return -1;
	}
	if (n.nia < 0 || n.nia > 3 * MAX_RANK) {
		snprintf(err, errlen, "%s: %d integer attributes (at most %d)", info->name, n.nia, 3 * MAX_RANK);
		return -1;
	}
	for (int k = 0; k < nargs; k++) {
		if (args[k] < 0 || args[k] >= r->nnode) {
			snprintf(err, errlen, "%s: operand %d refers to undefined value %%%d", info->name, k, args[k]);
			return -1;
		}
	}
	int first = r->narg;
	r->arg = grow(r->arena, r->arg, &r->caparg, r->narg + nargs, sizeof *r->arg);
	/* args may alias the old pool, which arena_grow leaves intact */
	for (int k = 0; k < nargs; k++)
		r->arg[first + k] = args[k];
	n.arg = first;
	n.narg = nargs;
	n.group = -1;
	n.offset = -1;
	n.work = -1;
	/* a result type given by the caller (reshape, constants, ...) is checked
	   before the shape rule computes with it, the inferred one after */
	char tb[96];
	if (!type_bytes_ok(&n.type, NULL)) {
		snprintf(err, errlen, "%s: %s is too large (a tensor holds at most 2^48 bytes)", info->name,
			type_str(&n.type, tb, sizeof tb));
		return -1;
	}
	if (!op_shape[n.op](r, &n, r->arg + first, err, errlen))
		return -1; /* the pool slots stay unused; narg is not advanced */
	if (!(info->flags & F_BF16) && uses_bf16(r, &n, r->arg + first, nargs)) {
		snprintf(err, errlen, "%s: bf16 values are only stored and converted; compute in f32 (cast first)",
			info->name);
		return -1;
	}
	if (!type_bytes_ok(&n.type, NULL)) {
		snprintf(err, errlen, "%s: the result %s is too large (a tensor holds at most 2^48 bytes)",
			info->name, type_str(&n.type, tb, sizeof tb));
		return -1;
	}
	r->narg += nargs;
	if (n.op == OP_INPUT && n.ia[0] + 1 > r->ninput)
		r->ninput = (int)n.ia[0] + 1;
	r->node = grow(r->arena, r->node, &r->capnode, r->nnode + 1, sizeof *r->node);
	r->node[r->nnode] = n;
	return r->nnode++;
}

/* Emits or dies: in passes a shape error means the pass itself is wrong. */
static int emit_or_die(Region *r, const Node *proto, const int *args, int nargs)
{
	char err[512];
	int v = ir_emit(r, proto, args, nargs, err, sizeof err);
	if (v < 0)
		die("region %s: %s", r->name, err);
	return v;
}

int ir_op1(Region *r, OpKind op, int a)
{
	Node p = ir_proto(op);
	return emit_or_die(r, &p, &a, 1);
}

int ir_op2(Region *r, OpKind op, int a, int b)
{
	Node p = ir_proto(op);
	int args[2] = { a, b };
	return emit_or_die(r, &p, args, 2);
}

int ir_op3(Region *r, OpKind op, int a, int b, int c)
{
	Node p = ir_proto(op);
	int args[3] = { a, b, c };
	return emit_or_die(r, &p, args, 3);
}

int ir_const(Region *r, Type t, double v)
{
	Node p = ir_proto(OP_CONST);
	p.type = t;
	p.f = v;
	return emit_or_die(r, &p, NULL, 0);
}

int ir_input(Region *r, int index, Type t)
{
	Node p = ir_proto(OP_INPUT);
	p.type = t;
	p.ia[0] = index;
	p.nia = 1;
	return emit_or_die(r, &p, NULL, 0);
}

int ir_param(Region *r, const char *name, Type t)
{
	Node p = ir_proto(OP_PARAM);
	p.type = t;
	p.name = ir_strdup(r, name);
	return emit_or_die(r, &p, NULL, 0);
}

int ir_state(Region *r, const char *param, const char *state, Type t)
{
	Node p = ir_proto(OP_STATE);
	p.type = t;
	p.name = ir_strdup(r, param);
	p.sname = ir_strdup(r, state);
	return emit_or_die(r, &p, NULL, 0);
}

int ir_reduce(Region *r, OpKind op, int a, const int *axes, int naxes, bool keep)
{
	Node p = ir_proto(op);
	int rank = r->node[a].type.rank;
	if (naxes < 0 || naxes > MAX_RANK)
		die("ir_reduce: %d axes", naxes);
	/* accept Python-style negative axes in any order; the node stores them sorted */
	for (int i = 0; i < naxes; i++) {
		int64_t ax = axes[i] < 0 ? axes[i] + rank : axes[i];
		int j = i;
		for (; j > 0 && p.ia[j - 1] > ax; j--)
			p.ia[j] = p.ia[j - 1];
		p.ia[j] = ax;
	}
	p.nia = naxes;
	p.keep = keep;
	return emit_or_die(r, &p, &a, 1);
}

/* The operand's dtype wins: these ops move elements, they never convert. */
static int emit_given_shape(Region *r, OpKind op, int a, Type t)
{
	Node p = ir_proto(op);
	p.type = t;
	p.type.dt = r->node[a].type.dt;
	return emit_or_die(r, &p, &a, 1);
}

int ir_reshape(Region *r, int a, Type t)
{
	return emit_given_shape(r, OP_RESHAPE, a, t);
}

int ir_broadcast(Region *r, int a, Type t)
{
	return emit_given_shape(r, OP_BROADCAST, a, t);
}

int ir_transpose(Region *r, int a, const int *perm)
{
	Node p = ir_proto(OP_TRANSPOSE);
	int rank = r->node[a].type.rank;
	for (int i = 0; i < rank; i++)
		p.ia[i] = perm[i];
	p.nia = rank;
	return emit_or_die(r, &p, &a, 1);
}

int ir_cast(Region *r, int a, DType dt)
{
	Node p = ir_proto(OP_CAST);
	p.type = r->node[a].type;
	p.type.dt = dt;
	return emit_or_die(r, &p, &a, 1);
}

int ir_matmul(Region *r, int a, int b, bool ta, bool tb)
{
	Node p = ir_proto(OP_MATMUL);
	int args[2] = { a, b };
	p.ia[0] = ta;
	p.ia[1] = tb;
	p.nia = 2;
	return emit_or_die(r, &p, args, 2);
}

int ir_sum_to(Region *r, int g, Type t)
{
	Type gt = r->node[g].type;
	if (type_eq(&gt, &t))
		return g;
	char bg[160], bt[160];
	int lead = gt.rank - t.rank;
	Type chk;
	if (lead < 0 || gt.dt != t.dt || !type_broadcast(&t, &gt, &chk) || !type_eq(&chk, &gt))
		die("ir_sum_to: %s does not broadcast to %s", type_str(&t, bt, sizeof bt),
			type_str(&gt, bg, sizeof bg));
	/* first the axes t keeps as size 1 (keepdims), then drop the leading ones */
	int axes[MAX_RANK], n = 0;
	for (int i = lead; i < gt.rank; i++)
		if (t.dim[i - lead] == 1 && gt.dim[i] != 1)
			axes[n++] = i;
	int v = g;
	if (n)
		v = ir_reduce(r, OP_SUM, v, axes, n, true);
	if (lead) {
		for (int i = 0; i < lead; i++)
			axes[i] = i;
		v = ir_reduce(r, OP_SUM, v, axes, lead, false);
	}
	if (!type_eq(&r->node[v].type, &t))
		die("ir_sum_to: produced %s, wanted %s", type_str(&r->node[v].type, bg, sizeof bg),
			type_str(&t, bt, sizeof bt));
	return v;
}

void ir_output(Region *r, int v)
{
	if (v < 0 || v >= r->nnode)
		die("ir_output: value %%%d not in region %s", v, r->name);
	r->out = grow(r->arena, r->out, &r->capout, r->nout + 1, sizeof *r->out);
	r->out[r->nout++] = v;
}

void ir_reorder(Region *r, const int *order)
{
	ir_select(r, order, r->nnode);
}

void ir_select(Region *r, const int *order, int n)
{
	int *map = xmalloc(((size_t)r->nnode + 1) * sizeof *map);
	for (int v = 0; v < r->nnode; v++)
		map[v] = -1;
	for (int i = 0; i < n; i++)
		map[order[i]] = i;
	Node *node = arena_alloc(r->arena, (size_t)(n ? n : 1) * sizeof *node);
	int *arg = arena_alloc(r->arena, (size_t)(r->narg ? r->narg : 1) * sizeof *arg);
	int narg = 0;
	for (int i = 0; i < n; i++) {
		const Node *old = &r->node[order[i]];
		node[i] = *old;
		node[i].arg = narg;
		for (int k = 0; k < old->narg; k++) {
			int o = map[r->arg[old->arg + k]];
			if (o >= i || o < 0)
				die("ir_select: %%%d would use %%%d, %s", i, r->arg[old->arg + k],
					o < 0 ? "which is dropped" : "before it is defined");
			arg[narg++] = o;
		}
	}
	for (int i = 0; i < r->nout; i++)
		if ((r->out[i] = map[r->out[i]]) < 0)
			die("ir_select: output %d is dropped", i);
	r->node = node;
	r->nnode = r->capnode = n;
	r->arg = arg;
	r->narg = r->caparg = narg;
	free(map);
}

void ir_users(const Region *r, int **ustart, int **users)
{
	int n = r->nnode;
	int *start = xcalloc((size_t)n + 2, sizeof *start);
	for (int v = 0; v < n; v++)
		for (int k = 0; k < r->node[v].narg; k++)
			start[ir_operand(r, v, k) + 1]++;
	for (int v = 0; v < n; v++)
		start[v + 1] += start[v];
	int *u = xmalloc(((size_t)start[n] + 1) * sizeof *u), *fill = xmalloc(((size_t)n + 1) * sizeof *fill);
	memcpy(fill, start, (size_t)n * sizeof *fill);
	for (int v = 0; v < n; v++)
		for (int k = 0; k < r->node[v].narg; k++)
			u[fill[ir_operand(r, v, k)]++] = v;
	free(fill);
	*ustart = start;
	*users = u;
}

/* ---- slots and packed arenas ---- */

bool ir_is_slot(OpKind op)
{
	return op == OP_PARAM || op == OP_STATE || op == OP_PACKED;
}

int ir_slot_nodes(const Region *r, int *nodes)
{
	int n = 0;
	for (int v = 0; v < r->nnode; v++)
		if (ir_is_slot(r->node[v].op)) {
			if (nodes)
				nodes[n] = v;
			n++;
		}
	return n;
}

bool ir_takes_memory(OpKind op)
{
	return !ir_is_slot(op) && op != OP_INPUT && op != OP_WRITE;
}

static bool str_same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

bool ir_slots_overlap(const Node *a, const Node *b)
{
	if (!ir_is_slot(a->op) || !ir_is_slot(b->op))
		return false;
	/* the family: NULL for the parameters (a STATE always has a name) */
	if (!str_same(a->op == OP_PARAM ? NULL : a->sname, b->op == OP_PARAM ? NULL : b->sname))
		return false;
	if (a->at < 0 || b->at < 0)
		return a->op != OP_PACKED && b->op != OP_PACKED && str_same(a->name, b->name);
	int64_t ea = a->at + type_bytes(&a->type);
	int64_t eb = b->at + type_bytes(&b->type);
	return a->at < eb && b->at < ea;
}

int64_t ir_pack_start(const Region *r, int v, int k)
{
	int64_t at = 0;
	for (int j = 0; j < k; j++) {
		const Type *t = &r->node[ir_operand(r, v, j)].type;
		at += ir_pack_align(type_bytes(t));
	}
	return at;
}

bool ir_store_slot(Store *s, const Node *nd, Tensor *t, char *err, size_t errlen)
{
	const char *state = nd->op == OP_PARAM ? NULL : nd->sname;
	Tensor *block = s && s->family && nd->at >= 0 ? s->family(s, state) : NULL;
	int64_t bytes = type_bytes(&nd->type);
	char a[64], b[64];
	if (nd->op == OP_PACKED) {
		if (!block || nd->at + bytes > type_bytes(&block->type)) {
			snprintf(err, errlen, "no packed block %s of %lld bytes at %lld", state ? state : "of parameters",
				(long long)bytes, (long long)nd->at);
			return false;
		}
		*t = (Tensor){ nd->type, (char *)block->data + nd->at };
		return true;
	}
	if (!ir_is_slot(nd->op)) {
		snprintf(err, errlen, "a %s is not a slot", op_info[nd->op].name);
		return false;
	}
	Tensor *x = s ? s->lookup(s, nd->name, state) : NULL;
	if (!x) {
		snprintf(err, errlen, "no storage for %s%s%s", nd->name, state ? " " : "", state ? state : "");
		return false;
	}
	if (!type_eq(&x->type, &nd->type)) {
		snprintf(err, errlen, "storage for %s is %s, the region expects %s", nd->name, type_str(&x->type, a, sizeof a),
			type_str(&nd->type, b, sizeof b));
		return false;
	}
	/* the region was compiled for this layout: packed updates rely on it */
	if (nd->at >= 0 && (!block || (char *)x->data != (char *)block->data + nd->at)) {
		snprintf(err, errlen, "%s%s%s is not at byte %lld of its packed block", nd->name, state ? " " : "",
			state ? state : "", (long long)nd->at);
		return false;
	}
	*t = *x;
	return true;
}
