/*
 * kernels.h — the kernels of every op but the reductions, ARGMAX and
 * MATMUL (kernels.c): elementwise ops and sources, shape ops, and the
 * row-indexed data ops with their index checks.  Included by region.c.
 */
#ifndef SINTER_CODEGEN_KERNELS_H
#define SINTER_CODEGEN_KERNELS_H

#include "codegen/builder.h"

/* Emits the loops of node v into the current kernel function (not a source
   slot, WRITE, alias or an op of reduce.h: region.c handles those). */
void cg_kernel(Cg *g, int v);
/* Ops whose kernels check indices against a table (take, scatter_rows,
   one_hot): their kernel functions return the flag g->bad. */
bool cg_range_checked(OpKind op);
/* In the region function after the call of such a kernel (result rc):
   when it saw a bad index, records it and returns 1. */
void cg_index_exit(Cg *g, int v, LLVMValueRef rc);

/* Does PACK node v copy or clear anything?  Not when memplan computed
   every operand in place: then it needs no kernel call (region.c). */
bool cg_pack_moves(Cg *g, int v);

#endif
