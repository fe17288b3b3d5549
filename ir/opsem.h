/*
 * opsem.h — what every elementwise op computes on one element, written once.
 *
 * Each list below pairs an op of ops.def with its result as a C expression
 * of one element x (and y), and says how that result is rounded:
 *   1  only IEEE basic operations (or integer ones): the same bits on every
 *      machine, so constant folding may compute it ahead of time;
 *   0  a math-library function (exp, log, tanh, pow, ...): the interpreter
 *      and the generated code agree because both call sinter's own or the
 *      same C library's, but a fold would bake one machine's result in.
 *
 * The reference interpreter (ir/interp.c) expands the lists into its
 * loops, one loop per op so the compiler vectorizes them; constant folding
 * (passes/simplify.c) and the host's numbers (host/prims.c) call the
 * sem_* functions made from the same lists.  codegen/scalar.c is the one
 * other implementation (it emits LLVM IR), held to this one by the
 * differential tests (tests/unit/test_codegen.c, tests/e2e/jit_diff.sh).
 *
 * Floating-point ops are written once for both precisions: tensor elements
 * are f32 and use sinter's exp and tanh (runtime/mathf.c, the ones the
 * generated code computes inline); host numbers are Python floats, doubles,
 * and use the C library.  Integers wrap in two's complement like the
 * generated code; a zero divisor gives 0 rather than a trap.
 */
#ifndef SINTER_OPSEM_H
#define SINTER_OPSEM_H

#include <math.h>

#include "ir/ir.h"
#include "runtime/runtime.h"

/* How a sem_* function computed its result (see the list columns above). */
typedef enum { SEM_NONE, SEM_LIBM, SEM_EXACT } SemKind;

/* The math functions of each precision: SEM_FN(F32, exp) is rt_expf. */
#define SEM_FN(P, f) SEM_##P##_##f
#define SEM_F32_exp rt_expf
#define SEM_F32_log logf
#define SEM_F32_sqrt sqrtf
#define SEM_F32_tanh rt_tanhf
#define SEM_F32_fabs fabsf
#define SEM_F32_sin sinf
#define SEM_F32_cos cosf
#define SEM_F32_erf erff
#define SEM_F32_pow powf
#define SEM_F32_floor floorf
#define SEM_F64_exp exp
#define SEM_F64_log log
#define SEM_F64_sqrt sqrt
#define SEM_F64_tanh tanh
#define SEM_F64_fabs fabs
#define SEM_F64_sin sin
#define SEM_F64_cos cos
#define SEM_F64_erf erf
#define SEM_F64_pow pow
#define SEM_F64_floor floor

/* Floating-point, one operand x of type T: X(op, exact, expression). */
#define SEM_FLOAT_UNARY(X, P, T) \
	X(NEG, 1, -x) \
	X(EXP, 0, SEM_FN(P, exp)(x)) \
	X(LOG, 0, SEM_FN(P, log)(x)) \
	X(SQRT, 1, SEM_FN(P, sqrt)(x)) \
	X(RSQRT, 1, (T)1 / SEM_FN(P, sqrt)(x)) \
	X(TANH, 0, SEM_FN(P, tanh)(x)) \
	X(SIGMOID, 0, (T)1 / ((T)1 + SEM_FN(P, exp)(-x))) \
	X(RELU, 1, x < 0 ? (T)0 : x) \
	X(ABS, 1, SEM_FN(P, fabs)(x)) \
	X(SIGN, 1, x > 0 ? (T)1 : x < 0 ? (T)-1 : x) \
	X(SIN, 0, SEM_FN(P, sin)(x)) \
	X(COS, 0, SEM_FN(P, cos)(x)) \
	X(ERF, 0, SEM_FN(P, erf)(x))

/* Floating-point, two operands; NaN in either operand of maximum/minimum
   propagates, as in NumPy; floordiv and mod follow Python (mod takes the
   divisor's sign). */
#define SEM_FLOAT_BINARY(X, P, T) \
	X(ADD, 1, x + y) \
	X(SUB, 1, x - y) \
	X(MUL, 1, x * y) \
	X(DIV, 1, x / y) \
	X(POW, 0, SEM_FN(P, pow)(x, y)) \
	X(MAXIMUM, 1, (x >= y || x != x) ? x : y) \
	X(MINIMUM, 1, (x <= y || x != x) ? x : y) \
	X(FLOORDIV, 1, SEM_FN(P, floor)(x / y)) \
	X(MOD, 1, x - SEM_FN(P, floor)(x / y) * y)

/* i32 arithmetic wraps: computed on uint32_t, as the generated code does. */
static inline int32_t sem_i32_wrap(int64_t x)
{
	return (int32_t)(uint32_t)(uint64_t)x;
}

/* Python's floor division on i32; 0 for a zero divisor, so bad user data never traps. */
static inline int32_t sem_i32_floordiv(int32_t x, int32_t y)
{
	if (y == 0)
		return 0;
	int64_t q = (int64_t)x / y;
	return (int32_t)(q - ((int64_t)x % y != 0 && (x < 0) != (y < 0)));
}

/* Python's modulo on i32: the result takes the divisor's sign; 0 for a zero divisor. */
static inline int32_t sem_i32_mod(int32_t x, int32_t y)
{
	if (y == 0)
		return 0;
	int64_t m = (int64_t)x % y;
	return (int32_t)(m != 0 && (m < 0) != (y < 0) ? m + y : m);
}

/* x ** y on i32, wrapping; a negative exponent gives the integer part of 1 / x**-y. */
static inline int32_t sem_i32_pow(int32_t x, int32_t y)
{
	if (y < 0)
		return x == 1 ? 1 : x == -1 ? (y % 2 ? -1 : 1) : 0;
	uint32_t acc = 1, b = (uint32_t)x;
	for (; y; y >>= 1, b *= b)
		if (y & 1)
			acc *= b;
	return (int32_t)acc;
}

#define SEM_I32_UNARY(X) \
	X(NEG, 1, sem_i32_wrap(-(int64_t)x)) \
	X(RELU, 1, x < 0 ? 0 : x) \
	X(ABS, 1, x < 0 ? sem_i32_wrap(-(int64_t)x) : x) \
	X(SIGN, 1, (x > 0) - (x < 0))

#define SEM_I32_BINARY(X) \
	X(ADD, 1, sem_i32_wrap((int64_t)x + y)) \
	X(SUB, 1, sem_i32_wrap((int64_t)x - y)) \
	X(MUL, 1, sem_i32_wrap((int64_t)x * y)) \
	X(DIV, 1, y ? sem_i32_wrap((int64_t)x / y) : 0) \
	X(POW, 1, sem_i32_pow(x, y)) \
	X(MAXIMUM, 1, x > y ? x : y) \
	X(MINIMUM, 1, x < y ? x : y) \
	X(FLOORDIV, 1, sem_i32_floordiv(x, y)) \
	X(MOD, 1, sem_i32_mod(x, y))

/* bool elements are 0 or 1: minimum is and, maximum is or. */
#define SEM_BOOL_UNARY(X) \
	X(NOT, 1, !x)

#define SEM_BOOL_BINARY(X) \
	X(AND, 1, x & y) \
	X(MINIMUM, 1, x & y) \
	X(OR, 1, x | y) \
	X(MAXIMUM, 1, x | y)

/* Comparisons, the same for every element type; the result is a bool. */
#define SEM_COMPARE(X) \
	X(EQ, 1, x == y) \
	X(NE, 1, x != y) \
	X(LT, 1, x < y) \
	X(LE, 1, x <= y) \
	X(GT, 1, x > y) \
	X(GE, 1, x >= y)

/* ---- the lists as functions ---- */

#define SEM_CASE(OPK, EXACT, EXPR) case OP_##OPK: *o = (EXPR); return (EXACT) ? SEM_EXACT : SEM_LIBM;
/* NAME(op, x[, y], &result): the list's expression for op, SEM_NONE if op is not in it */
#define SEM_FN1(NAME, T, OT, CASES) \
	static inline SemKind NAME(OpKind op, T x, OT *o) { switch (op) { CASES default: return SEM_NONE; } }
#define SEM_FN2(NAME, T, OT, CASES) \
	static inline SemKind NAME(OpKind op, T x, T y, OT *o) { switch (op) { CASES default: return SEM_NONE; } }

SEM_FN1(sem_f32_unary, float, float, SEM_FLOAT_UNARY(SEM_CASE, F32, float))
SEM_FN1(sem_f64_unary, double, double, SEM_FLOAT_UNARY(SEM_CASE, F64, double))
SEM_FN2(sem_f32_binary, float, float, SEM_FLOAT_BINARY(SEM_CASE, F32, float))
SEM_FN1(sem_i32_unary, int32_t, int32_t, SEM_I32_UNARY(SEM_CASE))
SEM_FN2(sem_i32_binary, int32_t, int32_t, SEM_I32_BINARY(SEM_CASE))
SEM_FN1(sem_bool_unary, uint8_t, uint8_t, SEM_BOOL_UNARY(SEM_CASE))
SEM_FN2(sem_bool_binary, uint8_t, uint8_t, SEM_BOOL_BINARY(SEM_CASE))
SEM_FN2(sem_compare, double, uint8_t, SEM_COMPARE(SEM_CASE))

#undef SEM_FN1
#undef SEM_FN2
#undef SEM_CASE

/*
 * The value an element of type dt holds after storing x (a cast): f32
 * rounds; bf16 rounds to f32, then to bf16 (runtime.h); i32 truncates toward zero, NaN and out-of-range values saturate
 * instead of trapping; bool is x != 0.  Widened back to double.
 */
static inline double sem_convert(DType dt, double x)
{
	switch (dt) {
	case DT_F32:
		return (float)x;
	case DT_I32:
		return x != x ? 0 : x >= 2147483647.0 ? 2147483647.0 : x <= -2147483648.0 ? -2147483648.0
			: (double)(int32_t)x;
	case DT_BF16:
		return rt_bf16_to_f32(rt_bf16_from_f32((float)x));
	default:
		return x != 0;
	}
}

/*
 * The element function of op with n (1 or 2) operands of element type dt,
 * on values held as doubles (already sem_convert-ed to dt); the result,
 * widened back to double, into *res.  What constant folding calls.
 */
static inline SemKind sem_eval(OpKind op, DType dt, int n, double x, double y, double *res)
{
	float f = 0;
	int32_t i = 0;
	uint8_t c = 0;
	SemKind k = SEM_NONE;
	/* float -> double is exact: comparing the doubles compares the elements */
	if (n == 2 && (k = sem_compare(op, x, y, &c)) != SEM_NONE) {
		*res = c;
		return k;
	}
	switch (dt) {
	case DT_F32:
		k = n == 1 ? sem_f32_unary(op, (float)x, &f) : sem_f32_binary(op, (float)x, (float)y, &f);
		*res = f;
		return k;
	case DT_I32:
		k = n == 1 ? sem_i32_unary(op, (int32_t)x, &i) : sem_i32_binary(op, (int32_t)x, (int32_t)y, &i);
		*res = i;
		return k;
	default:
		k = n == 1 ? sem_bool_unary(op, x != 0, &c) : sem_bool_binary(op, x != 0, y != 0, &c);
		*res = c;
		return k;
	}
}

#endif
