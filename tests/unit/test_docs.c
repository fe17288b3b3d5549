/*
 * test_docs.c — documents and packing (runtime/docs.c) on many random
 * document sets and contexts, down to T = 2: every plan lays out each
 * document's bytes exactly once as (x, y) pairs, in pieces no longer than
 * T with positions 0, 1, ... and segments 0, 1, ... per row; y is the
 * next byte of the document or -1 after its last; padding is x 0, y -1,
 * segment -1, position 0; best_fit cuts only documents longer than T (so
 * no more than greedy), padded holds one piece per row, greedy leaves no
 * row but the last one short; shuffled plans hold the same bytes (greedy:
 * checked as above; best_fit and padded: the same rows, positions and
 * cuts), and the same key gives the same plan.  Also documents() over a directory (a
 * file's end ends a document) and its counts.
 */
#include "runtime/runtime.h"
#include "tests/unit/check.h"

#include <inttypes.h>

enum { MAXDOCS = 40 };

/* A file of n random documents of lengths 1 .. maxlen, written to path;
   lens receives them.  Document i is made of the bytes 1 + 6 i .. 6 + 6 i
   alone (never '|', the separator), so every piece tells its document. */
static void make_docs(const char *path, int n, int maxlen, int *lens)
{
	FILE *f = fopen(path, "wb");
	for (int i = 0; i < n; i++) {
		lens[i] = 1 + (int)(urand() * maxlen);
		for (int k = 0; k < lens[i]; k++) {
			int b = 1 + 6 * i + (int)(urand() * 6);
			fputc(b == '|' ? 1 + 6 * i : b, f);
		}
		fputc('|', f);
	}
	fclose(f);
}

/* Which document of ds holds byte b (make_docs' alphabets; documents of
   fewer than 2 bytes are not in ds, so search them by their bytes). */
static int64_t doc_of(const RtDataset *ds, int32_t b)
{
	for (int64_t k = 0; k < rt_dataset_len(ds); k++) {
		int64_t len;
		const unsigned char *d = rt_dataset_doc(ds, k, &len);
		if ((d[0] - 1) / 6 == (b - 1) / 6)
			return k;
	}
	return -1;
}

/* Checks one plan of ds against its documents; returns a reason or NULL. */
static const char *check_plan(const RtDataset *ds, const RtPack *p, int64_t T, RtPackStrategy s)
{
	static char why[160];
	int64_t rows = rt_pack_rows(p), n = rt_dataset_len(ds);
	int32_t *x = malloc((size_t)(rows * T) * 4), *y = malloc((size_t)(rows * T) * 4);
	int32_t *seg = malloc((size_t)(rows * T) * 4), *pos = malloc((size_t)(rows * T) * 4);
	int64_t *seen = calloc((size_t)n, sizeof *seen), tokens = 0;
	const char *bad = NULL;
	rt_pack_fill(p, ds, 0, rows, x, y, seg, pos);
	for (int64_t r = 0; r < rows && !bad; r++) {
		int64_t t = 0, pieces = 0;
		while (t < T && seg[r * T + t] >= 0 && !bad) {
			int64_t start = t, id = seg[r * T + t];
			if (id != pieces++)
				bad = "segments do not count 0, 1, ... along a row";
			while (t < T && seg[r * T + t] == id)
				t++;
			/* its document, and where in it: what was laid out so far
			   (each document is laid out in order) */
			int64_t d = doc_of(ds, x[r * T + start]), len = 0;
			if (d >= 0) {
				const unsigned char *b = rt_dataset_doc(ds, d, &len);
				int64_t at = seen[d];
				for (int64_t i = start; i < t && d >= 0; i++)
					if (at + i - start >= len || x[r * T + i] != b[at + i - start] || pos[r * T + i] != i - start ||
					    y[r * T + i] != (at + i - start + 1 < len ? b[at + i - start + 1] : -1))
						d = -1;
			}
			if (d < 0) {
				bad = "a piece is not the next bytes of any document, or its y or position is wrong";
				break;
			}
			seen[d] += t - start;
			tokens += t - start;
		}
		for (; t < T && !bad; t++)
			if (x[r * T + t] || y[r * T + t] != -1 || seg[r * T + t] != -1 || pos[r * T + t])
				bad = "padding is not x 0, y -1, segment -1, position 0";
		if (!bad && s == RT_PACK_PADDED && pieces != 1)
			bad = "a padded row holds other than one piece";
		if (!bad && s == RT_PACK_GREEDY && r + 1 < rows && seg[r * T + T - 1] < 0)
			bad = "a greedy row before the last is not full";
	}
	for (int64_t k = 0; k < n && !bad; k++) {
		int64_t len;
		rt_dataset_doc(ds, k, &len);
		/* the last byte may be left out alone: it is already a target */
		if (seen[k] != len && !(seen[k] == len - 1 && len > 1))
			bad = "a document's bytes are not all laid out";
		if (s != RT_PACK_GREEDY && seen[k] && len <= T && len > 0 && seen[k] < len - 1)
			bad = "best_fit or padded cut a document that fits in T";
	}
	if (!bad && tokens != rt_pack_tokens(p))
		bad = "rt_pack_tokens is not the count of real positions";
	if (!bad && s != RT_PACK_GREEDY) {
		int64_t longer = 0;
		for (int64_t k = 0; k < n; k++) {
			int64_t len;
			rt_dataset_doc(ds, k, &len);
			/* cut into two pieces with targets: longer than T + 1 */
			longer += len > T + 1;
		}
		if (rt_pack_splits(p) != longer)
			bad = "best_fit or padded cut documents that are not longer than T";
	}
	if (bad)
		snprintf(why, sizeof why, "%s (T = %" PRId64 ", %" PRId64 " rows)", bad, T, rows);
	free(x);
	free(y);
	free(seg);
	free(pos);
	free(seen);
	return bad ? why : NULL;
}

static void test_random_plans(void)
{
	static const char *const names[] = { "greedy", "best_fit", "padded" };
	int lens[MAXDOCS];
	const char *path = tpath("docs.txt");
	for (int trial = 0; trial < 24; trial++) {
		int n = 1 + (int)(urand() * MAXDOCS), maxlen = 2 + (int)(urand() * 40);
		make_docs(path, n, maxlen, lens);
		bool found;
		char err[256], name[96];
		RtDataset *ds = rt_documents_open(path, "|", 1, &found, err, sizeof err);
		int keep = 0;
		for (int i = 0; i < n; i++)
			keep += lens[i] >= 2;
		if (!ds) {
			snprintf(name, sizeof name, "docs trial %d: no documents of 2 bytes is an error", trial);
			check(keep == 0 && strstr(err, "no document"), name, "%s", err);
			continue;
		}
		snprintf(name, sizeof name, "docs trial %d: %d documents of 2 bytes or more", trial, keep);
		check(found && rt_dataset_len(ds) == keep, name, "%" PRId64 " documents", rt_dataset_len(ds));
		int64_t T = 2 + (int64_t)(urand() * 20), splits[3];
		for (int s = 0; s < 3; s++) {
			RtPack *p = rt_pack_plan(ds, T, (RtPackStrategy)s, false, 0);
			const char *why = check_plan(ds, p, T, (RtPackStrategy)s);
			snprintf(name, sizeof name, "docs trial %d: %s plan", trial, names[s]);
			check(!why, name, "%s", why ? why : "");
			splits[s] = rt_pack_splits(p);
			RtPack *q = rt_pack_plan(ds, T, (RtPackStrategy)s, true, 77), *q2 = rt_pack_plan(ds, T, (RtPackStrategy)s, true, 77);
			/* greedy keeps each document's pieces in order, best_fit and
			   padded shuffle whole rows: count what they hold */
			why = s == RT_PACK_GREEDY ? check_plan(ds, q, T, (RtPackStrategy)s)
			      : rt_pack_tokens(q) != rt_pack_tokens(p) || rt_pack_rows(q) != rt_pack_rows(p) ||
			                rt_pack_splits(q) != rt_pack_splits(p)
			          ? "not the rows, positions and cuts of the plan in order"
			          : NULL;
			bool same = rt_pack_rows(q) == rt_pack_rows(q2);
			if (same) {
				int64_t m = rt_pack_rows(q) * T;
				int32_t *a = malloc((size_t)(4 * m + 4) * 4), *b = malloc((size_t)(4 * m + 4) * 4);
				rt_pack_fill(q, ds, 0, rt_pack_rows(q), a, a + m, a + 2 * m, a + 3 * m);
				rt_pack_fill(q2, ds, 0, rt_pack_rows(q), b, b + m, b + 2 * m, b + 3 * m);
				same = !memcmp(a, b, (size_t)(4 * m) * 4);
				free(a);
				free(b);
			}
			snprintf(name, sizeof name, "docs trial %d: %s shuffled plan, the same for the same key", trial, names[s]);
			check(!why && same, name, "%s", why ? why : "two plans of one key differ");
			rt_pack_free(p);
			rt_pack_free(q);
			rt_pack_free(q2);
		}
		snprintf(name, sizeof name, "docs trial %d: best_fit cuts no more documents than greedy", trial);
		check(splits[1] <= splits[0], name, "best_fit %" PRId64 ", greedy %" PRId64, splits[1], splits[0]);
		rt_dataset_free(ds);
	}
}

static void test_directory_docs(void)
{
	char dir[256];
	snprintf(dir, sizeof dir, "%s", tpath("d"));
	mkdir(dir, 0700);
	write_text(tpath("d/a.txt"), "one|two", false);
	write_text(tpath("d/b.txt"), "three|four|", false);
	write_text(tpath("d/a.txt.dat"), "index|file", false);
	bool found;
	char err[256];
	RtDataset *ds = rt_documents_open(dir, "|", 1, &found, err, sizeof err);
	int64_t len = 0;
	const unsigned char *d1 = ds ? rt_dataset_doc(ds, 1, &len) : NULL;
	check(ds && rt_dataset_len(ds) == 4 && len == 3 && !memcmp(d1, "two", 3), "docs directory: a file's end ends a document",
	      "%s", ds ? "wrong documents" : err);
	rt_dataset_free(ds);
	write_text(tpath("none.txt"), "no separator here", false);
	ds = rt_documents_open(tpath("none.txt"), "|", 1, &found, err, sizeof err);
	check(ds && !found && rt_dataset_len(ds) == 1, "docs: a separator that never occurs leaves one document", "%s", err);
	RtPack *p = ds ? rt_pack_plan(ds, 4, RT_PACK_BEST_FIT, false, 0) : NULL;
	/* 17 bytes: 4 pieces of 4, the last byte alone has no target */
	check(p && rt_pack_rows(p) == 4 && rt_pack_splits(p) == 1, "docs: one long document is cut into pieces of T",
	      "%" PRId64 " rows", p ? rt_pack_rows(p) : -1);
	rt_pack_free(p);
	rt_dataset_free(ds);
	write_text(tpath("empty.txt"), "", false);
	ds = rt_documents_open(tpath("empty.txt"), "|", 1, &found, err, sizeof err);
	check(!ds && strstr(err, "is empty"), "docs: an empty file is an error", "%s", err);
	ds = rt_documents_open(tpath("none.txt"), "", 0, &found, err, sizeof err);
	check(!ds && strstr(err, "separator is empty"), "docs: an empty separator is an error", "%s", err);
}

int main(void)
{
	return tmpdir_run("docs", (const CheckTest[]){ test_random_plans, test_directory_docs, NULL });
}
