/*
 * interp.h — what the reference interpreter's two files share (ir/interp.c:
 * the driver, elementwise ops, reductions, matmul, sources and effects;
 * ir/interp_shape.c: shape ops, gathers and scatters, generated values):
 * the strided walker and element loads and stores.  Private to ir/interp*.c.
 */
#ifndef SINTER_IR_INTERP_H
#define SINTER_IR_INTERP_H

#include "ir/ops.h"
#include "ir/opsem.h"

#include <string.h>

#define U __attribute__((unused))
#define KERNEL(name) void name(U const Region *r, U int v, U Tensor *out, U Tensor *const *in, U Store *s)

/* ---- strided walks ---- */

/*
 * Visits an index space row by row (a row = the innermost axis).  For each
 * of up to four operands, st[k][a] is its element stride along axis a (0 on
 * broadcast axes) and off[k] the element offset of the current row start.
 */
typedef struct {
	int rank, nop;
	int64_t dim[MAX_RANK];
	int64_t st[4][MAX_RANK];
	int64_t idx[MAX_RANK];
	int64_t off[4];
	int64_t n;    /* row length */
	int64_t left; /* rows not yet finished, the current one included */
} Walk;

static inline void walk_init(Walk *w, const Type *space, int nop)
{
	memset(w, 0, sizeof *w);
	w->rank = space->rank;
	w->nop = nop;
	memcpy(w->dim, space->dim, sizeof w->dim);
	if (w->rank == 0) {
		/* a scalar is one row of one element */
		w->rank = 1;
		w->dim[0] = 1;
	}
}

/* Call after filling st/off; the first row is then current. */
static inline void walk_start(Walk *w)
{
	w->n = w->dim[w->rank - 1];
	w->left = w->n ? 1 : 0;
	for (int a = 0; a < w->rank - 1; a++)
		w->left *= w->dim[a];
}

static inline void walk_next(Walk *w)
{
	w->left--;
	for (int a = w->rank - 2; a >= 0; a--) {
		for (int k = 0; k < w->nop; k++)
			w->off[k] += w->st[k][a];
		if (++w->idx[a] < w->dim[a])
			return;
		for (int k = 0; k < w->nop; k++)
			w->off[k] -= w->st[k][a] * w->dim[a];
		w->idx[a] = 0;
	}
}

/* Strides of t read in index space sp (NumPy right alignment; size-1 axes broadcast). */
static inline void bstrides(const Type *t, const Type *sp, int64_t *st)
{
	int64_t m = 1;
	for (int a = sp->rank - 1, b = t->rank - 1; a >= 0; a--, b--) {
		st[a] = (b < 0 || t->dim[b] == 1) ? 0 : m;
		if (b >= 0)
			m *= t->dim[b];
	}
	if (sp->rank == 0)
		st[0] = 0;
}

static inline void cstrides(const Type *t, int64_t *st)
{
	int64_t m = 1;
	for (int a = t->rank - 1; a >= 0; a--) {
		st[a] = m;
		m *= t->dim[a];
	}
	if (t->rank == 0)
		st[0] = 1;
}

static inline size_t tbytes(const Type *t)
{
	return (size_t)type_bytes(t);
}

/* Row loop of an element copy: o[i*s0] = a[i*s1], for 4-, 2- or 1-byte elements. */
#define COPY_ROWS(T) \
	for (walk_start(w); w->left > 0; walk_next(w)) { \
		T *d_ = (T *)dst + w->off[0]; const T *p_ = (const T *)src + w->off[1]; \
		for (int64_t i = 0; i < w->n; i++) d_[i * sd] = p_[i * ss]; \
	}

/* Element copy along a walk: operand 0 is the destination, 1 the source. */
static inline void walk_copy(Walk *w, void *dst, const void *src, size_t es)
{
	int64_t sd = w->st[0][w->rank - 1], ss = w->st[1][w->rank - 1];
	if (es == 4)
		COPY_ROWS(uint32_t)
	else if (es == 2)
		COPY_ROWS(uint16_t)
	else
		COPY_ROWS(uint8_t)
}

/* ---- element loads and stores, any element type, through double ---- */

static inline double load(DType dt, const void *p, int64_t i)
{
	switch (dt) {
	case DT_F32: return ((const float *)p)[i];
	case DT_I32: return ((const int32_t *)p)[i];
	case DT_BF16: return rt_bf16_to_f32(((const uint16_t *)p)[i]);
	default: return ((const uint8_t *)p)[i];
	}
}

static inline void store_val(DType dt, void *p, int64_t i, double x)
{
	switch (dt) {
	case DT_F32:
		((float *)p)[i] = (float)x;
		break;
	case DT_I32:
		((int32_t *)p)[i] = (int32_t)sem_convert(DT_I32, x);
		break;
	case DT_BF16:
		((uint16_t *)p)[i] = rt_bf16_from_f32((float)x);
		break;
	default:
		((uint8_t *)p)[i] = x != 0;
		break;
	}
}

#endif
