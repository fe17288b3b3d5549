/*
 * dot.c — `sinter dot FILE.sn [--after PASS] [--region NAME]`: every region
 * (or one) as a Graphviz graph, after the whole pipeline or after PASS.
 * Each node shows its value, op and type; edges go from operands to users;
 * a fused kernel (Node.group) is drawn as a cluster, and writes into
 * parameters or optimizer state are drawn dashed.
 *
 *   ./sinter dot examples/mlp.sn --region step0 | dot -Tpng -o step.png
 */
#include <stdio.h>
#include <string.h>

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

int cmd_dot(const Options *o, const char *region)
{
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
		if (!region || !strcmp(h->cache[i].exec->name, region)) {
			print_dot(stdout, h->cache[i].exec);
			shown++;
		}
	if (region && !shown)
		fatal("no region named '%s' (see sinter ir %s)", region, o->file);
	host_free(ev);
	arena_free(a);
	return 0;
}
