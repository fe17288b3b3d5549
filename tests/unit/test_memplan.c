/*
 * test_memplan.c — the scheduling and memory-planning passes on random
 * regions: DAGs of elementwise, broadcasting, reduction, shape, matmul and
 * cast ops over inputs, parameters, optimizer state and constants, with
 * writes into slots and several outputs.  For each region:
 *   - the plan is checked here, independently of passes/memplan.c: offsets
 *     aligned and inside the arena, and no two values live at the same
 *     position share a byte unless one is a reshape/stop_gradient of the
 *     other or an elementwise result written over an operand that dies
 *     there; the arena is at least the bytes live at any position;
 *   - the interpreter gives bit-identical outputs and slot contents for the
 *     region as built, after scheduling and planning (one arena), and for
 *     the same scheduled region with the plan removed (one buffer a value).
 * A last check breaks a plan on purpose and expects the checker to see it.
 */
#include "ir/ops.h"
#include "tests/unit/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- random regions ---- */

/* A draw in [0, n) from the high bits of check.h's generator. */
static uint32_t rnd(uint32_t n)
{
	return (uint32_t)(rng_next() >> 33) % n;
}

/* Shapes the generator draws from; several share dims so that ops combine. */
static const int64_t shapes[][4] = {
	{ 0 }, { 1, 4 }, { 2, 3, 4 }, { 3, 2, 3, 4 }, { 2, 4, 3 }, { 2, 3, 1 }, { 2, 1, 4 }, { 1, 3 },
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

static Type shape_type(DType dt, int k)
{
	return type_make(dt, (int)shapes[k][0], shapes[k] + 1);
}

typedef struct {
	Region *r;
	int slot[4]; /* PARAM/STATE nodes */
	int nslot;
} Gen;

static int pick(const Region *r)
{
	/* recent values more often, so chains get deep */
	int n = r->nnode;
	return rnd(2) ? n - 1 - (int)rnd((uint32_t)(n < 6 ? n : 6)) : (int)rnd((uint32_t)n);
}

static int pick_dt(const Region *r, DType dt)
{
	for (int tries = 0; tries < 40; tries++) {
		int v = pick(r);
		if (r->node[v].type.dt == dt && r->node[v].op != OP_WRITE)
			return v;
	}
	return -1;
}

static int try_emit(Region *r, Node p, int a, int b, int c, int nargs)
{
	int args[3] = { a, b, c };
	for (int k = 0; k < nargs; k++)
		if (args[k] < 0)
			return -1;
	return ir_emit(r, &p, args, nargs, NULL, 0);
}

/* Emits one random op; -1 when the draw did not fit the operands. */
static int random_op(Region *r)
{
	static const OpKind fun[] = { OP_NEG, OP_TANH, OP_SIGMOID, OP_RELU, OP_ABS, OP_SIN, OP_STOP_GRADIENT };
	static const OpKind fbin[] = { OP_ADD, OP_SUB, OP_MUL, OP_MAXIMUM, OP_MINIMUM };
	static const OpKind ibin[] = { OP_ADD, OP_SUB, OP_MUL, OP_MAXIMUM };
	int a = pick_dt(r, DT_F32);
	Node p;
	switch (rnd(12)) {
	case 0: case 1:
		return try_emit(r, ir_proto(fun[rnd(sizeof fun / sizeof *fun)]), a, 0, 0, 1);
	case 2: case 3: case 4:
		return try_emit(r, ir_proto(fbin[rnd(sizeof fbin / sizeof *fbin)]), a, pick_dt(r, DT_F32), 0, 2);
	case 5: {
		int c = try_emit(r, ir_proto(OP_GT), a, pick_dt(r, DT_F32), 0, 2);
		return c < 0 ? -1 : try_emit(r, ir_proto(OP_WHERE), c, pick_dt(r, DT_F32), pick_dt(r, DT_F32), 3);
	}
	case 6:
		if (a < 0 || r->node[a].type.rank == 0)
			return -1;
		p = ir_proto(rnd(2) ? OP_SUM : OP_MAX);
		p.ia[0] = rnd((uint32_t)r->node[a].type.rank);
		p.nia = 1;
		p.keep = rnd(2);
		return try_emit(r, p, a, 0, 0, 1);
	case 7:
		if (a < 0)
			return -1;
		p = ir_proto(rnd(2) ? OP_RESHAPE : OP_BROADCAST);
		p.type = r->node[a].type;
		if (p.op == OP_RESHAPE) {
			p.type.rank = 1;
			p.type.dim[0] = type_numel(&r->node[a].type);
		} else {
			if (p.type.rank >= 3)
				return -1;
			memmove(p.type.dim + 1, p.type.dim, (size_t)p.type.rank * sizeof *p.type.dim);
			p.type.dim[0] = 2;
			p.type.rank++;
		}
		return try_emit(r, p, a, 0, 0, 1);
	case 8:
		if (a < 0 || r->node[a].type.rank != 2)
			return -1;
		p = ir_proto(OP_TRANSPOSE);
		p.ia[0] = 1;
		p.ia[1] = 0;
		p.nia = 2;
		return try_emit(r, p, a, 0, 0, 1);
	case 9:
		p = ir_proto(OP_MATMUL);
		p.ia[0] = rnd(2);
		p.ia[1] = rnd(2);
		p.nia = 2;
		return try_emit(r, p, a, pick_dt(r, DT_F32), 0, 2);
	case 10: {
		/* through i32 and back: integer arithmetic in between */
		if (a < 0)
			return -1;
		p = ir_proto(OP_CAST);
		p.type = r->node[a].type;
		p.type.dt = DT_I32;
		int i = try_emit(r, p, a, 0, 0, 1);
		if (i < 0)
			return -1;
		int j = pick_dt(r, DT_I32);
		int k = try_emit(r, ir_proto(ibin[rnd(sizeof ibin / sizeof *ibin)]), i, j, 0, 2);
		if (k < 0)
			k = i;
		p.type = r->node[k].type;
		p.type.dt = DT_F32;
		return try_emit(r, p, k, 0, 0, 1);
	}
	default:
		p = ir_proto(OP_DROPOUT);
		p.f = 0.25;
		p.ia[0] = rnd(4);
		p.nia = 1;
		return try_emit(r, p, a, 0, 0, 1);
	}
}

static const char *slot_names[] = { "p0", "p1", "p0", "p1" };
static const char *state_names[] = { NULL, NULL, "m", "v" };
static int slot_shape[4];

static Region *random_region(Gen *g)
{
	Region *r = ir_region_new(arena_new(), "rand");
	g->r = r;
	int nin = 1 + (int)rnd(3);
	for (int i = 0; i < nin; i++)
		ir_input(r, i, shape_type(DT_F32, (int)rnd(NSHAPES)));
	g->nslot = 4;
	for (int s = 0; s < 4; s++) {
		int k = slot_shape[s % 2];
		g->slot[s] = s < 2 ? ir_param(r, slot_names[s], shape_type(DT_F32, k))
		                   : ir_state(r, slot_names[s], state_names[s], shape_type(DT_F32, k));
	}
	ir_const(r, shape_type(DT_F32, (int)rnd(NSHAPES)), 0.5);
	int target = 20 + (int)rnd(60);
	for (int tries = 0; r->nnode < target && tries < 2000; tries++) {
		random_op(r);
		if (rnd(10) == 0)
			ir_const(r, shape_type(DT_F32, (int)rnd(NSHAPES)), (double)rnd(7) - 3);
	}
	/* writes: a computed value of the slot's type, or now and then another slot (a swap) */
	for (int s = 0; s < g->nslot; s++) {
		int w = -1;
		for (int v = r->nnode - 1; v >= 0 && w < 0; v--) {
			const Node *nd = &r->node[v];
			bool slot = nd->op == OP_PARAM || nd->op == OP_STATE;
			if (type_eq(&nd->type, &r->node[g->slot[s]].type) && nd->op != OP_WRITE && (!slot || rnd(4) == 0) &&
			    v != g->slot[s] && rnd(3))
				w = v;
		}
		if (w >= 0)
			try_emit(r, ir_proto(OP_WRITE), g->slot[s], w, 0, 2);
	}
	int nout = 1 + (int)rnd(3);
	for (int i = 0; i < nout; i++) {
		int v = pick(r);
		while (r->node[v].op == OP_WRITE)
			v--;
		ir_output(r, v);
	}
	return r;
}

/* ---- running ---- */

typedef struct {
	Tensor t[4];
} Slots;

static Slots *cur_slots;

static Tensor *lookup(Store *s, const char *name, const char *state)
{
	(void)s;
	for (int k = 0; k < 4; k++)
		if (!strcmp(slot_names[k], name) && (state ? state_names[k] && !strcmp(state_names[k], state) : !state_names[k]))
			return &cur_slots->t[k];
	return NULL;
}

static Tensor tensor_copy(const Tensor *t)
{
	size_t b = (size_t)type_numel(&t->type) * dtype_size(t->type.dt);
	return (Tensor){ t->type, memcpy(xmalloc(b + 1), t->data, b) };
}

/* One run's results: outputs and final slot contents. */
typedef struct {
	Tensor out[8];
	int nout;
	Slots slots;
} Result;

static void run(const Region *r, Tensor *in, int nin, const Slots *init, Result *res)
{
	Tensor *ptr[4];
	for (int i = 0; i < nin; i++)
		ptr[i] = &in[i];
	for (int k = 0; k < 4; k++)
		res->slots.t[k] = tensor_copy(&init->t[k]);
	cur_slots = &res->slots;
	Store s = { .lookup = lookup, .seed = 99, .step = 3 };
	res->nout = r->nout;
	interp_run(r, &s, ptr, res->out);
}

static bool same_tensor(const Tensor *a, const Tensor *b)
{
	size_t n = (size_t)type_numel(&a->type) * dtype_size(a->type.dt);
	return type_eq(&a->type, &b->type) && !memcmp(a->data, b->data, n);
}

/* First difference between two results, or NULL. */
static const char *differs(const Result *a, const Result *b)
{
	if (a->nout != b->nout)
		return "output count";
	for (int i = 0; i < a->nout; i++)
		if (!same_tensor(&a->out[i], &b->out[i]))
			return "an output";
	for (int k = 0; k < 4; k++)
		if (!same_tensor(&a->slots.t[k], &b->slots.t[k]))
			return "a slot written";
	return NULL;
}

static void result_free(Result *res)
{
	for (int i = 0; i < res->nout; i++)
		free(res->out[i].data);
	for (int k = 0; k < 4; k++)
		free(res->slots.t[k].data);
}

/* ---- the independent plan checker ---- */

static bool in_arena(OpKind op)
{
	return op != OP_PARAM && op != OP_STATE && op != OP_INPUT && op != OP_WRITE;
}

static int64_t nbytes(const Node *nd)
{
	return type_numel(&nd->type) * (int64_t)dtype_size(nd->type.dt);
}

static bool dims_eq(const Type *a, const Type *b)
{
	Type t = *a;
	t.dt = b->dt;
	return type_eq(&t, b);
}

/* May v legitimately have operand o's bytes?  alias: o is still readable afterwards. */
static bool may_share(const Region *r, int v, int o, bool *alias)
{
	const Node *nd = &r->node[v], *x = &r->node[o];
	*alias = nd->op == OP_RESHAPE || nd->op == OP_STOP_GRADIENT;
	if (*alias)
		return true;
	unsigned f = op_info[nd->op].flags;
	bool ew = (f & (F_UNARY | F_BINARY)) || nd->op == OP_WHERE || nd->op == OP_DROPOUT;
	return ew && dims_eq(&x->type, &nd->type) && dtype_size(x->type.dt) == dtype_size(nd->type.dt);
}

static int find(int *grp, int v)
{
	while (grp[v] != v)
		v = grp[v] = grp[grp[v]];
	return v;
}

/* Writes the first violation into msg; *lower gets the most bytes live at one position. */
static bool plan_ok(const Region *r, char *msg, size_t len, int64_t *lower)
{
	int n = r->nnode;
	int *last = xmalloc(((size_t)n + 1) * sizeof *last), *grp = xmalloc(((size_t)n + 1) * sizeof *grp);
	int *gs = xmalloc(((size_t)n + 1) * sizeof *gs), *ge = xmalloc(((size_t)n + 1) * sizeof *ge);
	bool ok = true;
	for (int v = 0; v < n; v++) {
		last[v] = v;
		grp[v] = v;
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k);
			int end = r->node[v].op == OP_WRITE ? n : v;
			last[o] = end > last[o] ? end : last[o];
		}
	}
	for (int i = 0; i < r->nout; i++)
		last[r->out[i]] = n;
	if (r->arena_bytes % 64 != 0) {
		snprintf(msg, len, "arena of %lld bytes is not a multiple of 64", (long long)r->arena_bytes);
		ok = false;
	}
	for (int v = 0; ok && v < n; v++) {
		const Node *nd = &r->node[v];
		if (!in_arena(nd->op)) {
			if (nd->offset != -1) {
				snprintf(msg, len, "%%%d (%s) has offset %lld", v, op_info[nd->op].name, (long long)nd->offset);
				ok = false;
			}
			continue;
		}
		if (nd->offset < 0 || nd->offset % 64 || nd->offset + nbytes(nd) > r->arena_bytes) {
			snprintf(msg, len, "%%%d at offset %lld (%lld bytes) in an arena of %lld", v, (long long)nd->offset,
			         (long long)nbytes(nd), (long long)r->arena_bytes);
			ok = false;
			continue;
		}
		for (int k = 0; k < nd->narg; k++) {
			int o = ir_operand(r, v, k);
			bool alias;
			if (!in_arena(r->node[o].op) || r->node[o].offset != nd->offset || nbytes(&r->node[o]) != nbytes(nd) ||
			    !may_share(r, v, o, &alias) || nbytes(nd) == 0)
				continue;
			int root = find(grp, o);
			for (int w = 0; ok && !alias && w < v; w++)
				if (in_arena(r->node[w].op) && find(grp, w) == root && last[w] > v) {
					snprintf(msg, len, "%%%d overwrites %%%d in place, but %%%d is used until %d", v, o, w, last[w]);
					ok = false;
				}
			for (int j = 0; ok && !alias && j < nd->narg; j++) {
				int q = ir_operand(r, v, j);
				if (in_arena(r->node[q].op) && find(grp, q) == root && !dims_eq(&r->node[q].type, &nd->type)) {
					snprintf(msg, len, "%%%d in place reads %%%d of another shape from its own bytes", v, q);
					ok = false;
				}
			}
			grp[v] = root;
			break;
		}
	}
	for (int v = 0; v < n; v++) {
		gs[v] = n + 1;
		ge[v] = -1;
	}
	for (int v = 0; v < n; v++) {
		int g = find(grp, v);
		gs[g] = v < gs[g] ? v : gs[g];
		ge[g] = last[v] > ge[g] ? last[v] : ge[g];
	}
	for (int u = 0; ok && u < n; u++)
		for (int v = u + 1; ok && v < n; v++) {
			const Node *a = &r->node[u], *b = &r->node[v];
			if (!in_arena(a->op) || !in_arena(b->op) || !nbytes(a) || !nbytes(b))
				continue;
			int gu = find(grp, u), gv = find(grp, v);
			bool bytes = a->offset < b->offset + nbytes(b) && b->offset < a->offset + nbytes(a);
			bool time = gs[gu] <= ge[gv] && gs[gv] <= ge[gu];
			if (gu != gv && bytes && time) {
				snprintf(msg, len, "%%%d [%d, %d] and %%%d [%d, %d] overlap in the arena", u, u, last[u], v, v,
				         last[v]);
				ok = false;
			}
		}
	/* the lower bound, counting a group's bytes once */
	*lower = 0;
	for (int t = 0; t < n; t++) {
		int64_t live = 0;
		for (int v = 0; v < n; v++)
			if (in_arena(r->node[v].op) && find(grp, v) == v && gs[v] <= t && t <= ge[v])
				live += nbytes(&r->node[v]);
		*lower = live > *lower ? live : *lower;
	}
	free(last);
	free(grp);
	free(gs);
	free(ge);
	return ok;
}

/* ---- tests ---- */

static void op_counts(const Region *r, int *count)
{
	memset(count, 0, OP_COUNT * sizeof *count);
	for (int v = 0; v < r->nnode; v++)
		count[r->node[v].op]++;
}

static void test_random(int seeds)
{
	int bad_plan = 0, bad_result = 0, bad_verify = 0, bad_bound = 0, bad_nodes = 0, shared = 0;
	char first[600] = "";
	for (int seed = 1; seed <= seeds; seed++) {
		rng = (uint64_t)seed * 0x9E3779B97F4A7C15ull;
		slot_shape[0] = (int)rnd(NSHAPES);
		slot_shape[1] = (int)rnd(NSHAPES);
		Gen g;
		Region *r = random_region(&g);
		char err[512];
		if (!ir_verify(r, err, sizeof err))
			die("test: generated region does not verify: %s", err);
		Tensor in[4];
		Slots init;
		for (int v = 0; v < r->nnode; v++) {
			const Node *nd = &r->node[v];
			Tensor *t = nd->op == OP_INPUT ? &in[nd->ia[0]] : NULL;
			for (int k = 0; k < 4; k++)
				if (v == g.slot[k])
					t = &init.t[k];
			if (!t)
				continue;
			*t = (Tensor){ nd->type, xmalloc((size_t)type_numel(&nd->type) * 4 + 4) };
			for (int64_t i = 0; i < type_numel(&nd->type); i++)
				((float *)t->data)[i] = (float)((int)rnd(2001) - 1000) / 250.0f;
		}
		int before[OP_COUNT], after[OP_COUNT];
		op_counts(r, before);
		Result orig, planned, unplanned;
		run(r, in, r->ninput, &init, &orig);

		schedule_run(r);
		bool v1 = ir_verify(r, err, sizeof err);
		memplan_run(r);
		bool v2 = ir_verify(r, err, sizeof err);
		if (!v1 || !v2) {
			bad_verify++;
			if (!*first)
				snprintf(first, sizeof first, "seed %d: %s", seed, err);
		}
		op_counts(r, after);
		if (memcmp(before, after, sizeof before))
			bad_nodes++;
		int64_t lower, naive = 0;
		if (!plan_ok(r, err, sizeof err, &lower)) {
			bad_plan++;
			if (!*first)
				snprintf(first, sizeof first, "seed %d: %s", seed, err);
		}
		for (int v = 0; v < r->nnode; v++)
			if (in_arena(r->node[v].op)) {
				naive += align_up(nbytes(&r->node[v]), 64);
				for (int w = 0; w < v; w++)
					shared += in_arena(r->node[w].op) && r->node[w].offset == r->node[v].offset;
			}
		if (r->arena_bytes < lower || r->arena_bytes > naive)
			bad_bound++;
		run(r, in, r->ninput, &init, &planned);
		int64_t *keep = xmalloc((size_t)r->nnode * sizeof *keep);
		for (int v = 0; v < r->nnode; v++) {
			keep[v] = r->node[v].offset;
			r->node[v].offset = -1;
		}
		run(r, in, r->ninput, &init, &unplanned);
		for (int v = 0; v < r->nnode; v++)
			r->node[v].offset = keep[v];
		free(keep);
		const char *d1 = differs(&orig, &planned), *d2 = differs(&unplanned, &planned);
		if (d1 || d2) {
			bad_result++;
			if (!*first)
				snprintf(first, sizeof first, "seed %d: %s differs from the %s run", seed, d1 ? d1 : d2,
				         d1 ? "unscheduled" : "unplanned");
		}
		result_free(&orig);
		result_free(&planned);
		result_free(&unplanned);
		for (int i = 0; i < r->ninput; i++)
			free(in[i].data);
		for (int k = 0; k < 4; k++)
			free(init.t[k].data);
		arena_free(r->arena);
	}
	check(!bad_verify, "random_regions_verify", "%d regions fail to verify after the passes; %s", bad_verify, first);
	check(!bad_nodes, "random_regions_same_nodes", "%d regions changed their multiset of ops", bad_nodes);
	check(!bad_plan, "random_plans_no_overlap", "%d of %d plans overlap live values; %s", bad_plan, seeds, first);
	check(!bad_bound, "random_plans_between_bounds", "%d arenas below the live bytes or above the naive sum", bad_bound);
	check(!bad_result, "random_plans_same_results", "%d of %d regions compute different results; %s", bad_result,
	      seeds, first);
	/* the plans must actually reuse memory, or the checks above prove little */
	check(shared > seeds, "random_plans_share_bytes", "only %d values share an offset in %d regions", shared, seeds);
}

/* A plan broken on purpose (two values live at once put on one offset) is caught. */
static void test_checker_catches(void)
{
	int caught = 0, tried = 0;
	for (int seed = 1000; seed < 1040; seed++) {
		rng = (uint64_t)seed * 0x9E3779B97F4A7C15ull;
		slot_shape[0] = (int)rnd(NSHAPES);
		slot_shape[1] = (int)rnd(NSHAPES);
		Gen g;
		Region *r = random_region(&g);
		schedule_run(r);
		memplan_run(r);
		char err[512];
		int64_t lower;
		/* %u and its first user v are both live at v and never overlap in a valid plan unless in place */
		for (int v = 0; v < r->nnode && tried < 40; v++) {
			const Node *nd = &r->node[v];
			if (!in_arena(nd->op) || nd->narg == 0 || !nbytes(nd))
				continue;
			int u = ir_operand(r, v, 0);
			if (!in_arena(r->node[u].op) || r->node[u].offset == nd->offset || !nbytes(&r->node[u]))
				continue;
			int64_t was = r->node[v].offset;
			r->node[v].offset = r->node[u].offset;
			r->arena_bytes += nbytes(nd) + 64; /* keep the broken value inside the arena */
			r->arena_bytes = align_up(r->arena_bytes, 64);
			tried++;
			caught += !plan_ok(r, err, sizeof err, &lower);
			r->node[v].offset = was;
			break;
		}
		arena_free(r->arena);
	}
	check(tried > 10 && caught == tried, "checker_catches_broken_plans", "caught %d of %d broken plans", caught, tried);
}

int main(void)
{
	test_random(300);
	test_checker_catches();
	return nfail ? 1 : 0;
}
