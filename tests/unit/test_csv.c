/*
 * test_csv.c — unit tests of the CSV reader (runtime/csv.c) and of the
 * in-memory data sets it makes: rows that straddle the 64 KiB reads, a line
 * longer than a read, gzipped files, the i32/f32 rule of the target,
 * negative target indices, quoting, CRLF and a byte order mark, batches and
 * slices of the result against the values written, and the memory limit.
 * The expected values are computed here from the numbers written, not read
 * back from the reader.
 */
#include "runtime/runtime.h"
#include "tests/unit/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Examples idx[0..n) of ds: x as floats, y as doubles (i32 or f32). */
static void fill(RtDataset *ds, int64_t from, int64_t n, float *x, double *y)
{
	int64_t *idx = calloc((size_t)n + 1, sizeof *idx);
	for (int64_t i = 0; i < n; i++)
		idx[i] = from + i;
	int32_t *yb = malloc((size_t)n * 4);
	rt_dataset_fill(ds, idx, n, x, yb);
	/* not one conditional expression: its type would be float for both */
	for (int64_t i = 0; i < n; i++) {
		if (rt_dataset_yshape(ds).dt == RT_I32)
			y[i] = yb[i];
		else
			y[i] = ((float *)yb)[i];
	}
	free(yb);
	free(idx);
}

/* 5000 rows of 4 features and an integer label, about 150 KiB: rows cross
   the reader's 64 KiB pieces; plain and gzipped give the same set. */
static void test_big(void)
{
	enum { N = 5000, F = 4 };
	char *text = malloc(N * 64 + 64), *p = text;
	p += sprintf(p, "f0,f1,label,f2,f3\n");
	for (int i = 0; i < N; i++)
		p += sprintf(p, "%d.25,%d,%d,-%d.5,%de-3\n", i, 2 * i, i % 7, i, i);
	write_text(tpath("big.csv"), text, false);
	write_text(tpath("big.csv.gz"), text, true);
	free(text);
	char err[512];
	for (int gz = 0; gz < 2; gz++) {
		RtDataset *ds = rt_csv_open(tpath(gz ? "big.csv.gz" : "big.csv"), "label", 0, true, err, sizeof err);
		check(ds != NULL, gz ? "csv_big_gz_opens" : "csv_big_opens", "%s", err);
		if (!ds)
			continue;
		RtShape xs = rt_dataset_xshape(ds), ys = rt_dataset_yshape(ds);
		check(rt_dataset_len(ds) == N && xs.dt == RT_F32 && xs.rank == 1 && xs.dim[0] == F &&
		      ys.dt == RT_I32 && ys.rank == 0, gz ? "csv_big_gz_shapes" : "csv_big_shapes",
		      "len %lld, x rank %d dim %lld, y dt %d rank %d", (long long)rt_dataset_len(ds), xs.rank,
		      (long long)xs.dim[0], ys.dt, ys.rank);
		float *x = malloc(N * F * sizeof *x);
		double *y = malloc(N * sizeof *y);
		fill(ds, 0, N, x, y);
		int bad = -1;
		for (int i = 0; i < N && bad < 0; i++) {
			float want[F] = { (float)(i + 0.25), (float)(2 * i), (float)-(i + 0.5), (float)(i * 1e-3) };
			for (int k = 0; k < F; k++)
				if (x[i * F + k] != want[k])
					bad = i;
			if (y[i] != i % 7)
				bad = i;
		}
		check(bad < 0, gz ? "csv_big_gz_values" : "csv_big_values", "row %d differs", bad + 2);
		RtDataset *part = rt_dataset_slice(ds, 4000, N);
		rt_dataset_free(ds);
		float px[F];
		double py;
		fill(part, 999, 1, px, &py);
		check(rt_dataset_len(part) == 1000 && px[0] == 4999.25f && py == 4999 % 7,
		      gz ? "csv_big_gz_slice" : "csv_big_slice", "len %lld, x0 %g, y %g",
		      (long long)rt_dataset_len(part), px[0], py);
		rt_dataset_free(part);
		free(x);
		free(y);
	}
}

/* A header longer than one 64 KiB read (3000 columns). */
static void test_wide(void)
{
	enum { C = 3000 };
	char *text = malloc(C * 40 + 64), *p = text;
	for (int k = 0; k < C; k++)
		p += sprintf(p, "%scolumn_with_a_long_name_%d", k ? "," : "", k);
	p += sprintf(p, "\n");
	for (int k = 0; k < C; k++)
		p += sprintf(p, "%s%d", k ? "," : "", k);
	p += sprintf(p, "\n");
	write_text(tpath("wide.csv"), text, false);
	free(text);
	char err[512];
	RtDataset *ds = rt_csv_open(tpath("wide.csv"), "column_with_a_long_name_1234", 0, true, err, sizeof err);
	check(ds != NULL, "csv_wide_opens", "%s", err);
	if (!ds)
		return;
	float *x = malloc((C - 1) * sizeof *x);
	double y;
	fill(ds, 0, 1, x, &y);
	check(rt_dataset_xshape(ds).dim[0] == C - 1 && y == 1234 && x[1233] == 1233 && x[1234] == 1235 &&
	      x[C - 2] == C - 1, "csv_wide_values", "F %lld, y %g, x[1233] %g, x[1234] %g",
	      (long long)rt_dataset_xshape(ds).dim[0], y, x[1233], x[1234]);
	free(x);
	rt_dataset_free(ds);
}

/* The type of the target: i32 only when every cell is written as an
   integer within i32; by index, negative from the end. */
static void test_target_type(void)
{
	static const struct {
		const char *text, *name;
		RtDType dt;
		double y1;
	} cases[] = {
		{ "1,2\n3,+4\n", "int_plus", RT_I32, 4 },
		{ "1,2\n3,-4\n", "int_minus", RT_I32, -4 },
		{ "1,2\n3,4.0\n", "point_is_float", RT_F32, 4 },
		{ "1,2\n3,1e1\n", "exponent_is_float", RT_F32, 10 },
		{ "1,2\n3,2147483647\n", "int32_max", RT_I32, 2147483647 },
		{ "1,2\n3,2147483648\n", "past_int32_is_float", RT_F32, 2147483648.0 },
		{ "1,2\n3,-2147483648\n", "int32_min", RT_I32, -2147483648.0 },
		{ "\xef\xbb\xbf" "1,2\r\n\r\n3, \"7\" \r\n", "bom_crlf_quotes", RT_I32, 7 },
	};
	char err[512];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		write_text(tpath("t.csv"), cases[i].text, false);
		RtDataset *ds = rt_csv_open(tpath("t.csv"), NULL, -1, false, err, sizeof err);
		char name[64];
		snprintf(name, sizeof name, "csv_target_%s", cases[i].name);
		if (!ds) {
			check(false, name, "%s", err);
			continue;
		}
		float x[2];
		double y[2];
		fill(ds, 0, 2, x, y);
		check(rt_dataset_yshape(ds).dt == cases[i].dt && y[1] == (cases[i].dt == RT_F32 ? (float)cases[i].y1 : cases[i].y1) &&
		      x[0] == 1 && x[1] == 3, name, "dt %d, y %.17g, x %g %g", rt_dataset_yshape(ds).dt, y[1], x[0], x[1]);
		rt_dataset_free(ds);
	}
	/* index 0 and -2 name the same column of two */
	write_text(tpath("t.csv"), "5,6\n7,8\n", false);
	RtDataset *a = rt_csv_open(tpath("t.csv"), NULL, 0, false, err, sizeof err);
	RtDataset *b = rt_csv_open(tpath("t.csv"), NULL, -2, false, err, sizeof err);
	float xa[2], xb[2];
	double ya[2], yb[2];
	if (a && b) {
		fill(a, 0, 2, xa, ya);
		fill(b, 0, 2, xb, yb);
	}
	check(a && b && ya[0] == 5 && yb[0] == 5 && ya[1] == 7 && xa[0] == 6 && xb[1] == 8, "csv_target_negative_index",
	      "%s", a && b ? "values differ" : err);
	rt_dataset_free(a);
	rt_dataset_free(b);
}

/* Bad inputs fail with the file, the row and the column, never a crash. */
static void test_errors(void)
{
	static const struct {
		const char *text, *want, *name;
	} cases[] = {
		{ "a,label\n1,2\n3,nan\n", "row 3, column 2 (\"label\"): \"nan\" is not a number", "nan" },
		{ "a,label\n1,2\n0x10,2\n", "row 3, column 1 (\"a\"): \"0x10\" is not a number", "hex" },
		{ "a,label\n1,2\n1e999,2\n", "row 3, column 1 (\"a\"): \"1e999\" is not a number", "overflow" },
		{ "a,label\n1,2\n\"\",2\n", "row 3, column 1 (\"a\"): empty cell", "empty_quotes" },
		{ "a,label\n1,2\n1\n", "row 3, column 2 (\"label\"): the row has 1 columns, but the header has 2", "short" },
		{ "a,label\n1,2\n1,2,\n", "row 3, column 3: the row has 3 columns, but the header has 2", "trailing_comma" },
		{ "a,label\n1,2\n1,2\x01\n", "row 3, column 2 (\"label\"): \"2?\" is not a number", "control_byte" },
		{ "  \n\t\n", "is empty", "blank_only" },
		{ "a,b\n1,2\n", "row 1: no column named \"label\"; the header has \"a\", \"b\"", "no_label" },
	};
	char err[512];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		write_text(tpath("bad.csv"), cases[i].text, false);
		RtDataset *ds = rt_csv_open(tpath("bad.csv"), "label", 0, true, err, sizeof err);
		char name[64];
		snprintf(name, sizeof name, "csv_error_%s", cases[i].name);
		check(!ds && strstr(err, cases[i].want) && strstr(err, tpath("bad.csv")), name, "got '%s'",
		      ds ? "a data set" : err);
		rt_dataset_free(ds);
	}
	/* a NUL byte inside a cell is a bad cell, not the end of the line */
	FILE *f = fopen(tpath("nul.csv"), "wb");
	fwrite("a,label\n1,2\n1,3\0" "4\n", 1, 17, f);
	fclose(f);
	RtDataset *ds = rt_csv_open(tpath("nul.csv"), "label", 0, true, err, sizeof err);
	check(!ds && strstr(err, "row 3, column 2 (\"label\"): \"3?4\" is not a number"), "csv_error_nul", "got '%s'",
	      ds ? "a data set" : err);
	rt_dataset_free(ds);
}

/* The numbers count against the memory limit as they are read, and the
   set holds its bytes until the last view is freed. */
static void test_memory(void)
{
	char *text = malloc(2000 * 32), *p = text;
	p += sprintf(p, "a,b,label\n");
	for (int i = 0; i < 2000; i++)
		p += sprintf(p, "%d,%d,%d\n", i, i, i);
	write_text(tpath("mem.csv"), text, false);
	free(text);
	char err[512];
	int64_t held = rt_mem_held();
	rt_mem_set_limit(held + 16 * 1024);
	RtDataset *ds = rt_csv_open(tpath("mem.csv"), "label", 0, true, err, sizeof err);
	check(!ds && strstr(err, "needs") && strstr(err, "memory limit"), "csv_memory_limit", "got '%s'",
	      ds ? "a data set" : err);
	rt_dataset_free(ds);
	rt_mem_set_limit(held + 1024 * 1024);
	ds = rt_csv_open(tpath("mem.csv"), "label", 0, true, err, sizeof err);
	int64_t with = rt_mem_held();
	RtDataset *v = ds ? rt_dataset_slice(ds, 10, 20) : NULL;
	rt_dataset_free(ds);
	int64_t view = rt_mem_held();
	rt_dataset_free(v);
	check(ds && with - held == 2000 * 3 * 4 && view == with && rt_mem_held() == held, "csv_memory_held",
	      "held %lld, with the set %lld, with a view %lld, after %lld", (long long)held, (long long)with,
	      (long long)view, (long long)rt_mem_held());
}

int main(void)
{
	return tmpdir_run("csv", (const CheckTest[]){ test_big, test_wide, test_target_type, test_errors,
		test_memory, NULL });
}
