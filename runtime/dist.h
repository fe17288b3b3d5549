/*
 * dist.h — data-parallel training across processes on MPI (runtime/dist.c).
 *
 * A process started by mpirun with more than one rank loads Open MPI at run
 * time (dlopen of libmpi.so.40) and joins the job; any other process loads
 * nothing and every function here is then a no-op for one rank.  Generated
 * code reads rt_dist_on (set with more than one rank) and calls
 * rt_dist_grads on each packed gradient arena before the update reads it.
 */
#ifndef SINTER_DIST_H
#define SINTER_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 1 when more than one rank trains together; generated code tests it. */
extern int32_t rt_dist_on;

/* Joins the MPI job when the environment says mpirun started this process
   with more than one rank (OMPI_COMM_WORLD_SIZE); returns false with a
   message in err when that fails (no Open MPI library, MPI_Init failing).
   Ranks other than 0 then write their standard output to /dev/null. */
bool rt_dist_init(char *err, size_t errlen);
int rt_dist_rank(void);
int rt_dist_size(void);

/* Generated code, after the kernel that computed bytes [at, at + bytes)
   of the gradient arena at base (n floats) in place: every bucket of
   rt_dist_bucket_bytes whose bytes are all computed starts its sum over
   the ranks (MPI_Iallreduce) while the backward goes on. */
void rt_dist_ready(float *base, int64_t n, int64_t at, int64_t bytes);
/* The mean over ranks of n floats at p, in place: the buckets not started
   yet start, all are waited for, then multiplied by 1/N.  Each sum is a
   ring in a fixed order, the same bits on every rank.  Called by generated
   code and by the interpreter at every gradient PACK, before the update. */
void rt_dist_grads(float *p, int64_t n);
/* The bucket size: --bucket-size, default RT_DIST_BUCKET_DEFAULT. */
extern int64_t rt_dist_bucket_bytes;
enum { RT_DIST_BUCKET_DEFAULT = 1 << 20 };
/* The mean over ranks of one number (the loss minimize returns). */
double rt_dist_mean(double v);
/* The sum (or, with max, the maximum) over ranks of n doubles at v, in
   place, the same bits on every rank: all_reduce() of the host. */
void rt_dist_reduce(double *v, int64_t n, bool max);
/* Whether every rank passed the same value (a program's hash, a checksum);
   what names the comparison in the message of a failure. */
bool rt_dist_same(uint64_t v, const char *what);

/* Seconds a rank waits for the others in one collective before it gives up
   (a rank that died): --dist-timeout, default 60. */
extern double rt_dist_timeout;

/* Leaves the job at the end of a run that every rank finished. */
void rt_dist_finalize(void);

#endif
