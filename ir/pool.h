/*
 * pool.h — the window geometry of the 2-D pooling ops (max_pool,
 * avg_pool and their backward ops, ir/pool.c), shared by their shape
 * rules, the interpreter and the code generator so that all three read one
 * description of which input elements a window covers.
 */
#ifndef SINTER_IR_POOL_H
#define SINTER_IR_POOL_H

#include "ir/ir.h"

/*
 * Output element (oy, ox) of a plane reads input rows oy*sh - ph + ky and
 * columns ox*sw - pw + kx for 0 <= ky < kh, 0 <= kx < kw; the ones outside
 * 0..h-1, 0..w-1 are padding (-inf for max, 0 for avg).  oh, ow follow
 * PyTorch's floor formula: (h + 2*ph - kh) / sh + 1.
 */
typedef struct {
	int64_t n, c, h, w; /* the input f32[n, c, h, w] */
	int64_t oh, ow;     /* the output's spatial size */
	int64_t kh, kw, sh, sw, ph, pw;
} PoolGeom;

/*
 * The geometry of pooling input x by window ia[0..nia) (kh, kw, sh, sw,
 * ph, pw); false with a message naming the shapes, prefixed by `op`, when x
 * is not a 4-D f32 tensor or the window does not fit it: a kernel or
 * stride below 1, negative padding, padding above half the kernel
 * (PyTorch's rule), or a kernel larger than the padded input.
 */
bool ir_pool_geom(const char *op, const Type *x, const int64_t *ia, int nia, PoolGeom *g, char *err, size_t errlen);
/* The pooled type f32[n, c, oh, ow]. */
Type ir_pool_out(const PoolGeom *g);

#endif
