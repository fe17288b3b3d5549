/*
 * matmul.h — the code of MATMUL (matmul.c): each product computed by
 * sinter's own GEMM (gemm.c, emitted into the region's module) or by
 * cblas_sgemm, chosen per product at compile time (`--gemm=`, codegen.h).
 * region.c prepares a region's products before emitting it; the kernel of
 * a MATMUL node and a fused kernel's GEMM head (fused.c) call cg_matmul.
 */
#ifndef SINTER_CODEGEN_MATMUL_H
#define SINTER_CODEGEN_MATMUL_H

#include "codegen/builder.h"
#include "codegen/codegen.h"

/* Before any node of g's region is emitted: decides every product's
   kernel (reported to the configured verbose stream), counts them in
   *stats, and reserves in scratch the one workspace the region's own
   GEMMs pack their panels into (g->gemm_work). */
void cg_matmul_setup(Cg *g, CgGemmStats *stats);
/* The code of MATMUL node v: one GEMM, or one per batch matrix. */
void cg_matmul(Cg *g, int v);

#endif
