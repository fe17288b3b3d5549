/*
 * memplan.c — places every intermediate value of a region at a byte offset
 * of one activation arena, so that a region runs without allocating.
 *
 * On the region's order, each value is live from its definition to its last
 * use; outputs and values a WRITE stores live to the end (writes apply when
 * the region finishes).  Values then share buffers in two provably safe ways:
 *   alias     a reshape or stop_gradient of an arena value is the same bytes
 *             (values are immutable, so sharing is safe for as long as the
 *             buffer is only ever written by its first occupant)
 *   in place  an elementwise op whose operand has the result's shape and
 *             element size writes over that operand when the operand's
 *             buffer dies at this op: each element is read before the same
 *             element is written, and no other live value sees the buffer
 *   packed    an operand of PACK (a gradient) is computed straight into its
 *             place in the PACK's buffer, which it shares from its own
 *             definition on; the PACK then copies nothing (passes/pack.c)
 * The PACK buffers form the gradient arena at the front of the arena, one
 * after the other: they hold the packed gradients, as large as the packed
 * parameters, from the first gradient to the optimizer update.  The other
 * buffers, the activation arena, follow (64-byte aligned offsets): each is
 * put at the lowest offset that does not collide, in address, with a buffer
 * already placed whose live range intersects its own.  Several orders of
 * placement are tried (largest first, longest-lived first, ...) and the
 * smallest arena is kept.
 *
 * A node whose code needs a work buffer (ir_work_bytes: a convolution's
 * im2col matrices) gets one more buffer, live from its kernel's first
 * member to its last, at Node.work: placed like the values, so that
 * convolutions share those bytes with values that are dead meanwhile.
 *
 * Parameters, optimizer state and inputs alias their storage and take no
 * arena memory (offset -1); so do WRITE nodes, which define nothing, and
 * values that live only inside a fused kernel (kernel_internal) or that a
 * kernel computes straight into their slot (kernel_through).  A kernel
 * runs as one unit: the values it materializes are live from its first
 * member on, the values it reads until its last member, and a result is
 * computed in place only in a kernel without reductions (one pass, each
 * element's reads before its writes), over any buffer of its shape that the
 * kernel reads and that dies there.
 *
 * A bf16 value whose widening to f32 only bf16 products read
 * (kernel_widens_for_products: a bf16store copy that a dW product reads)
 * lives until those products have run: the generated code computes no
 * widening, and the products read the bf16 value in its place.  The
 * widening keeps its buffer, which the interpreter fills.
 *
 * Contract: requires a verified region in the order it will run (the
 * scheduled order for the pipeline).  Guarantees: every other node gets an
 * offset >= 0 with offset + bytes <= r->arena_bytes (a multiple of 64); two
 * values live at the same position never share a byte unless one aliases
 * the other or writes over it in place as described above.
 */
#include "ir/ops.h"
#include "kernel/kernel.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	int64_t size;   /* bytes (every occupant has this size, except in a PACK's buffer) */
	bool pack;      /* a PACK's buffer: never reused in place */
	int start, end; /* positions: first definition .. last use, inclusive (n = region end) */
	int read;       /* the last node reading an occupant (end counts whole kernels) */
	int64_t offset; /* bytes, -1 until placed */
} Buf;

static int64_t value_bytes(const Node *nd)
{
	return type_bytes(&nd->type);
}

/*
 * May v's result be written over operand k, whose buffer is b?  Every other
 * operand in the same buffer must be read at the same element positions as
 * the result, i.e. have the result's shape too.
 */
static bool inplace_ok(const Region *r, const int *buf, int v, int k)
{
	const Node *nd = &r->node[v];
	const Node *x = &r->node[ir_operand(r, v, k)];
	if (!op_has(nd->op, F_MAP) || !type_same_dims(&x->type, &nd->type) ||
	    dtype_size(x->type.dt) != dtype_size(nd->type.dt))
		return false;
	int b = buf[ir_operand(r, v, k)];
	for (int j = 0; j < nd->narg; j++) {
		int o = ir_operand(r, v, j);
		if (buf[o] == b && !type_same_dims(&r->node[o].type, &nd->type))
			return false;
	}
	return true;
}

/*
 * The operands PACK nodes take in place: into[u] = the PACK, sub[u] = u's
 * byte offset in it; -1 / 0 elsewhere.  Each value goes into one PACK at
 * most, and only one that gets its own buffer otherwise (not an alias).
 */
static void pack_operands(const Region *r, const bool *internal, const bool *through, int *into, int64_t *sub)
{
	for (int v = 0; v < r->nnode; v++) {
		into[v] = -1;
		sub[v] = 0;
	}
	for (int p = 0; p < r->nnode; p++) {
		if (r->node[p].op != OP_PACK || r->node[p].group >= 0)
			continue;
		/* operand k's place: ir_pack_start(r, p, k), summed as k goes */
		int64_t start = 0;
		for (int k = 0; k < r->node[p].narg; k++) {
			int u = ir_operand(r, p, k);
			OpKind op = r->node[u].op;
			int64_t at = start;
			start += ir_pack_align(type_bytes(&r->node[u].type));
			if (into[u] >= 0 || !ir_takes_memory(op) || internal[u] || through[u] || ir_is_alias(r, u) ||
			    op == OP_PACK)
				continue;
			into[u] = p;
			sub[u] = at;
		}
	}
}

/* Raises *end and *rd to the last positions of v and of the reshapes
   outside kernels that share its buffer, through chains of them. */
static void alias_ends(const Region *r, int v, const int *last, const int *read, int *end, int *rd)
{
	*end = last[v] > *end ? last[v] : *end;
	*rd = read[v] > *rd ? read[v] : *rd;
	for (int u = v + 1; u < r->nnode; u++)
		if (r->node[u].op == OP_RESHAPE && r->node[u].group < 0 && ir_is_alias(r, u) && ir_operand(r, u, 0) == v)
			alias_ends(r, u, last, read, end, rd);
}

/* Assigns every arena value a buffer: buf[v] (-1 for none) at byte sub[v]
   of it, and every node with a work buffer that one, wbuf[v] (-1 for
   none); returns the buffer count. */
static int make_buffers(const Region *r, int *buf, int64_t *sub, int *wbuf, Buf *bufs)
{
	int n = r->nnode, nb = 0;
	int *last = xmalloc(((size_t)n + 1) * sizeof *last);
	/* a node's position as a kernel sees it: first[v] .. at[v] (v itself outside kernels) */
	int *first = xmalloc(((size_t)n + 1) * sizeof *first), *at = xmalloc(((size_t)n + 1) * sizeof *at);
	int ngroup = 0;
	for (int v = 0; v < n; v++)
		ngroup = r->node[v].group >= ngroup ? r->node[v].group + 1 : ngroup;
	bool *internal = xmalloc(((size_t)n + 1) * sizeof *internal), *reduces = xcalloc((size_t)ngroup + 1, sizeof *reduces);
	bool *through = xmalloc(((size_t)n + 1) * sizeof *through);
	kernel_internal(r, internal);
	kernel_through(r, through); /* computed into their slots */
	int *into = xmalloc(((size_t)n + 1) * sizeof *into), *pbuf = xmalloc(((size_t)n + 1) * sizeof *pbuf);
	pack_operands(r, internal, through, into, sub);
	for (int v = 0; v < n; v++)
		pbuf[v] = -1; /* a PACK's buffer, once its first operand made it */
	for (int v = 0, s = 0; v < n; v++) {
		int g = r->node[v].group;
		if (g < 0 || v == 0 || r->node[v - 1].group != g)
			s = v;
		first[v] = s;
	}
	for (int v = n - 1, e = n - 1; v >= 0; v--) {
		int g = r->node[v].group;
		if (g < 0 || v == n - 1 || r->node[v + 1].group != g)
			e = v;
		at[v] = e;
		if (g >= 0 && op_has(r->node[v].op, F_ACCUM))
			reduces[g] = true;
	}
	int *read = xmalloc(((size_t)n + 1) * sizeof *read);
	for (int v = 0; v < n; v++) {
		last[v] = at[v];
		read[v] = v;
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k);
			last[o] = r->node[v].op == OP_WRITE ? n : at[v] > last[o] ? at[v] : last[o];
			read[o] = r->node[v].op == OP_WRITE ? n : v > read[o] ? v : read[o];
		}
	}
	for (int i = 0; i < r->nout; i++)
		last[r->out[i]] = n;
	/* a bf16 value whose widening only products read is read by them in
	   its place (kernel_widens_for_products): alive as long as the
	   widening and the reshapes that share its buffer */
	for (int v = 0; v < n; v++)
		if (kernel_widens_for_products(r, v)) {
			int s = ir_operand(r, v, 0);
			alias_ends(r, v, last, read, &last[s], &read[s]);
		}
	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		buf[v] = -1;
		wbuf[v] = -1;
		int64_t work = ir_work_bytes(r, v);
		if (work > 0) {
			/* live while v's kernel runs; never any value's, so never reused in place */
			wbuf[v] = nb++;
			bufs[wbuf[v]] = (Buf){ work, false, first[v], at[v], v, -1 };
		}
		if (!ir_takes_memory(nd->op) || internal[v] || through[v])
			continue;
		int64_t size = value_bytes(nd);
		int b = -1;
		int p = nd->op == OP_PACK ? v : into[v];
		if (p >= 0) {
			if (pbuf[p] < 0) {
				pbuf[p] = nb++;
				bufs[pbuf[p]] = (Buf){ value_bytes(&r->node[p]), true, first[v], first[v], v, -1 };
			}
			b = pbuf[p];
		}
		if (b < 0 && ir_is_alias(r, v) && nd->group < 0) {
			int u = ir_operand(r, v, 0);
			if (buf[u] >= 0 && bufs[buf[u]].size == size)
				b = buf[u];
		}
		for (int k = 0; b < 0 && k < nd->narg && nd->group < 0; k++) {
			int u = ir_operand(r, v, k);
			/* the buffer dies here: no occupant is used later or pinned */
			if (buf[u] >= 0 && bufs[buf[u]].end == v && bufs[buf[u]].size == size && !bufs[buf[u]].pack &&
			    inplace_ok(r, buf, v, k))
				b = buf[u];
		}
		/* a kernel without reductions reads every buffer of its results'
		   shape at the very point it writes: one that dies there will do,
		   if no later member reads it (the interpreter runs node by node) */
		bool loop = nd->group >= 0 && !reduces[nd->group] && nd->op != OP_MATMUL; /* not a GEMM's output */
		for (int w = first[v]; b < 0 && loop && w <= at[v]; w++)
			for (int k = 0; b < 0 && k < r->node[w].narg; k++) {
				int u = ir_operand(r, w, k);
				if (r->node[u].group == nd->group && r->node[u].op != OP_MATMUL)
					continue;
				if (buf[u] >= 0 && bufs[buf[u]].end == at[v] && bufs[buf[u]].read <= v && !bufs[buf[u]].pack &&
				    bufs[buf[u]].size == size && type_same_dims(&r->node[u].type, &nd->type))
					b = buf[u];
			}
		if (b < 0) {
			b = nb++;
			bufs[b] = (Buf){ size, false, first[v], first[v], v, -1 };
		}
		buf[v] = b;
		bufs[b].end = last[v] > bufs[b].end ? last[v] : bufs[b].end;
		bufs[b].read = read[v] > bufs[b].read ? read[v] : bufs[b].read;
	}
	free(last);
	free(read);
	free(first);
	free(at);
	free(internal);
	free(through);
	free(reduces);
	free(into);
	free(pbuf);
	return nb;
}

/* Placement orders to try; each returns true when buffer a goes before b. */
static bool by_size(const Buf *a, const Buf *b)
{
	if (a->size != b->size)
		return a->size > b->size;
	if (a->start != b->start)
		return a->start < b->start;
	return a->end > b->end;
}

static bool by_area(const Buf *a, const Buf *b)
{
	int64_t x = a->size * (a->end - a->start + 1), y = b->size * (b->end - b->start + 1);
	return x != y ? x > y : by_size(a, b);
}

static bool by_length(const Buf *a, const Buf *b)
{
	int la = a->end - a->start, lb = b->end - b->start;
	return la != lb ? la > lb : by_size(a, b);
}

static bool by_start(const Buf *a, const Buf *b)
{
	return a->start != b->start ? a->start < b->start : by_size(a, b);
}

typedef bool Before(const Buf *a, const Buf *b);

/* Stable merge sort of buffer indices (deterministic, O(m log m)); tmp has room for m. */
static void sort_idx(int *idx, int *tmp, int m, const Buf *bufs, Before *before)
{
	if (m < 2)
		return;
	int h = m / 2;
	sort_idx(idx, tmp, h, bufs, before);
	sort_idx(idx + h, tmp, m - h, bufs, before);
	int i = 0, j = h, k = 0;
	while (i < h || j < m)
		tmp[k++] = j >= m || (i < h && !before(&bufs[idx[j]], &bufs[idx[i]])) ? idx[i++] : idx[j++];
	memcpy(idx, tmp, (size_t)m * sizeof *idx);
}

/*
 * Places the nb buffers idx[0..nb) in that order by first fit: each at the
 * lowest offset where it collides, in address, with no placed buffer whose
 * live range meets its own; returns the arena size.  The placed buffers are
 * kept sorted by offset (byaddr), so finding that offset is one scan from
 * address 0 up, which stops at the first buffer above the candidate range:
 * no sorting per buffer, although a buffer alive together with m placed
 * ones may still look at all m.
 */
static int64_t place(Buf *bufs, int nb, const int *idx)
{
	int *byaddr = xmalloc(((size_t)nb + 1) * sizeof *byaddr), np = 0;
	int64_t arena = 0;
	for (int i = 0; i < nb; i++)
		bufs[idx[i]].offset = -1;
	for (int i = 0; i < nb; i++) {
		Buf *x = &bufs[idx[i]];
		if (x->size == 0) {
			x->offset = 0;
			continue;
		}
		/* above every placed buffer whose lifetime meets x's and that starts below x's end */
		int64_t at = 0;
		for (int j = 0; j < np; j++) {
			const Buf *y = &bufs[byaddr[j]];
			if (at + x->size <= y->offset)
				break; /* x fits below y, and below everything after y */
			if (y->start <= x->end && x->start <= y->end && align_up(y->offset + y->size, 64) > at)
				at = align_up(y->offset + y->size, 64);
		}
		x->offset = at;
		arena = align_up(at + x->size, 64) > arena ? align_up(at + x->size, 64) : arena;
		/* insert after the buffers at or below x's offset */
		int lo = 0, hi = np;
		while (lo < hi) {
			int mid = lo + (hi - lo) / 2;
			if (bufs[byaddr[mid]].offset <= at)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(byaddr + lo + 1, byaddr + lo, (size_t)(np - lo) * sizeof *byaddr);
		byaddr[lo] = idx[i];
		np++;
	}
	free(byaddr);
	return arena;
}

void memplan_run(Region *r)
{
	int n = r->nnode;
	int *buf = xmalloc(((size_t)n + 1) * sizeof *buf), *wbuf = xmalloc(((size_t)n + 1) * sizeof *wbuf);
	int64_t *sub = xmalloc(((size_t)n + 1) * sizeof *sub);
	Buf *bufs = xmalloc((2 * (size_t)n + 1) * sizeof *bufs); /* a value's and a work buffer per node */
	int nb = make_buffers(r, buf, sub, wbuf, bufs);
	int *idx = xmalloc(((size_t)nb + 1) * sizeof *idx), *tmp = xmalloc(((size_t)nb + 1) * sizeof *tmp);
	int64_t *best = xmalloc(((size_t)nb + 1) * sizeof *best), best_arena = -1;
	/* the gradient arena: the PACK buffers, one after the other at the front */
	int64_t grads = 0;
	for (int b = 0; b < nb; b++)
		if (bufs[b].pack) {
			best[b] = grads;
			grads += align_up(bufs[b].size, 64);
		}
	Before *orders[] = { by_size, by_area, by_length, by_start };
	for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
		int m = 0;
		for (int b = 0; b < nb; b++)
			if (!bufs[b].pack)
				idx[m++] = b;
		sort_idx(idx, tmp, m, bufs, orders[o]);
		int64_t arena = place(bufs, m, idx);
		if (best_arena < 0 || arena < best_arena) {
			best_arena = arena;
			for (int i = 0; i < m; i++)
				best[idx[i]] = grads + bufs[idx[i]].offset;
		}
	}
	for (int v = 0; v < n; v++) {
		r->node[v].offset = buf[v] >= 0 ? best[buf[v]] + sub[v] : -1;
		r->node[v].work = wbuf[v] >= 0 ? best[wbuf[v]] : -1;
	}
	r->arena_bytes = grads + (best_arena > 0 ? best_arena : 0);
	free(buf);
	free(wbuf);
	free(sub);
	free(bufs);
	free(idx);
	free(tmp);
	free(best);
}
