/*
 * pool.h — the loops of 2-D pooling and its backward ops (pool.c):
 * max_pool, avg_pool, max_pool_grad, avg_pool_grad.  Included by
 * region.c.
 */
#ifndef SINTER_CODEGEN_POOL_H
#define SINTER_CODEGEN_POOL_H

#include "codegen/builder.h"

/* Emits pooling node v's loops into the current kernel function. */
void cg_pool(Cg *g, int v);

#endif
