/*
 * dot.c — `sinter dot FILE.sn [--after PASS] [--region NAME]`: every region
 * (or one) as a Graphviz graph, after the whole pipeline or after PASS.
 * Each node shows its value, op and type; edges go from operands to users;
 * a fused kernel (Node.group) is drawn as a cluster, and writes into
 * parameters or optimizer state are drawn dashed.
 *
 *   ./sinter dot examples/mlp.sn --region step0 | dot -Tpng -o step.png
 *   ./sinter dot examples/mlp.sn --region step0 -o step.svg
 *
 * -o PATH writes the graph text (PATH.dot or .gv) or, for .svg, .png and
 * .pdf, the picture: Graphviz's `dot` renders it (make deps installs
 * graphviz).  A picture holds one graph, so it needs --region when the
 * program has several regions.  Both go through a temporary file renamed
 * into place: a failed render leaves no half-written PATH.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"
#include "lang/diag.h"

static void node_label(FILE *f, const Region *r, int v)
{
	const Node *n = &r->node[v];
	char t[96];
	fprintf(f, "%%%d %s", v, op_info[n->op].name);
	if (n->name)
		fprintf(f, " %s%s%s", n->name, n->sname ? " " : "", n->sname ? n->sname : "");
	if (n->op == OP_CONST)
		fprintf(f, " %g", n->f);
	if (n->op == OP_INPUT)
		fprintf(f, " %lld", (long long)n->ia[0]);
	fprintf(f, "\\n%s", type_str(&n->type, t, sizeof t));
}

static void print_dot(FILE *f, const Region *r)
{
	fprintf(f, "digraph \"%s\" {\n\trankdir=TB;\n", r->name);
	fprintf(f, "\tnode [shape=box, fontname=\"monospace\", fontsize=10];\n");
	int maxg = -1;
	for (int v = 0; v < r->nnode; v++)
		if (r->node[v].group > maxg)
			maxg = r->node[v].group;
	for (int g = 0; g <= maxg; g++) {
		bool any = false;
		for (int v = 0; v < r->nnode; v++)
			if (r->node[v].group == g) {
				if (!any)
					fprintf(f, "\tsubgraph cluster_k%d {\n\t\tlabel=\"kernel %d\"; style=filled; color=\"#e8e8f4\";\n", g, g);
				any = true;
				fprintf(f, "\t\tn%d;\n", v);
			}
		if (any)
			fprintf(f, "\t}\n");
	}
	for (int v = 0; v < r->nnode; v++) {
		const Node *n = &r->node[v];
		const char *style = n->op == OP_PARAM || n->op == OP_STATE ? ", style=rounded"
		                  : n->op == OP_INPUT ? ", shape=oval" : "";
		fprintf(f, "\tn%d [label=\"", v);
		node_label(f, r, v);
		fprintf(f, "\"%s];\n", style);
		for (int k = 0; k < n->narg; k++)
			fprintf(f, "\tn%d -> n%d%s;\n", ir_operand(r, v, k), v,
			        n->op == OP_WRITE && k == 0 ? " [style=dashed, dir=back]" : "");
	}
	for (int k = 0; k < r->nout; k++)
		fprintf(f, "\tout%d [label=\"output %d\", shape=plaintext];\n\tn%d -> out%d;\n", k, k, r->out[k], k);
	fprintf(f, "}\n");
}

/* The Graphviz format -o PATH asks for, or NULL for the graph text. */
static const char *picture_format(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot || strchr(dot, '/') || !strcmp(dot, ".dot") || !strcmp(dot, ".gv"))
		return NULL;
	static const char *const formats[] = { "svg", "png", "pdf" };
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
		if (!strcmp(dot + 1, formats[i]))
			return formats[i];
	fatal("-o %s: sinter dot writes .dot or .gv (the graph text), .svg, .png or .pdf (the picture)", path);
}

/* Graphviz's dot turns the graph text in `text` (removed after) into `out`. */
static void render(const char *text, const char *format, const char *out, Arena *a)
{
	const char *tmp = arena_printf(a, "%s.tmp%d", out, (int)getpid());
	char *argv[] = { "dot", (char *)arena_printf(a, "-T%s", format), "-o", (char *)tmp, (char *)text, NULL };
	int status = driver_spawn(argv, false);
	unlink(text);
	if (status == 0) {
		if (!rename(tmp, out))
			return;
		int e = errno;
		unlink(tmp);
		fatal("cannot write '%s': %s", out, strerror(e));
	}
	unlink(tmp);
	if (status == 127)
		fatal("cannot draw '%s': Graphviz's 'dot' is not installed (make deps installs the Debian package "
		      "graphviz); -o %.*s.dot writes the graph text instead", out, (int)(strrchr(out, '.') - out), out);
	fatal("cannot draw '%s': Graphviz's 'dot' failed (exit status %d)", out, status);
}

int cmd_dot(const Options *o, const char *region)
{
	const char *format = o->output ? picture_format(o->output) : NULL;
	const char *names[32];
	int n = pipeline_passes(names, 32);
	static char disable[512];
	snprintf(disable, sizeof disable, "%s", o->disable ? o->disable : "");
	if (o->after) {
		int at = -1;
		for (int i = 0; i < n; i++)
			if (!strcmp(names[i], o->after))
				at = i;
		if (at < 0)
			fatal("unknown pass '%s'", o->after);
		for (int i = at + 1; i < n; i++) {
			size_t len = strlen(disable);
			snprintf(disable + len, sizeof disable - len, "%s%s", len ? "," : "", names[i]);
		}
	}
	Options dry = *o;
	dry.cmd = "check";
	dry.after = NULL;
	dry.disable = disable[0] ? disable : NULL;
	Arena *a = arena_new();
	Ev *ev = driver_setup(&dry, a);
	driver_run(ev, &dry, (Backend){ 0 });
	Host *h = ev->host;
	int shown = 0;
	for (int i = 0; i < h->ncache; i++)
		shown += !region || !strcmp(h->cache[i].exec->name, region);
	if (region && !shown)
		fatal("no region named '%s' (see sinter ir %s)", region, o->file);
	if (format && shown > 1)
		fatal("%s has %d regions and a picture shows one: choose it with --region NAME "
		      "(sinter ir %s lists them), or write them all as text with -o FILE.dot", o->file, shown, o->file);
	const char *tmp = o->output ? arena_printf(a, "%s.tmp%d.dot", o->output, (int)getpid()) : NULL;
	FILE *f = tmp ? fopen(tmp, "w") : stdout;
	if (!f)
		fatal("cannot write '%s': %s", tmp, strerror(errno));
	for (int i = 0; i < h->ncache; i++)
		if (!region || !strcmp(h->cache[i].exec->name, region))
			print_dot(f, h->cache[i].exec);
	if (tmp) {
		if (fclose(f))
			fatal("cannot write '%s': %s", tmp, strerror(errno));
		if (format)
			render(tmp, format, o->output, a);
		else if (rename(tmp, o->output)) {
			int e = errno;
			unlink(tmp);
			fatal("cannot write '%s': %s", o->output, strerror(e));
		}
	}
	host_free(ev);
	arena_free(a);
	return 0;
}
