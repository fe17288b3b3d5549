/*
 * fused.h — fused kernels (kernel/kernel.h) as one function each
 * (fused.c, planned by fused_plan.c).  Included by region.c.
 */
#ifndef SINTER_CODEGEN_FUSED_H
#define SINTER_CODEGEN_FUSED_H

#include "codegen/builder.h"

/* Emits fused kernel `group` as one function and its call; last is its
   last member in node order, where the call goes. */
void cg_fused(Cg *g, int group, int last);

#endif
