/*
 * remat.c — rematerialization: a value the backward pass reads from the
 * forward pass is recomputed where the backward pass reads it, when that
 * keeps fewer bytes alive between the two passes.
 *
 * After fusion the forward kernels of a training region store everything
 * the backward kernels read.  For a tanh GELU that is its input, the tanh
 * and the factors of its derivative: tensors of the layer's widest shape,
 * alive from the forward pass to the backward one, where most are cheap
 * elementwise functions of one value the forward pass stores anyway (the
 * GEMM's output).  Which values to keep is a minimum cut, as in the
 * partitioner of PyTorch's AOTAutograd:
 *
 *   - the forward part is every node a region output needs, and every
 *     member of a kernel holding such a node; the rest (gradients, the
 *     optimizer update) is the backward part;
 *   - each forward value v is an edge in(v) -> out(v) whose capacity is its
 *     size in bytes; 0 for storage kept anyway (parameters, inputs,
 *     constants, outputs, written values);
 *   - a value that cannot be recomputed (a GEMM, a reduction, a gather, a
 *     transpose, random numbers: anything but an elementwise op, or one
 *     more than MAX_DEPTH elementwise steps from such a value) hangs off the
 *     source; each forward value a backward node reads feeds the sink;
 *     operand edges out(u) -> in(v) are unbounded.
 * A minimum cut is a cheapest set of values to keep such that every value
 * the backward part reads is kept or computable from kept values by
 * elementwise ops.  Of the minimum cuts the pass takes the one that
 * recomputes least (the sink side is what reaches the sink in the residual
 * graph).
 *
 * Each backward kernel then gets its own copies (clones) of the chains it
 * reads, built on the kept values.  Clones join the kernel that reads them
 * where it stays legal (kernel_space): they are computed in registers, at
 * the points where they are read.  Where not (a GEMM's operand, a reader
 * outside every kernel, a kernel that would be illegal), the reader's
 * clones join another backward kernel that recomputes the same values in
 * registers (which then stores them for the reader, and runs first), else
 * form a kernel of their own just before the reader, or stay single nodes.
 * Aliases of values from outside the clones (a BatchNorm weight reshaped
 * to [1, C, 1, 1]) stay single nodes, and clones smaller than the largest
 * (a per-channel rsqrt, read broadcast) go into a kernel of their own
 * before the others: no index space holds both sizes.
 * Forward nodes nothing uses any more are removed.
 *
 * Contract.  Requires a verified region in topological order whose kernels
 * are contiguous (fusion ran, or no node has a group).  Guarantees a
 * verified region with the same inputs, outputs and writes, computing the
 * same values bit for bit (a clone applies the same op to the same
 * operands); every kernel satisfies kernel_space, kernels are contiguous,
 * ids dense in order of first member; memory offsets are cleared.
 */
#include "kernel/kernel.h"

#include <stdlib.h>
#include <string.h>

#include "ir/ops.h"

enum { MAX_DEPTH = 24 }; /* elementwise steps a recomputed chain may take from its kept values */
#define UNBOUNDED (INT64_MAX / 4)

/* ---- maximum flow (Dinic's algorithm) ---- */

typedef struct {
	int nv, ne, cape;
	int *head, *next, *to; /* adjacency lists; edge e ^ 1 is the reverse of e */
	int64_t *cap;          /* residual capacity */
	int *level, *it, *queue;
} Flow;

static void flow_init(Flow *f, int nv)
{
	memset(f, 0, sizeof *f);
	f->nv = nv;
	f->head = xmalloc((size_t)nv * sizeof *f->head);
	for (int v = 0; v < nv; v++)
		f->head[v] = -1;
	f->level = xmalloc((size_t)nv * sizeof *f->level);
	f->it = xmalloc((size_t)nv * sizeof *f->it);
	f->queue = xmalloc((size_t)nv * sizeof *f->queue);
}

static void flow_free(Flow *f)
{
	free(f->head);
	free(f->next);
	free(f->to);
	free(f->cap);
	free(f->level);
	free(f->it);
	free(f->queue);
}

static void half_edge(Flow *f, int a, int b, int64_t c)
{
	if (f->ne == f->cape) {
		f->cape = f->cape ? 2 * f->cape : 256;
		f->next = realloc(f->next, (size_t)f->cape * sizeof *f->next);
		f->to = realloc(f->to, (size_t)f->cape * sizeof *f->to);
		f->cap = realloc(f->cap, (size_t)f->cape * sizeof *f->cap);
		if (!f->next || !f->to || !f->cap)
			die("out of memory");
	}
	f->to[f->ne] = b;
	f->cap[f->ne] = c;
	f->next[f->ne] = f->head[a];
	f->head[a] = f->ne++;
}

static void flow_edge(Flow *f, int a, int b, int64_t c)
{
	half_edge(f, a, b, c);
	half_edge(f, b, a, 0);
}

/* Breadth-first levels from s over edges with capacity left; can t be reached? */
static bool flow_levels(Flow *f, int s, int t)
{
	for (int v = 0; v < f->nv; v++)
		f->level[v] = -1;
	int qh = 0, qt = 0;
	f->level[s] = 0;
	f->queue[qt++] = s;
	while (qh < qt) {
		int v = f->queue[qh++];
		for (int e = f->head[v]; e >= 0; e = f->next[e])
			if (f->cap[e] > 0 && f->level[f->to[e]] < 0) {
				f->level[f->to[e]] = f->level[v] + 1;
				f->queue[qt++] = f->to[e];
			}
	}
	return f->level[t] >= 0;
}

/* Pushes up to lim units from v towards t along the level graph. */
static int64_t flow_push(Flow *f, int v, int t, int64_t lim)
{
	if (v == t)
		return lim;
	for (; f->it[v] >= 0; f->it[v] = f->next[f->it[v]]) {
		int e = f->it[v], w = f->to[e];
		if (f->cap[e] <= 0 || f->level[w] != f->level[v] + 1)
			continue;
		int64_t got = flow_push(f, w, t, lim < f->cap[e] ? lim : f->cap[e]);
		if (got > 0) {
			f->cap[e] -= got;
			f->cap[e ^ 1] += got;
			return got;
		}
	}
	return 0;
}

static void flow_run(Flow *f, int s, int t)
{
	while (flow_levels(f, s, t)) {
		memcpy(f->it, f->head, (size_t)f->nv * sizeof *f->it);
		while (flow_push(f, s, t, UNBOUNDED) > 0)
			;
	}
}

/* tside[v]: v reaches t in the residual graph (after flow_run). */
static void flow_tside(const Flow *f, int t, bool *tside)
{
	memset(tside, 0, (size_t)f->nv * sizeof *tside);
	int qh = 0, qt = 0;
	tside[t] = true;
	f->queue[qt++] = t;
	while (qh < qt) {
		int w = f->queue[qh++];
		/* edge e: w -> x; its reverse e ^ 1: x -> w */
		for (int e = f->head[w]; e >= 0; e = f->next[e]) {
			int x = f->to[e];
			if (!tside[x] && f->cap[e ^ 1] > 0) {
				tside[x] = true;
				f->queue[qt++] = x;
			}
		}
	}
}

/* ---- which values the backward part recomputes ---- */

typedef struct {
	Region *r;
	int n;            /* nodes before cloning */
	bool *fwd;        /* [n] in the forward part */
	bool *recompute;  /* [n] recomputed where the backward part reads it */
	/* cloning */
	int *memo[2], *stamp[2], epoch; /* [n] per mode: this reader's clone of v */
	int *cl, ncl, capcl;            /* clones, in order of creation; of each: */
	int *cl_unit, *cl_at, *cl_orig; /* the first node of its reader's kernel, the reader, what it copies */
	bool *cl_in;                    /* and whether it joins the reader's kernel */
	int unit, at;                   /* the reader being redirected and its first node */
} Remat;

/* Bytes kept alive by keeping v from the forward to the backward part. */
static int64_t keep_cost(const Region *r, int v, const bool *pinned)
{
	const Node *nd = &r->node[v];
	if (pinned[v] || nd->op == OP_CONST || !ir_takes_memory(nd->op))
		return 0;
	return type_bytes(&nd->type);
}

static void choose(Remat *m)
{
	const Region *r = m->r;
	int n = m->n, s = 2 * n, t = 2 * n + 1;
	bool *pinned = xcalloc((size_t)n + 1, sizeof *pinned), *can = xcalloc((size_t)n + 1, sizeof *can);
	int *depth = xcalloc((size_t)n + 1, sizeof *depth);
	for (int i = 0; i < r->nout; i++)
		pinned[r->out[i]] = true;
	for (int v = 0; v < n; v++)
		for (int k = 0; r->node[v].op == OP_WRITE && k < r->node[v].narg; k++)
			pinned[ir_operand(r, v, k)] = true;
	/* recomputable: elementwise on forward values, within MAX_DEPTH of kept ones */
	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		if (!m->fwd[v] || !op_has(nd->op, F_LOOP) || op_has(nd->op, F_RANDOM) || type_numel(&nd->type) == 0)
			continue;
		int d = 0;
		bool ok = true;
		for (int k = 0; k < nd->narg; k++) {
			int u = ir_operand(r, v, k);
			ok &= m->fwd[u];
			if (can[u] && depth[u] > d)
				d = depth[u];
		}
		can[v] = ok && d < MAX_DEPTH;
		depth[v] = d + 1;
	}
	Flow f;
	flow_init(&f, 2 * n + 2);
	bool any = false;
	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		if (m->fwd[v]) {
			flow_edge(&f, 2 * v, 2 * v + 1, keep_cost(r, v, pinned));
			if (!can[v])
				flow_edge(&f, s, 2 * v, UNBOUNDED);
		}
		for (int k = 0; k < nd->narg; k++) {
			int u = ir_operand(r, v, k);
			if (m->fwd[u] && m->fwd[v])
				flow_edge(&f, 2 * u + 1, 2 * v, UNBOUNDED);
			else if (m->fwd[u]) {
				flow_edge(&f, 2 * u + 1, t, UNBOUNDED);
				any = true;
			}
		}
	}
	if (any) {
		flow_run(&f, s, t);
		bool *tside = xmalloc((size_t)f.nv * sizeof *tside);
		flow_tside(&f, t, tside);
		for (int v = 0; v < n; v++)
			m->recompute[v] = can[v] && tside[2 * v];
		free(tside);
	}
	flow_free(&f);
	free(pinned);
	free(can);
	free(depth);
}

/* ---- clones ---- */

/* The clone of v for the current reader (inside its kernel or not), made on first use. */
static int clone(Remat *m, int v, bool in)
{
	if (m->stamp[in][v] == m->epoch)
		return m->memo[in][v];
	Region *r = m->r;
	Node proto = r->node[v];
	int narg = proto.narg, a[8];
	if (narg > (int)(sizeof a / sizeof a[0]))
		die("remat: %s with %d operands", op_info[proto.op].name, narg);
	for (int k = 0; k < narg; k++) {
		int u = ir_operand(r, v, k);
		a[k] = m->recompute[u] ? clone(m, u, in) : u;
	}
	proto.group = -1;
	proto.offset = -1;
	proto.work = -1;
	char err[256];
	int c = ir_emit(r, &proto, a, narg, err, sizeof err);
	if (c < 0)
		die("remat: cloning %%%d: %s", v, err);
	if (m->ncl == m->capcl) {
		m->capcl = m->capcl ? 2 * m->capcl : 64;
		m->cl = realloc(m->cl, (size_t)m->capcl * sizeof *m->cl);
		m->cl_unit = realloc(m->cl_unit, (size_t)m->capcl * sizeof *m->cl_unit);
		m->cl_at = realloc(m->cl_at, (size_t)m->capcl * sizeof *m->cl_at);
		m->cl_orig = realloc(m->cl_orig, (size_t)m->capcl * sizeof *m->cl_orig);
		m->cl_in = realloc(m->cl_in, (size_t)m->capcl * sizeof *m->cl_in);
		if (!m->cl || !m->cl_unit || !m->cl_at || !m->cl_orig || !m->cl_in)
			die("out of memory");
	}
	m->cl[m->ncl] = c;
	m->cl_unit[m->ncl] = m->unit;
	m->cl_at[m->ncl] = m->at;
	m->cl_orig[m->ncl] = v;
	m->cl_in[m->ncl++] = in;
	m->stamp[in][v] = m->epoch;
	m->memo[in][v] = c;
	return c;
}

/* Points every backward read of a recomputed value at a clone. */
static void redirect(Remat *m)
{
	Region *r = m->r;
	int n = m->n, prev = -2;
	int *first = xmalloc(((size_t)n + 1) * sizeof *first);
	for (int v = 0; v < n; v++)
		first[v] = -1;
	for (int v = n - 1; v >= 0; v--)
		if (r->node[v].group >= 0)
			first[r->node[v].group] = v;
	for (int c = 0; c < n; c++) {
		if (m->fwd[c])
			continue;
		int g = r->node[c].group;
		m->unit = g >= 0 ? first[g] : c;
		if (m->unit != prev)
			m->epoch++;
		prev = m->unit;
		m->at = c;
		bool in = g >= 0 && r->node[c].op != OP_MATMUL;
		for (int k = 0; k < r->node[c].narg; k++) {
			int v = ir_operand(r, c, k);
			if (m->recompute[v]) {
				int cv = clone(m, v, in);
				r->arg[r->node[c].arg + k] = cv;
			}
		}
	}
	free(first);
}

static bool alias_only(const Region *r, const int *mem, int nm)
{
	for (int i = 0; i < nm; i++) {
		if (!ir_is_alias(r, mem[i]))
			return false;
	}
	return true;
}

/* Is clone x (of the reader's clones i..j) an alias of a value that is
   none of those clones (rest: none of those outside the reader's kernel)? */
static bool renames_outside(const Remat *m, int i, int j, int x, bool rest)
{
	const Region *r = m->r;
	if (!ir_is_alias(r, m->cl[x]))
		return false;
	int u = ir_operand(r, m->cl[x], 0);
	for (int y = i; y < j; y++)
		if (m->cl[y] == u && !(rest && m->cl_in[y]))
			return false;
	return true;
}

/* Would an in-kernel clone of the reader's clones i..j that is not among
   mem[nk..nm) (those joining kernel g) read a member of g?  It runs
   before the kernel, so it cannot. */
static bool left_need_kernel(const Remat *m, int i, int j, int g, const int *mem, int nk, int nm)
{
	const Region *r = m->r;
	for (int x = i; x < j; x++) {
		if (!m->cl_in[x])
			continue;
		bool joins = false;
		for (int y = nk; y < nm && !joins; y++)
			joins = mem[y] == m->cl[x];
		for (int k = 0; !joins && k < r->node[m->cl[x]].narg; k++) {
			int u = ir_operand(r, m->cl[x], k);
			if (r->node[u].group == g)
				return true;
			for (int y = nk; y < nm; y++)
				if (mem[y] == u)
					return true;
		}
	}
	return false;
}

/*
 * Groups the clones of each reader: into the reader's kernel where legal,
 * else into a kernel of their own (if legal and not mere aliases), else
 * none.  Clones are recorded reader by reader.
 */
static int group_clones(Remat *m)
{
	Region *r = m->r;
	int ng = 0;
	for (int v = 0; v < r->nnode; v++)
		if (r->node[v].group >= ng)
			ng = r->node[v].group + 1;
	int first_new = ng;
	int *mem = xmalloc(((size_t)r->nnode + 1) * sizeof *mem);
	KernelSpace sp;
	for (int i = 0; i < m->ncl;) {
		int unit = m->cl_unit[i], j = i, g = r->node[unit].group;
		while (j < m->ncl && m->cl_unit[j] == unit)
			j++;
		/* inside the reader's kernel: all of them, else those of the
		   largest size but aliases of values from outside (the smaller
		   ones then go into a kernel before it, split below) */
		int nm = 0, nk = g >= 0 ? kernel_members(r, g, mem) : 0;
		bool fits = false;
		for (int only_big = 0; only_big < 2 && !fits; only_big++) {
			int64_t big = 0;
			for (int x = i; x < j; x++)
				if (m->cl_in[x] && type_numel(&r->node[m->cl[x]].type) > big)
					big = type_numel(&r->node[m->cl[x]].type);
			nm = nk;
			for (int x = i; x < j; x++)
				if (m->cl_in[x] && (!only_big || (type_numel(&r->node[m->cl[x]].type) == big &&
					!renames_outside(m, i, j, x, false))))
					mem[nm++] = m->cl[x];
			fits = nm > nk && kernel_space(r, mem, nm, &sp, NULL) &&
				(!only_big || !left_need_kernel(m, i, j, g, mem, nk, nm));
		}
		for (int x = nk; fits && x < nm; x++)
			r->node[mem[x]].group = g;
		for (int x = i; x < j; x++)
			if (m->cl_in[x] && r->node[m->cl[x]].group != g)
				m->cl_in[x] = false;
		/* the rest: a kernel before the reader, of the clones of the
		   largest size, and one of the smaller ones (a BatchNorm's
		   rsqrt(var + eps) over [1, C, 1, 1], which the larger ones read
		   broadcast: no index space holds both).  A clone that only
		   renames a value from outside (the reshape of a BatchNorm weight
		   to [1, C, 1, 1]) stays out of both, as fusion leaves such
		   aliases out.  Without these splits no kernel is legal and
		   every clone is a loop of its own. */
		int64_t big = 0;
		for (int x = i; x < j; x++)
			if (!m->cl_in[x] && type_numel(&r->node[m->cl[x]].type) > big)
				big = type_numel(&r->node[m->cl[x]].type);
		for (int small = 0; small < 2; small++) {
			nm = 0;
			for (int x = i; x < j; x++)
				if (!m->cl_in[x] && !renames_outside(m, i, j, x, true) &&
					(type_numel(&r->node[m->cl[x]].type) < big) == small)
					mem[nm++] = m->cl[x];
			if (nm > 0 && !alias_only(r, mem, nm) && kernel_space(r, mem, nm, &sp, NULL)) {
				for (int x = 0; x < nm; x++)
					r->node[mem[x]].group = ng;
				ng++;
			}
		}
		i = j;
	}
	free(mem);
	return first_new;
}

/* Does any path from the nodes marked in `from` reach a member of kernel g? */
static bool reaches(const Region *r, const int *ustart, const int *users, const bool *from, int g, int *stack,
	bool *seen)
{
	int n = r->nnode, sp = 0;
	memset(seen, 0, (size_t)n * sizeof *seen);
	for (int v = 0; v < n; v++)
		if (from[v]) {
			seen[v] = true;
			stack[sp++] = v;
		}
	while (sp > 0) {
		int v = stack[--sp];
		if (r->node[v].group == g)
			return true;
		for (int e = ustart[v]; e < ustart[v + 1]; e++)
			if (!seen[users[e]]) {
				seen[users[e]] = true;
				stack[sp++] = users[e];
			}
	}
	return false;
}

/*
 * A kernel of clones made for a GEMM's operand (the GELU output a weight
 * gradient reads) often recomputes what another backward kernel already
 * recomputes in registers (the GELU derivative after the next GEMM).  It
 * then moves into that kernel, where LLVM computes the shared chain once
 * and the value is stored for the GEMM, which then runs after that kernel:
 * one pass over memory less.  Only where the enlarged kernel is legal and
 * the GEMM's kernel does not lead to the host (that would be a cycle).
 */
static void rehost(Remat *m, int first_new)
{
	Region *r = m->r;
	int n = r->nnode, *ustart, *users;
	ir_users(r, &ustart, &users);
	int *mem = xmalloc(((size_t)n + 1) * sizeof *mem), *stack = xmalloc(((size_t)n + 1) * sizeof *stack);
	bool *from = xcalloc((size_t)n + 1, sizeof *from), *seen = xcalloc((size_t)n + 1, sizeof *seen);
	KernelSpace sp;
	for (int i = 0; i < m->ncl;) {
		int j = i, g = -1;
		while (j < m->ncl && m->cl_unit[j] == m->cl_unit[i])
			j++;
		/* the reader's kernel of clones, if group_clones made one (and
		   only one: not when some clones joined the reader's kernel and
		   the smaller ones did not, or it split them by size; reaches
		   does not see that another kernel runs as a unit, which such a
		   move would need) */
		for (int x = i; x < j && g < 0; x++)
			if (!m->cl_in[x])
				g = r->node[m->cl[x]].group;
		for (int x = i; x < j; x++)
			if (m->cl_in[x] || (!renames_outside(m, i, j, x, true) && r->node[m->cl[x]].group != g))
				g = -1;
		for (int x = i; g >= first_new && x < j; x++) {
			/* a candidate host: a kernel holding an in-kernel copy of the same value */
			int host = -1;
			for (int y = 0; y < m->ncl && host < 0; y++)
				if (m->cl_in[y] && m->cl_orig[y] == m->cl_orig[x] && m->cl_unit[y] != m->cl_unit[x])
					host = r->node[m->cl[y]].group;
			if (host < 0)
				continue;
			int nk = kernel_members(r, host, mem), nm = nk;
			for (int y = i; y < j; y++)
				if (!m->cl_in[y] && !renames_outside(m, i, j, y, true))
					mem[nm++] = m->cl[y];
			/* the readers of the clones must not lead to the host */
			memset(from, 0, (size_t)n * sizeof *from);
			for (int y = nk; y < nm; y++)
				for (int e = ustart[mem[y]]; e < ustart[mem[y] + 1]; e++)
					from[users[e]] |= r->node[users[e]].group != g;
			if (!kernel_space(r, mem, nm, &sp, NULL) || reaches(r, ustart, users, from, host, stack, seen))
				continue;
			/* an alias left out (group_clones) moves along, outside every
			   kernel (the group first: renames_outside reads cl_in) */
			int at = mem[0];
			for (int y = nk; y < nm; y++)
				r->node[mem[y]].group = host;
			for (int y = i; y < j; y++)
				if (!m->cl_in[y]) {
					m->cl_in[y] = true;
					m->cl_at[y] = at;
				}
			break;
		}
		i = j;
	}
	free(ustart);
	free(users);
	free(mem);
	free(stack);
	free(from);
	free(seen);
}

/* Where a clone goes: right before its reader when it joined the reader's
   kernel (after the kernel's GEMM, if the reader follows it), right before
   its host when rehost moved it (cl_at is then the host's first node),
   else right before the reader's kernel. */
static int clone_place(const Remat *m, int x)
{
	return m->cl_in[x] ? m->cl_at[x] : m->cl_unit[x];
}

static void place_clones(Remat *m)
{
	Region *r = m->r;
	int n = m->n, total = r->nnode, no = 0;
	/* the clones by place (a counting sort: stable, so operands stay first) */
	int *start = xcalloc((size_t)n + 2, sizeof *start), *byplace = xmalloc(((size_t)m->ncl + 1) * sizeof *byplace);
	for (int x = 0; x < m->ncl; x++)
		start[clone_place(m, x) + 1]++;
	for (int v = 0; v < n; v++)
		start[v + 1] += start[v];
	int *fill = xmalloc(((size_t)n + 1) * sizeof *fill);
	memcpy(fill, start, (size_t)n * sizeof *fill);
	for (int x = 0; x < m->ncl; x++)
		byplace[fill[clone_place(m, x)]++] = m->cl[x];
	int *order = xmalloc(((size_t)total + 1) * sizeof *order);
	for (int v = 0; v < n; v++) {
		for (int i = start[v]; i < start[v + 1]; i++)
			order[no++] = byplace[i];
		order[no++] = v;
	}
	if (no != total)
		die("remat: %d of %d nodes placed", no, total);
	/* a GEMM reading a value its host kernel stores runs after that kernel;
	   an alias left out of its clones' kernel (group_clones) may sit
	   between the members: it moves out, so that kernels are contiguous */
	if (!kernel_contract(r, order))
		die("remat: kernels of region %s in a cycle", r->name);
	ir_reorder(r, order);
	free(order);
	free(start);
	free(fill);
	free(byplace);
}

/* Drops the nodes that no output, write or other effect needs (sources
   but constants stay: inputs and slots are the region's interface); a
   constant leaves its kernel unless all its readers are members. */
static void tidy(Region *r)
{
	int n = r->nnode, nk = 0;
	bool *live = xcalloc((size_t)n + 1, sizeof *live);
	for (int i = 0; i < r->nout; i++)
		live[r->out[i]] = true;
	for (int v = n - 1; v >= 0; v--) {
		OpKind op = r->node[v].op;
		live[v] |= (op_info[op].flags & F_EFFECT) || ((op_info[op].flags & F_SOURCE) && op != OP_CONST);
		for (int k = 0; live[v] && k < r->node[v].narg; k++)
			live[ir_operand(r, v, k)] = true;
	}
	int *keep = xmalloc(((size_t)n + 1) * sizeof *keep);
	for (int v = 0; v < n; v++)
		if (live[v])
			keep[nk++] = v;
	if (nk < n)
		ir_select(r, keep, nk);
	free(live);
	free(keep);
	int *ustart, *users;
	ir_users(r, &ustart, &users);
	for (int v = 0; v < r->nnode; v++) {
		Node *nd = &r->node[v];
		for (int e = ustart[v]; nd->op == OP_CONST && nd->group >= 0 && e < ustart[v + 1]; e++)
			if (r->node[users[e]].group != nd->group)
				nd->group = -1;
		nd->offset = -1;
		nd->work = -1;
	}
	for (int i = 0; i < r->nout; i++)
		if (r->node[r->out[i]].op == OP_CONST)
			r->node[r->out[i]].group = -1;
	free(ustart);
	free(users);
	r->arena_bytes = 0;
}

void remat_run(Region *r)
{
	int n = r->nnode;
	if (n == 0)
		return;
	Remat m = { .r = r, .n = n };
	m.fwd = xcalloc((size_t)n + 1, sizeof *m.fwd);
	m.recompute = xcalloc((size_t)n + 1, sizeof *m.recompute);
	kernel_forward(r, m.fwd);
	choose(&m);
	for (int in = 0; in < 2; in++) {
		m.memo[in] = xmalloc(((size_t)n + 1) * sizeof *m.memo[in]);
		m.stamp[in] = xcalloc((size_t)n + 1, sizeof *m.stamp[in]);
	}
	redirect(&m);
	if (m.ncl > 0) {
		rehost(&m, group_clones(&m));
		place_clones(&m);
		tidy(r);
		kernel_renumber(r);
	}
	free(m.fwd);
	free(m.recompute);
	for (int in = 0; in < 2; in++) {
		free(m.memo[in]);
		free(m.stamp[in]);
	}
	free(m.cl);
	free(m.cl_unit);
	free(m.cl_at);
	free(m.cl_orig);
	free(m.cl_in);
}
