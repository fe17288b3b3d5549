/*
 * region.h — the top of the code generator (region.c): a region's whole
 * LLVM module, its function and the kernel functions it calls.  Included
 * by jit.c only, which verifies, optimizes and compiles the module.
 */
#ifndef SINTER_CODEGEN_REGION_H
#define SINTER_CODEGEN_REGION_H

#include <llvm-c/Core.h>

#include "codegen/codegen.h"

/* Builds r's function `fname` (a CgRegionFn, codegen.h) into a new module
   of ctx; *scratch receives the bytes of scratch it needs, *gemm its
   matrix products by kernel. */
LLVMModuleRef cg_build_module(LLVMContextRef ctx, const Region *r, const char *fname, int64_t *scratch,
	CgGemmStats *gemm);

#endif
