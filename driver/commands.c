/*
 * commands.c — the commands that compile native code with LLVM: `run` (the
 * JIT is the default backend), `llvm` (print the optimized LLVM IR of every
 * region), `build` (an executable that runs the program with its regions
 * compiled ahead of time and needs no LLVM) and `gemm` (the assembly or LLVM
 * IR of sinter's own matrix product for one shape and CPU); and driver_spawn,
 * which runs the external tools `build` and `dot` call (cc, Graphviz).
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

/* ---- sinter gemm ---- */

/* Reads a size argument: a whole number in [1, 2^31). */
static int64_t gemm_size(const char *what, const char *a)
{
	char *end;
	errno = 0;
	long long v = strtoll(a, &end, 10);
	if (errno || *end || end == a || v < 1 || v >= (1LL << 31))
		fatal("gemm: %s must be a whole number from 1, not '%s'", what, a);
	return v;
}

int cmd_gemm(int argc, char **argv)
{
	CgGemmSpec s = { .alpha = 1.0f };
	const char *cpu = NULL;
	bool ir = false;
	int64_t dims[3], ld[3] = { 0, 0, 0 }, nd = 0;
	static const char *names[] = { "M", "N", "K" };
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--ta"))
			s.ta = true;
		else if (!strcmp(a, "--tb"))
			s.tb = true;
		else if (!strcmp(a, "--accumulate"))
			s.accumulate = true;
		else if (!strcmp(a, "--parallel"))
			s.parallel = true;
		else if (!strcmp(a, "--bf16"))
			s.bf16 = true;
		else if (!strcmp(a, "--llvm"))
			ir = true;
		else if (!strcmp(a, "--cpu") && i + 1 < argc)
			cpu = argv[++i];
		else if (!strncmp(a, "--ld", 4) && a[4] && strchr("abc", a[4]) && !a[5] && i + 1 < argc)
			ld[a[4] - 'a'] = gemm_size(a + 2, argv[++i]);
		else if (a[0] == '-')
			fatal("gemm: unknown option '%s' (usage: sinter gemm M N K [--ta] [--tb] [--lda|--ldb|--ldc N] "
			      "[--accumulate] [--parallel] [--bf16] [--cpu NAME] [--llvm])", a);
		else if (nd < 3) {
			dims[nd] = gemm_size(names[nd], a);
			nd++;
		} else
			fatal("gemm: more than three sizes: '%s'", a);
	}
	if (nd < 3)
		fatal("gemm: needs the sizes M N K");
	s.m = dims[0], s.n = dims[1], s.k = dims[2];
	s.lda = ld[0] ? ld[0] : s.ta ? s.m : s.k;
	s.ldb = ld[1] ? ld[1] : s.tb ? s.k : s.n;
	s.ldc = ld[2] ? ld[2] : s.n;
	char err[512];
	char *text = cg_gemm_text(&s, cpu, !ir, err, sizeof err);
	if (!text)
		fatal("gemm: %s", err);
	fputs(text, stdout);
	free(text);
	return 0;
}
