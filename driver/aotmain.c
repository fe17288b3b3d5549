/*
 * aotmain.c — main() of the executables `sinter build` writes.  It parses
 * the embedded program, runs its train blocks like `sinter run`, and runs
 * each region with the native code compiled ahead of time for it; a region
 * the build's dry run did not meet (its shape depended on data, say) runs
 * on the reference interpreter, which --verbose reports.  When -D values
 * given to the binary change a region's shapes, its first run warns (once
 * per statement): the shapes built and met, and the `sinter build` command
 * that would compile them.
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
	const Options *o;  /* the -D values in force: the build's, then the command line's */
	const Host *host;  /* run_loc: the statement whose region is being compiled */
	CgRegion **made;   /* handed out, freed by aot_release */
	int nmade;
	Loc *warned;       /* statements already warned about */
	int nwarned;
} AotTable;

/* The op names of a region's text, one per line, from *p on: the
   structure a changed shape leaves alone.  Returns the length of the next
   one (0 at the end) and points *op at it. */
static size_t next_op(const char **p, const char **op)
{
	for (const char *s = *p; *s;) {
		const char *eol = strchr(s, '\n');
		const char *end = eol ? eol : s + strlen(s);
		const char *eq = strstr(s, " = ");
		*p = eol ? eol + 1 : end;
		if (eq && eq < end) {
			*op = eq + 3;
			return strcspn(*op, " \n");
		}
		s = *p;
	}
	return 0;
}

static bool same_ops(const char *a, const char *b)
{
	for (;;) {
		const char *x, *y;
		size_t n = next_op(&a, &x), m = next_op(&b, &y);
		if (n != m || strncmp(x, y, n))
			return false;
		if (!n)
			return true;
	}
}

/* The type of a line's value ("%4 = reshape %3 : f32[32,4]"): its length,
   *t pointed at it; 0 when the line has none. */
static int line_type(const char *line, const char **t)
{
	const char *eol = strchr(line, '\n'), *c = strstr(line, " : ");
	if (!c || (eol && c > eol))
		return 0;
	*t = c + 3;
	return (int)strcspn(*t, " \n");
}

/* The type of the i-th input line of text: its length, or 0 without one. */
static int input_type(const char *text, int i, const char **t)
{
	for (const char *s = text; (s = strstr(s, " = input ")); s++)
		if (i-- == 0)
			return line_type(s, t);
	return 0;
}

/* The shapes of a region that differ from those of `other` (the other
   region's text): its inputs' types (all of them when the two have not as
   many inputs), and its parameters' where other has the same parameter
   with another type; else the types of its results. */
static void shapes(FILE *f, const char *text, const char *other)
{
	int k = 0, n, m;
	const char *t, *ot;
	int nin = 0, nother = 0;
	while (input_type(text, nin, &t))
		nin++;
	while (input_type(other, nother, &ot))
		nother++;
	for (int i = 0; i < nin; i++) {
		n = input_type(text, i, &t);
		m = nin == nother ? input_type(other, i, &ot) : 0;
		if (m != n || strncmp(t, ot, (size_t)n))
			fprintf(f, "%s%.*s", k++ ? ", " : "inputs ", n, t);
	}
	for (const char *s = text; (s = strstr(s, " = param \"")); s++) {
		const char *name = s + 10;
		size_t len = strcspn(name, "\"");
		if (!(n = line_type(s, &t)))
			continue;
		for (const char *o = other; (o = strstr(o, " = param \"")); o++) {
			if (strncmp(o + 10, name, len) || o[10 + len] != '"')
				continue;
			m = line_type(o, &ot);
			if (m != n || strncmp(ot, t, (size_t)n))
				fprintf(f, "%s%.*s %.*s", k++ ? ", " : "", (int)len, name, n, t);
			break;
		}
	}
	const char *ret = strstr(text, "\n  return ");
	for (const char *v = ret ? ret + 10 : NULL; !k && v && *v == '%';) {
		/* "return %4, %7": the types of the lines defining them */
		char def[32];
		snprintf(def, sizeof def, "\n  %%%d = ", atoi(v + 1));
		const char *d = strstr(text, def);
		if (d && (n = line_type(d + 1, &t)))
			fprintf(f, "%s%.*s", v > ret + 11 ? ", " : "results ", n, t);
		v += strcspn(v, ",\n");
		v += strspn(v, ", ");
	}
}

/* A word as a POSIX shell reads it back. */
static void shell_word(FILE *f, const char *w)
{
	if (*w && strspn(w, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./=:,+-@%") == strlen(w)) {
		fputs(w, f);
		return;
	}
	fputc('\'', f);
	for (; *w; w++)
		fputs(*w == '\'' ? "'\\''" : (char[]){ *w, 0 }, f);
	fputc('\'', f);
}

/* `sinter build FILE -D ...` with the -D values in force (the last value
   of a name wins, as in the run). */
static void build_command(FILE *f, const Options *o)
{
	fputs("sinter build ", f);
	shell_word(f, aot_name);
	for (int i = 0; i < o->ndefines; i++) {
		size_t n = strcspn(o->defines[i], "=");
		bool later = false;
		for (int k = i + 1; k < o->ndefines && !later; k++)
			later = strcspn(o->defines[k], "=") == n && !strncmp(o->defines[k], o->defines[i], n);
		if (later)
			continue;
		fputs(" -D ", f);
		shell_word(f, o->defines[i]);
	}
}

/* A region without native code: after -D values of the command line, the
   warning a user needs (the interpreter is several times slower), once per
   statement; otherwise the note --verbose asks for. */
static void missed(AotTable *t, const Region *r, const char *text)
{
	Loc at = t->host->run_loc;
	if (t->o->ndefines == aot_ndefines) {
		if (t->verbose)
			fprintf(stderr, "%s: region %s was not compiled ahead of time; the interpreter runs it\n",
			        aot_name, r->name);
		return;
	}
	for (int i = 0; i < t->nwarned; i++)
		if (t->warned[i].line == at.line && t->warned[i].col == at.col &&
		    (t->warned[i].file == at.file || (at.file && t->warned[i].file && !strcmp(t->warned[i].file, at.file))))
			return;
	t->warned = realloc(t->warned, (t->nwarned + 1) * sizeof *t->warned);
	if (!t->warned)
		die_out_of_memory((size_t)(t->nwarned + 1) * sizeof *t->warned);
	t->warned[t->nwarned++] = at;
	const char *built = NULL;
	for (int i = 0; i < aot_nregions && !built; i++)
		if (same_ops(aot_regions[i].text, text))
			built = aot_regions[i].text;
	char *msg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&msg, &len);
	char *was = NULL, *is = NULL;
	size_t wlen = 0, ilen = 0;
	if (built) {
		FILE *w = open_memstream(&was, &wlen), *i = open_memstream(&is, &ilen);
		shapes(w, built, text);
		shapes(i, text, built);
		fclose(w);
		fclose(i);
	}
	if (built && strcmp(was, is)) {
		fprintf(f, "this was compiled by sinter build for %s, but the -D values of this run give it %s", was, is);
	} else if (built) {
		/* the same shapes: a -D changed a number compiled into the region */
		fputs("this was compiled by sinter build with other values of the constants it reads", f);
	} else {
		fputs("the build did not compile this with the -D values of this run", f);
	}
	fprintf(f, "; region %s runs on the interpreter, several times slower", r->name);
	fclose(f);
	diag_warning(at, "%s", msg);
	free(msg);
	free(was);
	free(is);
	fputs("  to compile it: ", stderr);
	build_command(stderr, t->o);
	fputc('\n', stderr);
}

static CgRegion *aot_compile(void *ctx, const Region *r, const char *text)
{
	AotTable *t = ctx;
	for (int i = 0; i < aot_nregions; i++) {
		if (strcmp(aot_regions[i].text, text))
			continue;
		CgRegion *cr = xcalloc(1, sizeof *cr);
		cr->fn = aot_regions[i].fn;
		cr->scratch = (size_t)aot_regions[i].scratch;
		cr->gemm = aot_regions[i].gemm;
		cr->r = r;
		cr->nslot = ir_slot_nodes(r, NULL);
		cr->slot = xmalloc(((size_t)cr->nslot + 1) * sizeof *cr->slot);
		ir_slot_nodes(r, cr->slot);
		t->made = realloc(t->made, (t->nmade + 1) * sizeof *t->made);
		t->made[t->nmade++] = cr;
		return cr;
	}
	missed(t, r, text);
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
	Options o = { .cmd = "run", .file = aot_name, .bf16 = aot_bf16 };
	for (int i = 0; i < aot_ndefines && i < MAX_DEFINES; i++)
		o.defines[o.ndefines++] = aot_defines[i];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: %s [--seed N] [--threads N] [--log PATH] [--profile TRACE.json] [--profile-summary]\n"
			       "       [--max-memory SIZE] [-D NAME=VALUE] [--interp] [--verbose]\n"
			       "       [--bucket-size SIZE] [--dist-timeout SECONDS] (under mpirun)\n"
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
	AotTable table = { .verbose = o.verbose, .o = &o, .host = ev->host };
	Backend be = { 0 };
	if (!o.interp)
		be = (Backend){ &table, aot_compile, aot_release };
	driver_run(ev, &o, be);
	host_free(ev);
	free(table.warned);
	arena_free(a);
	return 0;
}
