/*
 * plan.c — `sinter plan FILE.sn`: runs the program dry (like `sinter ir`),
 * compiles every region through the whole pipeline and reports its memory
 * plan: each arena value with its offset and live range (and each work
 * buffer, the im2col matrices of a convolution or the score tiles of an
 * attention, live during its node's
 * kernel only), the arena size
 * against the naive sum of all buffers and against the lower bound (the
 * most bytes live at one position), a chart of lifetimes, and the bytes of
 * every optimizer state; with --svg PATH, the same lifetimes as a picture
 * instead: one panel per region, one bar per arena value (and work buffer)
 * over its live positions and its bytes.
 *
 * Everything here is recomputed from the planned region (node offsets and
 * operands), not taken from the planner, so the report also checks the
 * plan: two values live at once whose bytes overlap, other than a value and
 * the one written over it in place or a PACK and an operand it holds in
 * place, are an internal error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#include "driver/svg.h"
#include "lang/diag.h"
#include "lang/lang.h"
#include "host/host.h"
#include "kernel/kernel.h"

enum { CHART_WIDTH = 160 }; /* longest chart row; longer regions fold positions */

/* Lifetime of one arena value. */
typedef struct {
	int v;           /* value */
	int64_t lo, hi;  /* bytes [lo, hi) of the arena */
	int def, last;   /* positions; last = n: live to the end (output or written) */
	bool grad;       /* in the gradient arena: a PACK, or an operand it holds in place */
	bool work;       /* v's work buffer (Node.work), not its value */
} Life;

static int life_cmp(const void *a, const void *b)
{
	const Life *x = a, *y = b;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->def != y->def)
		return x->def < y->def ? -1 : 1;
	return x->v != y->v ? x->v - y->v : x->work - y->work;
}

static int span_cmp(const void *a, const void *b)
{
	const Life *x = a, *y = b;
	return x->lo != y->lo ? (x->lo < y->lo ? -1 : 1) : (x->hi > y->hi) - (x->hi < y->hi);
}

/* Is p a PACK that holds x in place, at x's place in it? */
static bool holds(const Region *r, const Life *p, const Life *x)
{
	if (r->node[p->v].op != OP_PACK)
		return false;
	for (int k = 0; k < r->node[p->v].narg; k++)
		if (ir_operand(r, p->v, k) == x->v && x->lo == p->lo + ir_pack_start(r, p->v, k))
			return true;
	return false;
}

/*
 * Bytes of the arena in use at position t: the union of the ranges of the
 * values live there (a value and the one computed over it in place share a
 * range; any other overlap is a broken plan).
 */
static int64_t in_use(const Region *r, const Life *life, int m, int t, Life *tmp, bool aligned)
{
	int k = 0;
	for (int i = 0; i < m; i++)
		if (life[i].def <= t && t <= life[i].last && life[i].hi > life[i].lo && !life[i].grad) {
			tmp[k] = life[i];
			if (aligned)
				tmp[k].hi = align_up(tmp[k].hi, 64);
			k++;
		}
	qsort(tmp, (size_t)k, sizeof *tmp, span_cmp);
	int64_t used = 0, end = 0;
	for (int i = 0; i < k; i++) {
		for (int j = 0; j < i && tmp[i].lo < end; j++)
			if (tmp[j].hi > tmp[i].lo && !(tmp[i].lo == tmp[j].lo && tmp[i].hi == tmp[j].hi && !tmp[i].work && !tmp[j].work) &&
			    !holds(r, &tmp[j], &tmp[i]) && !holds(r, &tmp[i], &tmp[j]))
				die("plan of %s: %%%d%s and %%%d%s are both live at %d and overlap", r->name, tmp[j].v,
				    tmp[j].work ? "'s work buffer" : "", tmp[i].v, tmp[i].work ? "'s work buffer" : "", t);
		if (tmp[i].hi > end) {
			used += tmp[i].hi - (tmp[i].lo > end ? tmp[i].lo : end);
			end = tmp[i].hi;
		}
	}
	return used;
}

static void print_ratio(const char *what, int64_t a, int64_t b)
{
	if (b > 0)
		printf("  arena/%-12s %.3f\n", what, (double)a / (double)b);
	else
		printf("  arena/%-12s -\n", what);
}

static void chart(const Region *r, const Life *life, int m)
{
	int n = r->nnode, fold = (n + CHART_WIDTH - 1) / CHART_WIDTH;
	if (fold < 1)
		fold = 1;
	int cols = (n + fold - 1) / fold;
	printf("\n  lifetimes, by offset: one row per value, one column per %s ('#' live)\n",
	       fold == 1 ? "schedule position" : arena_printf(r->arena, "%d schedule positions", fold));
	char *row = xmalloc((size_t)cols + 1);
	for (int i = 0; i < m; i++) {
		for (int c = 0; c < cols; c++) {
			int t0 = c * fold, t1 = t0 + fold - 1;
			row[c] = life[i].def <= t1 && t0 <= life[i].last ? '#' : '.';
		}
		row[cols] = 0;
		printf("  %%%-5d%s @%-10lld |%s|\n", life[i].v, life[i].work ? "w" : " ", (long long)life[i].lo, row);
	}
	free(row);
}

/* What the report says of a region besides its lifetimes. */
typedef struct {
	int m, other, nwork; /* values (and work buffers) in the arena; values elsewhere; work buffers */
	bool planned;
	int64_t naive, arena, grads, ngrads;
} Sums;

/*
 * The lifetimes of r's arena values and work buffers (*s filled, malloc'ed
 * array of s->m).  A fused kernel runs as one unit: its values are defined
 * at its first member, what it reads is used until its last member; values
 * that live only inside it have no bytes.
 */
static Life *collect(const Region *r, Sums *s)
{
	int n = r->nnode, m = 0, other = 0, nwork = 0;
	/* a value and a work buffer per node at most */
	Life *life = xmalloc((2 * (size_t)n + 1) * sizeof *life);
	int *last = xmalloc(((size_t)n + 1) * sizeof *last);
	int *first = xmalloc(((size_t)n + 1) * sizeof *first), *at = xmalloc(((size_t)n + 1) * sizeof *at);
	bool *internal = xmalloc(((size_t)n + 1) * sizeof *internal), *through = xmalloc(((size_t)n + 1) * sizeof *through);
	kernel_internal(r, internal);
	kernel_through(r, through);
	for (int v = 0; v < n; v++)
		first[v] = v > 0 && r->node[v].group >= 0 && r->node[v - 1].group == r->node[v].group ? first[v - 1] : v;
	for (int v = n - 1; v >= 0; v--)
		at[v] = v < n - 1 && r->node[v].group >= 0 && r->node[v + 1].group == r->node[v].group ? at[v + 1] : v;
	for (int v = 0; v < n; v++) {
		last[v] = at[v];
		for (int k = 0; k < r->node[v].narg; k++) {
			int o = ir_operand(r, v, k);
			last[o] = r->node[v].op == OP_WRITE ? n : at[v] > last[o] ? at[v] : last[o];
		}
	}
	for (int i = 0; i < r->nout; i++)
		last[r->out[i]] = n;
	bool planned = true;
	int64_t naive = 0, arena = r->arena_bytes, grads = 0, ngrads = 0;
	/* the gradient arena (memplan.c): PACKs and the operands they hold */
	bool *grad = xcalloc((size_t)n + 1, sizeof *grad);
	for (int p = 0; p < n; p++)
		if (r->node[p].op == OP_PACK && r->node[p].offset >= 0) {
			grad[p] = true;
			grads += align_up(type_bytes(&r->node[p].type), 64);
			for (int k = 0; k < r->node[p].narg; k++) {
				int u = ir_operand(r, p, k);
				grad[u] |= r->node[u].offset == r->node[p].offset + ir_pack_start(r, p, k);
			}
		}
	for (int v = 0; v < n; v++) {
		const Node *nd = &r->node[v];
		int64_t work = ir_work_bytes(r, v);
		if (work > 0) {
			planned &= nd->work >= 0;
			naive += work;
			nwork++;
			life[m++] = (Life){ v, nd->work, nd->work + work, first[v], at[v], false, true };
			arena = nd->work + work > arena ? nd->work + work : arena;
		}
		if (!ir_takes_memory(nd->op) || internal[v] || through[v]) {
			/* a fused value would have had a buffer of its own, too */
			naive += ir_takes_memory(nd->op) ? type_bytes(&nd->type) : 0;
			other++;
			continue;
		}
		int64_t bytes = type_bytes(&nd->type);
		planned &= nd->offset >= 0;
		naive += grad[v] ? 0 : bytes;
		ngrads += grad[v] && nd->op != OP_PACK;
		life[m++] = (Life){ v, nd->offset, nd->offset + bytes, first[v], last[v], grad[v], false };
		arena = nd->offset + bytes > arena ? nd->offset + bytes : arena;
	}
	arena -= grads; /* the activation arena follows the gradient arena */
	free(grad);
	free(first);
	free(at);
	free(internal);
	free(through);
	free(last);
	*s = (Sums){ m, other, nwork, planned, naive, arena, grads, ngrads };
	return life;
}

static void report(const Region *r)
{
	int n = r->nnode;
	Sums sums;
	/* a value and a work buffer per node at most */
	Life *life = collect(r, &sums), *tmp = xmalloc((2 * (size_t)n + 1) * sizeof *tmp);
	int m = sums.m, other = sums.other, nwork = sums.nwork;
	bool planned = sums.planned;
	int64_t naive = sums.naive, arena = sums.arena, grads = sums.grads, ngrads = sums.ngrads;
	printf("region %s: %d nodes, %d values in the arena, %d in their own storage (input, param, state), "
	       "writes, only inside fused kernels or computed into their slot",
	       r->name, n, m - nwork, other);
	if (nwork)
		printf("; %d work buffers (convolutions' im2col matrices, attention's score tiles; marked w)", nwork);
	printf("\n");
	if (!planned) {
		printf("  not planned (the memplan pass is off)\n\n");
		free(life);
		free(tmp);
		return;
	}
	int64_t lower = 0, lower64 = 0;
	for (int t = 0; t < n; t++) {
		int64_t u = in_use(r, life, m, t, tmp, false), u64 = in_use(r, life, m, t, tmp, true);
		lower = u > lower ? u : lower;
		lower64 = u64 > lower64 ? u64 : lower64;
	}
	qsort(life, (size_t)m, sizeof *life, life_cmp);
	printf("  %-7s %-14s %-20s %10s %10s  %s\n", "value", "op", "type", "bytes", "offset", "live");
	for (int i = 0; i < m; i++) {
		const Node *nd = &r->node[life[i].v];
		char tb[96];
		printf("  %%%-5d%s %-14s %-20s %10lld %10lld  [%d, ", life[i].v, life[i].work ? "w" : " ", op_info[nd->op].name,
		       life[i].work ? "work" : type_str(&nd->type, tb, sizeof tb), (long long)(life[i].hi - life[i].lo), (long long)life[i].lo,
		       life[i].def);
		if (life[i].last == n)
			printf("end]\n");
		else
			printf("%d]\n", life[i].last);
	}
	printf("\n");
	if (grads)
		printf("  gradient arena %12lld bytes  (the packed gradients; %lld computed in place)\n", (long long)grads,
		       (long long)ngrads);
	printf("  arena          %12lld bytes%s\n", (long long)arena, grads ? "  (the activations, after the gradients)" : "");
	printf("  naive sum      %12lld bytes  (every value in its own buffer)\n", (long long)naive);
	printf("  lower bound    %12lld bytes  (the most bytes live at one position)\n", (long long)lower);
	printf("  aligned bound  %12lld bytes  (the same, each buffer rounded up to 64 bytes)\n", (long long)lower64);
	print_ratio("naive sum", arena, naive);
	print_ratio("lower bound", arena, lower);
	chart(r, life, m);
	printf("\n");
	free(life);
	free(tmp);
}

/* One optimizer state name's slots, for the summary. */
typedef struct {
	const char *sname;
	int n;
	int64_t bytes, block; /* the tensors'; their family block's (0: own allocations) */
} StateUse;

static int state_cmp(const void *a, const void *b)
{
	return strcmp(((const StateUse *)a)->sname, ((const StateUse *)b)->sname);
}

/* The optimizer states the dry run created (host/model.c makes a state
   when an update first uses it): bytes per state name, and the family
   block an untyped state sits in, which is laid out like the parameters
   and so as large as all of them. */
static void report_states(Ev *ev)
{
	int n = 0, cap = 0;
	for (int b = 0; ev->slots && b < SLOT_BUCKETS; b++)
		for (Slot *s = ev->slots[b]; s; s = s->next)
			cap++;
	StateUse *u = xcalloc((size_t)cap + 1, sizeof *u);
	for (int b = 0; ev->slots && b < SLOT_BUCKETS; b++)
		for (Slot *s = ev->slots[b]; s; s = s->next) {
			if (!s->sname || slot_is_buffer(s))
				continue;
			int i = 0;
			while (i < n && strcmp(u[i].sname, s->sname))
				i++;
			if (i == n)
				u[n++] = (StateUse){ .sname = s->sname };
			u[i].n++;
			u[i].bytes += type_bytes(&s->t.type);
		}
	if (!n) {
		free(u);
		return;
	}
	for (Family *f = ev->families; f; f = f->next)
		for (int i = 0; f->sname && i < n; i++)
			if (!strcmp(u[i].sname, f->sname))
				u[i].block = type_bytes(&f->t.type);
	qsort(u, (size_t)n, sizeof *u, state_cmp);
	int64_t total = 0, held = 0;
	printf("optimizer states\n");
	for (int i = 0; i < n; i++) {
		printf("  %-20s %5d tensor%s %12lld bytes", u[i].sname, u[i].n, u[i].n == 1 ? " " : "s", (long long)u[i].bytes);
		if (u[i].block)
			printf("  (in a block of %lld bytes laid out like the parameters)", (long long)u[i].block);
		printf("\n");
		total += u[i].bytes;
		held += u[i].block ? u[i].block : u[i].bytes;
	}
	printf("  %-20s %12s %12lld bytes  (%lld bytes allocated)\n\n", "total", "", (long long)total, (long long)held);
	free(u);
}

/* ---- the picture (--svg) ---- */

enum { SW = 960, SH = 380, SL = 96, SR = 20, ST = 40, SB = 52, STOP = 34 };

typedef struct {
	const Region *const *rs;
	int n;
	const char *file;
} Pictured;

/* One region's panel at height oy: a bar per arena value, x its live
   positions, y its bytes of the arena; its <title> is the tooltip. */
static void svg_region(FILE *f, const Region *r, double oy)
{
	Sums sm;
	Life *life = collect(r, &sm);
	int64_t top = 1;
	for (int i = 0; i < sm.m; i++)
		top = life[i].hi > top ? life[i].hi : top;
	/* bytes in the unit that keeps the tick labels short */
	double unit = top >= 1 << 20 ? 1 << 20 : top >= 1 << 10 ? 1 << 10 : 1;
	const char *uname = unit > 1024 ? "MiB" : unit > 1 ? "KiB" : "bytes";
	SvgAxis ax = { 0, r->nnode > 0 ? r->nnode : 1, false }, ay = { 0, (double)top / unit, false };
	double x0 = SL, y0 = oy + ST, w = SW - SL - SR, h = SH - ST - SB;
	fputs("<g class=\"panel\">\n", f);
	svg_axes(f, &ax, &ay, x0, y0, w, h, "schedule position (node)", arena_printf(r->arena, "arena offset (%s)", uname));
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" font-weight=\"bold\">", x0, oy + 24);
	char ab[32], gb[32];
	svg_escaped(f, arena_printf(r->arena, "region %s: %d buffers; arena %s", r->name, sm.m,
		rt_format_bytes(sm.arena, ab, sizeof ab)));
	if (sm.grads)
		fprintf(f, " after %s of packed gradients", rt_format_bytes(sm.grads, gb, sizeof gb));
	fputs(sm.planned ? "" : " (not planned: the memplan pass is off)", f);
	fputs("</text>\n", f);
	for (int i = 0; sm.planned && i < sm.m; i++) {
		const Life *l = &life[i];
		const Node *nd = &r->node[l->v];
		double xa = x0 + w * svg_axis_pos(&ax, l->def), xb = x0 + w * svg_axis_pos(&ax, l->last < r->nnode ? l->last + 1.0 : r->nnode);
		double ya = y0 + h * (1 - svg_axis_pos(&ay, (double)l->hi / unit));
		double yb = y0 + h * (1 - svg_axis_pos(&ay, (double)l->lo / unit));
		char tb[96];
		fprintf(f, "<rect class=\"buffer\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" "
		           "fill-opacity=\"0.8\" stroke=\"white\" stroke-width=\"0.3\"><title>",
		        xa, ya, xb - xa > 0.5 ? xb - xa : 0.5, yb - ya > 0.5 ? yb - ya : 0.5,
		        l->grad ? svg_palette[2] : svg_palette[nd->op % 10 == 2 ? 0 : nd->op % 10]);
		svg_escaped(f, arena_printf(r->arena, "%%%d %s %s: %lld bytes at %lld, live [%d, %s]", l->v,
			op_info[nd->op].name, l->work ? "work" : type_str(&nd->type, tb, sizeof tb), (long long)(l->hi - l->lo),
			(long long)l->lo, l->def, l->last == r->nnode ? "end" : arena_printf(r->arena, "%d", l->last)));
		fputs("</title></rect>\n", f);
	}
	fputs("</g>\n", f);
	free(life);
}

static void write_plan(FILE *f, const void *ctx)
{
	const Pictured *p = ctx;
	svg_begin(f, SW, STOP + p->n * SH);
	fputs("<title>memory plan</title>\n<text x=\"12\" y=\"22\" font-size=\"16\" font-weight=\"bold\">", f);
	svg_escaped(f, "memory plan of ");
	svg_escaped(f, p->file);
	fputs(" (green: the gradient arena; hover a bar for its value)</text>\n", f);
	for (int i = 0; i < p->n; i++)
		svg_region(f, p->rs[i], STOP + i * SH);
	fputs("</svg>\n", f);
}

int cmd_plan(const Options *o)
{
	if (o->after)
		fatal("--after goes with 'sinter ir'");
	if (o->svg && !svg_format_ok(o->svg))
		fatal("plan: --svg %s: the picture is written as .svg or .png", o->svg);
	Arena *a = arena_new();
	Ev *ev = driver_setup(o, a);
	Host *h = ev->host;
	ev->dry = true;
	h->pipe = (PipeOpts){ .out = stdout, .time_passes = o->time_passes, .disable = o->disable,
		.enable = o->bf16 ? PIPE_BF16 : NULL };
	for (int i = 0; i < ev->prog->ndecls; i++)
		if (ev->prog->decls[i]->kind == D_TRAIN && !ev->prog->decls[i]->from_stdlib)
			host_run_train(ev, ev->prog->decls[i]);
	if (o->svg) {
		const Region **rs = arena_alloc(a, ((size_t)h->ncache + 1) * sizeof *rs);
		for (int i = 0; i < h->ncache; i++)
			rs[i] = h->cache[i].exec;
		Pictured p = { rs, h->ncache, o->file };
		svg_save(a, o->svg, "plan", write_plan, &p);
	} else {
		for (int i = 0; i < h->ncache; i++)
			report(h->cache[i].exec);
		report_states(ev);
	}
	host_free(ev);
	arena_free(a);
	return 0;
}
