/*
 * test_runtime.c — unit tests of the runtime library: random streams, the
 * IDX/text/token loaders and their error messages, slices and batching,
 * the run log, the float functions and bf16 rounding (safetensors:
 * test_safetensors.c).
 * Every file it makes lives in a mkdtemp directory removed at the end.
 */
#include "runtime/runtime.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/* An IDX file: magic, dims (big-endian), then payload minus `cut` bytes. */
static void write_idx(const char *path, bool gz, uint32_t magic, const uint32_t *dims, int nd,
		      const unsigned char *data, size_t n, size_t cut)
{
	unsigned char *b = malloc(4 + 4 * (size_t)nd + n);
	for (int d = -1; d < nd; d++)
		for (int k = 0; k < 4; k++)
			b[4 + 4 * d + k] = (unsigned char)((d < 0 ? magic : dims[d]) >> (24 - 8 * k));
	memcpy(b + 4 + 4 * nd, data, n);
	write_bytes(path, b, 4 + 4 * (size_t)nd + n - cut, gz);
	free(b);
}

/* ---- random numbers ---- */

static void test_rng(void)
{
	uint64_t k1 = rt_key(42, "l1.weight"), k2 = rt_key(42, "l1.bias"), k3 = rt_key(43, "l1.weight");
	check(rt_key(42, "l1.weight") == k1 && k1 != k2 && k1 != k3 && k2 != k3, "rng_key_deterministic",
	      "keys %llx %llx %llx", (unsigned long long)k1, (unsigned long long)k2, (unsigned long long)k3);
	check(rt_uniform(k1, 12345) == rt_uniform(k1, 12345) &&
	      rt_normal(k1, 7) == rt_normal(k1, 7) && rt_uniform(k1, 1) != rt_uniform(k2, 1),
	      "rng_draw_deterministic", "draws differ between calls or agree across keys");

	enum { N = 100000 };
	float *u = malloc(N * sizeof *u), *v = malloc(N * sizeof *v);
	double s = 0, s2 = 0, cross = 0;
	bool in_range = true;
	for (int i = 0; i < N; i++) {
		u[i] = rt_uniform(k1, (uint64_t)i);
		v[i] = rt_uniform(k2, (uint64_t)i);
		in_range &= u[i] >= 0 && u[i] < 1;
		s += u[i];
		s2 += (double)u[i] * u[i];
		cross += (u[i] - 0.5) * (v[i] - 0.5);
	}
	double mean = s / N, var = s2 / N - mean * mean;
	check(in_range, "rng_uniform_range", "a draw outside [0, 1)");
	check(fabs(mean - 0.5) < 0.005 && fabs(var - 1.0 / 12) < 0.002, "rng_uniform_moments",
	      "mean %g var %g", mean, var);
	check(fabs(cross / N * 12) < 0.02, "rng_streams_uncorrelated", "correlation %g", cross / N * 12);

	rt_fill_normal(u, N, 0, 1, k3);
	s = s2 = 0;
	int tail = 0;
	bool same = true;
	for (int i = 0; i < N; i++) {
		s += u[i];
		s2 += (double)u[i] * u[i];
		tail += fabsf(u[i]) > 1.959964f;
		same &= u[i] == rt_normal(k3, (uint64_t)i);
	}
	mean = s / N;
	double sd = sqrt(s2 / N - mean * mean);
	check(fabs(mean) < 0.015 && fabs(sd - 1) < 0.015, "rng_normal_moments", "mean %g std %g", mean, sd);
	check(fabs(tail / (double)N - 0.05) < 0.004, "rng_normal_tails", "P(|z| > 1.96) = %g", tail / (double)N);
	check(same, "rng_fill_normal_is_stream", "rt_fill_normal disagrees with rt_normal");

	rt_fill_normal(u, N, 3, 0.5f, k3);
	rt_fill_uniform(v, N, -2, 5, k2);
	s = 0;
	double lo = 1e9, hi = -1e9, sv = 0;
	for (int i = 0; i < N; i++) {
		s += u[i];
		sv += v[i];
		lo = fmin(lo, v[i]);
		hi = fmax(hi, v[i]);
	}
	check(fabs(s / N - 3) < 0.01 && lo >= -2 && hi < 5 && fabs(sv / N - 1.5) < 0.05, "rng_fill_affine",
	      "normal mean %g, uniform [%g, %g] mean %g", s / N, lo, hi, sv / N);
	free(u);
	free(v);

	enum { P = 1000 };
	int64_t *p = malloc(P * sizeof *p), *q = malloc(P * sizeof *q), *r = malloc(P * sizeof *r);
	rt_permutation(p, P, k1);
	rt_permutation(q, P, k2);
	rt_permutation(r, P, k1);
	char seen[P] = { 0 };
	bool perm = true;
	int fixed = 0, differ = 0;
	for (int i = 0; i < P; i++) {
		perm &= p[i] >= 0 && p[i] < P && !seen[p[i]]++;
		fixed += p[i] == i;
		differ += p[i] != q[i];
	}
	check(perm, "rng_permutation_valid", "not a permutation of 0..%d", P - 1);
	check(fixed < 10 && differ > P / 2 && !memcmp(p, r, P * sizeof *p), "rng_permutation_shuffled",
	      "%d fixed points, %d positions differ across keys", fixed, differ);
	int64_t one = -1;
	rt_permutation(&one, 1, k1);
	rt_permutation(NULL, 0, k1);
	check(one == 0, "rng_permutation_tiny", "permutation of 1 gave %lld", (long long)one);
	free(p);
	free(q);
	free(r);
}

/* ---- IDX ---- */

enum { IN = 5, IH = 3, IW = 4 };

static void test_idx(void)
{
	unsigned char px[IN * IH * IW], lb[IN];
	for (int i = 0; i < IN * IH * IW; i++)
		px[i] = (unsigned char)(i * 37 + 11);
	for (int i = 0; i < IN; i++)
		lb[i] = (unsigned char)(9 - i);
	uint32_t idims[3] = { IN, IH, IW }, ldims[1] = { IN }, ldims4[1] = { IN - 1 };
	write_idx(tpath("img.gz"), true, 0x803, idims, 3, px, sizeof px, 0);
	write_idx(tpath("img"), false, 0x803, idims, 3, px, sizeof px, 0);
	write_idx(tpath("lbl.gz"), true, 0x801, ldims, 1, lb, sizeof lb, 0);
	write_idx(tpath("lbl"), false, 0x801, ldims, 1, lb, sizeof lb, 0);
	write_idx(tpath("lbl4"), false, 0x801, ldims4, 1, lb, IN - 1, 0);
	write_idx(tpath("img_cut"), true, 0x803, idims, 3, px, sizeof px, 5);

	char err[512] = "";
	for (int v = 0; v < 2; v++) {
		RtDataset *ds = rt_idx_open(tpath(v ? "img" : "img.gz"), tpath(v ? "lbl.gz" : "lbl"), true, err, sizeof err);
		if (!check(ds != NULL, v ? "idx_plain_open" : "idx_gzip_open", "%s", err))
			continue;
		RtShape xs = rt_dataset_xshape(ds), ys = rt_dataset_yshape(ds);
		check(rt_dataset_len(ds) == IN && xs.dt == RT_F32 && xs.rank == 1 && xs.dim[0] == IH * IW &&
		      ys.dt == RT_I32 && ys.rank == 0, v ? "idx_plain_shapes" : "idx_gzip_shapes",
		      "len %lld, x rank %d dim %lld", (long long)rt_dataset_len(ds), xs.rank, (long long)xs.dim[0]);
		int64_t idx[3] = { 4, 0, 2 };
		float x[3 * IH * IW];
		int32_t y[3];
		rt_dataset_fill(ds, idx, 3, x, y);
		bool ok = true;
		for (int k = 0; k < 3; k++) {
			ok &= y[k] == lb[idx[k]];
			for (int j = 0; j < IH * IW; j++)
				ok &= x[k * IH * IW + j] == px[idx[k] * IH * IW + j] / 255.0f;
		}
		check(ok, v ? "idx_plain_values" : "idx_gzip_values", "batch differs from the file's bytes");
		rt_dataset_free(ds);
	}
	RtDataset *ds = rt_idx_open(tpath("img"), tpath("lbl"), false, err, sizeof err);
	if (check(ds != NULL, "idx_unflattened_open", "%s", err)) {
		RtShape xs = rt_dataset_xshape(ds);
		check(xs.rank == 3 && xs.dim[0] == 1 && xs.dim[1] == IH && xs.dim[2] == IW, "idx_unflattened_shape",
		      "rank %d [%lld, %lld, %lld]", xs.rank, (long long)xs.dim[0], (long long)xs.dim[1],
		      (long long)xs.dim[2]);
		rt_dataset_free(ds);
	}

	/* Errors: each must be NULL with a message naming the file and the cause. */
	char want[512];
	const char *missing = tpath("no_such_file.gz");
	snprintf(want, sizeof want, "cannot open '%s': %s", missing, strerror(ENOENT));
	err[0] = 0;
	ds = rt_idx_open(missing, tpath("lbl"), true, err, sizeof err);
	check(!ds && !strcmp(err, want), "idx_error_missing", "got '%s'", err);

	snprintf(want, sizeof want, "'%s' is not an IDX image file (magic 0x00000801, expected 0x00000803)",
		 tpath("lbl"));
	ds = rt_idx_open(tpath("lbl"), tpath("lbl"), true, err, sizeof err);
	check(!ds && !strcmp(err, want), "idx_error_magic", "got '%s'", err);

	snprintf(want, sizeof want, "'%s' is truncated: expected %d bytes of pixel data, found %d",
		 tpath("img_cut"), IN * IH * IW, IN * IH * IW - 5);
	ds = rt_idx_open(tpath("img_cut"), tpath("lbl"), true, err, sizeof err);
	check(!ds && !strcmp(err, want), "idx_error_truncated", "got '%s'", err);

	ds = rt_idx_open(tpath("img"), tpath("lbl4"), true, err, sizeof err);
	check(!ds && strstr(err, "5 images") && strstr(err, "4 labels") &&
	      strstr(err, tpath("lbl4")),
	      "idx_error_count_mismatch", "got '%s'", err);

	write_bytes(tpath("empty"), "", 0, false);
	ds = rt_idx_open(tpath("empty"), tpath("lbl"), true, err, sizeof err);
	check(!ds && strstr(err, "truncated") && strstr(err, tpath("empty")), "idx_error_empty", "got '%s'", err);

	/* found by fuzzing: a few bytes claiming a terabyte of pixels (below the
	   2^40 cap) are a truncated file, not an allocation of what they claim */
	const uint32_t huge[3] = { 65535, 65535, 255 };
	write_idx(tpath("img_huge"), false, 0x803, huge, 3, px, 16, 0);
	ds = rt_idx_open(tpath("img_huge"), tpath("lbl"), true, err, sizeof err);
	check(!ds && strstr(err, "truncated") && strstr(err, "found 16"), "idx_error_claims_terabyte", "got '%s'", err);

	/* found by fuzzing: no images, but rows of 2^32 x 2^32 pixels (the row
	   size overflowed a signed multiply when the set was built) */
	const uint32_t wide[3] = { 0, 4277927933u, 4294967293u };
	write_idx(tpath("img_wide"), false, 0x803, wide, 3, px, 0, 0);
	ds = rt_idx_open(tpath("img_wide"), tpath("lbl"), true, err, sizeof err);
	check(!ds && strstr(err, "implausibly large"), "idx_error_empty_wide_rows", "got '%s'", err);

	/* found by fuzzing in CI: 2^20 x 2^20 x 2^25 wraps a 64-bit product to a
	   small number, so the cap must be tested before each multiply */
	const uint32_t wrap[3] = { 1u << 20, 1u << 20, 1u << 25 };
	write_idx(tpath("img_wrap"), false, 0x803, wrap, 3, px, 16, 0);
	ds = rt_idx_open(tpath("img_wrap"), tpath("lbl"), true, err, sizeof err);
	check(!ds && strstr(err, "implausibly large"), "idx_error_product_wraps", "got '%s'", err);
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_idx_real(void)
{
	const char *img = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
	const char *lbl = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz";
	char err[512] = "";
	if (access(img, R_OK) != 0 || access(lbl, R_OK) != 0)
		return;
	double t = seconds();
	RtDataset *ds = rt_idx_open(img, lbl, true, err, sizeof err);
	t = seconds() - t;
	if (!check(ds != NULL, "idx_fashion_open", "%s", err))
		return;
	printf("# fashion-mnist train set loaded in %.2f s\n", t); /* reported: tests hold no time limits */
	RtShape xs = rt_dataset_xshape(ds);
	check(rt_dataset_len(ds) == 60000 && xs.rank == 1 && xs.dim[0] == 784, "idx_fashion_shape",
	      "len %lld, x dim %lld", (long long)rt_dataset_len(ds), (long long)xs.dim[0]);
	enum { B = 1000 };
	float *x = malloc(B * 784 * sizeof *x);
	int32_t y[B];
	int64_t idx[B];
	bool labels_ok = true, px_ok = true;
	int classes = 0, count[10] = { 0 };
	double ink = 0;
	for (int64_t s = 0; s + B <= rt_dataset_len(ds); s += B) {
		for (int k = 0; k < B; k++)
			idx[k] = s + k;
		rt_dataset_fill(ds, idx, B, x, y);
		for (int k = 0; k < B; k++)
			labels_ok &= y[k] >= 0 && y[k] <= 9 && ++count[y[k]];
		for (int k = 0; k < B * 784; k++) {
			px_ok &= x[k] >= 0 && x[k] <= 1;
			ink += x[k];
		}
	}
	for (int c = 0; c < 10; c++)
		classes += count[c] > 0;
	check(labels_ok && classes == 10, "idx_fashion_labels", "labels outside 0..9 or a class missing");
	/* Real images: values span [0, 1] and are neither all dark nor all light. */
	ink /= 60000.0 * 784;
	check(px_ok && ink > 0.05 && ink < 0.95, "idx_fashion_pixels", "range or mean (%g) wrong", ink);
	free(x);
	rt_dataset_free(ds);
}

/* ---- text and tokens ---- */

static void test_text(void)
{
	const char *s = "hello, sinter world\n";
	int64_t n = (int64_t)strlen(s), T = 4;
	write_bytes(tpath("text.txt"), s, (size_t)n, false);
	char err[512] = "";
	RtDataset *ds = rt_text_open(tpath("text.txt"), T, err, sizeof err);
	if (check(ds != NULL, "text_open", "%s", err)) {
		RtShape xs = rt_dataset_xshape(ds), ys = rt_dataset_yshape(ds);
		check(rt_dataset_len(ds) == n - T && xs.dt == RT_I32 && xs.rank == 1 && xs.dim[0] == T &&
		      ys.dt == RT_I32 && ys.rank == 1 && ys.dim[0] == T,
		      "text_shape", "len %lld", (long long)rt_dataset_len(ds));
		int64_t idx[2] = { n - T - 1, 0 };
		int32_t x[8], y[8];
		rt_dataset_fill(ds, idx, 2, x, y);
		bool ok = true;
		for (int k = 0; k < 2; k++)
			for (int j = 0; j < T; j++)
				ok &= x[k * T + j] == (unsigned char)s[idx[k] + j] &&
				      y[k * T + j] == (unsigned char)s[idx[k] + j + 1];
		check(ok, "text_values", "x/y differ from the text");

		RtDataset *v = rt_dataset_slice(ds, 3, 6);
		RtDataset *w = rt_dataset_slice(v, 1, -1);
		rt_dataset_free(ds); /* views outlive their parent */
		int64_t z = 0;
		rt_dataset_fill(w, &z, 1, x, y);
		check(rt_dataset_len(v) == 3 && rt_dataset_len(w) == 1 && x[0] == s[4] && y[T - 1] == s[4 + T],
		      "text_slice",
		      "len %lld/%lld, x[0] '%c'", (long long)rt_dataset_len(v), (long long)rt_dataset_len(w), x[0]);
		RtDataset *e = rt_dataset_slice(v, 5, 100);
		check(rt_dataset_len(e) == 0, "text_slice_clamped", "len %lld", (long long)rt_dataset_len(e));
		rt_dataset_free(e);
		rt_dataset_free(v);
		rt_dataset_free(w);
	}
	write_bytes(tpath("short.txt"), "abc", 3, false);
	ds = rt_text_open(tpath("short.txt"), 3, err, sizeof err);
	check(!ds && strstr(err, tpath("short.txt")) && strstr(err, "3 bytes") &&
	      strstr(err, "at least 4"),
	      "text_error_short", "got '%s'", err);
	ds = rt_text_open(tpath("none.txt"), 3, err, sizeof err);
	check(!ds && strstr(err, "cannot open") && strstr(err, strerror(ENOENT)), "text_error_missing", "got '%s'", err);
}

/* A token file: header (magic, version, count) and tokens; `have` tokens
   actually written (fewer than count makes it truncated). */
static void write_tokens(const char *path, int32_t magic, int32_t count, const uint16_t *tok, int have)
{
	/* The host is little-endian, as the file format (safetensors.c checks). */
	size_t n = 1024 + 2 * (size_t)have;
	unsigned char *b = calloc(1, n);
	int32_t h[3] = { magic, 1, count };
	memcpy(b, h, sizeof h);
	memcpy(b + 1024, tok, 2 * (size_t)have);
	write_bytes(path, b, n, false);
	free(b);
}

static void test_tokens(void)
{
	enum { C = 50, T = 6 };
	uint16_t tok[C];
	for (int i = 0; i < C; i++)
		tok[i] = (uint16_t)(i * 1337 % 65536);
	write_tokens(tpath("tok.bin"), 20240520, C, tok, C);
	char err[512] = "";
	RtDataset *ds = rt_tokens_open(tpath("tok.bin"), T, 0, err, sizeof err);
	if (check(ds != NULL, "tokens_open", "%s", err)) {
		check(rt_dataset_len(ds) == C - T, "tokens_len", "len %lld", (long long)rt_dataset_len(ds));
		RtDataset *v = rt_dataset_slice(ds, 10, 20);
		int64_t idx[2] = { C - T - 1, 3 };
		int32_t x[2 * T], y[2 * T], vx[T], vy[T];
		rt_dataset_fill(ds, idx, 2, x, y);
		rt_dataset_fill(v, &idx[1], 1, vx, vy);
		bool ok = true;
		for (int k = 0; k < 2; k++)
			for (int j = 0; j < T; j++)
				ok &= x[k * T + j] == tok[idx[k] + j] && y[k * T + j] == tok[idx[k] + j + 1];
		check(ok, "tokens_values", "x/y differ from the tokens");
		ok = rt_dataset_len(v) == 10;
		for (int j = 0; j < T; j++)
			ok &= vx[j] == tok[13 + j] && vy[j] == tok[14 + j];
		check(ok, "tokens_slice", "slice example 3 is not example 13");
		rt_dataset_free(v);
		rt_dataset_free(ds);
	}
	char want[512];
	uint16_t bad[C];
	memcpy(bad, tok, sizeof bad);
	for (int i = 0; i < C; i++)
		bad[i] = (uint16_t)(i % 300);
	bad[7] = 500;
	write_tokens(tpath("tok_vocab.bin"), 20240520, C, bad, C);
	snprintf(want, sizeof want, "'%s': token 500 at position 7 is outside the vocabulary (V = 300)",
		 tpath("tok_vocab.bin"));
	ds = rt_tokens_open(tpath("tok_vocab.bin"), T, 300, err, sizeof err);
	check(!ds && !strcmp(err, want), "tokens_error_vocab", "got '%s'", err);
	ds = rt_tokens_open(tpath("tok_vocab.bin"), T, 501, err, sizeof err);
	check(ds != NULL, "tokens_vocab_ok", "%s", err);
	rt_dataset_free(ds);

	write_tokens(tpath("tok_magic.bin"), 20240521, C, tok, C);
	ds = rt_tokens_open(tpath("tok_magic.bin"), T, 0, err, sizeof err);
	check(!ds && strstr(err, "20240521") && strstr(err, "20240520"), "tokens_error_magic", "got '%s'", err);

	write_tokens(tpath("tok_cut.bin"), 20240520, C, tok, C - 3);
	snprintf(want, sizeof want, "'%s' is truncated: expected %d bytes of token data, found %d",
		 tpath("tok_cut.bin"), 2 * C, 2 * (C - 3));
	ds = rt_tokens_open(tpath("tok_cut.bin"), T, 0, err, sizeof err);
	check(!ds && !strcmp(err, want), "tokens_error_truncated", "got '%s'", err);

	write_tokens(tpath("tok_short.bin"), 20240520, T, tok, T);
	ds = rt_tokens_open(tpath("tok_short.bin"), T, 0, err, sizeof err);
	check(!ds && strstr(err, "6 tokens") && strstr(err, "at least 7"), "tokens_error_short", "got '%s'", err);

	write_bytes(tpath("tok_tiny.bin"), "abc", 3, false);
	ds = rt_tokens_open(tpath("tok_tiny.bin"), T, 0, err, sizeof err);
	check(!ds && strstr(err, "truncated") && strstr(err, "header"), "tokens_error_no_header", "got '%s'", err);
}

static void test_batches(void)
{
	check(rt_batch_count(10, 3, true) == 3 && rt_batch_count(10, 3, false) == 4 &&
	      rt_batch_count(9, 3, false) == 3 && rt_batch_count(2, 3, true) == 0 && rt_batch_count(0, 3, false) == 0,
	      "batch_count", "wrong counts");
	int64_t *a = rt_batch_order(100, false, 1), *b = rt_batch_order(100, true, 77);
	int64_t ref[100];
	rt_permutation(ref, 100, 77);
	bool ident = true;
	for (int i = 0; i < 100; i++)
		ident &= a[i] == i;
	check(ident && !memcmp(b, ref, sizeof ref), "batch_order", "order is not identity / permutation");
	free(a);
	free(b);
}

/* ---- run log ---- */

static void test_log(void)
{
	char err[512] = "";
	const char *path = tpath("run.jsonl");
	RtLog *l = rt_log_open(path, false, err, sizeof err);
	if (!check(l != NULL, "log_open", "%s", err))
		return;
	const char *names[2] = { "loss", "acc \"top1\"" };
	double v1[2] = { 0.4321, 0.1 }, v2[2] = { NAN, 1e-300 }, v3[1] = { 123456789.123 };
	rt_log_record(l, 1, 2, names, v1);
	rt_log_record(l, 2, 2, names, v2);
	rt_log_record(l, 3, 1, names, v3);
	rt_log_close(l);

	size_t n;
	char *text = slurp(path, &n);
	int lines = 0;
	bool ok = text != NULL;
	for (char *line = text, *nl; ok && (nl = strchr(line, '\n')); line = nl + 1, lines++) {
		*nl = 0;
		long long step;
		double t, loss;
		int used = 0;
		ok = sscanf(line, "{\"step\": %lld, \"time\": %lf, \"loss\": %n", &step, &t, &used) == 2 && used > 0 &&
		     step == lines + 1 && t >= 0 && t < 60 && line[nl - line - 1] == '}';
		if (!ok)
			break;
		if (lines == 0) {
			loss = strtod(line + used, NULL);
			ok = loss == 0.4321 && strstr(line, "\"acc \\\"top1\\\"\": 0.1}");
		} else if (lines == 1) {
			ok = !strncmp(line + used, "null", 4) && strstr(line, "1e-300");
		} else {
			ok = fabs(strtod(line + used, NULL) - v3[0]) < 1;
		}
	}
	check(ok && lines == 3, "log_json_lines", "line %d of the log is wrong", lines + 1);
	free(text);

	/* The same file read by Python's json, when it is there. */
	if (access("/usr/bin/python3", X_OK) == 0) {
		char cmd[512];
		snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c 'import json,sys; r=[json.loads(x) for x in open(sys.argv[1])];"
			 " sys.exit(0 if [x[\"step\"] for x in r]==[1,2,3] and r[1][\"loss\"] is None else 1)' %s", path);
		check(system(cmd) == 0, "log_json_python", "python's json rejects the log");
	}

	/* Progress line: capture stderr in a file while drawing. */
	fflush(stderr);
	int saved = dup(2);
	FILE *cap = fopen(tpath("stderr.txt"), "w");
	dup2(fileno(cap), 2);
	l = rt_log_open(NULL, true, err, sizeof err);
	rt_log_set_total(l, 10);
	for (int s = 1; s <= 10; s++) {
		double v = 1.0 / s;
		rt_log_record(l, s, 1, names, &v);
		if (s == 5)
			rt_log_clear_line(l);
	}
	rt_log_close(l);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fclose(cap);
	text = slurp(tpath("stderr.txt"), &n);
	check(text && strstr(text, "\rstep 1/10  loss 1\033[K") && strstr(text, "\r\033[K") &&
	      strstr(text, "\rstep 10/10  loss 0.1") && n > 0 && text[n - 1] == '\n' && !strchr(text, '\n')[1],
	      "log_progress_line", "display was '%s'", text ? text : "(none)");
	free(text);

	l = rt_log_open(tpath("no/dir/run.jsonl"), false, err, sizeof err);
	check(!l && strstr(err, "cannot open") && strstr(err, strerror(ENOENT)), "log_open_error", "got '%s'", err);
}

/* Error of f against the double-precision value t, in units of the last place of t as a float. */
static double ulps(float f, double t)
{
	float tf = (float)t;
	double sp = fabs((double)nextafterf(tf, INFINITY) - tf);
	return fabs((double)f - t) / sp;
}

/* rt_expf and rt_tanhf: accuracy over a sweep of every 97th float, and the
   special cases (runtime/mathf.c measured 0.92 and 1.36 ulp). */
static void test_mathf(void)
{
	double we = 0, wt = 0;
	float xe = 0, xt = 0;
	for (uint32_t bits = 0; bits < 0x7f800000u; bits += 97)
		for (int s = 0; s < 2; s++) {
			float x;
			memcpy(&x, &bits, sizeof x);
			x = s ? -x : x;
			if (x > RT_EXP_LO && x < RT_EXP_HI && ulps(rt_expf(x), exp(x)) > we)
				we = ulps(rt_expf(x), exp(x)), xe = x;
			if (fabsf(x) < 20 && x != 0 && ulps(rt_tanhf(x), tanh(x)) > wt)
				wt = ulps(rt_tanhf(x), tanh(x)), xt = x;
		}
	check(we <= 1.0, "mathf_exp_accuracy", "rt_expf is %.2f ulp off at %g", we, xe);
	check(wt <= 1.4, "mathf_tanh_accuracy", "rt_tanhf is %.2f ulp off at %g", wt, xt);
	check(rt_expf(89) == INFINITY && rt_expf(-88) == 0 && rt_expf(0) == 1 &&
		isnan(rt_expf(NAN)) && rt_expf(INFINITY) == INFINITY && rt_expf(-INFINITY) == 0,
		"mathf_exp_limits", "exp(89) %g, exp(-88) %g, exp(0) %g", rt_expf(89), rt_expf(-88), rt_expf(0));
	check(rt_tanhf(30) == 1 && rt_tanhf(-30) == -1 && rt_tanhf(INFINITY) == 1 &&
		isnan(rt_tanhf(NAN)) && signbit(rt_tanhf(-0.0f)) && rt_tanhf(1e-30f) == 1e-30f, "mathf_tanh_limits",
		"tanh(30) %g, tanh(-30) %g, tanh(-0) %g", rt_tanhf(30), rt_tanhf(-30), rt_tanhf(-0.0f));
}

/* rt_bf16_from_f32 against a reference that rounds by distance: of the two
   bf16 values around x (x's upper half, and the next one away from zero)
   the nearer in double arithmetic, the one with an even last bit on a tie;
   NaN gives 0x7FC0 and the round trip of a bf16 is exact. */
static uint16_t bf16_by_distance(float x)
{
	uint32_t u;
	memcpy(&u, &x, 4);
	if (x != x)
		return 0x7FC0;
	uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
	if ((u & 0xFFFF) == 0)
		return lo;
	double dl = fabs((double)x - (double)rt_bf16_to_f32(lo));
	/* hi past the largest finite value (0x1.FEp127) is inf: x rounds to it
	   from the midpoint 0x1.FFp127 on, the tie going to the even inf */
	double dh = (hi & 0x7FFF) == 0x7F80 ? (fabs((double)x) >= 0x1.FFp127 ? 0 : INFINITY)
		: fabs((double)rt_bf16_to_f32(hi) - (double)x);
	if (dl != dh)
		return dl < dh ? lo : hi;
	return (lo & 1) ? hi : lo;
}

static void test_bf16(void)
{
	int bad = 0;
	uint32_t first = 0;
	for (int i = 0; i < 2000000; i++) {
		uint32_t u = (uint32_t)(urand() * 4294967296.0);
		if (i < 65536 * 4)
			u = ((uint32_t)i << 14) | (i & 3 ? 0x8000u : 0); /* ties and near-ties of every exponent */
		float x;
		memcpy(&x, &u, 4);
		if (rt_bf16_from_f32(x) != bf16_by_distance(x) && !bad++)
			first = u;
	}
	check(!bad, "bf16_round_nearest_even", "%d mismatches, first bits 0x%08x", bad, first);
	check(rt_bf16_from_f32(NAN) == 0x7FC0 && rt_bf16_from_f32(-NAN) == 0x7FC0, "bf16_nan", "nan keeps a nan");
	check(rt_bf16_from_f32(INFINITY) == 0x7F80 && rt_bf16_from_f32(-INFINITY) == 0xFF80 &&
	      rt_bf16_from_f32(3.4e38f) == 0x7F80 && rt_bf16_from_f32(-0.0f) == 0x8000, "bf16_edges", "inf, overflow, -0");
	int trip = 0;
	for (uint32_t h = 0; h < 65536; h++) {
		float x = rt_bf16_to_f32((uint16_t)h);
		trip += x == x && rt_bf16_from_f32(x) != h;
	}
	check(!trip, "bf16_round_trip", "%d bf16 values do not round-trip", trip);
}

/*
 * The fused attention reading q, k, v stored as bf16 bits (RtAttn.x_bf16,
 * what generated code hands it for a bf16 qkv product's output) gives the
 * bits it gives when reading their f32 widening: its bf16 tile products
 * round f32 operands to those same bits.  Here without generated kernels
 * (the runtime's own bf16 tile loop), forward and gradient, in the packed
 * [B, T, 3C] form and with q, k, v separate ([B, H, T, D] each, some bf16
 * and some f32), for T with whole and edge tiles (RT_ATTN_BQ = 64).
 */
static void test_attention_bf16(void)
{
	static const int64_t ts[] = { 5, 64, 100 };
	for (int it = 0; it < 3; it++)
		for (int packed = 0; packed < 2; packed++) {
			int64_t B = 2, H = 3, T = ts[it], D = 8, C = H * D, nx = B * T * 3 * C;
			/* the strides ir_attention_of gives either form */
			RtAttn g = packed ? (RtAttn){ B, H, T, D, 1, 0.35, .x_b = T * 3 * C, .x_h = D, .x_row = 3 * C,
						  .dx_part = C, .o_b = T * (C + H), .o_h = D, .o_row = C + H, .l_h = 1,
						  .l_off = C, .bf16 = 1 }
					  : (RtAttn){ B, H, T, D, 1, 0.35, .x_b = H * T * D, .x_h = T * D, .x_row = D,
						  .dx_part = B * H * T * D, .o_b = H * T * (D + 1), .o_h = T * (D + 1),
						  .o_row = D + 1, .l_h = T * (D + 1), .l_off = D, .bf16 = 1 };
			int64_t no = packed ? B * T * (C + H) : B * H * T * (D + 1);
			float *x = malloc((size_t)nx * sizeof *x), *o[2], *dout = malloc((size_t)no * sizeof *dout), *dx[2];
			uint16_t *xb = malloc((size_t)nx * sizeof *xb);
			for (int64_t i = 0; i < nx; i++) {
				xb[i] = rt_bf16_from_f32((float)(2 * urand() - 1));
				x[i] = rt_bf16_to_f32(xb[i]);
			}
			for (int64_t i = 0; i < no; i++)
				dout[i] = (float)(2 * urand() - 1);
			char *work = malloc((size_t)rt_attention_work(&g));
			/* the separate form's q, k, v lie dx_part apart, like its gradient */
			int64_t part = g.dx_part;
			for (int w = 0; w < 2; w++) {
				RtAttn gw = g;
				gw.x_bf16 = w ? (packed ? 7 : 5) : 0; /* separate: q and v bf16, k f32 */
				const void *q = w ? (const void *)xb : x, *k = w && packed ? (const void *)(xb + part) : x + part,
					   *v = w ? (const void *)(xb + 2 * part) : x + 2 * part;
				o[w] = malloc((size_t)no * sizeof *o[w]);
				dx[w] = malloc((size_t)nx * sizeof *dx[w]);
				rt_attention(&gw, q, k, v, NULL, o[w], (float *)work, NULL, NULL);
				rt_attention_grad(&gw, q, k, v, o[w], dout, NULL, dx[w], (float *)work, NULL, NULL);
			}
			char name[64];
			snprintf(name, sizeof name, "attention_bf16_%s_T%lld", packed ? "packed" : "separate", (long long)T);
			bool same = !memcmp(o[0], o[1], (size_t)no * sizeof *o[0]) && !memcmp(dx[0], dx[1], (size_t)nx * sizeof *dx[0]);
			check(same, name, "bf16 q, k, v give other bits than their widening");
			free(x), free(xb), free(dout), free(work);
			for (int w = 0; w < 2; w++)
				free(o[w]), free(dx[w]);
		}
}

int main(void)
{
	return tmpdir_run("runtime", (const CheckTest[]){ test_rng, test_mathf, test_idx, test_idx_real, test_text,
		test_tokens, test_batches, test_log, test_bf16, test_attention_bf16, NULL });
}
