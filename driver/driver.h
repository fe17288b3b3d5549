/*
 * driver.h — options of the sinter command line and the commands.
 */
#ifndef SINTER_DRIVER_H
#define SINTER_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "host/host.h"

enum { MAX_DEFINES = 64 };

typedef struct {
	const char *cmd;      /* run, check, ir, opt, gradcheck */
	const char *file;
	uint64_t seed;
	int threads;          /* 0: library default */
	const char *defines[MAX_DEFINES]; /* "NAME=VALUE" */
	int ndefines;
	const char *after;    /* --after PASS */
	const char *passes;   /* --passes=a,b (opt) */
	const char *disable;  /* --no-PASS, comma separated */
	const char *log;      /* --log PATH */
	const char *profile;  /* --profile PATH: Chrome trace (runtime/profile.c) */
	bool profile_summary; /* --profile-summary: kernel table on stderr at exit */
	bool time_passes;
	bool stats;           /* --stats: ops, kernels, bytes per run of each region (kernel_stats) */
	bool interp;
	bool verbose;
	bool bf16;            /* --precision=bf16: matrix products take bf16 operands (passes/precision.c) */
	const char *output;   /* -o PATH (build) */
	const char *svg;      /* --svg PATH (plan) */
	Program *prog;        /* an already parsed program (built binaries) */
} Options;

int cmd_program(const Options *o);
int cmd_opt(const Options *o);
int cmd_gradcheck(const Options *o);
int cmd_build(const Options *o);
int cmd_llvm(const Options *o);
int cmd_dot(const Options *o, const char *region);
int cmd_plan(const Options *o);
/* driver/plot.c: `sinter plot LOG.jsonl ... -o OUT.svg`, from argv[2] on. */
int cmd_plot(int argc, char **argv);
/* sinter gemm M N K [options]: its own argument parser (no program file). */
int cmd_gemm(int argc, char **argv);

/* Parses the option at argv[*i] (and its value) into o; false when it is
   not an option shared by sinter and built binaries. */
bool driver_option(int argc, char **argv, int *i, Options *o);
/* Loads the program (o->file, or o->prog when set) and binds its globals
   (consts with -D overrides). */
Ev *driver_setup(const Options *o, Arena *a);
/* Runs the train blocks as o->cmd says: `run` executes them, every other
   command makes a dry run that traces and compiles every region.  The
   caller frees with host_free(ev) and arena_free(ev->arena). */
void driver_run(Ev *ev, const Options *o, Backend be);
/* driver/commands.c.  Runs argv (found on PATH) and waits: its exit status,
   127 when it could not be started (not installed), -1 when it died of a
   signal.  verbose echoes the command on stderr first. */
int driver_spawn(char *const *argv, bool verbose);

/* driver/blas.c.  Puts OpenBLAS on the fastest kernels this CPU runs
   correctly, re-executing the process (argv again) when the choice must
   change, so call it in main() right after the options are parsed, before
   any output; o->verbose reports which kernels run and why.  Also makes
   OpenBLAS's idle threads sleep, then gives OpenBLAS and the pool
   o->threads threads (0: the library defaults). */
void blas_setup(char **argv, const Options *o);
/* Does OpenBLAS run its AVX-512 kernels (SkylakeX, Cooperlake,
   SapphireRapids)?  After blas_setup; `--gemm=auto` asks (codegen.h). */
bool blas_avx512(void);
/* cblas_sgemm on odd shapes and transposes against a naive product; false
   and the first wrong element in msg when the kernels compute wrong results. */
bool blas_selfcheck(char *msg, size_t len);

#endif
