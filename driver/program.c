/*
 * program.c — the commands that take a model file (run, check, ir) and the
 * one that takes text IR (opt): loading, binding globals, -D overrides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"
#include "frontend/diag.h"
#include "frontend/frontend.h"
#include "frontend/host.h"

/* A -D value: int, float, bool, or else a string. */
static Value parse_define(const char *s)
{
	char *end;
	long long i = strtoll(s, &end, 10);
	if (*s && !*end)
		return v_int(i);
	double f = strtod(s, &end);
	if (*s && !*end)
		return v_float(f);
	if (!strcmp(s, "true") || !strcmp(s, "false"))
		return v_bool(s[0] == 't');
	return v_str(s);
}

Ev *driver_setup(const Options *o, Arena *a)
{
	Ev *ev = arena_alloc(a, sizeof *ev);
	ev->arena = a;
	ev->seed = o->seed;
	ev->prog = fe_load(a, o->file);
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
					Value nv = parse_define(o->defines[k] + n + 1);
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
	return ev;
}

int cmd_program(const Options *o)
{
	Arena *a = arena_new();
	Ev *ev = driver_setup(o, a);
	Host *h = ev->host;
	bool run = !strcmp(o->cmd, "run");
	ev->dry = !run;
	h->pipe = (PipeOpts){ .after = o->after, .out = stdout, .time_passes = o->time_passes, .disable = o->disable };
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
	if (run && o->log) {
		char err[512];
		h->log = rt_log_open(o->log, isatty(2), err, sizeof err);
		if (!h->log)
			fatal("%s", err);
	} else if (run && isatty(2))
		h->log = rt_log_open(NULL, true, NULL, 0);
	if (run && !o->interp) {
		char err[512];
		h->jit = cg_jit_new(err, sizeof err);
		if (!h->jit)
			fatal("cannot start the JIT: %s", err);
	}
	int ntrain = 0;
	for (int i = 0; i < ev->prog->ndecls; i++)
		if (ev->prog->decls[i]->kind == D_TRAIN && !ev->prog->decls[i]->from_stdlib) {
			host_run_train(ev, ev->prog->decls[i]);
			ntrain++;
		}
	if (!ntrain && run)
		fatal("%s: no train block to run", o->file);
	if (h->log)
		rt_log_close(h->log);
	host_free(ev);
	arena_free(a);
	return 0;
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
		ir_print(stdout, rs[i]);
	}
	free(text);
	arena_free(a);
	return 0;
}
