/*
 * conv.h — the code of CONV2D, CONV2D_DX and CONV2D_DW (conv.c): a call of
 * the runtime's GEMM-based kernel (runtime/conv.c), handing it sinter's own
 * GEMM (gemm.c) for each of its product shapes that the choice of
 * matmul.c gives to sinter's kernel.
 */
#ifndef SINTER_CODEGEN_CONV_H
#define SINTER_CODEGEN_CONV_H

#include "codegen/builder.h"
#include "codegen/codegen.h"

/* For node v, when it is a convolution: chooses the kernel of each of
   its products, counts them in *stats (reporting them when verbose) and
   returns the bytes of GEMM workspace its call needs (0: none, or not a
   convolution).  Called by cg_matmul_setup before anything is emitted. */
int64_t cg_conv_setup(Cg *g, CgGemmStats *stats, int v);
/* The call of the runtime's kernel for conv node v. */
void cg_conv(Cg *g, int v);

#endif
