/*
 * aotmain.c — main() of the executables `sinter build` writes.  It parses
 * the embedded program, runs its train blocks like `sinter run`, and runs
 * each region with the native code compiled ahead of time for it; a region
 * the build's dry run did not meet (its shape depended on data, say) runs
 * on the reference interpreter, which --verbose reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/aot.h"
#include "driver/driver.h"
#include "lang/diag.h"
#include "lang/lang.h"
#include "runtime/runtime.h"

typedef struct {
	bool verbose;
	CgRegion **made;   /* handed out, freed by aot_release */
	int nmade;
} AotTable;

static CgRegion *aot_compile(void *ctx, const Region *r, const char *text)
{
	AotTable *t = ctx;
	for (int i = 0; i < aot_nregions; i++) {
		if (strcmp(aot_regions[i].text, text))
			continue;
		CgRegion *cr = xcalloc(1, sizeof *cr);
		cr->fn = aot_regions[i].fn;
		cr->scratch = (size_t)aot_regions[i].scratch;
		cr->r = r;
		cr->nslot = ir_slot_nodes(r, NULL);
		cr->slot = xmalloc(((size_t)cr->nslot + 1) * sizeof *cr->slot);
		ir_slot_nodes(r, cr->slot);
		t->made = realloc(t->made, (t->nmade + 1) * sizeof *t->made);
		t->made[t->nmade++] = cr;
		return cr;
	}
	if (t->verbose)
		fprintf(stderr, "%s: region %s was not compiled ahead of time; the interpreter runs it\n",
		        aot_name, r->name);
	return NULL;
}

static void aot_release(void *ctx)
{
	AotTable *t = ctx;
	for (int i = 0; i < t->nmade; i++) {
		free(t->made[i]->slot);
		free(t->made[i]->buf);
		free(t->made[i]);
	}
	free(t->made);
	t->made = NULL;
	t->nmade = 0;
}

int main(int argc, char **argv)
{
	Options o = { .cmd = "run", .file = aot_name };
	for (int i = 0; i < aot_ndefines && i < MAX_DEFINES; i++)
		o.defines[o.ndefines++] = aot_defines[i];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: %s [--seed N] [--threads N] [--log PATH] [--max-memory SIZE] [-D NAME=VALUE] [--interp] [--verbose]\n"
			       "trains %s (built by sinter)\n", argv[0], aot_name);
			return 0;
		}
		if (!driver_option(argc, argv, &i, &o) || o.after || o.passes || o.disable)
			fatal("option '%s' is not supported by this program (see %s --help)", argv[i], argv[0]);
	}
	/* the fastest correct OpenBLAS kernels and --threads, as `sinter run` (driver/blas.c) */
	blas_setup(argv, &o);
	Arena *a = arena_new();
	Program *prog = arena_alloc(a, sizeof *prog);
	for (int i = 0; i < aot_nsources; i++)
		lang_parse_text(a, prog, aot_sources[i].path, aot_sources[i].text, aot_sources[i].from_stdlib);
	o.prog = prog;
	Ev *ev = driver_setup(&o, a);
	AotTable table = { .verbose = o.verbose };
	Backend be = { 0 };
	if (!o.interp)
		be = (Backend){ &table, aot_compile, aot_release };
	driver_run(ev, &o, be);
	host_free(ev);
	arena_free(a);
	return 0;
}
