/*
 * host.h — state of the host program while it runs (host/host.c,
 * host/compile.c, host/hostlib.c): compiled-region cache, run log, options.
 */
#ifndef SINTER_HOST_H
#define SINTER_HOST_H

#include <stdio.h>
#include <time.h>

#include "codegen/codegen.h"
#include "host/eval.h"
#include "passes/pipeline.h"

/* One compiled specialization: the traced region it came from and the
   region after the pipeline. */
typedef struct {
	uint64_t hash;   /* ir_hash of traced */
	char *text;      /* the traced region, printed (malloc) */
	Region *exec;    /* after the pipeline */
	Arena *arena;    /* owns exec */
	CgRegion *cg;    /* native code of exec, or NULL: the interpreter runs it */
	Region *traced;  /* a copy of the region as traced (in arena) */
	bool arena_held; /* cg keeps its arena: counted against the memory limit */
	int32_t *prof_kid; /* [exec->nnode + 1] the profiler's kernel ids, by the node
	                      a kernel's call ends at ([nnode]: the copies); NULL
	                      until the entry first runs under --profile */
} CacheEntry;

/* Where native code for a region comes from: the JIT (sinter run) or the
   table linked into a binary by `sinter build`.  With no compile function
   the reference interpreter runs every region. */
typedef struct {
	void *ctx;
	/* Native code for r (after the pipeline), traced as `text`; NULL when
	   there is none (the interpreter then runs r); dies on internal failure. */
	CgRegion *(*compile)(void *ctx, const Region *r, const char *text);
	void (*release)(void *ctx); /* frees ctx and every CgRegion it returned */
} Backend;

/* A host loop around the current statement, for checkpoints: the loop's
   `for` (line, col), the iteration running, and for a batches loop the
   batches() call count it drew its order from (-1 for other loops). */
enum { HOST_MAX_LOOPS = 16 };
typedef struct {
	int32_t line, col;
	int64_t iter, call;
} LoopPos;

typedef struct Host {
	PipeOpts pipe;      /* passes, --after, --time-passes */
	Backend backend;    /* native code for regions; none: the interpreter */
	double codegen_ms;  /* time spent compiling native code, all regions */
	double trace_ms;    /* time spent tracing the regions compiled (each one's first trace) */
	double trace_t0;         /* when the current trace began (rt_now_ms), for trace_ms */
	FILE *ir_out;       /* sinter ir: print each new region here (NULL: don't) */
	const char *log_path; /* JSON-lines run log, or NULL */
	RtLog *log;
	int64_t log_step;   /* step of the last minimize, for log records */
	CacheEntry *cache;
	int ncache, capcache;
	int loop_depth;     /* nesting of host range loops, for the ETA */
	int64_t loop_left[16];
	LoopPos loops[HOST_MAX_LOOPS]; /* loops running now, outermost first */
	int nloops;         /* may exceed HOST_MAX_LOOPS: then only the first are kept */
	LoopPos pending[HOST_MAX_LOOPS]; /* after resume: where the checkpoint's loops were */
	int npending, nmatched; /* loops recorded / already continued */
	/* host variables in checkpoints (host.c): the scope of the statement
	   running, the scope each running loop runs in, and after resume the
	   variables to restore as the loops are entered again */
	Env *env;
	Env *loop_env[HOST_MAX_LOOPS];
	struct HostVar *pending_vars;
	int npending_vars;
	Loc run_loc;        /* the statement whose traced work is compiled and run now (for backends' messages) */
} Host;

/* host/compile.c.  The compile path: the cache entry that runs the traced
   region tr (found by structure, or made: pipeline, then native code
   unless dry); takes tr's arena when the entry is new. */
CacheEntry *host_compile(Host *h, Trace *tr, bool dry);
/* Runs the traced region with the tensors in vals[] as outputs, replaces
   them by host values and starts a new empty trace; step: minimize's
   region (a training step), for index errors. */
void host_run_trace(Ev *ev, Value *vals, int n, Loc loc, bool step);
void host_cache_free(Host *h);
/* A copy of the trace under way (its region, inputs and buffer
   assignments, in an arena of its own), and putting such a copy in place
   of the trace under way, which is dropped: how dry mode traces two
   endings of one statement (minimize with accumulate, host/gradstep.c). */
Trace *host_trace_fork(Ev *ev);
void host_trace_switch(Ev *ev, Trace *tr);
/* host/hostlib.c: the handlers of host builtins (rows of the builtin
   table, host/prims.c); all but minimize get host values. */
BuiltinFn hostlib_print, hostlib_log, hostlib_minimize, hostlib_len, hostlib_data, hostlib_split,
	hostlib_batches, hostlib_params, hostlib_checkpoint, hostlib_convert, hostlib_str, hostlib_assert;
/* host/prims_pool.c: max_pool2d and avg_pool2d (by the row's op), pad. */
BuiltinFn prim_conv2d, prim_pool, prim_pad, prim_attention, prim_attention_qkv;
/* host.c.  checkpoint: the host variables (numbers, lists of numbers) of
   the scopes around the running loops, as meta.var.LEVEL.HOPS.NAME
   tensors i32[rows, 3]; returns their count, names and tensors (arena). */
int host_vars_save(Ev *ev, const char ***names, Tensor **ts);
/* resume: checks every meta.var tensor of the file (an error naming it)
   and keeps them to restore when their loop is entered again. */
void host_vars_read(Ev *ev, Loc loc, const char *path, const RtTensor *f, int nf, int nloops);
/* host/hostdata.c: idx, text, tokens and split are hostlib_data and
   hostlib_split above */
BuiltinFn hostlib_csv, hostlib_tensors;
/* host/hostdocs.c: documents, packed_batches, pack_stats; for the loop
   over packed batches (run_batches in host.c), the plan of a pass drawn
   from key, its number of batches, and batch k as x, y, segment and
   position in out[0..4). */
BuiltinFn hostlib_documents, hostlib_packed_batches, hostlib_pack_stats;
Value hostdocs_tokens(Ev *ev, Loc loc, const char *path, int64_t vocab, Value eot);
RtPack *host_pack_plan(Ev *ev, const Value *pb, uint64_t key, Loc loc);
int64_t host_pack_count(const RtPack *p, const Value *pb);
void host_pack_batch(Ev *ev, const RtPack *p, const Value *pb, int64_t k, Value *out, Loc loc);
/* hostdist.c: data-parallel training on several ranks: the first row of
   this rank's share of training batch k (*n rows, made the share), and the
   refusal of a step whose updates are not all packed. */
int64_t host_dist_shard(Ev *ev, Loc loc, bool packed, int64_t k, int64_t *n);
void host_dist_check_step(Ev *ev, const Region *r, Loc loc);
/* batches(..., shard = true): this rank's part of an evaluation's data
   set, its first example (*len: its size). */
int64_t host_dist_part(Ev *ev, Loc loc, bool training, int64_t *len);
BuiltinFn hostdist_rank, hostdist_all_reduce;
/* The ranks a dry run (check, build) traces training batches for: --ranks. */
void host_dist_plan(int ranks);
/* At start-up, the fatal error when the ranks' programs, -D options or
   seeds differ; the guard comparing a checksum of the parameters and
   optimizer states across ranks (an error naming the step). */
void host_dist_start(Ev *ev, const char *const *defines, int ndefines);
void host_dist_guard(Ev *ev, int64_t step, Loc loc);
/* The end of a run: the last comparison (verbose: each rank's checksum on
   stderr), then leaving the MPI job. */
void host_dist_finish(Ev *ev, bool verbose);
enum { HOST_DIST_GUARD_EVERY = 100 };
/* optparams.c: parameter groups and the weight-decay split */
BuiltinFn prim_group, prim_decay_params;
/* host/bf16.c: the bf16 cast (ev_bf16_result is in eval.h) */
BuiltinFn prim_bf16;
/* Runs the traced work v depends on; returns it as a host value. */
Value host_force(Ev *ev, Value v, Loc loc);
/* minimize(opt, loss, clip_norm =, accumulate =): the optional ones V_NONE when absent. */
Value host_minimize(Ev *ev, Value opt, Value loss, Value clip_norm, Value accumulate, Loc loc);
/* Runs statements of a train block; a break or continue ends them early. */
Flow host_block(Ev *ev, Env *env, Stmt *const *ss, int n);
/* Text of a value as print shows it (arena string). */
const char *host_format(Ev *ev, Value v);
void host_free(Ev *ev);
/* After SIGINT/SIGTERM (polled between loop iterations, so the step that
   was running is finished): closes the log and exits 130/143. */
void host_poll_interrupt(Ev *ev);

#endif
