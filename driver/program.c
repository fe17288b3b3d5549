/*
 * program.c — what sinter and the binaries of `sinter build` share: options,
 * loading a program and binding its globals (-D overrides), running its
 * train blocks; and `sinter opt` on text IR.  No LLVM here (commands.c and
 * build.c hold what needs it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"
#include "kernel/kernel.h"
#include "lang/diag.h"
#include "lang/lang.h"
#include "host/host.h"
#include "runtime/dist.h"

static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (!strncmp(argv[*i], name, n) && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (*i + 1 >= argc)
		fatal("option %s needs a value", name);
	return argv[++*i];
}

/* A decimal integer in [0, max] (strtoll alone would saturate 10^20 to
   2^63 - 1 and read "12abc" or " 5" partly). */
static int64_t parse_count(const char *s, const char *what, int64_t max, const char *hint)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || !(*s >= '0' && *s <= '9') || errno == ERANGE || v < 0 || v > max)
		fatal("%s must be an integer from 0 to %lld%s, got '%s'", what, (long long)max, hint, s);
	return v;
}

/* Parses the option at argv[*i] (and its value) into o; false when argv[*i]
   is not one of the options shared by sinter and built binaries. */
bool driver_option(int argc, char **argv, int *i, Options *o)
{
	static char disable_buf[512];
	const char *a = argv[*i];
	if (!strcmp(a, "--seed") || !strncmp(a, "--seed=", 7))
		o->seed = (uint64_t)parse_count(opt_value(argc, argv, i, "--seed"), "--seed", INT64_MAX, "");
	else if (!strcmp(a, "--threads") || !strncmp(a, "--threads=", 10))
		o->threads = (int)parse_count(opt_value(argc, argv, i, "--threads"), "--threads", RT_MAX_THREADS,
		                              " (0: all cores)");
	else if (!strcmp(a, "-D") || (!strncmp(a, "-D", 2) && a[2])) {
		const char *d = a[2] ? a + 2 : (*i + 1 < argc ? argv[++*i] : (fatal("-D needs NAME=VALUE"), ""));
		if (!strchr(d, '=') || d[0] == '=')
			fatal("-D expects NAME=VALUE, got '%s'", d);
		if (o->ndefines == MAX_DEFINES)
			fatal("too many -D options");
		o->defines[o->ndefines++] = d;
	} else if (!strcmp(a, "--after") || !strncmp(a, "--after=", 8))
		o->after = opt_value(argc, argv, i, "--after");
	else if (!strcmp(a, "--passes") || !strncmp(a, "--passes=", 9))
		o->passes = opt_value(argc, argv, i, "--passes");
	else if (!strcmp(a, "--log") || !strncmp(a, "--log=", 6))
		o->log = opt_value(argc, argv, i, "--log");
	else if (!strcmp(a, "--profile") || !strncmp(a, "--profile=", 10)) {
		o->profile = opt_value(argc, argv, i, "--profile");
		if (!*o->profile || o->profile[0] == '-')
			fatal("--profile needs the path of the trace to write, like --profile trace.json, got '%s'",
			      o->profile);
	} else if (!strcmp(a, "--profile-summary"))
		o->profile_summary = true;
	else if (!strcmp(a, "--max-memory") || !strncmp(a, "--max-memory=", 13)) {
		const char *v = opt_value(argc, argv, i, "--max-memory");
		int64_t bytes;
		if (!rt_parse_bytes(v, &bytes))
			fatal("--max-memory expects a size like 512M, 8G or 1073741824, got '%s'", v);
		rt_mem_set_limit(bytes);
	} else if (!strcmp(a, "--bucket-size") || !strncmp(a, "--bucket-size=", 14)) {
		const char *v = opt_value(argc, argv, i, "--bucket-size");
		if (!rt_parse_bytes(v, &rt_dist_bucket_bytes))
			fatal("--bucket-size expects a size like 256K or 4M, got '%s'", v);
	} else if (!strcmp(a, "--dist-timeout") || !strncmp(a, "--dist-timeout=", 15))
		rt_dist_timeout = (double)parse_count(opt_value(argc, argv, i, "--dist-timeout"), "--dist-timeout", 1 << 24,
		                                      " seconds");
	else if (!strcmp(a, "--time-passes"))
		o->time_passes = true;
	else if (!strcmp(a, "--stats"))
		o->stats = true;
	else if (!strcmp(a, "--interp"))
		o->interp = true;
	else if (!strncmp(a, "--no-", 5) && a[5]) {
		size_t len = strlen(disable_buf);
		snprintf(disable_buf + len, sizeof disable_buf - len, "%s%s", len ? "," : "", a + 5);
		o->disable = disable_buf;
	} else if (!strcmp(a, "--verbose"))
		o->verbose = true;
	else
		return false;
	return true;
}

/* True when s is a number as the lexer writes one (an optional sign, then
   digits with at most one '.' and an exponent): strtod alone would also
   take "nan", "inf" and hex floats, which no source literal can be. */
static bool looks_numeric(const char *s)
{
	s += *s == '-' || *s == '+';
	if (!(*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!strchr("0123456789.eE+-", *s))
			return false;
	return true;
}

/* A -D value: int, float, bool, or else a string.  d is the whole option,
   for messages.  Numbers are range-checked as literals in source are. */
static Value parse_define(const char *d, const char *s)
{
	char *end;
	if (looks_numeric(s)) {
		errno = 0;
		long long i = strtoll(s, &end, 10);
		if (!*end) {
			if (errno == ERANGE)
				fatal("-D %s: integer '%s' is out of range (the limit is 2^63 - 1)", d, s);
			return v_int(i);
		}
		errno = 0;
		double f = strtod(s, &end);
		if (!*end) {
			if (errno == ERANGE && (f > 1 || f < -1))
				fatal("-D %s: number '%s' is too large", d, s);
			return v_float(f);
		}
	}
	if (!strcmp(s, "true") || !strcmp(s, "false"))
		return v_bool(s[0] == 't');
	return v_str(s);
}


Ev *driver_setup(const Options *o, Arena *a)
{
	double t0 = rt_now_ms();
	Ev *ev = arena_alloc(a, sizeof *ev);
	ev->arena = a;
	ev->seed = o->seed;
	ev->prog = o->prog ? o->prog : lang_load(a, o->file);
	ev->globals = env_new(ev, NULL);
	ev->stdlib_globals = env_new(ev, NULL);
	ev->host = arena_alloc(a, sizeof(Host));
	bool *used = arena_alloc(a, (o->ndefines + 1) * sizeof *used);
	for (int i = 0; i < ev->prog->ndecls; i++) {
		const Decl *d = ev->prog->decls[i];
		if (d->kind == D_IMPORT || d->kind == D_TRAIN)
			continue;
		Binding *old = NULL;
		for (int k = 0; k < ev->globals->n; k++)
			if (!strcmp(ev->globals->b[k].name, d->name))
				old = &ev->globals->b[k];
		if (old && !d->from_stdlib) {
			/* the user may shadow the standard library, but not themselves */
			for (int j = 0; j < i; j++) {
				const Decl *p = ev->prog->decls[j];
				if (!p->from_stdlib && p->name && !strcmp(p->name, d->name) && p->kind != D_IMPORT) {
					diag_begin_error(d->loc, "redefinition of '%s'", d->name);
					diag_note(p->loc, "previous definition is here");
					diag_exit();
				}
			}
		}
		Value v = { .kind = V_CALLABLE, .s = d->name, .decl = d };
		if (d->kind == D_CONST) {
			v = ev_expr(ev, decl_scope(ev, d), d->value);
			for (int k = 0; k < o->ndefines; k++) {
				size_t n = strcspn(o->defines[k], "=");
				if (strlen(d->name) == n && !strncmp(o->defines[k], d->name, n)) {
					Value nv = parse_define(o->defines[k], o->defines[k] + n + 1);
					if (is_number(&v) && nv.kind == V_STR)
						fatal("-D %s: %s is %s %s, but '%s' is not a number", o->defines[k], d->name,
						      v.kind == V_INT ? "an" : "a", value_kind_name(&v), nv.s);
					v = nv;
					used[k] = true;
				}
			}
		}
		env_set(ev, ev->globals, d->name, v, false);
		if (d->from_stdlib)
			env_set(ev, ev->stdlib_globals, d->name, v, false);
	}
	for (int k = 0; k < o->ndefines; k++)
		if (!used[k])
			fatal("-D %s: the program has no const named '%.*s'", o->defines[k],
			      (int)strcspn(o->defines[k], "="), o->defines[k]);
	if (o->time_passes)
		fprintf(stderr, "frontend %-8s %8.3f ms  (%s and the standard library: parse, bind globals)\n", "parse",
		        rt_now_ms() - t0, o->prog ? "embedded program" : o->file);
	return ev;
}

void driver_run(Ev *ev, const Options *o, Backend be)
{
	Arena *a = ev->arena;
	Host *h = ev->host;
	bool run = !strcmp(o->cmd, "run");
	ev->dry = !run;
	h->pipe = (PipeOpts){ .after = o->after, .out = stdout, .time_passes = o->time_passes, .disable = o->disable,
		.enable = o->bf16 ? PIPE_BF16 : NULL };
	if (!strcmp(o->cmd, "ir")) {
		h->ir_out = stdout;
		if (!o->after)
			h->pipe.after = "trace";
	} else if (o->after)
		fatal("--after goes with 'sinter ir'");
	if (o->after) {
		char err[256];
		Region *probe = ir_region_new(a, "probe");
		PipeOpts check = h->pipe;
		check.out = NULL;
		check.only = "";
		check.after = !strcmp(o->after, "trace") || !strcmp(o->after, "all") ? NULL : o->after;
		if (!pipeline_run(probe, &check, err, sizeof err))
			fatal("%s", err);
	}
	if (run) {
		char err[512];
		if (!rt_dist_init(err, sizeof err))
			fatal("%s", err);
	}
	bool rank0 = rt_dist_rank() == 0; /* the ranks train the same model: one reports it */
	if (run && o->log && rank0) {
		char err[512];
		h->log = rt_log_open(o->log, isatty(2), err, sizeof err);
		if (!h->log)
			fatal("%s", err);
	} else if (run && isatty(2) && rank0)
		h->log = rt_log_open(NULL, true, NULL, 0);
	if ((o->profile || o->profile_summary) && !run)
		fatal("--profile and --profile-summary go with 'sinter run' (and built programs)");
	if (run && (o->profile || o->profile_summary) && rank0) {
		char err[512];
		if (!rt_prof_open(o->profile, o->profile_summary, err, sizeof err))
			fatal("%s", err);
	}
	h->backend = be;
	host_dist_start(ev, o->defines, o->ndefines);
	if (run) /* SIGINT/SIGTERM: finish the step, close the log, exit 130/143 */
		rt_signals_install();
	int ntrain = 0;
	for (int i = 0; i < ev->prog->ndecls; i++)
		if (ev->prog->decls[i]->kind == D_TRAIN && !ev->prog->decls[i]->from_stdlib) {
			host_run_train(ev, ev->prog->decls[i]);
			ntrain++;
		}
	if (!ntrain && run)
		fatal("%s: no train block to run", o->file);
	host_poll_interrupt(ev); /* a signal after the last loop still ends in 130/143 */
	if (o->stats && (run || !strcmp(o->cmd, "check")))
		for (int i = 0; i < h->ncache; i++) {
			kernel_stats(stderr, h->cache[i].exec, i == 0);
			/* which kernel computes the products (--gemm): known once compiled */
			const CgGemmStats *g = h->cache[i].cg ? &h->cache[i].cg->gemm : NULL;
			if (g && g->products[0] + g->products[1] > 0)
				fprintf(stderr, "  %-10s matrix products: %d on sinter's kernel (%lld calls, %.3f GFLOP, %d with "
					"epilogues on their tiles), %d on OpenBLAS (%lld calls, %.3f GFLOP)\n", "", g->products[0],
					(long long)g->calls[0], g->flops[0] / 1e9, g->epilogues, g->products[1],
					(long long)g->calls[1], g->flops[1] / 1e9);
		}
	if (o->time_passes)
		fprintf(stderr, "frontend %-8s %8.3f ms  (first trace of each of the %d regions)\n", "trace",
		        h->trace_ms, h->ncache);
	if (h->log)
		rt_log_close(h->log);
	h->log = NULL;
	rt_prof_close();
	host_dist_finish(ev, o->verbose);
}

int cmd_opt(const Options *o)
{
	FILE *f = fopen(o->file, "rb");
	if (!f)
		fatal("cannot open '%s'", o->file);
	size_t cap = 1 << 16, len = 0;
	char *text = xmalloc(cap);
	for (size_t n; (n = fread(text + len, 1, cap - len - 1, f)) > 0;) {
		len += n;
		if (cap - len < 2)
			text = realloc(text, cap *= 2);
	}
	text[len] = 0;
	fclose(f);
	Arena *a = arena_new();
	Region **rs;
	char err[512];
	int n = ir_parse(a, text, o->file, &rs, err, sizeof err);
	if (n < 0) {
		/* ir_parse says "FILE:L:C: error: ..."; quote the line with a caret */
		size_t fl = strlen(o->file);
		int line, col, k = 0;
		if (!strncmp(err, o->file, fl) && sscanf(err + fl, ":%d:%d: error: %n", &line, &col, &k) == 2 && k > 0) {
			diag_add_source(o->file, text);
			diag_error((Loc){ o->file, line, col }, "%s", err + fl + k);
		}
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	PipeOpts po = { .only = o->passes ? o->passes : "", .time_passes = o->time_passes, .disable = o->disable };
	for (int i = 0; i < n; i++) {
		char verr[512];
		if (!ir_verify(rs[i], verr, sizeof verr)) {
			fprintf(stderr, "%s: error: region %s: %s\n", o->file, rs[i]->name, verr);
			return 1;
		}
		if (!pipeline_run(rs[i], &po, err, sizeof err))
			fatal("%s", err);
		ir_print_with(stdout, rs[i], kernel_print_comments);
	}
	free(text);
	arena_free(a);
	return 0;
}
