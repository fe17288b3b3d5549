/*
 * matmul.h — the code of MATMUL (matmul.c): each product computed by
 * sinter's own GEMM (gemm.c, emitted into the region's module) or by
 * OpenBLAS (rt_sgemm), chosen per product at compile time (`--gemm=`,
 * cg_gemm_choose, codegen.h).
 * region.c prepares a region's products before emitting it; the kernel of
 * a MATMUL node and a fused kernel's GEMM head (fused.c) call cg_matmul.
 */
#ifndef SINTER_CODEGEN_MATMUL_H
#define SINTER_CODEGEN_MATMUL_H

#include "codegen/builder.h"
#include "codegen/codegen.h"

/* Before any node of g's region is emitted: decides every product's
   kernel, a MATMUL's, a convolution's (reduce.c) and an attention's tiles
   (attention.c), reported to the configured verbose stream, counts them
   in *stats, and reserves in scratch the one workspace the region's own GEMMs pack their panels
   into (g->gemm_work). */
void cg_matmul_setup(Cg *g, CgGemmStats *stats);
/* Counts product s of node v (`calls` per run) in *stats and reports it
   when verbose (m_shown rows, what: a note after its shape); the bytes of
   workspace sinter's kernel needs for it, 0 for OpenBLAS's. */
int64_t cg_gemm_account(Cg *g, CgGemmStats *stats, int v, const CgGemmSpec *s, int64_t calls, int64_t m_shown,
	const char *what, bool own, const char *why);
/* The module's function of sinter's kernel for s, emitted on first use. */
LLVMValueRef cg_gemm_fn(Cg *g, const CgGemmSpec *s);
/* The code of MATMUL node v: one GEMM, or one per batch matrix. */
void cg_matmul(Cg *g, int v);
/* Whether node v is one call of sinter's own GEMM writing its result [m, n]
   row-major (a batch folded into the rows): then cg_matmul_epi can run an
   epilogue on each of its tiles. */
bool cg_matmul_tiled(const Region *r, int v, int64_t *m, int64_t *n);
/* cg_matmul for such a node, calling epi(ectx, i0, j0, mr, nr) (CgGemmEpiFn)
   on each tile of the result once it is final (cols: epi sums columns, so
   a column's tiles stay with one thread, CgGemmSpec.epi_cols); counted in
   the region's CgGemmStats, and `what` (the epilogue's ops) reported when
   verbose. */
void cg_matmul_epi(Cg *g, int v, LLVMValueRef epi, LLVMValueRef ectx, bool cols, const char *what);

#endif
