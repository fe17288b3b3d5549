/*
 * parallel.h — parallel strided walks for the code generator (parallel.c):
 * a drop-in replacement of cg_map that runs large walks on the runtime's
 * thread pool (rt_parallel_for, runtime/pool.c).  Only codegen/ includes it.
 */
#ifndef SINTER_CODEGEN_PARALLEL_H
#define SINTER_CODEGEN_PARALLEL_H

#include "codegen/builder.h"

enum {
	/* walks of fewer elements run serially: waking a worker costs ~5-50 us,
	   the time of a 32K-element elementwise loop */
	CG_PAR_MIN = 1 << 17,
	/* elements per chunk handed to the pool: long enough vector loops,
	   enough chunks to balance any thread count */
	CG_PAR_GRAIN = 1 << 13,
};

/* A loop whose iterations run on the pool (cg_par_begin .. cg_par_end). */
typedef struct {
	LLVMValueRef outer;         /* the function the loop stands in */
	LLVMBasicBlockRef back;     /* the block of outer that calls the pool */
	LLVMValueRef fn;            /* the body's function (ctx, lo, hi) */
	LLVMBasicBlockRef entry;    /* fn's block that loads the captured values */
	LLVMBasicBlockRef body;     /* fn's loop header */
	LLVMValueRef i;             /* the iteration, i64, a value of fn */
	int64_t n;                  /* iterations */
} ParLoop;

/*
 * Starts a loop 0 <= i < n (n >= 1) whose iterations run on the thread pool;
 * returns i.  Until cg_par_end, code is emitted into the body's function
 * (g->fn); it may use any value of the enclosing function, nest serial
 * loops (cg_loop_begin) and call cg_map.  Iterations must be independent:
 * no loop-carried values, no writes that another iteration reads, and no
 * shared scratch temporaries (each thread would write the same bytes).
 * Nested parallel loops are allowed but run serially (rt_parallel_for).
 * Callers choose when it pays: only for >= cg_par_min() elements of work.
 */
LLVMValueRef cg_par_begin(Cg *g, ParLoop *P, int64_t n);
/* Ends the loop: emits the call of rt_parallel_for where cg_par_begin was
   called and leaves the builder there, after the call. */
void cg_par_end(Cg *g, ParLoop *P);

/*
 * Emits the same walk as cg_map(g, space, op, nop, fn, ctx), with the same
 * element indices passed to fn (random streams and ARANGE see the global
 * index), but when the walk has at least cg_par_min() elements its outermost
 * axis of more than one element is cut into chunks: the walk over one chunk
 * becomes a function (ctx, lo, hi) that generated code hands to
 * rt_parallel_for.  Values fn uses from the current function (pointers,
 * keys, constants computed earlier) are passed to it through a struct on
 * the stack, found after the fact, so fn needs no change.  Only for walks
 * whose element bodies are independent of each other (elementwise ops,
 * copies); never for accumulating walks.
 */
void cg_map_par(Cg *g, const Type *space, Opnd *op, int nop, ElemFn *fn, const void *ctx);

/* CG_PAR_MIN, or SINTER_PAR_MIN from the environment when set (tests use 1
   to send every walk through the pool; a huge value switches it off). */
int64_t cg_par_min(void);

#endif
