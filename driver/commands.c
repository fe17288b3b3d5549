/*
 * commands.c — the commands that compile native code with LLVM: `run` (the
 * JIT is the default backend), `llvm` (print the optimized LLVM IR of every
 * region) and `build` (an executable that runs the program with its regions
 * compiled ahead of time and needs no LLVM); and driver_spawn, which runs
 * the external tools `build` and `dot` call (cc, Graphviz).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver/driver.h"
#include "lang/diag.h"

int driver_spawn(char *const *argv, bool verbose)
{
	if (verbose) {
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, "%s%s", i ? " " : "", argv[i]);
		fputc('\n', stderr);
	}
	fflush(NULL); /* the child must not write our buffered output again */
	pid_t pid = fork();
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* ---- the JIT backend ---- */

static CgRegion *jit_compile(void *ctx, const Region *r, const char *text)
{
	(void)text;
	char err[512];
	CgRegion *cr = cg_compile(ctx, r, err, sizeof err);
	if (!cr)
		fatal("code generation failed for region %s: %s", r->name, err);
	return cr;
}

static void jit_release(void *ctx)
{
	cg_jit_free(ctx);
}

int cmd_program(const Options *o)
{
	Arena *a = arena_new();
	Ev *ev = driver_setup(o, a);
	Backend be = { 0 };
	if (!strcmp(o->cmd, "run") && !o->interp) {
		char err[512];
		if (!(be.ctx = cg_jit_new(err, sizeof err)))
			fatal("cannot start the JIT: %s", err);
		be.compile = jit_compile;
		be.release = jit_release;
	}
	driver_run(ev, o, be);
	host_free(ev);
	arena_free(a);
	return 0;
}

/* ---- sinter llvm ---- */

int cmd_llvm(const Options *o)
{
	Arena *a = arena_new();
	Ev *ev = driver_setup(o, a);
	Options dry = *o;
	dry.cmd = "check";
	driver_run(ev, &dry, (Backend){ 0 });
	Host *h = ev->host;
	for (int i = 0; i < h->ncache; i++) {
		char err[512];
		char *text = cg_llvm_text(h->cache[i].exec, err, sizeof err);
		if (!text)
			fatal("code generation failed for region %s: %s", h->cache[i].exec->name, err);
		printf("; region %s\n%s\n", h->cache[i].exec->name, text);
		free(text);
	}
	host_free(ev);
	arena_free(a);
	return 0;
}
