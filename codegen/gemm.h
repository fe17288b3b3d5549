/*
 * gemm.h — sinter's own single-precision matrix product, generated as LLVM
 * IR for one shape known at compile time (codegen/gemm.c).
 *
 * The design is BLIS's: a register-blocked microkernel computes an MR x NR
 * tile of C from a packed MR-row panel of A and a packed NR-column panel of
 * B; loops around it block K by KC, M by MC and N by NC so that the packed
 * panels stay in L1 (B's KC x NR micro-panel), L2 (A's MC x KC block) and
 * L3 (B's KC x NC block).  Packing copies the operands into those panels in
 * the order the microkernel reads them, padded with zeros to whole tiles,
 * so transposes and leading dimensions cost nothing in the inner loop; the
 * only edge code is in the store of C, which is masked.
 *
 * This header pulls in LLVM's C API: only codegen/ includes it.  What the
 * rest of the compiler may call (compiling a product for the JIT, printing
 * its assembly) is in codegen.h.
 */
#ifndef SINTER_CODEGEN_GEMM_H
#define SINTER_CODEGEN_GEMM_H

#include <llvm-c/Core.h>

#include "codegen/codegen.h"

/* The vector instruction set a kernel is generated for. */
typedef enum { CG_GEMM_SCALAR, CG_GEMM_AVX2, CG_GEMM_AVX512 } CgGemmIsaKind;

typedef struct {
	CgGemmIsaKind kind;
	const char *name; /* "avx512", "avx2", "sse" */
	int lanes;        /* f32 lanes of one vector register: 16, 8, 4 */
	int mr;           /* rows of the microkernel's tile (broadcast A elements) */
	int nv;           /* vectors across the tile: NR = nv * lanes */
	bool fma;         /* fused multiply-add: llvm.fma; else llvm.fmuladd */
	bool dpbf16;      /* AVX512-BF16's vdpbf16ps for bf16 products; else they widen to f32 FMAs */
} CgGemmIsa;

/* Cache-blocking sizes, in elements, and what they came from. */
typedef struct {
	int64_t kc, mc, nc;
	int64_t l1, l2, l3; /* bytes of the data caches used (0: unknown, default taken) */
} CgGemmBlocking;

/*
 * The ISA of a target machine's CPU: AVX-512 when features holds "+avx512f"
 * (with vdpbf16ps when it also holds "+avx512bf16"),
 * AVX2 when it holds "+avx2" and "+fma", else the SSE fallback.  features
 * is LLVMGetHostCPUFeatures()'s format; NULL or "" looks the CPU name up in
 * a short table of named x86 CPUs instead (LLVM's C API does not expose the
 * features a CPU name implies), for kernels compiled for a named CPU.
 */
CgGemmIsa cg_gemm_isa(const char *cpu, const char *features);

/* The ISA of the CPU this process runs on (what the JIT and `sinter
   build` compile for); SINTER_GEMM_BF16=widen turns vdpbf16ps off. */
CgGemmIsa cg_gemm_host_isa(void);

/* isa with the microkernel's tile chosen for the product s: AVX-512's
   14 x 32 unless its 8 x 48 tile leaves at least 10% more of its tiles'
   area to C (M = 16 fills 57% of 14-row tiles, 100% of 8-row ones);
   SINTER_GEMM_TILE=8x48 or 14x32 forces one (tests, benchmarks). */
CgGemmIsa cg_gemm_tile(CgGemmIsa isa, const CgGemmSpec *s);

/* Whether the product reads B in place instead of packing it: a tapped B
   whose stored rows are k (a convolution's forward and data gradient),
   each k's row then NR contiguous floats of the image at an offset the
   microkernel looks up (codegen/gemm.c); packing them would copy as many
   floats as the microkernel reads, with as many stores.  f32 products
   only; SINTER_GEMM_DIRECT=0 packs them as before (tests, benchmarks). */
bool cg_gemm_direct(const CgGemmSpec *s);

/* Blocking for isa from this machine's cache sizes: sysfs
   (/sys/devices/system/cpu/cpu0/cache), else sysconf, else defaults
   (SINTER_GEMM_KC, _MC, _NC override them for tuning runs).  Given a
   product s, the blocks are then evened out over its sizes. */
CgGemmBlocking cg_gemm_blocking(const CgGemmIsa *isa, const CgGemmSpec *s);

/* The most parts a product on the pool is cut into, each with packed
   blocks of its own: what the workspace holds.  The parts a run makes are
   the pool's thread count (run time), at most this: the machine's cores
   or the pool's threads when more were asked for (rt_pool_expected), at
   most CG_GEMM_MAX_GROUPS, at most the product's tiles.  1 for a serial
   product. */
enum { CG_GEMM_MAX_GROUPS = 8 };
int64_t cg_gemm_groups(const CgGemmSpec *s, const CgGemmIsa *isa, const CgGemmBlocking *b);

/* How a product on the pool cut into `parts` parts splits C: tr rows of
   parts (returned) times parts / tr columns of them, tr dividing parts,
   chosen for the least work in the largest part (its multiply-adds and
   its packing); 1 (columns only) when the epilogue sums columns
   (s.epi_cols).  gemm.c makes one choice per possible thread count. */
int64_t cg_gemm_split(const CgGemmSpec *s, const CgGemmIsa *isa, const CgGemmBlocking *b, int64_t parts);

/* Elements of one part's two packed blocks of s with b: A's, then B's (gemm_target.c). */
void cg_gemm_blocks(const CgGemmSpec *s, const CgGemmIsa *isa, const CgGemmBlocking *b, int64_t *na, int64_t *nb);

/* Bytes of the workspace (packed panels) the kernel of s needs with b. */
int64_t cg_gemm_workspace(const CgGemmSpec *s, const CgGemmIsa *isa, const CgGemmBlocking *b);

/*
 * Emits into mod the external function `name`, of type CgGemmFn: C = alpha
 * op(A) op(B) (+ C when s->accumulate).  The module's target should be the
 * machine isa was chosen for.  Returns the function.
 */
LLVMValueRef cg_gemm_emit(LLVMModuleRef mod, const char *name, const CgGemmSpec *s, const CgGemmIsa *isa,
	const CgGemmBlocking *b);

#endif
