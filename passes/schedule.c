/*
 * schedule.c — reorders a region's nodes so that few bytes are live at once,
 * ahead of memory planning (memplan.c plans for whatever order it is given).
 *
 * Two greedy list schedulers propose an order, and so does the order the
 * region came in; each proposal is then improved by moving single nodes
 * (hill climbing), and the one whose largest live set is smallest wins
 * (live bytes as memplan will see them: a result it can compute in place
 * over a dying operand costs nothing extra):
 *   forward   picks, among the nodes whose operands are computed, the one
 *             that frees the most bytes net of what it allocates; sources
 *             (const, param, input, ...) are emitted only right before
 *             their first user
 *   backward  builds the order from the end: a node is placed once all its
 *             users are, choosing the one whose placement shrinks the live
 *             set most, so every value is computed as late as its first use
 *             allows
 * WRITE nodes change no live range (the value they store lives to the end
 * of the region either way), so each is finally put right after its operands.
 *
 * Contract: requires a verified region.  Guarantees a topological order with
 * the same nodes, operands and outputs (values are renumbered), so results
 * are unchanged: WRITEs still apply at region end.  Offsets of an earlier
 * memory plan are cleared; groups are kept, and each kernel's members stay
 * contiguous (kernel_contract), with the kernel where its last member was.
 */
#include "ir/ops.h"
#include "kernel/kernel.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	const Region *r;
	int n;
	int64_t *mem;        /* [n] arena bytes of the value; 0 for slots, inputs and writes */
	bool *pinned;        /* [n] live until the region ends: outputs and written values */
	bool *source;        /* [n] op has no operands */
	int *ustart, *users; /* users in CSR form, one entry per operand edge */
	unsigned *fit;       /* [n] bit k: the result may be computed over operand k in place */
	int *pos, *last;     /* [n] scratch of peak_of: position, last use */
	int64_t *delta;      /* [n+1] scratch of peak_of: change of live bytes per position */
} Graph;

/* Operands memplan may write v's result over (its rule, memplan.c, decides; this only estimates). */
static unsigned inplace_fit(const Region *r, int v)
{
	const Node *nd = &r->node[v];
	unsigned bits = 0;
	if (!op_has(nd->op, F_MAP))
		return 0;
	for (int k = 0; k < nd->narg && k < 32; k++) {
		const Type *t = &r->node[ir_operand(r, v, k)].type;
		if (type_same_dims(t, &nd->type) && dtype_size(t->dt) == dtype_size(nd->type.dt))
			bits |= 1u << k;
	}
	return bits;
}

static void graph_init(Graph *g, const Region *r)
{
	int n = r->nnode;
	g->r = r;
	g->n = n;
	g->mem = xcalloc((size_t)n + 1, sizeof *g->mem);
	g->pinned = xcalloc((size_t)n + 1, sizeof *g->pinned);
	g->source = xcalloc((size_t)n + 1, sizeof *g->source);
	g->fit = xcalloc((size_t)n + 1, sizeof *g->fit);
	g->pos = xmalloc(((size_t)n + 1) * sizeof *g->pos);
	g->last = xmalloc(((size_t)n + 1) * sizeof *g->last);
	g->delta = xmalloc(((size_t)n + 2) * sizeof *g->delta);
	/* values that live only inside a fused kernel take no memory */
	bool *internal = xmalloc(((size_t)n + 1) * sizeof *internal);
	kernel_internal(r, internal);
	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		if (ir_takes_memory(nd->op) && !internal[v])
			g->mem[v] = type_bytes(&nd->type);
		g->source[v] = nd->narg == 0;
		g->fit[v] = ir_takes_memory(nd->op) ? inplace_fit(r, v) : 0;
		for (int k = 0; k < nd->narg; k++) {
			if (nd->op == OP_WRITE)
				g->pinned[ir_operand(r, v, k)] = true;
		}
	}
	free(internal);
	for (int i = 0; i < r->nout; i++)
		g->pinned[r->out[i]] = true;
	ir_users(r, &g->ustart, &g->users);
}

static void graph_free(Graph *g)
{
	free(g->mem);
	free(g->pinned);
	free(g->source);
	free(g->ustart);
	free(g->users);
	free(g->fit);
	free(g->pos);
	free(g->last);
	free(g->delta);
}

/* Does operand k of v repeat an earlier operand of v?  (Each value counts once.) */
static bool repeated(const Region *r, int v, int k)
{
	for (int j = 0; j < k; j++)
		if (ir_operand(r, v, j) == ir_operand(r, v, k))
			return true;
	return false;
}

static int edges(const Region *r, int v, int o)
{
	int c = 0;
	for (int k = 0; k < r->node[v].narg; k++)
		c += ir_operand(r, v, k) == o;
	return c;
}

/*
 * The ready nodes of a list scheduler by score, best first: the schedulers
 * choose the best score, the lower (forward) or higher (backward) node on
 * a tie, as a scan of the ready list would.  A node's entry is pushed again
 * whenever its score changes; stale entries (an older version, or a node no
 * longer ready) are dropped when they surface.  So each step costs log n,
 * not the length of the ready list.
 */
typedef struct {
	int64_t score; /* lower first */
	int tie;       /* lower first on equal score */
	int v, ver;
} Entry;

typedef struct {
	Entry *e;
	int n, cap;
	int *ver;      /* [n] current version of each node's entry */
	bool *ready;   /* [n] */
} Heap;

static bool entry_before(const Entry *a, const Entry *b)
{
	return a->score != b->score ? a->score < b->score : a->tie < b->tie;
}

static void heap_init(Heap *h, int n)
{
	h->n = 0;
	h->cap = n + 16;
	h->e = xmalloc((size_t)h->cap * sizeof *h->e);
	h->ver = xcalloc((size_t)n + 1, sizeof *h->ver);
	h->ready = xcalloc((size_t)n + 1, sizeof *h->ready);
}

static void heap_free(Heap *h)
{
	free(h->e);
	free(h->ver);
	free(h->ready);
}

/* Enters v with this score, or updates it (the old entry goes stale). */
static void heap_put(Heap *h, int v, int64_t score, int tie)
{
	if (h->n == h->cap) {
		h->cap *= 2;
		h->e = realloc(h->e, (size_t)h->cap * sizeof *h->e);
		if (!h->e)
			die("out of memory");
	}
	h->ready[v] = true;
	Entry x = { score, tie, v, ++h->ver[v] };
	int i = h->n++;
	while (i > 0 && entry_before(&x, &h->e[(i - 1) / 2])) {
		h->e[i] = h->e[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->e[i] = x;
}

static void heap_drop_top(Heap *h)
{
	Entry x = h->e[--h->n];
	int i = 0;
	for (;;) {
		int c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && entry_before(&h->e[c + 1], &h->e[c]))
			c++;
		if (!entry_before(&h->e[c], &x))
			break;
		h->e[i] = h->e[c];
		i = c;
	}
	if (h->n > 0)
		h->e[i] = x;
}

/* The best ready node, taken out of the ready set; -1 when none is left. */
static int heap_take(Heap *h)
{
	while (h->n > 0) {
		Entry top = h->e[0];
		heap_drop_top(h);
		if (h->ready[top.v] && top.ver == h->ver[top.v]) {
			h->ready[top.v] = false;
			return top.v;
		}
	}
	return -1;
}

/* Net bytes freed by computing v now (forward); left[o] = unscheduled user edges. */
static int64_t forward_gain(const Graph *g, const bool *done, const int *left, int v)
{
	const Region *r = g->r;
	int64_t gain = -g->mem[v];
	for (int k = 0; k < r->node[v].narg; k++) {
		int o = ir_operand(r, v, k);
		if (repeated(r, v, k))
			continue;
		if (!done[o])
			gain -= g->mem[o]; /* a source emitted just for v */
		if (!g->pinned[o] && left[o] == edges(r, v, o))
			gain += g->mem[o];
	}
	return gain;
}

static void emit(int *order, int *no, bool *done, int v)
{
	order[(*no)++] = v;
	done[v] = true;
}

/* Enters (or re-scores) the ready users of o; forward gains are maximized, lower node first. */
static void forward_rescore(const Graph *g, Heap *h, const bool *done, const int *left, int o)
{
	for (int i = g->ustart[o]; i < g->ustart[o + 1]; i++) {
		int u = g->users[i];
		if (h->ready[u])
			heap_put(h, u, -forward_gain(g, done, left, u), u);
	}
}

static void schedule_forward(const Graph *g, int *order)
{
	const Region *r = g->r;
	int n = g->n, no = 0;
	bool *done = xcalloc((size_t)n + 1, sizeof *done);
	int *left = xmalloc(((size_t)n + 1) * sizeof *left);   /* unscheduled user edges */
	int *wait = xcalloc((size_t)n + 1, sizeof *wait);       /* operand edges not yet computed (sources excluded) */
	int *emax = xcalloc((size_t)n + 1, sizeof *emax);       /* most edges from one user */
	Heap h;
	heap_init(&h, n);
	for (int v = 0; v < n; v++) {
		left[v] = g->ustart[v + 1] - g->ustart[v];
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k), e = edges(r, v, o);
			wait[v] += !g->source[o];
			emax[o] = e > emax[o] ? e : emax[o];
		}
	}
	for (int v = 0; v < n; v++)
		if (!g->source[v] && wait[v] == 0)
			heap_put(&h, v, -forward_gain(g, done, left, v), v);
	for (int v; (v = heap_take(&h)) >= 0;) {
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k);
			if (!done[o]) {
				emit(order, &no, done, o);
				forward_rescore(g, &h, done, left, o); /* o is no longer a source to emit */
			}
			left[o]--;
		}
		/* a user u's gain changes with left[o] only where left[o] meets
		   edges(u, o) <= emax[o] */
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k);
			if (!repeated(r, v, k) && left[o] <= emax[o])
				forward_rescore(g, &h, done, left, o);
		}
		emit(order, &no, done, v);
		for (int i = g->ustart[v]; i < g->ustart[v + 1]; i++)
			if (--wait[g->users[i]] == 0)
				heap_put(&h, g->users[i], -forward_gain(g, done, left, g->users[i]), g->users[i]);
	}
	/* sources nothing uses: as late as possible, since outputs live to the end */
	for (int v = 0; v < n; v++)
		if (!done[v])
			emit(order, &no, done, v);
	if (no != n)
		die("schedule: forward order has %d of %d nodes", no, n);
	free(done);
	free(left);
	free(wait);
	free(emax);
	heap_free(&h);
}

/* Change of the live set when v is placed before everything placed so far. */
static int64_t backward_cost(const Graph *g, const bool *live, int v)
{
	const Region *r = g->r;
	int64_t cost = live[v] ? -g->mem[v] : 0;
	for (int k = 0; k < r->node[v].narg; k++) {
		int o = ir_operand(r, v, k);
		if (!live[o] && !repeated(r, v, k))
			cost += g->mem[o];
	}
	return cost;
}

static void schedule_backward(const Graph *g, int *order)
{
	const Region *r = g->r;
	int n = g->n, no = n;
	bool *live = xcalloc((size_t)n + 1, sizeof *live);
	int *pending = xmalloc(((size_t)n + 1) * sizeof *pending); /* unplaced user edges */
	Heap h;
	heap_init(&h, n);
	for (int v = 0; v < n; v++) {
		live[v] = g->pinned[v];
		pending[v] = g->ustart[v + 1] - g->ustart[v];
	}
	/* costs minimized, higher node first */
	for (int v = 0; v < n; v++)
		if (pending[v] == 0)
			heap_put(&h, v, backward_cost(g, live, v), -v);
	for (int v; (v = heap_take(&h)) >= 0;) {
		order[--no] = v;
		live[v] = false; /* no ready node reads v: its users are all placed */
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k);
			if (!live[o]) {
				live[o] = true;
				/* the ready readers of o now find it live */
				for (int i = g->ustart[o]; i < g->ustart[o + 1]; i++) {
					int u = g->users[i];
					if (h.ready[u])
						heap_put(&h, u, backward_cost(g, live, u), -u);
				}
			}
			if (--pending[o] == 0)
				heap_put(&h, o, backward_cost(g, live, o), -o);
		}
	}
	if (no != 0)
		die("schedule: backward order misses %d nodes", no);
	free(live);
	free(pending);
	heap_free(&h);
}

/* Moves every WRITE right after the later of its operands; keeps the rest in order. */
static void place_writes(const Graph *g, int *order)
{
	const Region *r = g->r;
	int n = g->n, no = 0;
	int *out = xmalloc(((size_t)n + 1) * sizeof *out);
	bool *placed = xcalloc((size_t)n + 1, sizeof *placed);
	for (int i = 0; i < n; i++) {
		int v = order[i];
		if (r->node[v].op == OP_WRITE)
			continue;
		out[no++] = v;
		placed[v] = true;
		/* writes whose operands are now all placed, in their old relative order */
		for (int u = g->ustart[v]; u < g->ustart[v + 1]; u++) {
			int w = g->users[u];
			if (r->node[w].op != OP_WRITE || placed[w])
				continue;
			bool ok = true;
			for (int k = 0; k < r->node[w].narg; k++)
				ok &= placed[ir_operand(r, w, k)];
			if (ok) {
				out[no++] = w;
				placed[w] = true;
			}
		}
	}
	for (int i = 0; i < n; i++) /* a write of nothing computed here: cannot happen, but stay total */
		if (!placed[order[i]])
			out[no++] = order[i];
	memcpy(order, out, (size_t)n * sizeof *order);
	free(out);
	free(placed);
}

/*
 * The largest number of bytes live at one position of order, each value live
 * from its definition to its last use (inclusive), less the results that can
 * be computed in place over an operand dying there; *area gets the sum over
 * positions, which breaks ties between orders of equal peak.
 */
static int64_t peak_of(const Graph *g, const int *order, int64_t *area)
{
	const Region *r = g->r;
	int n = g->n, *pos = g->pos, *last = g->last;
	int64_t *delta = g->delta;
	for (int i = 0; i < n; i++) {
		pos[order[i]] = i;
		delta[i] = 0;
	}
	delta[n] = 0;
	for (int v = 0; v < n; v++) {
		last[v] = pos[v];
		for (int i = g->ustart[v]; i < g->ustart[v + 1]; i++)
			last[v] = pos[g->users[i]] > last[v] ? pos[g->users[i]] : last[v];
		if (g->pinned[v])
			last[v] = n - 1;
		delta[pos[v]] += g->mem[v];
		delta[last[v] + 1] -= g->mem[v];
	}
	for (int v = 0; v < n; v++)
		for (int k = 0; g->fit[v] && k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k);
			if ((g->fit[v] >> k & 1) && !g->pinned[o] && last[o] == pos[v] && g->mem[o] == g->mem[v]) {
				delta[pos[v]] -= g->mem[v];
				delta[pos[v] + 1] += g->mem[v];
				break;
			}
		}
	int64_t cur = 0, peak = 0;
	*area = 0;
	for (int i = 0; i < n; i++) {
		cur += delta[i];
		peak = cur > peak ? cur : peak;
		*area += cur;
	}
	return peak;
}

/* Moves order[from] to position to, shifting the nodes between. */
static void move(int *order, int from, int to)
{
	int v = order[from];
	if (from < to)
		memmove(order + from, order + from + 1, (size_t)(to - from) * sizeof *order);
	else
		memmove(order + to + 1, order + to, (size_t)(from - to) * sizeof *order);
	order[to] = v;
}

/*
 * Hill climbing on a proposed order: moves single nodes as early as their
 * operands or as late as their users allow while that lowers the peak (or,
 * at equal peak, the area).  The greedy schedulers decide one node at a time
 * and miss, e.g., that computing a small gradient early frees a large
 * activation for the rest of the step.  At most `budget` orders are tried.
 */
static void improve(const Graph *g, int *order, int64_t budget)
{
	const Region *r = g->r;
	int n = g->n;
	int *trial = xmalloc(((size_t)n + 1) * sizeof *trial), *at = xmalloc(((size_t)n + 1) * sizeof *at);
	int64_t area, peak = peak_of(g, order, &area);
	for (int i = 0; i < n; i++)
		at[order[i]] = i;
	for (bool again = true; again && budget > 0;) {
		again = false;
		for (int v = 0; v < n && budget > 0; v++) {
			/* a kernel's members go where kernel_contract puts the kernel */
			if (r->node[v].op == OP_WRITE || r->node[v].group >= 0)
				continue;
			int lo = 0, hi = n - 1;
			for (int k = 0; k < r->node[v].narg; k++)
				lo = at[ir_operand(r, v, k)] + 1 > lo ? at[ir_operand(r, v, k)] + 1 : lo;
			for (int i = g->ustart[v]; i < g->ustart[v + 1]; i++)
				hi = at[g->users[i]] - 1 < hi ? at[g->users[i]] - 1 : hi;
			/* between its last operand and first user, v's neighbours move past it */
			int target[2] = { lo < at[v] ? lo : at[v], hi > at[v] ? hi : at[v] };
			for (int t = 0; t < 2; t++) {
				if (target[t] == at[v])
					continue;
				memcpy(trial, order, (size_t)n * sizeof *trial);
				move(trial, at[v], target[t]);
				budget--;
				int64_t a, p = peak_of(g, trial, &a);
				if (p < peak || (p == peak && a < area)) {
					memcpy(order, trial, (size_t)n * sizeof *order);
					for (int i = 0; i < n; i++)
						at[order[i]] = i;
					peak = p;
					area = a;
					again = true;
					break;
				}
			}
		}
	}
	free(trial);
	free(at);
}

/* The order, with the memory plan dropped: offsets belong to the old order. */
static void schedule_apply(Region *r, const int *order)
{
	ir_reorder(r, order);
	for (int v = 0; v < r->nnode; v++) {
		r->node[v].offset = -1;
		r->node[v].work = -1;
	}
	r->arena_bytes = 0;
}

void schedule_run(Region *r)
{
	int n = r->nnode;
	if (n == 0)
		return;
	Graph g;
	graph_init(&g, r);
	enum { NCAND = 3 };
	int *cand[NCAND];
	for (int c = 0; c < NCAND; c++)
		cand[c] = xmalloc((size_t)n * sizeof *cand[c]);
	for (int v = 0; v < n; v++)
		cand[0][v] = v;
	schedule_forward(&g, cand[1]);
	schedule_backward(&g, cand[2]);
	/* the incoming order wins ties */
	int best = 0;
	int64_t best_peak = 0, best_area = 0;
	/* each tried order costs about n + operand edges steps; a few 10^8 steps at most */
	int64_t budget = 300000000 / (n + r->narg + 1) / NCAND;
	for (int c = 0; c < NCAND; c++) {
		improve(&g, cand[c], budget);
		place_writes(&g, cand[c]);
		kernel_contract(r, cand[c]); /* the members of a kernel run together */
		int64_t area, peak = peak_of(&g, cand[c], &area);
		if (c == 0 || peak < best_peak || (peak == best_peak && area < best_area)) {
			best = c;
			best_peak = peak;
			best_area = area;
		}
	}
	schedule_apply(r, cand[best]);
	for (int c = 0; c < NCAND; c++)
		free(cand[c]);
	graph_free(&g);
}
