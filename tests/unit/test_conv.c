/*
 * test_conv.c — conv2d and its two gradient ops, generated code against the
 * interpreter: 120 random geometries (batch, channels, groups up to
 * depthwise, kernel, stride, padding and dilation per axis, odd sizes),
 * every seventh a 1x1 unit-stride one (the GEMM without im2col), each a
 * region computing conv2d(x, w), conv2d_dx(dy, w) and conv2d_dw(x, dy).
 * The interpreter sums in double over direct loops, generated code calls
 * runtime/conv.c's im2col/col2im and GEMMs in float: positive inputs keep
 * the sums free of cancellation, so they agree to a relative 2e-5.
 * Each also planned by memplan, its im2col matrices in the arena, and each
 * with its products on OpenBLAS and on sinter's own GEMM (--gemm=sinter:
 * kernels generated per product shape, handed to the runtime).  Then
 * larger batches and wider images, which the runtime cuts into parts and
 * blocks, "same" convolutions, whose taps it copies as one run, and
 * small images, which it multiplies several to a product.  Every
 * geometry with a unit stride runs a third time with its products reading
 * the padded image in place (runtime/conv_taps.c), and 40 more random
 * unit-stride ones are added for them.
 * Then the errors of the shape rule, each naming both shapes.
 */
#include "ir/conv.h"
#include "tests/unit/cgdiff.h"

static int64_t pick(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(urand() * (double)(hi - lo + 1));
}

/* A random geometry whose dilated kernel fits the padded input (unit
   stride when unit). */
static Node random_conv(int k, bool unit, Type *xt, Type *wt)
{
	Node p = ir_proto(OP_CONV2D);
	bool plain = !unit && k % 7 == 3, depthwise = k % 5 == 1;
	int64_t g = pick(1, 3), cg = depthwise ? 1 : pick(1, 3), og = pick(1, 3);
	int64_t kh = plain ? 1 : pick(1, 4), kw = plain ? 1 : pick(1, 4);
	int64_t *a = p.ia;
	a[CONV_SH] = plain || unit ? 1 : pick(1, 3), a[CONV_SW] = plain || unit ? 1 : pick(1, 3);
	a[CONV_PH] = plain ? 0 : pick(0, 2), a[CONV_PW] = plain ? 0 : pick(0, 2);
	a[CONV_DH] = pick(1, 3), a[CONV_DW] = pick(1, 3);
	a[CONV_GROUPS] = g;
	p.nia = CONV_NATTR;
	int64_t eh = (kh - 1) * a[CONV_DH] + 1, ew = (kw - 1) * a[CONV_DW] + 1;
	int64_t h = eh - 2 * a[CONV_PH] + pick(0, 6), w = ew - 2 * a[CONV_PW] + pick(0, 6);
	*xt = type_make(DT_F32, 4, (int64_t[]){ pick(1, 3), g * cg, h < 1 ? 1 : h, w < 1 ? 1 : w });
	*wt = type_make(DT_F32, 4, (int64_t[]){ g * og, cg, kh, kw });
	return p;
}

/*
 * The three ops of one geometry, generated code against the interpreter:
 * as they are, and planned (memplan) with their operands and results in
 * the arena, live across the other convolutions, so that a work buffer
 * (the im2col matrices at Node.work) placed over one of them shows; the
 * first with the products on OpenBLAS, the second on sinter's GEMM (whose
 * packing workspace, one slice per part, must not meet the work buffer).
 */
static void diff_conv(const char *what, Node p, Type xt, Type wt)
{
	char name[200], xs[64], ws[64];
	RtConv g;
	char err[512];
	if (!check(ir_conv_geom(&xt, &wt, &p, &g, err, sizeof err), "conv_geometry", "%s", err))
		return;
	Type yt = type_make(DT_F32, 4, (int64_t[]){ g.n, g.o, g.oh, g.ow });
	static const RtConvOp ops[3] = { RT_CONV_Y, RT_CONV_DX, RT_CONV_DW };
	bool any_taps = false;
	for (int k = 0; k < 3; k++)
		any_taps = any_taps || rt_conv2d_taps(&g, ops[k], true);
	/* variant 0: OpenBLAS after im2col; 1: sinter's GEMM after im2col
	   (SINTER_CONV_TAPS=0); 2: sinter's GEMM reading the image in place
	   wherever the geometry allows (SINTER_CONV_TAPS=1) */
	for (int variant = 0; variant < (any_taps ? 3 : 2); variant++) {
		int planned = variant > 0;
		setenv("SINTER_CONV_TAPS", variant == 2 ? "1" : "0", 1);
		cg_gemm_configure(&(CgGemmConfig){ .choice = planned ? CG_GEMM_SINTER : CG_GEMM_OPENBLAS });
		Region *r = ir_region_new(arena_new(), "conv");
		int x = ir_input(r, 0, xt), w = ir_input(r, 1, wt), dy = ir_input(r, 2, yt);
		if (planned) {
			x = ir_op1(r, OP_NEG, x);
			dy = ir_op1(r, OP_NEG, dy);
		}
		int out[3] = { emit(r, p, (int[]){ x, w }, 2), ir_conv(r, OP_CONV2D_DX, dy, w, &p, xt),
			ir_conv(r, OP_CONV2D_DW, x, dy, &p, wt) };
		for (int k = 0; k < 3; k++)
			ir_output(r, planned ? ir_op1(r, OP_NEG, out[k]) : out[k]);
		if (planned)
			memplan_run(r);
		Tensor *in = region_inputs(r, 0);
		Mem *mem = xcalloc(1, sizeof *mem);
		mem_fill(mem, r);
		snprintf(name, sizeof name, "conv_%s%s_x%s_w%s_s%lldx%lld_p%lldx%lld_d%lldx%lld_g%lld", what,
			variant == 2 ? "_planned_taps" : planned ? "_planned_sinter" : "_openblas", type_str(&xt, xs, sizeof xs), type_str(&wt, ws, sizeof ws), (long long)g.sh,
			(long long)g.sw, (long long)g.ph, (long long)g.pw, (long long)g.dh, (long long)g.dw, (long long)g.groups);
		CgRegion *cr = diff_run(name, r, in, 3, mem, 2e-5);
		/* every product of the three on the kernel chosen: none left to cblas_sgemm under sinter */
		RtConvProduct q[RT_CONV_PRODUCTS];
		int np = 0;
		for (int k = 0; k < 3; k++)
			np += rt_conv2d_products(&g, ops[k], variant == 2 && rt_conv2d_taps(&g, ops[k], true), q);
		int own = planned ? np : 0;
		if (cr)
			check(np > 0 && cr->gemm.products[0] == own && cr->gemm.products[1] == np - own, "conv_gemm_choice",
				"%s: %d products on sinter's GEMM, %d on OpenBLAS; want %d and %d", name, cr->gemm.products[0],
				cr->gemm.products[1], own, np - own);
		mem_free(mem);
		inputs_free(in, 3);
		arena_free(r->arena);
	}
	unsetenv("SINTER_CONV_TAPS");
	cg_gemm_configure(&(CgGemmConfig){ .choice = CG_GEMM_AUTO });
}

/* n random geometries (unit stride when unit), named prefix and index. */
static void diff_random(const char *prefix, int n, bool unit)
{
	char what[16];
	for (int k = 0; k < n; k++) {
		Type xt, wt;
		Node p = random_conv(k, unit, &xt, &wt);
		snprintf(what, sizeof what, "%s%d", prefix, k);
		diff_conv(what, p, xt, wt);
	}
}

static void test_random(void)
{
	diff_random("", 120, false);
}

/* Unit-stride geometries, whose products can read the image in place
   (runtime/conv_taps.c; diff_conv's third variant): paddings below,
   at and beyond the kernel's reach (no tapped data gradient there),
   dilations, groups, depthwise. */
static void test_taps(void)
{
	diff_random("unit", 40, true);
}

/*
 * Geometries that runtime/conv.c cuts up: batches of 5 to 9 images in
 * RT_CONV_PARTS parts of unequal sizes (the weight gradient's partial sums),
 * and outputs wider than RT_CONV_BLOCK pixels per row or with several rows
 * per block and a shorter last block.
 */
typedef struct {
	const char *x, *w;
	int64_t a[CONV_NATTR];
} Case;

static void diff_cases(const char *prefix, const Case *cases, size_t n)
{
	char what[48];
	for (size_t c = 0; c < n; c++) {
		const int64_t *a = cases[c].a;
		Node p = attrs(OP_CONV2D, CONV_NATTR, (int)a[0], (int)a[1], (int)a[2], (int)a[3], (int)a[4], (int)a[5], (int)a[6]);
		snprintf(what, sizeof what, "%s%zu", prefix, c);
		diff_conv(what, p, tp(DT_F32, cases[c].x), tp(DT_F32, cases[c].w));
	}
}

static void test_blocks(void)
{
	static const Case cases[] = {
		{ "5,3,20,40", "4,3,3,3", { 1, 1, 1, 1, 1, 1, 1 } },      /* 6 rows of 40 per block, 20 rows */
		{ "6,2,9,300", "2,2,3,3", { 1, 1, 1, 1, 1, 1, 1 } },      /* a row of 300 per block */
		{ "7,4,23,37", "6,2,3,2", { 2, 1, 1, 0, 1, 2, 2 } },      /* strided, dilated, grouped */
		{ "9,3,17,31", "3,1,5,5", { 1, 2, 2, 2, 1, 1, 3 } },      /* depthwise, 5x5 */
		{ "5,8,16,70", "4,8,1,1", { 1, 1, 0, 0, 1, 1, 1 } },      /* 1x1: the GEMM over x itself */
	};
	diff_cases("block", cases, sizeof cases / sizeof *cases);
}

/*
 * Unit-stride convolutions whose output rows are as wide as the input's,
 * which runtime/conv.c copies (im2col) and adds back (col2im) as one run
 * per tap and block, fixing the columns outside the image afterwards:
 * "same" 3x3 and 5x5, dilated, a kernel taller than its padding (fewer
 * output rows than input rows), one column wide, rows taller than a block.
 */
static void test_spans(void)
{
	static const Case cases[] = {
		{ "5,3,9,8", "4,3,3,3", { 1, 1, 1, 1, 1, 1, 1 } },        /* a ResNet 3x3 */
		{ "6,2,7,7", "3,2,5,5", { 1, 1, 2, 2, 1, 1, 1 } },        /* 5x5, padding 2 */
		{ "5,2,11,9", "2,2,3,3", { 1, 1, 2, 2, 2, 2, 1 } },       /* dilation 2 */
		{ "5,4,6,5", "4,2,3,3", { 1, 1, 0, 1, 1, 1, 2 } },        /* kh 3 unpadded: 4 rows of 6 */
		{ "5,2,8,1", "3,2,3,1", { 1, 1, 1, 0, 1, 1, 1 } },        /* one column */
		{ "5,3,40,30", "2,3,3,3", { 1, 1, 1, 1, 1, 1, 1 } },      /* 8 rows per block, a short last */
		{ "5,2,3,4", "2,2,3,3", { 1, 1, 3, 1, 1, 1, 1 } },        /* padding beyond a row of taps */
	};
	diff_cases("span", cases, sizeof cases / sizeof *cases);
}

/*
 * Small images that runtime/conv.c multiplies several to a product
 * (group_images: an output of at most RT_CONV_GROUP / 2 pixels in one
 * block, groups no larger than the smallest part): im2col side by side,
 * y written through scratch, dy gathered into it, col2im per image.  Parts
 * of unequal sizes leave images outside a full group (the one-image
 * product); strided, grouped, depthwise and dilated geometries; a 1x1
 * strided one (im2col, not the plain GEMM).
 */
static void test_groups(void)
{
	static const Case cases[] = {
		{ "13,3,5,5", "4,3,3,3", { 1, 1, 1, 1, 1, 1, 1 } },       /* parts of 3, 3, 3, 4: groups of 3, one left */
		{ "16,4,7,7", "6,4,3,3", { 1, 1, 1, 1, 1, 1, 1 } },       /* a ResNet 7x7: groups of 4, none left */
		{ "11,4,9,9", "6,2,3,3", { 2, 2, 1, 1, 1, 1, 2 } },       /* strided, 2 groups: groups of 2 */
		{ "10,2,6,6", "3,2,1,1", { 2, 2, 0, 0, 1, 1, 1 } },       /* 1x1 strided: 9 pixels, groups of 2 */
		{ "12,3,8,8", "3,1,3,3", { 1, 1, 2, 2, 2, 2, 3 } },       /* depthwise, dilated: 64 pixels, groups of 3 */
		{ "40,2,4,3", "3,2,2,2", { 1, 1, 0, 1, 1, 1, 1 } },       /* 12 pixels: groups of 10 */
	};
	diff_cases("group", cases, sizeof cases / sizeof *cases);
}

/*
 * Unpadded unit-stride layers whose output rows are shorter than the
 * input's, whose data gradient runtime/conv.c computes on a grid as wide
 * as the input (dx_grid): dy gathered onto it with zeros after each row,
 * one col2im run per tap and channel.  LeNet-5's second layer (one image
 * a product), small grids several to a product, dilated and grouped, a
 * kernel one row high.
 */
static void test_grids(void)
{
	static const Case cases[] = {
		{ "9,6,14,14", "16,6,5,5", { 1, 1, 0, 0, 1, 1, 1 } },     /* LeNet-5's: a grid of 136 for 100 pixels */
		{ "12,2,6,6", "3,2,2,2", { 1, 1, 0, 0, 1, 1, 1 } },       /* grids of 29: groups of 3 */
		{ "5,4,12,12", "4,2,3,3", { 1, 1, 0, 0, 2, 1, 2 } },      /* dilated rows, 2 groups */
		{ "5,3,4,9", "2,3,1,4", { 1, 1, 0, 0, 1, 1, 1 } },        /* 1 x 4: rows of 6 on a grid of 9 */
	};
	diff_cases("grid", cases, sizeof cases / sizeof *cases);
}

/* Each rule of the geometry refuses with a message naming both shapes. */
static void test_errors(void)
{
	static const struct {
		const char *name, *x, *w;
		int64_t a[CONV_NATTR];
		const char *want;
	} cases[] = {
		{ "kernel_too_large", "1,1,4,4", "1,1,5,5", { 1, 1, 0, 0, 1, 1, 1 }, "larger than the padded input (4 x 4)" },
		{ "dilated_too_large", "1,1,5,5", "1,1,3,3", { 1, 1, 0, 0, 3, 1, 1 }, "kernel (7 x 3 dilated)" },
		{ "input_groups", "1,6,5,5", "4,3,3,3", { 1, 1, 0, 0, 1, 1, 4 }, "6 channels do not divide into 4 groups" },
		{ "output_groups", "1,4,5,5", "6,2,3,3", { 1, 1, 0, 0, 1, 1, 4 }, "6 output channels do not divide" },
		{ "channels_per_group", "1,4,5,5", "4,4,3,3", { 1, 1, 0, 0, 1, 1, 2 }, "takes 4 input channels per group" },
		{ "input_rank", "4,5,5", "4,4,3,3", { 1, 1, 0, 0, 1, 1, 1 }, "input must have rank 4" },
		{ "weight_rank", "1,4,5,5", "4,3,3", { 1, 1, 0, 0, 1, 1, 1 }, "weight must have rank 4" },
		{ "negative_padding", "1,4,5,5", "4,4,3,3", { 1, 1, 0, -1, 1, 1, 1 }, "padding must not be negative" },
		{ "stride_zero", "1,4,5,5", "4,4,3,3", { 0, 1, 0, 0, 1, 1, 1 }, "stride must be at least 1" },
		{ "dilation_zero", "1,4,5,5", "4,4,3,3", { 1, 1, 0, 0, 1, 0, 1 }, "dilation must be at least 1" },
		{ "groups_zero", "1,4,5,5", "4,4,3,3", { 1, 1, 0, 0, 1, 1, 0 }, "groups must be at least 1" },
	};
	char name[96], err[512], xs[64], ws[64];
	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		Type xt = tp(DT_F32, cases[c].x), wt = tp(DT_F32, cases[c].w);
		const int64_t *a = cases[c].a;
		Node p = attrs(OP_CONV2D, CONV_NATTR, (int)a[0], (int)a[1], (int)a[2], (int)a[3], (int)a[4], (int)a[5], (int)a[6]);
		RtConv g;
		bool ok = ir_conv_geom(&xt, &wt, &p, &g, err, sizeof err);
		snprintf(name, sizeof name, "conv_error_%s", cases[c].name);
		check(!ok && strstr(err, cases[c].want) && strstr(err, type_str(&xt, xs, sizeof xs)) &&
			strstr(err, type_str(&wt, ws, sizeof ws)), name, "%s", ok ? "accepted" : err);
	}
}

int main(void)
{
	return jit_run((const CheckTest[]){ test_random, test_taps, test_blocks, test_spans, test_groups, test_grids, test_errors,
		NULL });
}
