/*
 * conv_taps.c — convolutions as GEMMs that read the image in place
 * ("tapped" products), without an im2col matrix.
 *
 * Per image and group, the input is copied once into a padded plane of Hp
 * x Wp (the padding's zeros around it).  Output pixel (i, j) is put at
 * i * Wp + j of a grid as wide as that plane, so that the window of tap
 * (ki, kj) starts at ki * dh * Wp + kj * dw + (i * Wp + j): for every
 * output pixel, a tap's input is the padded plane read at one offset.  The
 * im2col matrix's row (c, ki, kj) is then the plane of channel c from
 * that offset on, and sinter's GEMM packs it from there (CgGemmSpec.taps:
 * the rows' offsets computed in the packing loop).  The grid's columns j
 * >= OW (Wp - OW per row but the last) are junk: they read across the
 * row's end and are computed and dropped, so the grid is used only where
 * they are few (rt_conv2d_taps).
 *
 * A stride s > 1 is the same on phase planes: the padded image is cut
 * into sh x sw planes of (Hp / sh) x (Wp / sw), phase (a, b) holding the
 * pixels whose row is a and column b modulo the stride, so that output
 * (i, j)'s tap (ki, kj) is pixel (i + ki dh / sh, j + kj dw / sw) of phase
 * (ki dh % sh, kj dw % sw): again one offset per tap, on a grid as wide
 * as a phase plane.  Only the phases some tap reads are written.
 *
 *   y  = w @ taps(pad(x)) on the grid, then the grid's rows copied out;
 *   dx = the forward convolution of dy padded by the kernel's reach less
 *        the padding, with w's taps flipped and its channels swapped
 *        (wt[c][(o, kh-1-ki, kw-1-kj)] = w[o][c][ki][kj]), then copied out
 *        (unit stride only: a strided one's is col2im's, conv.c);
 *   dw += dy on the grid (its junk columns zero, so they add nothing) @
 *        taps(pad(x))^T (unit stride only, plane_of says why).
 *
 * Copies: the padded planes (about x's size) and y's rows, where im2col
 * writes KH * KW times x and col2im adds as much.  Images go in parts on
 * the pool, and the weight gradient's partial sums are added in part
 * order, as runtime/conv.c does, so results are the same bits for any
 * --threads.  Only generated GEMMs read taps: a call without them (k NULL,
 * --gemm=openblas) goes through conv.c's im2col.
 */
#include "runtime/conv_taps.h"

/* The padded planes and grid of one op: the image read (x for the forward
   and dw, dy for dx) with pt rows and pl columns of padding around its
   h x w (hp x wp in all), cut into sh x sw phase planes of hph x wph
   (one for a unit stride), and the grid's rows (oh) and columns (ow) of
   real outputs. */
typedef struct {
	int64_t cin, cout; /* channels of the image read, of the grid written (per group) */
	int64_t h, w, pt, pl, hp, wp, sh, sw, hph, wph, pplane, plane;
	int64_t oh, ow, grid; /* the grid: (oh - 1) * wph + ow columns */
	int64_t k;            /* the GEMM's inner size of the forward and dx: cin * kh * kw */
} Plane;

/* The data gradient reads dy padded by the kernel's reach less the
   padding, at a unit stride only (a strided one's is col2im's).  A
   strided weight gradient is im2col's too: read in place it gained 2.5%
   of its time on ResNet-8's stride-2 layer, and its sums, rounded
   otherwise, moved 86 weights of a step of tests/e2e/torch_resnet.sh's
   replay beyond 1e-4 (8 allowed; PyTorch's f32 step from the same state
   89). */
static bool plane_of(const RtConv *g, RtConvOp op, Plane *p)
{
	int64_t cg = g->c / g->groups, og = g->o / g->groups;
	if (op == RT_CONV_DX) {
		int64_t pt = g->dh * (g->kh - 1) - g->ph, pl = g->dw * (g->kw - 1) - g->pw;
		*p = (Plane){ og, cg, g->oh, g->ow, pt, pl, g->oh + 2 * pt, g->ow + 2 * pl, 1, 1, 0, 0, 0, 0, g->h, g->w, 0,
			og * g->kh * g->kw };
		if (g->sh != 1 || g->sw != 1)
			return false;
	} else {
		*p = (Plane){ cg, og, g->h, g->w, g->ph, g->pw, g->h + 2 * g->ph, g->w + 2 * g->pw, g->sh, g->sw, 0, 0, 0, 0,
			g->oh, g->ow, 0, cg * g->kh * g->kw };
		if (op == RT_CONV_DW && (g->sh != 1 || g->sw != 1))
			return false;
	}
	p->hph = (p->hp + p->sh - 1) / p->sh;
	p->wph = (p->wp + p->sw - 1) / p->sw;
	p->pplane = p->hph * p->wph;
	p->plane = p->sh * p->sw * p->pplane;
	p->grid = (p->oh - 1) * p->wph + p->ow;
	return p->pt >= 0 && p->pl >= 0 && p->oh > 0 && p->ow > 0 && p->cin > 0 && p->cout > 0;
}

/* Worth reading in place: the rest of the grid's columns, junk, at most a
   fifth of the pixels (ResNet's 28 and 14 wide 3x3 layers: 1.07x and
   1.13x; the junk is computed, so the product grows by it), and an image
   whose output conv.c would not multiply several to a product (more than
   RT_CONV_GROUP / 2 pixels): a group packs A once for several images, a
   tapped product once per image, which cost more than im2col saved on
   ResNet's 7x7 stage (its stride-2 layer 64x55x288 per image against
   64x245x288 per group of 5). */
static bool grid_tight(const Plane *p)
{
	return 5 * p->grid <= 6 * p->oh * p->ow && 2 * p->oh * p->ow > RT_CONV_GROUP;
}

/* Worth it with more junk (up to 1.4x the pixels) and smaller images
   too: a unit-stride forward or weight gradient whose output rows are
   shorter than the input's (an unpadded layer: LeNet-5's 14 -> 10), where
   im2col has no run of consecutive rows to copy (conv.c's spans) and
   copies every row of every tap on its own (1500 rows of 10 floats an
   image), while the plane is one copy of the image, in long rows.  The
   tapped product at least as wide as a group of images would be (more
   than RT_CONV_GROUP / 2 columns).  Not the data gradient: its plane is dy
   padded by the kernel's reach on every side (LeNet-5's: a grid of 248
   columns for 196 pixels) and its product has the input's few channels as
   rows (6 of an 8-row tile); read in place it took twice im2col's time. */
static bool rows_apart(const RtConv *g, RtConvOp op, const Plane *p)
{
	return op != RT_CONV_DX && g->sh == 1 && g->sw == 1 && g->ow != g->w && 5 * p->grid <= 7 * p->oh * p->ow &&
		2 * p->grid > RT_CONV_GROUP;
}

bool rt_conv2d_taps(const RtConv *g, RtConvOp op, bool any_waste)
{
	Plane p;
	if (g->n == 0 || (g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0) ||
		!plane_of(g, op, &p))
		return false;
	/* one image's planes and grid stay a few MB: the parts' copies in cache */
	if (p.cin * p.plane + p.cout * p.grid > RT_CONV_TAPS_MAX)
		return false;
	return any_waste || grid_tight(&p) || rows_apart(g, op, &p);
}

/* Floats of one part's padded plane and grid (the forward's and dx's
   output on the grid; dw's dy on it). */
static int64_t part_floats(const Plane *p)
{
	return p->cin * p->plane + p->cout * p->grid;
}

int64_t rt_conv_taps_work(const RtConv *g, RtConvOp op)
{
	Plane p;
	plane_of(g, op, &p);
	int64_t parts = rt_conv2d_parts(g), floats = parts * part_floats(&p);
	if (op == RT_CONV_DW && parts > 1)
		floats += (parts - 1) * g->o * p.k; /* a partial sum per part but the first */
	if (op == RT_CONV_DX)
		floats += g->o * (g->c / g->groups) * g->kh * g->kw; /* the flipped weights, shared */
	return floats * (int64_t)sizeof(float);
}

int rt_conv_taps_products(const RtConv *g, RtConvOp op, RtConvProduct out[RT_CONV_PRODUCTS])
{
	Plane p;
	plane_of(g, op, &p);
	RtConvProduct q = { .calls = g->n * g->groups };
	q.taps = (RtConvTaps){ g->kh, g->kw, g->dh, g->dw, p.sh, p.sw, p.wph, p.pplane, p.plane };
	if (op == RT_CONV_DW) /* dw[og, k] += dy_grid[og, grid] @ taps^T */
		q = (RtConvProduct){ .m = p.cout, .n = p.k, .k = p.grid, .tb = true, .lda = p.grid, .ldb = p.grid,
			.ldc = p.k, .acc = true, .calls = q.calls, .taps = q.taps };
	else /* y[og, grid] = w[og, k] @ taps; dx: wt[cg, k] @ taps of dy */
		q = (RtConvProduct){ .m = p.cout, .n = p.grid, .k = p.k, .lda = p.k, .ldb = p.grid, .ldc = p.grid,
			.calls = q.calls, .taps = q.taps };
	q.parallel = rt_conv2d_parts(g) == 1 && q.m * q.n * q.k >= RT_GEMM_SERIAL_MAX;
	out[0] = q;
	return 1;
}

/* Whether a tap of g reads phase a of rows of stride s (ki * d % s == a
   for some ki < k): the phases no tap reads are never written. */
static bool phase_read(int64_t k, int64_t d, int64_t s, int64_t a)
{
	for (int64_t i = 0; i < k; i++)
		if (i * d % s == a)
			return true;
	return false;
}

/* src's c planes of h x w into dst's padded planes (p's geometry; g's
   taps say which phases of a strided one are read): the pixels alone.
   The padding around them is zero from one() at a part's first image and
   stays so, since nothing else writes the part's planes (the products
   only read them).  Zeroing it per image (a memset call per row) and a
   memcpy call per row of 28 floats cost 1.7% of a ResNet-8 step. */
static void pad_planes(const RtConv *g, const Plane *p, int64_t c, const float *src, float *dst)
{
	if (p->sh == 1 && p->sw == 1) {
		for (int64_t ch = 0; ch < c; ch++, src += p->h * p->w, dst += p->plane)
			for (int64_t i = 0; i < p->h; i++)
				rt_conv_copy_row(dst + (p->pt + i) * p->wp + p->pl, src + i * p->w, p->w);
		return;
	}
	/* phase (a, b): padded row r' * sh + a, column c' * sw + b */
	for (int64_t ch = 0; ch < c; ch++, src += p->h * p->w, dst += p->plane)
		for (int64_t a = 0; a < p->sh; a++)
			for (int64_t b = 0; b < p->sw; b++) {
				if (!phase_read(g->kh, g->dh, p->sh, a) || !phase_read(g->kw, g->dw, p->sw, b))
					continue;
				float *ph = dst + (a * p->sw + b) * p->pplane;
				/* columns q of the phase read input column q * sw + b - pl */
				int64_t off = b - p->pl, q0, q1;
				rt_conv_inside(off, p->sw, p->w, p->wph, &q0, &q1);
				for (int64_t r = 0; r < p->hph; r++) {
					int64_t i = r * p->sh + a - p->pt;
					if (i < 0 || i >= p->h)
						continue;
					float *row = ph + r * p->wph;
					const float *in = src + i * p->w + off;
					if (p->sw == 2)
						rt_conv_gather2(row + q0, in + 2 * q0, q1 - q0, p->w - 2 * q0 - off);
					else
						for (int64_t q = q0; q < q1; q++)
							row[q] = in[q * p->sw];
				}
			}
}

/* The grid's c rows out: pixel (i, j) of row r from r * grid + i * wph + j. */
static void grid_out(const Plane *p, int64_t c, const float *grid, float *dst)
{
	for (int64_t r = 0; r < c; r++)
		for (int64_t i = 0; i < p->oh; i++)
			rt_conv_copy_row(dst + (r * p->oh + i) * p->ow, grid + r * p->grid + i * p->wph, p->ow);
}

/* c rows of oh x ow pixels onto the grid; its junk columns are zero from
   one() at a part's first image (as the planes' padding). */
static void grid_in(const Plane *p, int64_t c, const float *src, float *grid)
{
	for (int64_t r = 0; r < c; r++)
		for (int64_t i = 0; i < p->oh; i++)
			rt_conv_copy_row(grid + r * p->grid + i * p->wph, src + (r * p->oh + i) * p->ow, p->ow);
}

typedef struct {
	const RtConv *g;
	RtConvOp op;
	Plane p;
	const float *a, *b; /* x, w (forward); dy, w (dx: b is wt); x, dy (dw) */
	float *out, *work;
	int64_t parts, og, cg;
	const RtConvGemm *k;
	char *gemm_work;
} Job;

static float *plane_of_part(const Job *j, int64_t p)
{
	return j->work + p * part_floats(&j->p);
}

static float *partial(const Job *j, int64_t p)
{
	return p == 0 ? j->out : j->work + j->parts * part_floats(&j->p) + (p - 1) * j->g->o * j->p.k;
}

/* Image n, group gi, in part p. */
static void one(const Job *j, int64_t p, int64_t n, int64_t gi, bool first)
{
	const RtConv *g = j->g;
	const Plane *pl = &j->p;
	float *pad = plane_of_part(j, p), *grid = pad + pl->cin * pl->plane;
	void *ws = j->gemm_work + p * j->k->stride;
	int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
	if (first) /* the padding (and dw's junk columns) for all the part's images */
		memset(pad, 0, (size_t)(j->op == RT_CONV_DW ? part_floats(pl) : pl->cin * pl->plane) * sizeof *pad);
	if (j->op == RT_CONV_Y) {
		pad_planes(g, pl, j->cg, j->a + (n * g->c + gi * j->cg) * hw, pad);
		j->k->fn[0](j->b + gi * j->og * pl->k, pad, grid, ws);
		grid_out(pl, j->og, grid, j->out + (n * g->o + gi * j->og) * ohw);
	} else if (j->op == RT_CONV_DX) {
		pad_planes(g, pl, j->og, j->a + (n * g->o + gi * j->og) * ohw, pad);
		j->k->fn[0](j->b + gi * j->cg * pl->k, pad, grid, ws);
		grid_out(pl, j->cg, grid, j->out + (n * g->c + gi * j->cg) * hw);
	} else {
		float *dw = partial(j, p) + gi * j->og * pl->k;
		if (first)
			memset(dw, 0, (size_t)(j->og * pl->k) * sizeof *dw);
		pad_planes(g, pl, j->cg, j->a + (n * g->c + gi * j->cg) * hw, pad);
		grid_in(pl, j->og, j->b + (n * g->o + gi * j->og) * ohw, grid);
		j->k->fn[0](grid, pad, dw, ws);
	}
}

static void run_range(void *ctx, int64_t p0, int64_t p1)
{
	const Job *j = ctx;
	for (int64_t p = p0; p < p1; p++) {
		int64_t lo, hi;
		rt_conv_part_images(j->g->n, j->parts, p, &lo, &hi);
		for (int64_t n = lo; n < hi; n++)
			for (int64_t gi = 0; gi < j->g->groups; gi++)
				one(j, p, n, gi, n == lo);
	}
}

/* wt[gi][c][(o * kh + ki) * kw + kj] = w[gi * og + o][c][kh-1-ki][kw-1-kj]:
   the data gradient's weights, a forward convolution's over dy. */
static void flip_weights(const RtConv *g, const float *w, float *wt)
{
	int64_t og = g->o / g->groups, cg = g->c / g->groups, taps = g->kh * g->kw;
	for (int64_t gi = 0; gi < g->groups; gi++)
		for (int64_t c = 0; c < cg; c++)
			for (int64_t o = 0; o < og; o++)
				for (int64_t t = 0; t < taps; t++)
					wt[((gi * cg + c) * og + o) * taps + t] = w[((gi * og + o) * cg + c) * taps + taps - 1 - t];
}

void rt_conv_taps_run(const RtConv *g, RtConvOp op, const float *a, const float *b, float *out, float *work,
	const RtConvGemm *k, char *gemm_work)
{
	Job j = { .g = g, .op = op, .a = a, .b = b, .out = out, .work = work, .k = k, .gemm_work = gemm_work,
		.parts = rt_conv2d_parts(g), .og = g->o / g->groups, .cg = g->c / g->groups };
	plane_of(g, op, &j.p);
	if (op == RT_CONV_DX) { /* the flipped weights after the parts' planes */
		float *wt = work + j.parts * part_floats(&j.p);
		flip_weights(g, b, wt);
		j.b = wt;
	}
	if (j.parts == 1)
		run_range(&j, 0, 1);
	else
		rt_parallel_for(j.parts, run_range, &j);
	if (op != RT_CONV_DW)
		return;
	for (int64_t p = 1; p < j.parts; p++)
		rt_conv_add_row(out, partial(&j, p), g->o * j.p.k);
}
