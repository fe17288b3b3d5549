/*
 * mathf.c — sinter's exp and tanh of a float, the definition both the
 * interpreter (ir/interp.c) and generated code (codegen/scalar.c, which
 * emits the same operations inline, branch-free, so that LLVM vectorizes
 * the loops that use them) follow operation for operation: results are
 * bitwise the same on both paths.  libm's expf and tanhf are calls LLVM
 * cannot vectorize; in the GPT's GELU they took a fifth of a training step.
 *
 * Accuracy, checked against double-precision exp and tanh at every 7th
 * float: at most 0.92 ulp (exp) and 1.36 ulp (tanh) (1.19 and 1.31 without
 * the FMAs).  exp flushes results
 * below the smallest normal float (x < -87.34) to 0.
 *
 * Each line is one float operation rounded to float, and each fmaf one
 * fused multiply-add rounded once: the polynomials' steps and the
 * reduction's, which generated code emits as llvm.fma.  Nothing else is
 * contracted (C11 and no -march: GCC does not contract; LLVM contracts only
 * with fast-math flags, which sinter never sets).  An FMA halves the
 * polynomials' operations, which are most of a GELU's (session 18: the GPT's
 * GELU epilogues took a tenth of a bf16 step).  On an x86-64 without FMA
 * (every AVX2 CPU has it; only SSE-era ones lack it) llvm.fma becomes a
 * call to libm's fmaf: slow, but exact too, so the bits stay the same.
 */
#include "runtime/runtime.h"

#include <math.h>
#include <string.h>

/* 2^k for -126 <= k <= 127 */
static float pow2i(int k)
{
	uint32_t b = (uint32_t)(k + 127) << 23;
	float f;
	memcpy(&f, &b, sizeof f);
	return f;
}

float rt_expf(float x)
{
	if (x != x)
		return x;
	if (x > RT_EXP_HI)
		return INFINITY;
	if (x < RT_EXP_LO)
		return 0.0f;
	/* x = k ln2 + r, |r| <= ln2 / 2; ln2 in two parts, k * hi exact */
	float k = rintf(x * RT_LOG2E);
	float r = fmaf(-k, RT_LN2_HI, x);
	r = fmaf(-k, RT_LN2_LO, r);
	float p = RT_EXP_C[0];
	for (int i = 1; i < RT_EXP_N; i++)
		p = fmaf(p, r, RT_EXP_C[i]);
	/* 2^k in two halves: k reaches 128 and -126 */
	int ki = (int)k, h = ki >> 1;
	return p * pow2i(h) * pow2i(ki - h);
}

float rt_tanhf(float x)
{
	float a = fabsf(x);
	if (a < RT_TANH_SMALL) {
		float z = x * x;
		float q = RT_TANH_C[0];
		for (int i = 1; i < RT_TANH_N; i++)
			q = fmaf(q, z, RT_TANH_C[i]);
		return copysignf(fmaf(x * z, q, x), x); /* the sign of x, also for -0 */
	}
	if (a > RT_TANH_ONE)
		return copysignf(1.0f, x);
	float t = rt_expf(a + a);
	return copysignf(1.0f - 2.0f / (t + 1.0f), x);
}

/* Taylor's 1/n!, n = 7 .. 0, Horner's order */
const float RT_EXP_C[RT_EXP_N] = {
	1.98412698e-4f, 1.38888889e-3f, 8.33333377e-3f, 4.16666679e-2f, 0.166666672f, 0.5f, 1.0f, 1.0f,
};

/* tanh(x) = x + x^3 q(x^2) on |x| < 0.625: a least-squares fit on Chebyshev
   nodes weighted for relative error, highest power first */
const float RT_TANH_C[RT_TANH_N] = {
	-0.005691935773938894f, 0.02062624879181385f, -0.05373530462384224f, 0.13331380486488342f,
	-0.3333328068256378f,
};
