/*
 * kernel.c — what the passes after fusion, the code generator and the IR
 * printer need to know about fused kernels (kernel/kernel.h): their members
 * and dense numbering, the forward part of a training region (the kernels
 * whose members an output needs), which values live only inside them,
 * which are computed straight into the slot a WRITE names, an order that
 * keeps each
 * kernel's members together, the memory traffic of a region with and
 * without them (--stats), the comment lines that describe them above a
 * printed region, and what each kernel call is for the profiler (its
 * name, ops, GEMM shape, flops and bytes).  passes/fusion.c decides the kernels; this file only
 * reads Node.group (kernel_renumber only renames the groups).
 */
#include "kernel/kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/attention.h"
#include "ir/ops.h"

/* ---- contiguous kernels ---- */

/* A binary min-heap of units keyed by prio (ties: smaller unit). */
typedef struct {
	int *h, n;
	const int *prio;
} Heap;

static bool heap_less(const Heap *q, int a, int b)
{
	return q->prio[a] != q->prio[b] ? q->prio[a] < q->prio[b] : a < b;
}

static void heap_push(Heap *q, int u)
{
	int i = q->n++;
	q->h[i] = u;
	while (i > 0 && heap_less(q, q->h[i], q->h[(i - 1) / 2])) {
		int p = (i - 1) / 2, t = q->h[p];
		q->h[p] = q->h[i];
		q->h[i] = t;
		i = p;
	}
}

static int heap_pop(Heap *q)
{
	int top = q->h[0], i = 0;
	q->h[0] = q->h[--q->n];
	for (;;) {
		int l = 2 * i + 1, m = i;
		if (l < q->n && heap_less(q, q->h[l], q->h[m]))
			m = l;
		if (l + 1 < q->n && heap_less(q, q->h[l + 1], q->h[m]))
			m = l + 1;
		if (m == i)
			break;
		int t = q->h[m];
		q->h[m] = q->h[i];
		q->h[i] = t;
		i = m;
	}
	return top;
}

bool kernel_contract(const Region *r, int *order)
{
	int n = r->nnode, ng = 0;
	for (int v = 0; v < n; v++)
		ng = r->node[v].group + 1 > ng ? r->node[v].group + 1 : ng;
	if (ng == 0)
		return true;
	int *given = xmalloc(((size_t)n + 1) * sizeof *given);
	memcpy(given, order, (size_t)n * sizeof *given);
	/* units: kernel g is unit g, a node v outside every kernel is unit ng + v */
	int nu = ng + n;
	int *unit = xmalloc(((size_t)n + 1) * sizeof *unit), *pos = xmalloc(((size_t)n + 1) * sizeof *pos);
	int *prio = xmalloc(((size_t)nu + 1) * sizeof *prio), *wait = xcalloc((size_t)nu + 1, sizeof *wait);
	int *start = xcalloc((size_t)nu + 2, sizeof *start), *list = xmalloc(((size_t)n + 1) * sizeof *list);
	for (int i = 0; i < n; i++)
		pos[order[i]] = i;
	for (int u = 0; u < nu; u++)
		prio[u] = -1;
	for (int v = 0; v < n; v++) {
		unit[v] = r->node[v].group >= 0 ? r->node[v].group : ng + v;
		prio[unit[v]] = pos[v] > prio[unit[v]] ? pos[v] : prio[unit[v]];
		start[unit[v] + 1]++;
	}
	for (int u = 0; u < nu; u++)
		start[u + 1] += start[u];
	int *fill = xmalloc(((size_t)nu + 1) * sizeof *fill);
	memcpy(fill, start, (size_t)nu * sizeof *fill);
	for (int i = 0; i < n; i++)
		list[fill[unit[order[i]]]++] = order[i];
	/* edges between units, one per operand edge crossing units */
	for (int v = 0; v < n; v++)
		for (int k = 0; k < r->node[v].narg; k++)
			if (unit[ir_operand(r, v, k)] != unit[v])
				wait[unit[v]]++;
	/* users by unit: every edge into a unit, found from its members' operands */
	int *ustart = xcalloc((size_t)nu + 2, sizeof *ustart);
	for (int v = 0; v < n; v++)
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k);
			if (unit[o] != unit[v])
				ustart[unit[o] + 1]++;
		}
	for (int u = 0; u < nu; u++)
		ustart[u + 1] += ustart[u];
	int *uusers = xmalloc(((size_t)ustart[nu] + 1) * sizeof *uusers);
	memcpy(fill, ustart, (size_t)nu * sizeof *fill);
	for (int v = 0; v < n; v++)
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k);
			if (unit[o] != unit[v])
				uusers[fill[unit[o]]++] = unit[v];
		}
	Heap q = { xmalloc(((size_t)nu + 1) * sizeof *q.h), 0, prio };
	for (int u = 0; u < nu; u++)
		if (start[u + 1] > start[u] && wait[u] == 0)
			heap_push(&q, u);
	int no = 0;
	while (q.n > 0) {
		int u = heap_pop(&q);
		for (int i = start[u]; i < start[u + 1]; i++)
			order[no++] = list[i];
		for (int e = ustart[u]; e < ustart[u + 1]; e++)
			if (--wait[uusers[e]] == 0)
				heap_push(&q, uusers[e]);
	}
	/* kernels that depend on each other in a cycle (only IR written by hand) */
	if (no != n)
		memcpy(order, given, (size_t)n * sizeof *order);
	free(given);
	free(q.h);
	free(uusers);
	free(ustart);
	free(fill);
	free(list);
	free(start);
	free(wait);
	free(prio);
	free(pos);
	free(unit);
	return no == n;
}

/* ---- facts for the passes after fusion ---- */

void kernel_renumber(Region *r)
{
	int n = r->nnode, ng = 0, next = 0;
	for (int v = 0; v < n; v++)
		if (r->node[v].group >= ng)
			ng = r->node[v].group + 1;
	int *first = xmalloc(((size_t)ng + 1) * sizeof *first);
	for (int g = 0; g < ng; g++)
		first[g] = -1;
	for (int v = 0; v < n; v++) {
		int g = r->node[v].group;
		if (g >= 0 && first[g] < 0)
			first[g] = next++;
		if (g >= 0)
			r->node[v].group = first[g];
	}
	free(first);
}

int kernel_members(const Region *r, int group, int *mem)
{
	int n = 0;
	for (int v = 0; v < r->nnode; v++)
		if (r->node[v].group == group) {
			if (mem)
				mem[n] = v;
			n++;
		}
	return n;
}

/* The forward part (fwd[v], r->nnode entries, zeroed by the caller):
   every node a region output needs, and every member of a kernel holding
   such a node (a kernel runs whole, in the forward part or not). */
void kernel_forward(const Region *r, bool *fwd)
{
	int n = r->nnode, ng = 0;
	for (int i = 0; i < r->nout; i++)
		fwd[r->out[i]] = true;
	for (int v = n - 1; v >= 0; v--)
		for (int k = 0; fwd[v] && k < r->node[v].narg; k++)
			fwd[ir_operand(r, v, k)] = true;
	for (int v = 0; v < n; v++)
		if (r->node[v].group >= ng)
			ng = r->node[v].group + 1;
	bool *kf = xcalloc((size_t)ng + 1, sizeof *kf);
	for (int v = 0; v < n; v++)
		if (r->node[v].group >= 0 && fwd[v])
			kf[r->node[v].group] = true;
	for (int v = 0; v < n; v++)
		if (r->node[v].group >= 0)
			fwd[v] = kf[r->node[v].group];
	free(kf);
}

void kernel_internal(const Region *r, bool *internal)
{
	int n = r->nnode;
	bool *used = xcalloc((size_t)n + 1, sizeof *used);
	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		internal[v] = (nd->group >= 0 && nd->op != OP_MATMUL) || (nd->op == OP_CONST);
	}
	for (int i = 0; i < r->nout; i++)
		internal[r->out[i]] = false;
	for (int w = 0; w < n; w++) {
		const Node *wn = &r->node[w];
		for (int k = 0; k < wn->narg; k++) {
			int o = ir_operand(r, w, k);
			const Node *on = &r->node[o];
			used[o] = true;
			if (!internal[o])
				continue;
			if (wn->op == OP_MATMUL || wn->group < 0)
				internal[o] = false; /* read from memory */
			else if (on->op != OP_CONST && wn->group != on->group)
				internal[o] = false;
		}
	}
	/* an unused constant outside every kernel is still computed */
	for (int v = 0; v < n; v++)
		if (r->node[v].op == OP_CONST && r->node[v].group < 0 && !used[v])
			internal[v] = false;
	free(used);
}

/* Users of every node in CSR form, one entry per operand edge. */
typedef struct {
	int n;
	int *ustart, *users;
} Users;

static void users_init(Users *f, const Region *r)
{
	f->n = r->nnode;
	ir_users(r, &f->ustart, &f->users);
}

/* May WRITE w compute its value straight into its slot?  (kernel_through) */
static bool through_ok(const Region *r, const Users *f, int w, const int *first, const int *last, const bool *reduces,
	const bool *out, int *stack)
{
	int s = ir_operand(r, w, 0), x = ir_operand(r, w, 1), g = r->node[x].group;
	if (g < 0 || reduces[g] || r->node[x].op == OP_MATMUL || out[x] || r->node[x].op == OP_CONST)
		return false;
	for (int e = f->ustart[x]; e < f->ustart[x + 1]; e++)
		if (f->users[e] != w && r->node[f->users[e]].group != g)
			return false;
	/* every reader of the slot's bytes, through any slot node that shares
	   them (a parameter inside a packed span), aliases followed */
	int sp = 0;
	for (int v = 0; v < f->n; v++)
		if (v == s || ir_slots_overlap(&r->node[v], &r->node[s]))
			stack[sp++] = v;
	while (sp > 0) {
		int a = stack[--sp];
		if (out[a])
			return false;
		for (int e = f->ustart[a]; e < f->ustart[a + 1]; e++) {
			int u = f->users[e];
			const Node *un = &r->node[u];
			if (un->op == OP_WRITE) {
				if (ir_operand(r, u, 1) == a)
					return false;
				continue;
			}
			if (un->group == g)
				continue;
			if ((un->group >= 0 ? last[un->group] : u) >= first[g])
				return false;
			if (r->node[u].group < 0 && ir_is_alias(r, u))
				stack[sp++] = u;
		}
	}
	return true;
}

void kernel_through(const Region *r, bool *through)
{
	int n = r->nnode;
	for (int v = 0; v < n; v++)
		through[v] = false;
	Users f;
	users_init(&f, r);
	int *stack = xmalloc(((size_t)n + 1) * sizeof *stack);
	int *first = xmalloc(((size_t)n + 1) * sizeof *first), *last = xmalloc(((size_t)n + 1) * sizeof *last);
	bool *reduces = xcalloc((size_t)n + 1, sizeof *reduces), *out = xcalloc((size_t)n + 1, sizeof *out);
	for (int v = 0; v < n; v++)
		first[v] = -1;
	for (int v = 0; v < n; v++) {
		int g = r->node[v].group;
		if (g < 0 || g >= n)
			continue;
		if (first[g] < 0)
			first[g] = v;
		last[g] = v;
		reduces[g] |= op_has(r->node[v].op, F_REDUCE);
	}
	for (int i = 0; i < r->nout; i++)
		out[r->out[i]] = true;
	for (int w = 0; w < n; w++)
		if (r->node[w].op == OP_WRITE && !through[ir_operand(r, w, 1)] &&
		    r->node[ir_operand(r, w, 1)].group < n && through_ok(r, &f, w, first, last, reduces, out, stack))
			through[ir_operand(r, w, 1)] = true;
	free(first);
	free(last);
	free(reduces);
	free(out);
	free(stack);
	free(f.ustart);
	free(f.users);
}

static int64_t bytes_of(const Node *nd)
{
	return type_bytes(&nd->type);
}

void kernel_traffic(const Region *r, bool fused, KernelTraffic *t)
{
	int n = r->nnode;
	memset(t, 0, sizeof *t);
	bool *internal = xcalloc((size_t)n + 1, sizeof *internal), *through = xcalloc((size_t)n + 1, sizeof *through);
	if (fused) {
		kernel_internal(r, internal);
		kernel_through(r, through);
	}
	/* stamp[o] = 1 + the unit that last counted o as read */
	int *stamp = xcalloc((size_t)n + 1, sizeof *stamp);
	int ng = 0;
	for (int v = 0; v < n; v++)
		ng = fused && r->node[v].group + 1 > ng ? r->node[v].group + 1 : ng;
	bool *seen = xcalloc((size_t)ng + 1, sizeof *seen);
	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		if (nd->op == OP_INPUT || ir_is_slot(nd->op))
			continue;
		if (fused && nd->op == OP_PACK)
			continue; /* its operands are computed in place (memplan.c): no copy */
		t->ops++;
		int g = fused ? nd->group : -1, unit = g >= 0 ? g : ng + v;
		if (nd->op == OP_WRITE && through[ir_operand(r, v, 1)])
			continue; /* its kernel stored the value in the slot: nothing to copy */
		if (g >= 0 && !seen[g]) {
			seen[g] = true;
			t->kernels++;
		} else if (g < 0 && !internal[v]) {
			t->kernels++;
		}
		if (nd->op == OP_WRITE) {
			int val = ir_operand(r, v, 1);
			t->read += bytes_of(&r->node[val]);
			t->written += bytes_of(&r->node[val]);
			continue;
		}
		if (!internal[v])
			t->written += bytes_of(nd);
		for (int k = 0; k < nd->narg; k++) {
			int o = ir_operand(r, v, k);
			bool inside = g >= 0 && r->node[o].group == g && r->node[o].op != OP_MATMUL;
			if (internal[o] || inside || stamp[o] == unit + 1)
				continue;
			stamp[o] = unit + 1;
			t->read += bytes_of(&r->node[o]);
		}
	}
	free(seen);
	free(stamp);
	free(internal);
	free(through);
}

static void stats_row(FILE *f, const char *name, const char *what, const KernelTraffic *t, const char *extra)
{
	fprintf(f, "  %-10s %-14s %7lld %8lld %11.3f MB %11.3f MB%s\n", name, what, (long long)t->ops,
		(long long)t->kernels, t->read / 1e6, t->written / 1e6, extra);
}

void kernel_stats(FILE *f, const Region *r, bool heading)
{
	KernelTraffic before, after;
	kernel_traffic(r, false, &before);
	kernel_traffic(r, true, &after);
	char extra[96] = "";
	if (r->arena_bytes > 0)
		snprintf(extra, sizeof extra, "  (arena %.3f MB)", r->arena_bytes / 1e6);
	if (heading) {
		fprintf(f, "stats: work of one run of each region (before fusion: every node its own kernel)\n");
		fprintf(f, "  %-10s %-14s %7s %8s %14s %14s\n", "region", "", "ops", "kernels", "bytes read", "written");
	}
	stats_row(f, r->name ? r->name : "", "before fusion", &before, "");
	stats_row(f, "", "after fusion", &after, extra);
}

/* ---- comments for the IR printer ---- */

/*
 * A comment line describing fused kernel `group`: its size, index space,
 * reduced axes and the values it stores, e.g.
 *   ; kernel k1: 18 ops over [128, 10], reducing axis [1] row by row, after the GEMM %41; stores %50 %58
 */
static void print_kernel(FILE *f, const Region *r, int group, const bool *internal)
{
	int *mem = xmalloc(((size_t)r->nnode + 1) * sizeof *mem), n = kernel_members(r, group, mem);
	KernelSpace s;
	fprintf(f, "; kernel k%d: %d op%s", group, n, n == 1 ? "" : "s");
	if (kernel_space(r, mem, n, &s, NULL)) {
		fputs(" over ", f);
		ir_print_ints(f, s.x.dim, s.x.rank);
		if (s.red) {
			int64_t ax[MAX_RANK];
			int na = 0;
			for (int a = 0; a < s.x.rank; a++)
				if (s.red >> a & 1)
					ax[na++] = a;
			fprintf(f, ", reducing ax%s ", na == 1 ? "is" : "es");
			ir_print_ints(f, ax, na);
			fputs(s.rows ? " row by row" : " in one walk", f);
		}
		if (s.head >= 0)
			fprintf(f, ", after the GEMM %%%d", s.head);
	} else {
		fputs(" (not one loop nest)", f);
	}
	const char *sep = "; stores";
	for (int i = 0; i < n; i++)
		if (!internal[mem[i]] && r->node[mem[i]].op != OP_MATMUL) {
			fprintf(f, "%s %%%d", sep, mem[i]);
			sep = "";
		}
	fputc('\n', f);
	free(mem);
}

void kernel_print_comments(FILE *f, const Region *r)
{
	bool *internal = xmalloc(((size_t)r->nnode + 1) * sizeof *internal);
	kernel_internal(r, internal);
	for (int v = 0; v < r->nnode; v++) {
		int k = r->node[v].group, u = v - 1;
		while (k >= 0 && u >= 0 && r->node[u].group != k)
			u--;
		if (k >= 0 && u < 0) /* k's first member */
			print_kernel(f, r, k, internal);
	}
	free(internal);
}

/* ---- what each kernel call is, for the profiler ----
 *
 * Code generation marks the end of each kernel call with the node it
 * computes (codegen/region.c); kernel_describe names that node's kernel
 * from the same Region, in sinter run and in built binaries alike: the
 * GEMM's shape, the fused kernel's ops, the optimizer update, the flops
 * and the bytes read and written of one call.
 */

/* M, N, K and the batch of MATMUL node v. */
static void gemm_shape(const Region *r, int v, KernelInfo *ki)
{
	const Node *nd = &r->node[v];
	const Type *a = &r->node[ir_operand(r, v, 0)].type, *o = &nd->type;
	bool ta = nd->nia >= 1 && nd->ia[0]; /* then tb, then bf16 */
	ki->m = o->dim[o->rank - 2];
	ki->n = o->dim[o->rank - 1];
	ki->k = a->dim[a->rank - 1 - ta];
	int64_t mn = ki->m * ki->n;
	ki->batch = mn > 0 ? type_numel(o) / mn : 0;
	ki->flop = 2.0 * (double)ki->batch * (double)ki->m * (double)ki->n * (double)ki->k;
}

static void append(char *buf, size_t len, const char *s)
{
	size_t at = strlen(buf);
	if (at + 1 < len)
		snprintf(buf + at, len - at, "%s%s", at ? " " : "", s);
}

void kernel_describe(const Region *r, int v, const int *mem, int n, const bool *internal, const bool *written,
	KernelInfo *ki)
{
	memset(ki, 0, sizeof *ki);
	if (v < 0) {
		/* the region's end: outputs copied out, WRITEs into their slots */
		snprintf(ki->name, sizeof ki->name, "outputs and writes");
		bool *through = xcalloc((size_t)r->nnode + 1, sizeof *through);
		kernel_through(r, through);
		for (int k = 0; k < r->nout; k++)
			if (!ir_takes_memory(r->node[r->out[k]].op)) /* else computed in the caller's buffer */
				ki->bytes += 2.0 * (double)type_bytes(&r->node[r->out[k]].type);
		for (int w = 0; w < r->nnode; w++)
			if (r->node[w].op == OP_WRITE && !through[ir_operand(r, w, 1)])
				ki->bytes += 2.0 * (double)type_bytes(&r->node[ir_operand(r, w, 1)].type);
		free(through);
		return;
	}
	int g = r->node[v].group;
	bool update = false;
	int head = -1;
	/* ops of the name: each op once, in order; every member's in ki->ops */
	char names[sizeof ki->name] = "";
	for (int i = 0; i < n; i++) {
		const Node *nd = &r->node[mem[i]];
		const char *op = op_info[nd->op].name;
		append(ki->ops, sizeof ki->ops, op);
		if (nd->op == OP_MATMUL) {
			head = mem[i];
			continue;
		}
		update |= written[mem[i]];
		bool seen = false;
		for (int j = 0; j < i && !seen; j++)
			seen = r->node[mem[j]].op == nd->op;
		if (!seen)
			append(names, sizeof names, op);
	}
	/* bytes: each operand from outside the kernel read once, each value
	   that leaves the kernel (or the GEMM's own buffer) written once; a
	   pack's operands were computed in its buffer (memplan.c): no copy */
	for (int i = 0; i < n && r->node[v].op != OP_PACK; i++) {
		const Node *nd = &r->node[mem[i]];
		if (!internal[mem[i]] || nd->op == OP_MATMUL)
			ki->bytes += (double)type_bytes(&nd->type);
		for (int k = 0; k < nd->narg; k++) {
			int o = ir_operand(r, mem[i], k), dup = 0;
			if (g >= 0 && r->node[o].group == g)
				continue;
			for (int j = 0; j <= i && !dup; j++)
				for (int l = 0; l < (j < i ? r->node[mem[j]].narg : k) && !dup; l++)
					dup = ir_operand(r, mem[j], l) == o;
			if (!dup)
				ki->bytes += (double)type_bytes(&r->node[o].type);
		}
	}
	char id[24], gemm[96] = "";
	if (g >= 0)
		snprintf(id, sizeof id, "k%d", g);
	else
		snprintf(id, sizeof id, "%%%d", v);
	if (head >= 0) {
		gemm_shape(r, head, ki);
		if (ki->batch > 1)
			snprintf(gemm, sizeof gemm, "gemm %lldx(%lldx%lldx%lld)", (long long)ki->batch, (long long)ki->m,
				(long long)ki->n, (long long)ki->k);
		else
			snprintf(gemm, sizeof gemm, "gemm %lldx%lldx%lld", (long long)ki->m, (long long)ki->n,
				(long long)ki->k);
	}
	int w = snprintf(ki->name, sizeof ki->name, "%s %s%s%s%s", id, update ? "update: " : "", gemm,
		gemm[0] && names[0] ? " + " : "", names);
	if (w >= (int)sizeof ki->name) /* a long op list: say it is cut */
		memcpy(ki->name + sizeof ki->name - 4, "...", 4);
}

/* ---- bf16 values a product reads in place of their widening ---- */

/* Is v a reshape outside every kernel that shares its operand's buffer
   (the same offset, or none placed yet: memplan gives a reshape of the
   same size its operand's buffer)? */
static bool shared_reshape(const Region *r, int v)
{
	const Node *nd = &r->node[v];
	return nd->op == OP_RESHAPE && nd->group < 0 && ir_is_alias(r, v) &&
		nd->offset == r->node[ir_operand(r, v, 0)].offset;
}

bool kernel_reads_bf16(const Region *r, int u, int k)
{
	const Node *nd = &r->node[u];
	if (!(op_info[nd->op].attrs & A_BF16) || !attr_int(nd, AS_IA2))
		return false;
	if (nd->op == OP_MATMUL)
		return k < 2;
	/* an attention's q, k, v: the packed form's one x, or three */
	return k < (ir_attention_packed(r, u) ? 1 : 3);
}

/* Is every reader of v, through shared reshapes, a bf16 product (as its A
   or B, or an attention's q, k or v), and v no region output? */
static bool products_only(const Region *r, int v)
{
	for (int i = 0; i < r->nout; i++)
		if (r->out[i] == v)
			return false;
	for (int u = v + 1; u < r->nnode; u++) {
		const Node *nd = &r->node[u];
		for (int k = 0; k < nd->narg; k++) {
			if (ir_operand(r, u, k) != v)
				continue;
			if (shared_reshape(r, u) ? !products_only(r, u) : !kernel_reads_bf16(r, u, k))
				return false;
		}
	}
	return true;
}

/* The bf16 value must itself be a rounding (a cast): its NaNs are then
   0x7FC0, which rounding its widening gives back; a bf16 input's other
   NaN payloads would not come back the same. */
bool kernel_widens_for_products(const Region *r, int v)
{
	const Node *nd = &r->node[v];
	if (nd->op != OP_CAST || nd->group >= 0 || nd->type.dt != DT_F32)
		return false;
	const Node *s = &r->node[ir_operand(r, v, 0)];
	return s->op == OP_CAST && s->type.dt == DT_BF16 && products_only(r, v);
}

int kernel_widening_of(const Region *r, int o)
{
	while (shared_reshape(r, o))
		o = ir_operand(r, o, 0);
	return kernel_widens_for_products(r, o) ? o : -1;
}
