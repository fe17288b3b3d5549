/*
 * pack.c — the packing pass: the optimizer updates of many parameters
 * become one update over their packed arenas.
 *
 * The host keeps every f32 parameter in one block, each at a 64-byte-aligned
 * offset (a PARAM node's `at`), and every optimizer state of one name in a
 * block of the same layout (host/model.c).  After autodiff a training
 * region updates each parameter p with its own elementwise chain over p's
 * shape.  Its leaves are p, p's states, scalars (learning rate, step,
 * constants) and one more value of p's shape, the gradient g; its roots are
 * the writes of p and of p's states (or of p's states alone: the sums of
 * gradient accumulation, host/gradstep.c).  Parameters whose chains are the same
 * up to shape (the same ops, attributes, scalars and writes) and which lie
 * next to each other in the blocks form a run.  The pass replaces the
 * chains of a run by one chain over the run's span:
 *
 *     %P = packed {at=A} : f32[N]           the parameters of the run
 *     %M = packed "opt.m" {at=A} : f32[N]   each state, same layout
 *     %G = pack %g1, %g2, ... : f32[N]      the gradients, same layout
 *     ... the chain, over f32[N] ...
 *     write %P, ...   write %M, ...
 *
 * Fusion then makes that chain one kernel, and memplan computes each g_i in
 * place in %G's buffer: the gradients are written straight into their
 * places in the packed gradient, not copied there.
 *
 * Contract.  Requires a verified region without GRAD nodes (it runs after
 * simplify).  Parameters without `at` (text IR that gives none) and chains
 * that other values use are left alone.  Guarantees a verified region with
 * the same inputs and outputs and the same results bit for bit: every
 * element goes through the same operations on the same operands.  The
 * padding between parameters (less than 64 bytes each) is updated too, from
 * zero gradients; nothing reads it.
 */
#include "passes/pack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_STATES = 16 }; /* optimizer states of one update (Adam has 2) */

/* The update chain of one parameter. */
typedef struct {
	const char *name;  /* the parameter */
	int param;         /* its PARAM node, -1 until a write of it is seen */
	bool placed;       /* t, at and bytes are set (by a write of p or of a state) */
	Type t;
	int64_t at, bytes; /* place in the blocks */
	int grad;          /* the one leaf of p's shape that is not a slot, -1 = none */
	int stop;          /* a member taken as the gradient leaf instead, -1 = none */
	bool many;         /* more than one such leaf was found */
	bool ok;
	int *mem, nmem;    /* members, in node order */
	int *wr, nwr, wcap; /* its writes */
	int *own, nown, ocap; /* the nodes whose owner is this update (members and writes), any order */
	char *key;         /* the chain up to shape: equal keys, same update */
	size_t klen, kcap;
} Upd;

typedef struct {
	Region *r;
	Arena *a;
	Upd *u;
	int nu;
	int *owner;        /* [nnode] update a member or write belongs to, -1 */
	int *memidx;       /* [nnode] index of a member in its update's mem[] */
	int *dep;          /* [nnode] depends(): 2 * (update + 1) + answer, 0 = not asked */
	int *seen, stamp;  /* [nnode] reaches_leaf(): seen[x] == stamp, one stamp per question */
	int *slot, nslot;  /* hash table of the updates by parameter name: index + 1, 0 = empty */
	int *packs, npacks; /* the PACK nodes the region had before the pass (clip_norm's) */
	bool *in_pack;     /* [nnode] an operand of one of them: a chain's gradient leaf */
} Pack;

/* Appends x to an arena array *p of *n elements and *cap capacity (doubling). */
static void list_add(Arena *a, int **p, int *n, int *cap, int x)
{
	if (*n == *cap) {
		int ncap = *cap ? 2 * *cap : 8;
		*p = arena_grow(a, *p, (size_t)*cap * sizeof **p, (size_t)ncap * sizeof **p);
		*cap = ncap;
	}
	(*p)[(*n)++] = x;
}

/* Makes v a node of update iu (a member or a write): its owner, and listed. */
static void own(Pack *P, int iu, int v)
{
	Upd *u = &P->u[iu];
	P->owner[v] = iu;
	list_add(P->a, &u->own, &u->nown, &u->ocap, v);
}

bool pack_member_op(const Region *r, int v)
{
	const Node *nd = &r->node[v];
	if (nd->op == OP_BROADCAST)
		return r->node[ir_operand(r, v, 0)].type.rank == 0;
	return (op_has(nd->op, F_MAP) && !op_has(nd->op, F_RANDOM)) || nd->op == OP_CONST;
}

/* Does v read one of u's slots through elementwise ops of u's shape? */
static bool depends(Pack *P, int iu, int v)
{
	const Region *r = P->r;
	const Node *nd = &r->node[v];
	const Upd *u = &P->u[iu];
	if (P->dep[v] >> 1 == iu + 1)
		return P->dep[v] & 1;
	bool d = false;
	if (nd->op == OP_PARAM || nd->op == OP_STATE)
		d = !strcmp(nd->name, u->name);
	else if (type_eq(&nd->type, &u->t) && pack_member_op(r, v))
		for (int k = 0; !d && k < nd->narg; k++)
			d = depends(P, iu, ir_operand(r, v, k));
	P->dep[v] = 2 * (iu + 1) + d;
	return d;
}

/* Adds v and its operands to u's chain (depth first); false when v cannot be part of it. */
static bool visit(Pack *P, int iu, int v)
{
	Region *r = P->r;
	Upd *u = &P->u[iu];
	const Node *nd = &r->node[v];
	if (P->owner[v] == iu)
		return true;
	if (nd->op == OP_PARAM || nd->op == OP_STATE)
		return !strcmp(nd->name, u->name) && type_eq(&nd->type, &u->t) && nd->at == u->at;
	if (ir_is_slot(nd->op))
		return false;
	if (nd->type.rank == 0)
		return true;
	if (!type_eq(&nd->type, &u->t))
		return false;
	if (!pack_member_op(r, v) || v == u->stop || P->in_pack[v]) {
		u->many |= u->grad >= 0 && u->grad != v;
		u->grad = v;
		return true;
	}
	if (P->owner[v] >= 0)
		return false; /* claimed by another chain */
	own(P, iu, v);
	for (int k = 0; k < nd->narg; k++)
		if (!visit(P, iu, ir_operand(r, v, k)))
			return false;
	return true;
}

/* Do the writes of u reach a leaf other than a slot or a scalar without passing v? */
static bool reaches_leaf(Pack *P, int iu, int x, int v)
{
	const Region *r = P->r;
	if (x == v || P->seen[x] == P->stamp)
		return false;
	P->seen[x] = P->stamp;
	const Node *nd = &r->node[x];
	if (ir_is_slot(nd->op) || nd->type.rank == 0)
		return false;
	if (P->owner[x] != iu)
		return true;
	for (int k = 0; k < nd->narg; k++)
		if (reaches_leaf(P, iu, ir_operand(r, x, k), v))
			return true;
	return false;
}

/*
 * u's chain from its writes down to its leaves: false when it cannot be
 * packed.  A chain whose gradient was summed from several values (a tied
 * embedding's: an add of two) has several leaves of its shape; its
 * gradient is then the first member that reads none of u's slots and that
 * every path from the writes to those leaves passes.
 */
static int by_node(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static bool chain(Pack *P, int iu)
{
	const Region *r = P->r;
	Upd *u = &P->u[iu];
	for (int pass = 0; pass < 2; pass++) {
		for (int k = 0; k < u->nwr; k++) {
			own(P, iu, u->wr[k]);
			if (!visit(P, iu, ir_operand(r, u->wr[k], 0)) || !visit(P, iu, ir_operand(r, u->wr[k], 1)))
				return false;
		}
		if (!u->many)
			return true;
		if (pass)
			return false;
		/* the candidates in node order: the chain's nodes, sorted */
		qsort(u->own, (size_t)u->nown, sizeof *u->own, by_node);
		for (int i = 0; i < u->nown && u->stop < 0; i++) {
			int v = u->own[i];
			if (r->node[v].op == OP_WRITE || depends(P, iu, v))
				continue;
			P->stamp++;
			bool leaks = false;
			for (int k = 0; k < u->nwr && !leaks; k++)
				leaks = reaches_leaf(P, iu, ir_operand(r, u->wr[k], 1), v);
			if (!leaks)
				u->stop = v;
		}
		if (u->stop < 0)
			return false;
		for (int i = 0; i < u->nown; i++)
			P->owner[u->own[i]] = -1;
		u->nown = 0;
		u->grad = -1;
		u->many = false;
	}
	return false;
}

static void key_add(Pack *P, Upd *u, const char *fmt, long long x)
{
	char buf[64];
	int n = snprintf(buf, sizeof buf, fmt, x);
	if (u->klen + (size_t)n + 1 > u->kcap) {
		size_t cap = u->kcap ? 2 * u->kcap : 256;
		while (cap < u->klen + (size_t)n + 1)
			cap *= 2;
		u->key = arena_grow(P->a, u->key, u->kcap, cap);
		u->kcap = cap;
	}
	memcpy(u->key + u->klen, buf, (size_t)n + 1);
	u->klen += (size_t)n;
}

/* Operand x of u's chain as the key and emit() name it. */
static void key_operand(Pack *P, Upd *u, int x)
{
	const Node *nd = &P->r->node[x];
	if (P->owner[x] == u - P->u && nd->op != OP_WRITE) {
		key_add(P, u, " m%lld", P->memidx[x]);
	} else if (nd->op == OP_PARAM) {
		key_add(P, u, " P", 0);
	} else if (nd->op == OP_STATE) {
		key_add(P, u, " S%lld:", (long long)strlen(nd->sname));
		for (const char *c = nd->sname; *c; c++)
			key_add(P, u, "%02llx", (unsigned char)*c);
	} else if (x == u->grad) {
		key_add(P, u, " G", 0);
	} else {
		key_add(P, u, " s%lld", x);
	}
}

static void make_key(Pack *P, Upd *u)
{
	const Region *r = P->r;
	for (int i = 0; i < u->nmem; i++) {
		const Node *nd = &r->node[u->mem[i]];
		long long fbits;
		memcpy(&fbits, &nd->f, sizeof fbits);
		key_add(P, u, "|%lld", nd->op);
		key_add(P, u, ".%lld", nd->type.dt);
		key_add(P, u, ".%llx", fbits);
		key_add(P, u, ".%lld", nd->keep);
		for (int k = 0; k < nd->nia; k++)
			key_add(P, u, ",%lld", nd->ia[k]);
		for (int k = 0; k < nd->narg; k++)
			key_operand(P, u, ir_operand(r, u->mem[i], k));
	}
	for (int i = 0; i < u->nwr; i++) {
		key_add(P, u, "|w", 0);
		key_operand(P, u, ir_operand(r, u->wr[i], 0));
		key_operand(P, u, ir_operand(r, u->wr[i], 1));
	}
}

/* FNV-1a */
unsigned pack_hash_name(const char *s)
{
	unsigned h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The update of parameter `name`, a new one the first time. */
static Upd *upd_of(Pack *P, const char *name)
{
	unsigned m = (unsigned)P->nslot - 1, h = pack_hash_name(name) & m;
	for (; P->slot[h]; h = (h + 1) & m)
		if (!strcmp(P->u[P->slot[h] - 1].name, name))
			return &P->u[P->slot[h] - 1];
	P->slot[h] = P->nu + 1;
	Upd *u = &P->u[P->nu++];
	memset(u, 0, sizeof *u);
	u->name = name;
	u->param = u->grad = u->stop = -1;
	u->ok = true;
	return u;
}

/* Lists u's members depth first from its writes, operands before users:
   a topological order that depends on the chain's shape alone, not on
   where the nodes sit in the region, so that equal updates get equal keys
   (node order differs where pack_unshare() placed copies). */
static void order_members(Pack *P, int iu, int v)
{
	const Region *r = P->r;
	Upd *u = &P->u[iu];
	if (P->owner[v] != iu || r->node[v].op == OP_WRITE || P->seen[v] == P->stamp)
		return;
	P->seen[v] = P->stamp;
	for (int k = 0; k < r->node[v].narg; k++)
		order_members(P, iu, ir_operand(r, v, k));
	P->memidx[v] = u->nmem;
	u->mem[u->nmem++] = v;
}

/* The slot node w writes when w is a write of an optimizer update (an f32
   parameter or state with a place in the blocks), else NULL. */
const Node *pack_update_write(const Region *r, int w)
{
	if (r->node[w].op != OP_WRITE)
		return NULL;
	const Node *s = &r->node[ir_operand(r, w, 0)];
	if ((s->op != OP_PARAM && s->op != OP_STATE) || s->at < 0 || s->type.dt != DT_F32)
		return NULL;
	return s;
}

/* Finds every parameter's chain; marks the ones that cannot be packed. */
static void find_chains(Pack *P)
{
	Region *r = P->r;
	int n = r->nnode;
	for (int w = 0; w < n; w++) {
		const Node *s = pack_update_write(r, w);
		if (!s)
			continue;
		Upd *u = upd_of(P, s->name);
		list_add(P->a, &u->wr, &u->nwr, &u->wcap, w);
		/* an update that writes states alone (accumulate's sums) is placed
		   by them: a state sits at its parameter's offset */
		if (s->op == OP_PARAM || !u->placed) {
			u->param = s->op == OP_PARAM ? ir_operand(r, w, 0) : u->param;
			u->placed = true;
			u->t = s->type;
			u->at = s->at;
			u->bytes = type_bytes(&s->type);
		}
	}
	for (int i = 0; i < P->nu; i++)
		P->u[i].ok = P->u[i].placed && chain(P, i);
	/* a member some other value reads, or an output, is not the chain's alone */
	for (int v = 0; v < n; v++)
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k), iu = P->owner[o];
			if (iu >= 0 && r->node[o].op != OP_WRITE && P->owner[v] != iu)
				P->u[iu].ok = false;
		}
	for (int i = 0; i < r->nout; i++)
		if (P->owner[r->out[i]] >= 0)
			P->u[P->owner[r->out[i]]].ok = false;
	for (int i = 0; i < P->nu; i++) {
		Upd *u = &P->u[i];
		if (!u->ok)
			continue;
		u->mem = arena_alloc(P->a, ((size_t)u->nown + 1) * sizeof *u->mem);
		P->stamp++;
		for (int k = 0; k < u->nwr; k++)
			order_members(P, i, ir_operand(r, u->wr[k], 1));
		make_key(P, u);
	}
}

/* The node that stands for operand x of u's chain in the packed chain. */
static int packed_operand(Pack *P, const Upd *u, int x, const int *newmem, int pnode, int gnode, int *snode,
	const char **sname, int *ns)
{
	Region *r = P->r;
	const Node *nd = &r->node[x];
	if (P->owner[x] == u - P->u && nd->op != OP_WRITE)
		return newmem[P->memidx[x]];
	if (nd->op == OP_PARAM)
		return pnode;
	if (x == u->grad)
		return gnode;
	if (nd->op != OP_STATE)
		return x; /* a scalar, shared */
	for (int i = 0; i < *ns; i++)
		if (!strcmp(sname[i], nd->sname))
			return snode[i];
	if (*ns == MAX_STATES)
		die("pack: an update with more than %d optimizer states", MAX_STATES);
	Node p = ir_proto(OP_PACKED);
	p.sname = ir_strdup(r, nd->sname);
	p.at = u->at;
	p.type = r->node[pnode].type;
	sname[*ns] = nd->sname;
	char err[256];
	int s = ir_emit(r, &p, NULL, 0, err, sizeof err);
	if (s < 0)
		die("pack: %s", err);
	return snode[(*ns)++] = s;
}

int pack_emit(Region *r, Node *p, const int *args, int n)
{
	char err[400];
	int v = ir_emit(r, p, args, n, err, sizeof err);
	if (v < 0)
		die("pack: %s", err);
	return v;
}

/* A PACK the region had of exactly g[0..k), in that order, or -1: the
   gradients clip_norm packed to reduce them once (host/gradstep.c) are
   the packed gradient of the update too, in the same layout. */
static int same_pack(const Pack *P, const int *g, int k)
{
	const Region *r = P->r;
	for (int i = 0; i < P->npacks; i++) {
		int p = P->packs[i], j = 0;
		if (r->node[p].narg != k)
			continue;
		while (j < k && ir_operand(r, p, j) == g[j])
			j++;
		if (j == k)
			return p;
	}
	return -1;
}

/* Replaces the chains of run[0..k) (same key, adjacent, in order of `at`) by one. */
static void pack_run_of(Pack *P, Upd **run, int k, bool *dead)
{
	Region *r = P->r;
	const Upd *u = run[0];
	int64_t n = (run[k - 1]->at + run[k - 1]->bytes - u->at) / 4;
	Type flat = type_make(DT_F32, 1, &n);
	Node p = ir_proto(OP_PACKED);
	p.at = u->at;
	p.type = flat;
	int pnode = pack_emit(r, &p, NULL, 0), gnode = -1;
	if (u->grad >= 0) {
		int *g = arena_alloc(P->a, (size_t)k * sizeof *g);
		for (int i = 0; i < k; i++)
			g[i] = run[i]->grad;
		gnode = same_pack(P, g, k);
		Node q = ir_proto(OP_PACK);
		if (gnode < 0)
			gnode = pack_emit(r, &q, g, k);
	}
	int *newmem = arena_alloc(P->a, ((size_t)u->nmem + 1) * sizeof *newmem);
	int snode[MAX_STATES], ns = 0, args[8];
	const char *sname[MAX_STATES];
	for (int i = 0; i < u->nmem; i++) {
		int v = u->mem[i];
		Node q = r->node[v];
		if (q.narg > 8)
			die("pack: a chain member with %d operands", q.narg);
		for (int j = 0; j < q.narg; j++)
			args[j] = packed_operand(P, u, ir_operand(r, v, j), newmem, pnode, gnode, snode, sname, &ns);
		q.type = type_make(q.type.dt, 1, &n);
		newmem[i] = pack_emit(r, &q, args, q.narg);
		if (!type_eq(&r->node[newmem[i]].type, &q.type))
			die("pack: %%%d does not keep the packed shape", v);
	}
	for (int i = 0; i < u->nwr; i++) {
		int w = u->wr[i];
		args[0] = packed_operand(P, u, ir_operand(r, w, 0), newmem, pnode, gnode, snode, sname, &ns);
		args[1] = packed_operand(P, u, ir_operand(r, w, 1), newmem, pnode, gnode, snode, sname, &ns);
		Node q = ir_proto(OP_WRITE);
		pack_emit(r, &q, args, 2);
	}
	for (int i = 0; i < k; i++)
		for (int j = 0; j < run[i]->nwr; j++)
			dead[run[i]->wr[j]] = true;
}

static bool same_key(const Upd *x, const Upd *y)
{
	return x->klen == y->klen && !memcmp(x->key, y->key, x->klen);
}

/* By key (length, then bytes), then by update order: equal keys end up together. */
static int by_key(const void *a, const void *b)
{
	const Upd *x = *(Upd *const *)a, *y = *(Upd *const *)b;
	if (x->klen != y->klen)
		return (x->klen > y->klen) - (x->klen < y->klen);
	int c = memcmp(x->key, y->key, x->klen);
	if (c)
		return c;
	return (x > y) - (x < y);
}

/* The updates ok[start..end) of one key; first is the earliest of them. */
typedef struct {
	const Upd *first;
	int start, end;
} Group;

static int by_first(const void *a, const void *b)
{
	const Group *x = a, *y = b;
	return (x->first > y->first) - (x->first < y->first);
}

static int by_at(const void *a, const void *b)
{
	const Upd *x = *(Upd *const *)a, *y = *(Upd *const *)b;
	return (x->at > y->at) - (x->at < y->at);
}

/* Drops the dead writes (dead[0..nold): the nodes before packing) and
   whatever only they needed; inputs stay. */
static void sweep(Region *r, const bool *dead, int nold)
{
	int n = r->nnode, m = 0;
	bool *live = xcalloc((size_t)n + 1, sizeof *live);
	int *order = xmalloc(((size_t)n + 1) * sizeof *order);
	for (int i = 0; i < r->nout; i++)
		live[r->out[i]] = true;
	for (int v = n - 1; v >= 0; v--) {
		const Node *nd = &r->node[v];
		live[v] |= (nd->op == OP_WRITE && !(v < nold && dead[v])) || nd->op == OP_INPUT;
		for (int k = 0; live[v] && k < nd->narg; k++)
			live[ir_operand(r, v, k)] = true;
	}
	for (int v = 0; v < n; v++)
		if (live[v])
			order[m++] = v;
	ir_select(r, order, m);
	free(order);
	free(live);
}

void pack_run(Region *r)
{
	int n = r->nnode;
	for (int v = 0; v < n; v++)
		if (r->node[v].op == OP_GRAD)
			return;
	pack_unshare(r);
	n = r->nnode;
	Pack P = { .r = r, .a = arena_new() };
	P.u = arena_alloc(P.a, ((size_t)n + 1) * sizeof *P.u);
	P.owner = arena_alloc(P.a, ((size_t)n + 1) * sizeof *P.owner);
	P.dep = arena_alloc(P.a, ((size_t)n + 1) * sizeof *P.dep); /* zeroed: not asked */
	P.memidx = arena_alloc(P.a, ((size_t)n + 1) * sizeof *P.memidx);
	P.seen = arena_alloc(P.a, ((size_t)n + 1) * sizeof *P.seen); /* zeroed: stamps start at 1 */
	for (P.nslot = 16; P.nslot < 2 * n; P.nslot *= 2)
		;
	P.slot = arena_alloc(P.a, (size_t)P.nslot * sizeof *P.slot);
	P.in_pack = arena_alloc(P.a, ((size_t)n + 1) * sizeof *P.in_pack);
	P.packs = arena_alloc(P.a, ((size_t)n + 1) * sizeof *P.packs);
	for (int v = 0; v < n; v++) {
		P.owner[v] = -1;
		P.in_pack[v] = false;
		if (r->node[v].op != OP_PACK)
			continue;
		P.packs[P.npacks++] = v;
		for (int k = 0; k < r->node[v].narg; k++)
			P.in_pack[ir_operand(r, v, k)] = true;
	}
	find_chains(&P);
	/* the packable updates grouped by key, each group in update order */
	Upd **ok = arena_alloc(P.a, ((size_t)P.nu + 1) * sizeof *ok);
	int nok = 0;
	for (int i = 0; i < P.nu; i++)
		if (P.u[i].ok)
			ok[nok++] = &P.u[i];
	qsort(ok, (size_t)nok, sizeof *ok, by_key);
	/* the groups in the order of their first update, as they are packed */
	Group *group = arena_alloc(P.a, ((size_t)nok + 1) * sizeof *group);
	int ng = 0;
	for (int i = 0; i < nok; i++) {
		if (i == 0 || !same_key(ok[i - 1], ok[i]))
			group[ng++] = (Group){ ok[i], i, i };
		group[ng - 1].end++;
	}
	qsort(group, (size_t)ng, sizeof *group, by_first);
	Upd **list = arena_alloc(P.a, ((size_t)nok + 1) * sizeof *list);
	bool *dead = arena_alloc(P.a, ((size_t)n + 1) * sizeof *dead);
	memset(dead, 0, ((size_t)n + 1) * sizeof *dead);
	bool changed = false;
	for (int g = 0; g < ng; g++) {
		/* the chains of one key, by place in the blocks */
		int k = 0;
		for (int j = group[g].start; j < group[g].end; j++)
			list[k++] = ok[j];
		qsort(list, (size_t)k, sizeof *list, by_at);
		/* runs of neighbours: each starts where the previous one's padding ends */
		for (int a = 0, b; a < k; a = b) {
			for (b = a + 1; b < k && list[b]->at == ir_pack_align(list[b - 1]->at + list[b - 1]->bytes); b++)
				;
			if (b - a >= 2) {
				pack_run_of(&P, list + a, b - a, dead);
				changed = true;
			}
		}
	}
	if (changed)
		sweep(r, dead, n);
	arena_free(P.a);
}
