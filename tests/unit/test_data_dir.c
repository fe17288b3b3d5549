/*
 * test_data_dir.c — text(path) on a directory: the concatenation, in byte
 * order of the names, of its regular files, leaving out fortune's .dat/.u8
 * index files, hidden files and subdirectories; gzipped members are
 * inflated.  Also the held-out split arithmetic that split() relies on: two
 * slices of a text set, T examples apart, share no byte.  Files live in a
 * mkdtemp directory removed at the end.
 */
#include "runtime/runtime.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* All bytes of a text set, rebuilt from its examples: x of example 0, then
   the last byte of y of every example. */
static char *text_of(RtDataset *ds, int64_t T)
{
	int64_t n = rt_dataset_len(ds);
	char *s = calloc((size_t)(n + T + 1), 1);
	int32_t *x = malloc((size_t)T * sizeof *x), *y = malloc((size_t)T * sizeof *y);
	for (int64_t i = 0; i < n; i++) {
		rt_dataset_fill(ds, &i, 1, x, y);
		if (i == 0)
			for (int64_t j = 0; j < T; j++)
				s[j] = (char)x[j];
		s[i + T] = (char)y[T - 1];
	}
	free(x);
	free(y);
	return s;
}

static void test_directory(void)
{
	/* Members, deliberately created out of order; "Zeta" sorts before
	   "alpha" in byte order, whatever the locale says. */
	const char *alpha = "alpha: the first fortune\n%\n";
	const char *beta = "beta, gzipped on disk\n%\n";
	const char *zeta = "Zeta comes first in byte order\n%\n";
	write_text(tpath("beta.gz"), beta, true);
	write_text(tpath("alpha"), alpha, false);
	write_text(tpath("Zeta"), zeta, false);
	write_text(tpath("alpha.dat"), "\x01\x02index", false);
	write_text(tpath(".hidden"), "not text\n", false);
	if (symlink("alpha", tpath("alpha.u8")) != 0)
		check(false, "dir_symlink", "%s", strerror(errno));
	mkdir(tpath("sub"), 0700);
	write_text(tpath("sub/inner"), "inside a subdirectory\n", false);

	char want[256];
	snprintf(want, sizeof want, "%s%s%s", zeta, alpha, beta);
	int64_t T = 8, n = (int64_t)strlen(want);
	char err[512] = "";
	RtDataset *ds = rt_text_open(tmpdir, T, err, sizeof err);
	if (!check(ds != NULL, "dir_open", "%s", err))
		return;
	check(rt_dataset_len(ds) == n - T, "dir_len", "len %lld, expected %lld",
	      (long long)rt_dataset_len(ds), (long long)(n - T));
	char *got = text_of(ds, T);
	check(!strcmp(got, want), "dir_concatenation", "got '%s'", got);
	free(got);

	/* The split() layout: the first k examples, a gap of T, the rest. */
	int64_t k = (n - T) * 6 / 10;
	RtDataset *train = rt_dataset_slice(ds, 0, k), *val = rt_dataset_slice(ds, k + T, rt_dataset_len(ds));
	rt_dataset_free(ds);
	int64_t last = k - 1, first = 0;
	int32_t tx[8], ty[8], vx[8], vy[8];
	rt_dataset_fill(train, &last, 1, tx, ty);
	rt_dataset_fill(val, &first, 1, vx, vy);
	/* byte offsets: training ends at byte k - 1 + T, validation starts at k + T */
	check(ty[T - 1] == (unsigned char)want[k - 1 + T] && vx[0] == (unsigned char)want[k + T] &&
	      rt_dataset_len(train) + rt_dataset_len(val) + T == n - T,
	      "dir_split_disjoint", "train ends '%c', val starts '%c'", ty[T - 1], vx[0]);
	rt_dataset_free(train);
	rt_dataset_free(val);
}

static void test_directory_errors(void)
{
	char err[512] = "";
	mkdir(tpath("empty"), 0700);
	write_text(tpath("empty/only.dat"), "index", false);
	RtDataset *ds = rt_text_open(tpath("empty"), 4, err, sizeof err);
	check(!ds && strstr(err, tpath("empty")) && strstr(err, "without text files"), "dir_error_no_text",
	      "got '%s'", err);
	mkdir(tpath("short"), 0700);
	write_text(tpath("short/a"), "ab", false);
	write_text(tpath("short/b"), "c", false);
	ds = rt_text_open(tpath("short"), 3, err, sizeof err);
	check(!ds && strstr(err, tpath("short")) && strstr(err, "3 bytes") &&
	      strstr(err, "at least 4"),
	      "dir_error_short", "got '%s'", err);
	mkdir(tpath("bad"), 0700);
	/* a gzipped member whose CRC is wrong: zlib reports it at the end */
	write_text(tpath("bad/a.gz"), "some text that inflates fine but fails its check\n", true);
	FILE *f = fopen(tpath("bad/a.gz"), "r+b");
	fseek(f, -8, SEEK_END);
	int c = fgetc(f);
	fseek(f, -8, SEEK_END);
	fputc(c ^ 0xff, f);
	fclose(f);
	ds = rt_text_open(tpath("bad"), 3, err, sizeof err);
	check(!ds && strstr(err, tpath("bad/a.gz")), "dir_error_member_named", "got '%s'", err);
	rt_dataset_free(ds);
}

int main(void)
{
	return tmpdir_run("data_dir", (const CheckTest[]){ test_directory, test_directory_errors, NULL });
}
