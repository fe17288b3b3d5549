/*
 * scalar.c — the math of one element: unary and binary ops, conversions,
 * constants and the counter-based random draw.  Every formula mirrors
 * ir/opsem.h (the element functions the interpreter and constant folding
 * use) operation for operation (same comparisons, same NaN rules,
 * same wrapping and saturation), and no fast-math flag is set, so results
 * are bit-identical except where a libm call could be evaluated in another
 * order (none today).  exp and tanh are sinter's own (runtime/mathf.c),
 * emitted inline as plain float operations so that loops vectorize; the
 * other transcendentals go through LLVM intrinsics or libm calls, the same
 * libm functions the interpreter calls.
 */
#include "codegen/scalar.h"
#include "ir/opsem.h"
#include "runtime/runtime.h"

#include <math.h>
#include <string.h>

static LLVMValueRef zext8(Cg *g, LLVMValueRef c)
{
	return LLVMBuildZExt(g->b, c, g->i8, "");
}

/* f(x) for a float function of libm that LLVM has no intrinsic for. */
static LLVMValueRef libm1(Cg *g, const char *name, LLVMValueRef x)
{
	return cg_call(g, name, g->f32, &g->f32, &x, 1);
}

static LLVMValueRef intr1(Cg *g, const char *name, LLVMValueRef x)
{
	return cg_intrinsic(g, name, LLVMTypeOf(x), &x, 1);
}

static LLVMValueRef intr2(Cg *g, const char *name, LLVMValueRef x, LLVMValueRef y)
{
	LLVMValueRef a[2] = { x, y };
	return cg_intrinsic(g, name, LLVMTypeOf(x), a, 2);
}

static LLVMValueRef cmp_const(Cg *g, LLVMRealPredicate p, LLVMValueRef x, float c)
{
	return LLVMBuildFCmp(g->b, p, x, cg_f32(g, c), "");
}

/* a * b + c rounded once: runtime/mathf.c's fmaf */
static LLVMValueRef fma3(Cg *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
	LLVMValueRef x[3] = { a, b, c };
	return cg_intrinsic(g, "llvm.fma", LLVMTypeOf(a), x, 3);
}

/* p * r + c for each c, Horner's order, one FMA a step */
static LLVMValueRef horner(Cg *g, const float *c, int n, LLVMValueRef r)
{
	LLVMValueRef p = cg_f32(g, c[0]);
	for (int i = 1; i < n; i++)
		p = fma3(g, p, r, cg_f32(g, c[i]));
	return p;
}

/* 2^k for an i32 k in [-126, 127]: the exponent bits */
static LLVMValueRef pow2i(Cg *g, LLVMValueRef k)
{
	LLVMValueRef e = LLVMBuildShl(g->b, LLVMBuildAdd(g->b, k, cg_i32(g, 127), ""), cg_i32(g, 23), "");
	return LLVMBuildBitCast(g->b, e, g->f32, "");
}

/* rt_expf's reduction and polynomial for an x it takes as it is (no
   limit applies): p with e^x = p 2^k, and k as an i32 */
static LLVMValueRef exp_poly(Cg *g, LLVMValueRef x, LLVMValueRef *ki)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef k = intr1(g, "llvm.rint", LLVMBuildFMul(b, x, cg_f32(g, RT_LOG2E), ""));
	LLVMValueRef nk = LLVMBuildFNeg(b, k, "");
	LLVMValueRef r = fma3(g, nk, cg_f32(g, RT_LN2_HI), x);
	r = fma3(g, nk, cg_f32(g, RT_LN2_LO), r);
	*ki = LLVMBuildFPToSI(b, k, g->i32, "");
	return horner(g, RT_EXP_C, RT_EXP_N, r);
}

/* rt_expf (runtime/mathf.c), its branches as selects: no call, so it vectorizes */
static LLVMValueRef expf_inline(Cg *g, LLVMValueRef x)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef hi = cmp_const(g, LLVMRealOGT, x, RT_EXP_HI), lo = cmp_const(g, LLVMRealOLT, x, RT_EXP_LO);
	/* in range for the integer steps; the selects below discard the rest */
	LLVMValueRef xc = LLVMBuildSelect(b, hi, cg_f32(g, RT_EXP_HI), LLVMBuildSelect(b, lo, cg_f32(g, RT_EXP_LO), x, ""), "");
	xc = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), cg_f32(g, 0), xc, "");
	LLVMValueRef ki, p = exp_poly(g, xc, &ki), h = LLVMBuildAShr(b, ki, cg_i32(g, 1), "");
	LLVMValueRef y = LLVMBuildFMul(b, LLVMBuildFMul(b, p, pow2i(g, h), ""), pow2i(g, LLVMBuildSub(b, ki, h, "")), "");
	y = LLVMBuildSelect(b, lo, cg_f32(g, 0), y, "");
	y = LLVMBuildSelect(b, hi, cg_f32(g, INFINITY), y, "");
	return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, y, "");
}

/*
 * rt_tanhf (runtime/mathf.c), branch-free.  Its middle range, |x| in
 * [RT_TANH_SMALL, RT_TANH_ONE], needs rt_expf(2|x|) only for arguments up
 * to 18, where none of rt_expf's limits applies and 2^k (k <= 26) is one
 * float: p 2^k is the float p 2^h 2^(k-h) is, so the exp here skips the
 * limits' compares and selects and the split scaling (a dozen vector
 * operations of the GELU's ~60) and gives rt_expf's bits.  Arguments past
 * 18 (and NaN) are clamped to keep the integer steps defined; the result
 * of the middle range is not selected for them, and NaN is put back last.
 */
static LLVMValueRef tanhf_inline(Cg *g, LLVMValueRef x)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef a = intr1(g, "llvm.fabs", x), one = cg_f32(g, 1);
	LLVMValueRef z = LLVMBuildFMul(b, x, x, "");
	LLVMValueRef q = horner(g, RT_TANH_C, RT_TANH_N, z);
	LLVMValueRef small = fma3(g, LLVMBuildFMul(b, x, z, ""), q, x);
	LLVMValueRef a2 = LLVMBuildFAdd(b, a, a, ""), top = cg_f32(g, 2 * RT_TANH_ONE);
	a2 = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, a2, top, ""), a2, top, "");
	LLVMValueRef ki, p = exp_poly(g, a2, &ki);
	LLVMValueRef t = LLVMBuildFMul(b, p, pow2i(g, ki), "");
	LLVMValueRef mid = LLVMBuildFSub(b, one, LLVMBuildFDiv(b, cg_f32(g, 2), LLVMBuildFAdd(b, t, one, ""), ""), "");
	LLVMValueRef big = LLVMBuildSelect(b, cmp_const(g, LLVMRealOGT, a, RT_TANH_ONE), one, mid, "");
	LLVMValueRef y = intr2(g, "llvm.copysign", LLVMBuildSelect(b, cmp_const(g, LLVMRealOLT, a, RT_TANH_SMALL), small, big, ""), x);
	return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), LLVMBuildFAdd(b, x, x, ""), y, "");
}

static LLVMValueRef f_unary(Cg *g, OpKind op, LLVMValueRef x)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef one = cg_f32(g, 1), zero = cg_f32(g, 0);
	switch (op) {
	case OP_NEG: return LLVMBuildFNeg(b, x, "");
	case OP_EXP: return expf_inline(g, x);
	case OP_LOG: return intr1(g, "llvm.log", x);
	case OP_SQRT: return intr1(g, "llvm.sqrt", x);
	case OP_RSQRT: return LLVMBuildFDiv(b, one, intr1(g, "llvm.sqrt", x), "");
	case OP_TANH: return tanhf_inline(g, x);
	case OP_SIGMOID:
		return LLVMBuildFDiv(b, one, LLVMBuildFAdd(b, one, expf_inline(g, LLVMBuildFNeg(b, x, "")), ""), "");
	case OP_RELU: return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, zero, ""), zero, x, "");
	case OP_ABS: return intr1(g, "llvm.fabs", x);
	case OP_SIGN: {
		LLVMValueRef neg = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, zero, ""), cg_f32(g, -1), x, "");
		return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, x, zero, ""), one, neg, "");
	}
	case OP_SIN: return intr1(g, "llvm.sin", x);
	case OP_COS: return intr1(g, "llvm.cos", x);
	case OP_ERF: return libm1(g, "erff", x);
	default: return NULL;
	}
}

LLVMValueRef cg_unary(Cg *g, OpKind op, DType dt, LLVMValueRef x)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef r = NULL;
	if (dt == DT_F32) {
		r = f_unary(g, op, x);
	} else if (dt == DT_I32) {
		LLVMValueRef zero = cg_i32(g, 0), neg = LLVMBuildSub(b, zero, x, "");
		LLVMValueRef lt0 = LLVMBuildICmp(b, LLVMIntSLT, x, zero, "");
		switch (op) {
		case OP_NEG: r = neg; break;
		case OP_RELU: r = LLVMBuildSelect(b, lt0, zero, x, ""); break;
		case OP_ABS: r = LLVMBuildSelect(b, lt0, neg, x, ""); break;
		case OP_SIGN:
			r = LLVMBuildSub(b, LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntSGT, x, zero, ""), g->i32, ""),
				LLVMBuildZExt(b, lt0, g->i32, ""), "");
			break;
		default: break;
		}
	} else if (dt == DT_BOOL && op == OP_NOT) {
		r = zext8(g, LLVMBuildICmp(b, LLVMIntEQ, x, LLVMConstInt(g->i8, 0, 0), ""));
	}
	if (!r)
		die("codegen: %s on a %s operand", op_info[op].name, dtype_name(dt));
	return r;
}

/* The i32 power of interp.c's i_pow, as a module-private function. */
static LLVMValueRef ipow_fn(Cg *g)
{
	LLVMValueRef f = LLVMGetNamedFunction(g->mod, "sinter.ipow");
	if (f)
		return f;
	LLVMTypeRef pt[2] = { g->i32, g->i32 };
	f = LLVMAddFunction(g->mod, "sinter.ipow", LLVMFunctionType(g->i32, pt, 2, 0));
	LLVMSetLinkage(f, LLVMPrivateLinkage);
	LLVMBuilderRef b = LLVMCreateBuilderInContext(g->ctx);
	LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(g->ctx, f, "entry");
	LLVMBasicBlockRef negb = LLVMAppendBasicBlockInContext(g->ctx, f, "neg");
	LLVMBasicBlockRef head = LLVMAppendBasicBlockInContext(g->ctx, f, "head");
	LLVMBasicBlockRef step = LLVMAppendBasicBlockInContext(g->ctx, f, "step");
	LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(g->ctx, f, "done");
	LLVMValueRef x = LLVMGetParam(f, 0), y = LLVMGetParam(f, 1);
	LLVMValueRef zero = LLVMConstInt(g->i32, 0, 0), one = LLVMConstInt(g->i32, 1, 0);
	LLVMValueRef mone = LLVMConstInt(g->i32, (unsigned long long)-1, 1);
	LLVMPositionBuilderAtEnd(b, entry);
	LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntSLT, y, zero, ""), negb, head);
	/* y < 0: 1 for x == 1, +-1 for x == -1 (by y's parity), else 0 */
	LLVMPositionBuilderAtEnd(b, negb);
	LLVMValueRef odd = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, y, one, ""), zero, "");
	LLVMValueRef m1 = LLVMBuildSelect(b, odd, mone, one, "");
	LLVMValueRef r = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, x, mone, ""), m1, zero, "");
	LLVMBuildRet(b, LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntEQ, x, one, ""), one, r, ""));
	/* square and multiply, wrapping */
	LLVMPositionBuilderAtEnd(b, head);
	LLVMValueRef acc = LLVMBuildPhi(b, g->i32, ""), base = LLVMBuildPhi(b, g->i32, ""),
		e = LLVMBuildPhi(b, g->i32, "");
	LLVMAddIncoming(acc, &one, &entry, 1);
	LLVMAddIncoming(base, &x, &entry, 1);
	LLVMAddIncoming(e, &y, &entry, 1);
	LLVMBuildCondBr(b, LLVMBuildICmp(b, LLVMIntEQ, e, zero, ""), done, step);
	LLVMPositionBuilderAtEnd(b, step);
	LLVMValueRef bit = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, e, one, ""), zero, "");
	LLVMValueRef acc2 = LLVMBuildSelect(b, bit, LLVMBuildMul(b, acc, base, ""), acc, "");
	LLVMValueRef base2 = LLVMBuildMul(b, base, base, ""), e2 = LLVMBuildLShr(b, e, one, "");
	LLVMAddIncoming(acc, &acc2, &step, 1);
	LLVMAddIncoming(base, &base2, &step, 1);
	LLVMAddIncoming(e, &e2, &step, 1);
	LLVMBuildBr(b, head);
	LLVMPositionBuilderAtEnd(b, done);
	LLVMBuildRet(b, acc);
	LLVMDisposeBuilder(b);
	return f;
}

/* x / y, x floordiv y or x mod y on i32, in i64 like interp.c; 0 when y == 0. */
static LLVMValueRef i_divide(Cg *g, OpKind op, LLVMValueRef x, LLVMValueRef y)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef z32 = cg_i32(g, 0), z64 = cg_i64(g, 0);
	LLVMValueRef yz = LLVMBuildICmp(b, LLVMIntEQ, y, z32, "");
	LLVMValueRef x64 = LLVMBuildSExt(b, x, g->i64, "");
	/* a divisor of 1 stands in for 0 so that no path divides by zero */
	LLVMValueRef y64 = LLVMBuildSExt(b, LLVMBuildSelect(b, yz, cg_i32(g, 1), y, ""), g->i64, "");
	LLVMValueRef q = LLVMBuildSDiv(b, x64, y64, ""), m = LLVMBuildSRem(b, x64, y64, ""), res;
	LLVMValueRef yneg = LLVMBuildICmp(b, LLVMIntSLT, y, z32, "");
	if (op == OP_DIV) {
		res = q;
	} else if (op == OP_FLOORDIV) {
		LLVMValueRef signs = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildICmp(b, LLVMIntSLT, x, z32, ""), yneg, "");
		LLVMValueRef fix = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntNE, m, z64, ""), signs, "");
		res = LLVMBuildSub(b, q, LLVMBuildZExt(b, fix, g->i64, ""), "");
	} else {
		LLVMValueRef signs = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildICmp(b, LLVMIntSLT, m, z64, ""), yneg, "");
		LLVMValueRef fix = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntNE, m, z64, ""), signs, "");
		res = LLVMBuildSelect(b, fix, LLVMBuildAdd(b, m, y64, ""), m, "");
	}
	return LLVMBuildSelect(b, yz, z32, LLVMBuildTrunc(b, res, g->i32, ""), "");
}

/* EQ NE LT LE GT GE, as C compares: ordered except !=, which NaN satisfies */
static const LLVMRealPredicate fcmp[6] = {
	LLVMRealOEQ, LLVMRealUNE, LLVMRealOLT, LLVMRealOLE, LLVMRealOGT, LLVMRealOGE,
};
static const LLVMIntPredicate scmp[6] = { LLVMIntEQ, LLVMIntNE, LLVMIntSLT, LLVMIntSLE, LLVMIntSGT, LLVMIntSGE };
static const LLVMIntPredicate ucmp[6] = { LLVMIntEQ, LLVMIntNE, LLVMIntULT, LLVMIntULE, LLVMIntUGT, LLVMIntUGE };

/* add, sub, mul: one LLVM instruction, of the float or the integer family */
static LLVMValueRef ring_op(Cg *g, OpKind op, bool fl, LLVMValueRef x, LLVMValueRef y)
{
	static const LLVMOpcode fo[3] = { LLVMFAdd, LLVMFSub, LLVMFMul }, io[3] = { LLVMAdd, LLVMSub, LLVMMul };
	int k = op == OP_ADD ? 0 : op == OP_SUB ? 1 : 2;
	return LLVMBuildBinOp(g->b, fl ? fo[k] : io[k], x, y, "");
}

static LLVMValueRef f_binary(Cg *g, OpKind op, LLVMValueRef x, LLVMValueRef y)
{
	LLVMBuilderRef b = g->b;
	switch (op) {
	case OP_ADD: case OP_SUB: case OP_MUL: return ring_op(g, op, true, x, y);
	case OP_DIV: return LLVMBuildFDiv(b, x, y, "");
	case OP_POW: {
		LLVMValueRef a[2] = { x, y };
		return cg_intrinsic(g, "llvm.pow", g->f32, a, 2);
	}
	case OP_MAXIMUM:
	case OP_MINIMUM: {
		/* (x >= y || x != x) ? x : y: a NaN in either operand wins */
		LLVMValueRef c = LLVMBuildFCmp(b, op == OP_MAXIMUM ? LLVMRealOGE : LLVMRealOLE, x, y, "");
		c = LLVMBuildOr(b, c, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), "");
		return LLVMBuildSelect(b, c, x, y, "");
	}
	case OP_FLOORDIV: return intr1(g, "llvm.floor", LLVMBuildFDiv(b, x, y, ""));
	case OP_MOD: {
		LLVMValueRef fl = intr1(g, "llvm.floor", LLVMBuildFDiv(b, x, y, ""));
		return LLVMBuildFSub(b, x, LLVMBuildFMul(b, fl, y, ""), "");
	}
	default: return NULL;
	}
}

static LLVMValueRef i_binary(Cg *g, OpKind op, LLVMValueRef x, LLVMValueRef y)
{
	LLVMBuilderRef b = g->b;
	switch (op) {
	case OP_ADD: case OP_SUB: case OP_MUL: return ring_op(g, op, false, x, y);
	case OP_DIV:
	case OP_FLOORDIV:
	case OP_MOD: return i_divide(g, op, x, y);
	case OP_POW: {
		LLVMTypeRef pt[2] = { g->i32, g->i32 };
		LLVMValueRef a[2] = { x, y };
		return LLVMBuildCall2(b, LLVMFunctionType(g->i32, pt, 2, 0), ipow_fn(g), a, 2, "");
	}
	case OP_MAXIMUM: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, x, y, ""), x, y, "");
	case OP_MINIMUM: return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, y, ""), x, y, "");
	default: return NULL;
	}
}

LLVMValueRef cg_binary(Cg *g, OpKind op, DType dt, LLVMValueRef x, LLVMValueRef y)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef r = NULL;
	if (op >= OP_EQ && op <= OP_GE) {
		int k = op - OP_EQ;
		LLVMValueRef c = dt == DT_F32 ? LLVMBuildFCmp(b, fcmp[k], x, y, "")
			: LLVMBuildICmp(b, dt == DT_I32 ? scmp[k] : ucmp[k], x, y, "");
		return zext8(g, c);
	}
	if (dt == DT_F32)
		r = f_binary(g, op, x, y);
	else if (dt == DT_I32)
		r = i_binary(g, op, x, y);
	else if (dt == DT_BOOL && (op == OP_AND || op == OP_MINIMUM))
		r = LLVMBuildAnd(b, x, y, "");
	else if (dt == DT_BOOL && (op == OP_OR || op == OP_MAXIMUM))
		r = LLVMBuildOr(b, x, y, "");
	if (!r)
		die("codegen: %s on %s operands", op_info[op].name, dtype_name(dt));
	return r;
}

/* An integer constant of type t's shape (a scalar, or a splat of a vector)
   with elements of bits bits. */
static LLVMValueRef int_like(LLVMTypeRef t, unsigned bits, unsigned long long v)
{
	LLVMTypeRef it = LLVMIntTypeInContext(LLVMGetTypeContext(t), bits);
	LLVMValueRef c = LLVMConstInt(it, v, 0);
	if (LLVMGetTypeKind(t) != LLVMVectorTypeKind)
		return c;
	unsigned n = LLVMGetVectorSize(t);
	LLVMValueRef e[n];
	for (unsigned i = 0; i < n; i++)
		e[i] = c;
	return LLVMConstVector(e, n);
}

/* f32 -> bf16 bits, rt_bf16_from_f32 operation for operation: round to
   nearest even by adding 0x7FFF plus the kept part's lowest bit, NaN to
   0x7FC0.  Integer work only, so any x86-64 runs it and LLVM vectorizes
   it (AVX512_BF16's vcvtneps2bf16 rounds the same way but flushes
   denormals to zero and is not on every CPU we run on).  x is a float or
   a vector of floats; the result is i16 of the same shape.  Shared by the
   casts here and the bf16 GEMM's packing (gemm.c). */
LLVMValueRef cg_bf16_bits(LLVMBuilderRef b, LLVMValueRef x)
{
	LLVMTypeRef ft = LLVMTypeOf(x);
	LLVMTypeRef i32 = LLVMTypeOf(int_like(ft, 32, 0)), i16 = LLVMTypeOf(int_like(ft, 16, 0));
	LLVMValueRef u = LLVMBuildBitCast(b, x, i32, "");
	LLVMValueRef hi = LLVMBuildLShr(b, u, int_like(ft, 32, 16), "");
	LLVMValueRef bias = LLVMBuildAdd(b, LLVMBuildAnd(b, hi, int_like(ft, 32, 1), ""), int_like(ft, 32, 0x7FFF), "");
	LLVMValueRef r = LLVMBuildLShr(b, LLVMBuildAdd(b, u, bias, ""), int_like(ft, 32, 16), "");
	r = LLVMBuildTrunc(b, r, i16, "");
	LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, x, x, "");
	return LLVMBuildSelect(b, nan, int_like(ft, 16, 0x7FC0), r, "");
}

LLVMValueRef cg_convert(Cg *g, DType from, DType to, LLVMValueRef x)
{
	LLVMBuilderRef b = g->b;
	if (from == to)
		return x;
	/* bf16 meets f32 only (sh_cast) */
	if (to == DT_BF16)
		return cg_bf16_bits(g->b, x);
	if (from == DT_BF16)
		return LLVMBuildBitCast(b, LLVMBuildShl(b, LLVMBuildZExt(b, x, g->i32, ""), cg_i32(g, 16), ""), g->f32, "");
	switch (to) {
	case DT_F32:
		return from == DT_I32 ? LLVMBuildSIToFP(b, x, g->f32, "") : LLVMBuildUIToFP(b, x, g->f32, "");
	case DT_I32:
		if (from == DT_BOOL)
			return LLVMBuildZExt(b, x, g->i32, "");
		/* truncation toward zero; NaN gives 0, out-of-range values saturate */
		return cg_intrinsic_n(g, "llvm.fptosi.sat", (LLVMTypeRef[]){ g->i32, g->f32 }, 2, &x, 1);
	default:
		if (from == DT_F32)
			return zext8(g, LLVMBuildFCmp(b, LLVMRealUNE, x, cg_f32(g, 0), ""));
		return zext8(g, LLVMBuildICmp(b, LLVMIntNE, x, cg_i32(g, 0), ""));
	}
}

LLVMValueRef cg_const_of(Cg *g, DType to, double v)
{
	switch (to) {
	case DT_F32:
		return cg_f32(g, (float)v);
	case DT_I32:
		return cg_i32(g, (int32_t)sem_convert(DT_I32, v));
	case DT_BF16:
		return LLVMConstInt(g->i16, rt_bf16_from_f32((float)v), 0);
	default:
		return LLVMConstInt(g->i8, v != 0, 0);
	}
}

/* ---- counter-based random numbers (runtime/rng.c) ---- */

#define GOLDEN 0x9E3779B97F4A7C15ull

/* rt_mix64: the splitmix64 finalizer */
static LLVMValueRef mix64(Cg *g, LLVMValueRef x)
{
	LLVMBuilderRef b = g->b;
	x = LLVMBuildXor(b, x, LLVMBuildLShr(b, x, cg_i64(g, 30), ""), "");
	x = LLVMBuildMul(b, x, LLVMConstInt(g->i64, 0xBF58476D1CE4E5B9ull, 0), "");
	x = LLVMBuildXor(b, x, LLVMBuildLShr(b, x, cg_i64(g, 27), ""), "");
	x = LLVMBuildMul(b, x, LLVMConstInt(g->i64, 0x94D049BB133111EBull, 0), "");
	return LLVMBuildXor(b, x, LLVMBuildLShr(b, x, cg_i64(g, 31), ""), "");
}

LLVMValueRef cg_stream_key(Cg *g, int64_t stream)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef k = mix64(g, LLVMBuildAdd(b, g->seed, LLVMConstInt(g->i64, GOLDEN, 0), ""));
	k = mix64(g, LLVMBuildXor(b, k, cg_i64(g, stream), ""));
	return mix64(g, LLVMBuildXor(b, k, g->step, ""));
}

LLVMValueRef cg_uniform(Cg *g, LLVMValueRef key, LLVMValueRef i)
{
	LLVMBuilderRef b = g->b;
	LLVMValueRef c = mix64(g, LLVMBuildAdd(b, i, LLVMConstInt(g->i64, GOLDEN, 0), ""));
	LLVMValueRef d = mix64(g, LLVMBuildXor(b, key, c, ""));
	/* 24 bits: exact in a float, scaled by an exact power of two */
	LLVMValueRef u = LLVMBuildUIToFP(b, LLVMBuildLShr(b, d, cg_i64(g, 40), ""), g->f32, "");
	return LLVMBuildFMul(b, u, cg_f32(g, 1.0f / 16777216.0f), "");
}
