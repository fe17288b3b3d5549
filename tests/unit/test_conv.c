/*
 * test_conv.c — conv2d and its two gradient ops, generated code against the
 * interpreter: 120 random geometries (batch, channels, groups up to
 * depthwise, kernel, stride, padding and dilation per axis, odd sizes),
 * every seventh a 1x1 unit-stride one (the GEMM without im2col), each a
 * region computing conv2d(x, w), conv2d_dx(dy, w) and conv2d_dw(x, dy).
 * The interpreter sums in double over direct loops, generated code calls
 * runtime/conv.c's im2col/col2im and GEMMs in float: positive inputs keep
 * the sums free of cancellation, so they agree to a relative 2e-5.
 * Then the errors of the shape rule, each naming both shapes.
 */
#include "ir/conv.h"
#include "tests/unit/cgdiff.h"

static int64_t pick(int64_t lo, int64_t hi)
{
	return lo + (int64_t)(urand() * (double)(hi - lo + 1));
}

/* A random geometry whose dilated kernel fits the padded input. */
static Node random_conv(int k, Type *xt, Type *wt)
{
	Node p = ir_proto(OP_CONV2D);
	bool plain = k % 7 == 3, depthwise = k % 5 == 1;
	int64_t g = pick(1, 3), cg = depthwise ? 1 : pick(1, 3), og = pick(1, 3);
	int64_t kh = plain ? 1 : pick(1, 4), kw = plain ? 1 : pick(1, 4);
	int64_t *a = p.ia;
	a[CONV_SH] = plain ? 1 : pick(1, 3), a[CONV_SW] = plain ? 1 : pick(1, 3);
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

static void test_random(void)
{
	char name[200], xs[64], ws[64];
	for (int k = 0; k < 120; k++) {
		Type xt, wt;
		Node p = random_conv(k, &xt, &wt);
		RtConv g;
		char err[512];
		if (!check(ir_conv_geom(&xt, &wt, &p, &g, err, sizeof err), "conv_geometry", "%s", err))
			continue;
		Type yt = type_make(DT_F32, 4, (int64_t[]){ g.n, g.o, g.oh, g.ow });
		Region *r = ir_region_new(arena_new(), "conv");
		int x = ir_input(r, 0, xt), w = ir_input(r, 1, wt), dy = ir_input(r, 2, yt);
		int y = emit(r, p, (int[]){ x, w }, 2);
		ir_output(r, y);
		ir_output(r, ir_conv(r, OP_CONV2D_DX, dy, w, &p, xt));
		ir_output(r, ir_conv(r, OP_CONV2D_DW, x, dy, &p, wt));
		Tensor *in = region_inputs(r, 0);
		Mem *mem = xcalloc(1, sizeof *mem);
		mem_fill(mem, r);
		snprintf(name, sizeof name, "conv_%d_x%s_w%s_s%lldx%lld_p%lldx%lld_d%lldx%lld_g%lld", k,
			type_str(&xt, xs, sizeof xs), type_str(&wt, ws, sizeof ws), (long long)g.sh, (long long)g.sw,
			(long long)g.ph, (long long)g.pw, (long long)g.dh, (long long)g.dw, (long long)g.groups);
		diff_run(name, r, in, 3, mem, 2e-5);
		mem_free(mem);
		inputs_free(in, 3);
		arena_free(r->arena);
	}
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
	return jit_run((const CheckTest[]){ test_random, test_errors, NULL });
}
