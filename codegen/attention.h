/*
 * attention.h — the code of ATTENTION and ATTENTION_GRAD (attention.c): a
 * call of the runtime's fused kernel with the tile products it makes on
 * sinter's own GEMM where the `--gemm=` rule gives them to it.
 */
#ifndef SINTER_CODEGEN_ATTENTION_H
#define SINTER_CODEGEN_ATTENTION_H

#include "codegen/builder.h"
#include "codegen/codegen.h"

/* For node v, when it is an attention: chooses the kernel of each of its
   tile products, counts them in *stats (reporting them when verbose) and
   returns the bytes of GEMM workspace its call needs (0: none, or not an
   attention).  Called by cg_matmul_setup before anything is emitted. */
int64_t cg_attention_setup(Cg *g, CgGemmStats *stats, int v);
/* ATTENTION, ATTENTION_GRAD: a call of the runtime's fused kernel. */
void cg_attention(Cg *g, int v);

#endif
