/*
 * test_memlimit.c — resource limits below the language: the --max-memory
 * size parser and the limit check (runtime/memlimit.c), the data readers'
 * refusal of what is not a regular file (a FIFO would block in open, a
 * device never end) and of files over the limit, including a gzipped one
 * that only inflates past it, and the overflow-checked tensor sizes of
 * ir/type.c and ir_emit.  Files live in a mkdtemp directory removed at the
 * end.
 */
#include "ir/ir.h"
#include "runtime/runtime.h"
#include "tests/unit/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static void test_parse(void)
{
	static const struct {
		const char *s;
		bool ok;
		int64_t want;
	} cases[] = {
		{ "4096", true, 4096 }, { "1", true, 1 }, { "512M", true, 512ll << 20 }, { "512m", true, 512ll << 20 },
		{ "8G", true, 8ll << 30 }, { "8GB", true, 8ll << 30 }, { "8GiB", true, 8ll << 30 }, { "64K", true, 64ll << 10 },
		{ "2T", true, 2ll << 40 }, { "1.5G", true, 3ll << 29 }, { "100B", true, 100 },
		/* refused: empty, no digits, zero, signs, unknown or spaced units, */
		{ "", false, 0 }, { "G", false, 0 }, { "0", false, 0 }, { "-1G", false, 0 }, { "12Q", false, 0 },
		{ "8G ", false, 0 }, { "8 G", false, 0 }, { "8iB", false, 0 },
		/* what strtod reads but a size is not, and 2^62 bytes */
		{ "inf", false, 0 }, { "nan", false, 0 }, { "0x10", false, 0 }, { "1e30", false, 0 }, { "4194304T", false, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t got = -1;
		bool r = rt_parse_bytes(cases[i].s, &got);
		char name[96];
		snprintf(name, sizeof name, "parse_bytes '%s'", cases[i].s);
		if (cases[i].ok)
			check(r && got == cases[i].want, name, "got %s %lld, want %lld", r ? "ok" : "rejected",
				(long long)got, (long long)cases[i].want);
		else
			check(!r, name, "accepted as %lld, want rejected", (long long)got);
	}
	check(!rt_parse_bytes(NULL, &(int64_t){ 0 }), "parse_bytes NULL", "accepted");
}

static void test_check(void)
{
	char err[512], buf[32];
	check(rt_mem_available() > 0, "available memory", "%lld", (long long)rt_mem_available());
	check(!strcmp(rt_format_bytes(1000, buf, sizeof buf), "1000 bytes"), "format bytes", "%s", buf);
	check(!strcmp(rt_format_bytes(3ll << 29, buf, sizeof buf), "1.5 GiB"), "format GiB", "%s", buf);
	rt_mem_set_limit(1000);
	check(rt_mem_limit() == 1000, "set limit", "%lld", (long long)rt_mem_limit());
	int64_t held = rt_mem_held();
	check(held == 0, "nothing held at the start", "%lld", (long long)held);
	check(rt_mem_check(1000, "x", err, sizeof err), "check at the limit", "%s", err);
	check(!rt_mem_check(1001, "x", err, sizeof err), "check over the limit", "passed");
	check(!strcmp(err, "x needs 1001 bytes (1001 bytes); the memory limit is 1000 bytes (--max-memory), "
		"0 bytes of it in use"), "check message", "%s", err);
	rt_mem_hold(600);
	check(!rt_mem_check(401, "x", err, sizeof err), "held bytes count", "passed");
	check(rt_mem_check(400, "x", err, sizeof err), "held bytes leave the rest", "%s", err);
	rt_mem_hold(-600);
	check(!rt_mem_check(INT64_MAX, "x", err, sizeof err), "check of INT64_MAX", "passed");
}

static bool write_file(const char *path, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return false;
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	return fclose(f) == 0;
}

static void test_readers(void)
{
	char err[512] = "";
	/* a FIFO nobody writes to: open() would block forever */
	const char *fifo = tpath("fifo");
	if (mkfifo(fifo, 0600) != 0) {
		check(false, "mkfifo", "%s", strerror(errno));
	} else {
		RtDataset *ds = rt_text_open(fifo, 8, err, sizeof err);
		check(!ds && strstr(err, "not a regular file (a pipe)"), "text on a FIFO", "%s", ds ? "opened" : err);
		ds = rt_tokens_open(fifo, 8, 0, err, sizeof err);
		check(!ds && strstr(err, "not a regular file"), "tokens on a FIFO", "%s", ds ? "opened" : err);
		ds = rt_idx_open(fifo, fifo, true, err, sizeof err);
		check(!ds && strstr(err, "not a regular file"), "idx on a FIFO", "%s", ds ? "opened" : err);
	}
	RtDataset *ds = rt_text_open("/dev/zero", 8, err, sizeof err);
	check(!ds && strstr(err, "not a regular file (a device)"), "text on /dev/zero", "%s", ds ? "opened" : err);

	rt_mem_set_limit(1 << 20);
	const char *small = tpath("small.txt"), *big = tpath("big.txt");
	if (!write_file(small, 1000) || !write_file(big, 2 << 20)) {
		check(false, "write files", "%s", strerror(errno));
		return;
	}
	ds = rt_text_open(small, 8, err, sizeof err);
	check(ds && rt_mem_held() == 1000, "a small text set is held", "%s, held %lld", ds ? "opened" : err,
		(long long)rt_mem_held());
	rt_dataset_free(ds);
	check(rt_mem_held() == 0, "freeing it releases it", "held %lld", (long long)rt_mem_held());
	ds = rt_text_open(big, 8, err, sizeof err);
	check(!ds && strstr(err, "needs") && strstr(err, "the memory limit is 1.0 MiB"), "text over the limit",
		"%s", ds ? "opened" : err);

	/* 4 MiB of one letter gzip to a few KiB: only inflating finds the size */
	const char *gz = tpath("bomb.txt.gz");
	gzFile g = gzopen(gz, "wb9");
	static char block[1 << 16];
	memset(block, 'z', sizeof block);
	for (int i = 0; g && i < 64; i++)
		gzwrite(g, block, sizeof block);
	if (g)
		gzclose(g);
	struct stat st;
	check(stat(gz, &st) == 0 && st.st_size < (1 << 20), "gzip is small on disk", "%lld bytes",
		(long long)st.st_size);
	ds = rt_text_open(gz, 8, err, sizeof err);
	check(!ds && strstr(err, "the memory limit is 1.0 MiB"), "gzip inflating over the limit", "%s",
		ds ? "opened" : err);
	ds = rt_tokens_open(big, 8, 0, err, sizeof err);
	check(!ds && strstr(err, "the memory limit"), "tokens over the limit", "%s", ds ? "opened" : err);
	/* IDX: 1000 bytes of pixels fit in 1005, not with 10 bytes of labels */
	const char *im = tpath("im"), *lb = tpath("lb");
	FILE *f = fopen(im, "wb"), *g2 = fopen(lb, "wb");
	if (f && g2) {
		static const unsigned char ih[16] = { 0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 10, 0, 0, 0, 10 };
		static const unsigned char lh[8] = { 0, 0, 8, 1, 0, 0, 0, 10 };
		fwrite(ih, 1, sizeof ih, f);
		for (int i = 0; i < 1000; i++)
			fputc(i % 256, f);
		fwrite(lh, 1, sizeof lh, g2);
		for (int i = 0; i < 10; i++)
			fputc(i, g2);
	}
	if (f)
		fclose(f);
	if (g2)
		fclose(g2);
	rt_mem_set_limit(1010);
	ds = rt_idx_open(im, lb, true, err, sizeof err);
	check(ds != NULL, "idx within the limit", "%s", err);
	rt_dataset_free(ds);
	rt_mem_set_limit(1005);
	ds = rt_idx_open(im, lb, true, err, sizeof err);
	check(!ds && strstr(err, "data file '") && strstr(err, "/lb' needs 10 bytes"), "idx labels after the pixels",
		"%s", ds ? "opened" : err);
	check(rt_mem_held() == 0, "nothing held after a failed open", "%lld", (long long)rt_mem_held());
	unlink(im);
	unlink(lb);
	unlink(fifo);
	unlink(small);
	unlink(big);
	unlink(gz);
}

static void test_sizes(void)
{
	int64_t bytes = 0;
	Type ok = type_make(DT_F32, 2, (int64_t[]){ 1 << 20, 1 << 10 });
	check(type_bytes_ok(&ok, &bytes) && bytes == 4ll << 30, "bytes of f32[2^20,2^10]", "%lld", (long long)bytes);
	Type wrap = type_make(DT_F32, 2, (int64_t[]){ 4611686018427387904ll, 4 });
	check(!type_bytes_ok(&wrap, NULL), "f32[2^62,4] overflows", "accepted");
	Type zero = type_make(DT_F32, 3, (int64_t[]){ 0, INT64_MAX, INT64_MAX });
	check(!type_bytes_ok(&zero, NULL), "a zero does not hide an absurd dimension", "accepted");
	Type neg = type_make(DT_I32, 1, (int64_t[]){ -1 });
	check(!type_bytes_ok(&neg, NULL), "negative dimension", "accepted");
	Type edge = type_make(DT_BOOL, 1, (int64_t[]){ TYPE_MAX_BYTES });
	check(type_bytes_ok(&edge, NULL), "exactly the largest tensor", "rejected");
	edge.dim[0]++;
	check(!type_bytes_ok(&edge, NULL), "one byte over the largest tensor", "accepted");
	/* type_bytes: what type_bytes_ok counts, for every element size */
	Type i32 = type_make(DT_I32, 3, (int64_t[]){ 3, 5, 7 }), flags = type_make(DT_BOOL, 1, (int64_t[]){ 9 });
	Type scalar = type_make(DT_F32, 0, NULL), empty = type_make(DT_F32, 2, (int64_t[]){ 4, 0 });
	check(type_bytes(&ok) == 4ll << 30, "type_bytes of f32[2^20,2^10]", "%lld", (long long)type_bytes(&ok));
	check(type_bytes(&i32) == 420, "type_bytes of i32[3,5,7]", "%lld", (long long)type_bytes(&i32));
	check(type_bytes(&flags) == 9, "type_bytes of bool[9]", "%lld", (long long)type_bytes(&flags));
	check(type_bytes(&scalar) == 4 && type_bytes(&empty) == 0, "type_bytes of f32[] and f32[4,0]", "%lld %lld",
		(long long)type_bytes(&scalar), (long long)type_bytes(&empty));
	/* align_up: offsets of blocks that start on cache lines */
	static const int64_t up[][3] = { { 0, 64, 0 }, { 1, 64, 64 }, { 63, 64, 64 }, { 64, 64, 64 }, { 65, 64, 128 },
		{ 17, 16, 32 }, { TYPE_MAX_BYTES + 1, 64, TYPE_MAX_BYTES + 64 } };
	for (size_t i = 0; i < sizeof up / sizeof up[0]; i++)
		check(align_up(up[i][0], up[i][1]) == up[i][2], "align_up", "align_up(%lld, %lld) = %lld, want %lld",
			(long long)up[i][0], (long long)up[i][1], (long long)align_up(up[i][0], up[i][1]), (long long)up[i][2]);

	/* two valid operands whose broadcast is not: ir_emit says so */
	Arena *a = arena_new();
	Region *r = ir_region_new(a, "t");
	int x = ir_input(r, 0, type_make(DT_F32, 2, (int64_t[]){ 1 << 30, 1 }));
	int y = ir_input(r, 1, type_make(DT_F32, 2, (int64_t[]){ 1, 1 << 30 }));
	Node p = ir_proto(OP_ADD);
	char err[256] = "";
	int n = r->nnode;
	int v = ir_emit(r, &p, (int[]){ x, y }, 2, err, sizeof err);
	check(v < 0 && r->nnode == n && strstr(err, "too large"), "broadcast result too large", "%d: %s", v, err);
	Node c = ir_proto(OP_CONST);
	c.type = wrap;
	v = ir_emit(r, &c, NULL, 0, err, sizeof err);
	check(v < 0 && strstr(err, "too large"), "given type too large", "%d: %s", v, err);
	arena_free(a);
}

int main(void)
{
	return tmpdir_run("memlimit", (const CheckTest[]){ test_parse, test_check, test_readers, test_sizes, NULL });
}
