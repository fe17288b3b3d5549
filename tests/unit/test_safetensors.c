/*
 * test_safetensors.c — unit tests of the runtime's safetensors reader and
 * writer: round trips of f32 and i32 tensors (checked by an independent
 * numpy reader when one is available), a file that cannot be written,
 * duplicate names, corrupt and randomly damaged files (each refused with
 * its message), headers written by hand, and BF16 tensors.  Every file it
 * makes lives in a mkdtemp directory removed at the end.
 */
#include "runtime/runtime.h"
#include "tests/unit/check.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes the expectation file safetensors_check.py compares against. */
static void write_expected(const char *path, const RtTensor *t, int n)
{
	FILE *f = fopen(path, "w");
	fputs("{", f);
	for (int i = 0; i < n; i++) {
		fprintf(f, "%s\"", i ? ", " : "");
		for (const char *c = t[i].name; *c; c++)
			fprintf(f, *c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
		fprintf(f, "\": {\"dtype\": \"%s\", \"shape\": [", t[i].dt == RT_F32 ? "F32" : "I32");
		int64_t numel = 1;
		for (int d = 0; d < t[i].rank; d++) {
			fprintf(f, "%s%lld", d ? ", " : "", (long long)t[i].dim[d]);
			numel *= t[i].dim[d];
		}
		fputs("], \"data\": [", f);
		for (int64_t k = 0; k < numel; k++) {
			if (t[i].dt == RT_F32)
				fprintf(f, "%s%.9g", k ? ", " : "", ((float *)t[i].data)[k]);
			else
				fprintf(f, "%s%d", k ? ", " : "", ((int32_t *)t[i].data)[k]);
		}
		fputs("]}", f);
	}
	fputs("}\n", f);
	fclose(f);
}

/* Runs the independent numpy reader if this machine has it. */
static void python_check(const char *st, const char *expected)
{
	const char *script = "tests/unit/safetensors_check.py"; /* tests run from the top */
	if (access("/usr/bin/python3", X_OK) != 0 || access(script, R_OK) != 0 ||
	    system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
		return;
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s 2>&1", script, st, expected);
	FILE *p = popen(cmd, "r");
	char line[512], first_fail[512] = "";
	int lines = 0;
	while (fgets(line, sizeof line, p)) {
		lines++;
		if (strncmp(line, "PASS ", 5) && !first_fail[0])
			snprintf(first_fail, sizeof first_fail, "%s", line);
	}
	int rc = pclose(p);
	check(rc == 0 && lines > 0 && !first_fail[0], "safetensors_numpy_reader", "rc %d: %s", rc, first_fail);
}

static bool tensors_equal(const RtTensor *a, const RtTensor *b)
{
	int64_t numel = 1;
	for (int d = 0; d < a->rank; d++)
		numel *= a->dim[d];
	return !strcmp(a->name, b->name) && a->dt == b->dt && a->rank == b->rank &&
	       !memcmp(a->dim, b->dim, (size_t)a->rank * sizeof a->dim[0]) &&
	       !memcmp(a->data, b->data, 4 * (size_t)numel);
}

/* A safetensors file written by hand: header text, then 8 bytes of data. */
static void write_st(const char *name, const char *hdr, const void *data8)
{
	unsigned char file[512];
	uint64_t hl = strlen(hdr);
	memcpy(file, &hl, 8);
	memcpy(file + 8, hdr, hl);
	memcpy(file + 8 + hl, data8, 8);
	write_bytes(tpath(name), file, 16 + hl, false);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const RtTensor *)a)->name, ((const RtTensor *)b)->name);
}

static void test_safetensors(void)
{
	float w[12], bias[4], sc = -2.5f, none[1];
	int32_t iv[12];
	for (int i = 0; i < 12; i++) {
		w[i] = rt_normal(5, (uint64_t)i);
		iv[i] = i * i - 50;
	}
	for (int i = 0; i < 4; i++)
		bias[i] = 1.0f / (i + 1);
	/* Deliberately unsorted, with dots, quotes, a scalar and an empty tensor. */
	RtTensor t[6] = {
		{ "l2.weight", RT_F32, 2, { 3, 4 }, w },
		{ "l1.bias", RT_F32, 1, { 4 }, bias },
		{ "blocks.10.idx", RT_I32, 3, { 2, 3, 2 }, iv },
		{ "blocks.2.scale", RT_F32, 0, { 0 }, &sc },
		{ "odd \"name\" \\ here", RT_I32, 1, { 3 }, iv },
		{ "empty", RT_F32, 2, { 0, 5 }, none },
	};
	int n = 6;
	char err[512] = "";
	const char *path = tpath("model.safetensors");
	bool ok = rt_safetensors_save(path, t, n, err, sizeof err);
	check(ok, "safetensors_save", "%s", err);
	ok = rt_safetensors_save(path, t, n, err, sizeof err); /* overwrite in place */
	check(ok, "safetensors_overwrite", "%s", err);

	/* Nothing but the file itself may remain (no .tmp.XXXXXX). */
	DIR *d = opendir(tmpdir);
	int stray = 0;
	for (struct dirent *e; (e = readdir(d));)
		stray += strstr(e->d_name, ".tmp.") != NULL;
	closedir(d);
	check(stray == 0, "safetensors_no_temp_left", "%d temporary files left", stray);

	/* The header lists the names sorted. */
	size_t len;
	unsigned char *raw = (unsigned char *)slurp(path, &len);
	const char *sorted[] = { "blocks.10.idx", "blocks.2.scale", "empty", "l1.bias", "l2.weight", "odd " };
	const char *at = (const char *)raw + 8;
	bool in_order = raw && len > 8;
	for (int i = 0; in_order && i < 6; i++) {
		char q[64];
		snprintf(q, sizeof q, "\"%s", sorted[i]);
		const char *hit = strstr(at, q);
		in_order = hit != NULL;
		at = hit ? hit + 1 : at;
	}
	check(in_order && (raw[0] | raw[1] << 8) % 8 == 0, "safetensors_header_sorted", "names not in order");

	RtTensor *back = NULL;
	int m = 0;
	ok = rt_safetensors_load(path, &back, &m, err, sizeof err);
	if (check(ok, "safetensors_load", "%s", err)) {
		RtTensor s[6];
		memcpy(s, t, sizeof s);
		qsort(s, 6, sizeof s[0], by_name); /* the loader's promised order */
		bool same = m == n;
		for (int i = 0; same && i < n; i++)
			same = tensors_equal(&s[i], &back[i]);
		check(same, "safetensors_round_trip", "loaded tensors differ (%d of %d)", m, n);
		rt_tensors_free(back, m);
	}
	write_expected(tpath("expected.json"), t, n);
	python_check(path, tpath("expected.json"));

	char want[512];
	snprintf(want, sizeof want, "cannot write '%s/no/dir/x.safetensors': %s", tmpdir, strerror(ENOENT));
	ok = rt_safetensors_save(tpath("no/dir/x.safetensors"), t, n, err, sizeof err);
	check(!ok && !strcmp(err, want), "safetensors_save_error", "got '%s'", err);
	RtTensor dup[2] = { t[0], t[0] };
	ok = rt_safetensors_save(tpath("dup.safetensors"), dup, 2, err, sizeof err);
	check(!ok && strstr(err, "twice") && access(tpath("dup.safetensors"), F_OK) != 0,
	      "safetensors_save_duplicate", "got '%s'", err);

	/* Corrupt files: each is refused with a message naming the problem. */
	struct {
		const char *name, *expect;
		size_t keep;    /* bytes of the good file to keep */
		int patch;      /* byte to overwrite (-1: none) */
		unsigned char with;
	} bad[] = {
		{ "truncated", "outside the", len - 10, -1, 0 },
		{ "bad_length", "header length", len, 5, 0x7f },
		{ "bad_json", "bad JSON header", len, 8, '[' },
		{ "tiny", "too short", 5, -1, 0 },
	};
	for (size_t i = 0; raw && i < sizeof bad / sizeof bad[0]; i++) {
		char file[64], name[64];
		snprintf(file, sizeof file, "%s.safetensors", bad[i].name);
		snprintf(name, sizeof name, "safetensors_error_%s", bad[i].name);
		unsigned char *c = malloc(len);
		memcpy(c, raw, len);
		if (bad[i].patch >= 0)
			c[bad[i].patch] = bad[i].with;
		write_bytes(tpath(file), c, bad[i].keep, false);
		free(c);
		back = NULL;
		ok = rt_safetensors_load(tpath(file), &back, &m, err, sizeof err);
		snprintf(want, sizeof want, "'%s' is not a safetensors file: ", tpath(file));
		check(!ok && !strncmp(err, want, strlen(want)) && strstr(err, bad[i].expect), name, "got '%s'", err);
	}

	/* Random damage to the header and every truncation: never a crash,
	   always either a clean load or a message. */
	bool sane = raw != NULL;
	size_t hl0 = raw ? (size_t)(raw[0] | raw[1] << 8) : 0;
	for (int trial = 0; sane && trial < 3000; trial++) {
		unsigned char *c = malloc(len);
		memcpy(c, raw, len);
		size_t keep = len;
		if (trial < 1000) {
			keep = (size_t)trial * len / 1000;
		} else {
			for (int k = 0; k < 1 + trial % 4; k++) {
				uint64_t r = rt_mix64((uint64_t)trial * 31 + (uint64_t)k);
				c[8 + r % hl0] = (unsigned char)(r >> 32);
			}
		}
		write_bytes(tpath("fuzz.safetensors"), c, keep, false);
		free(c);
		err[0] = 0;
		back = NULL;
		if (rt_safetensors_load(tpath("fuzz.safetensors"), &back, &m, err, sizeof err))
			rt_tensors_free(back, m);
		else
			sane = err[0] != 0;
	}
	check(sane, "safetensors_damage_handled", "a damaged file failed without a message");
	free(raw);

	/* Written by hand: metadata, escapes, extra keys, spaces; then a dtype
	   we do not read. */
	int32_t two[2] = { 7, -9 };
	write_st("hand.safetensors", "{\"__metadata__\": {\"a\": {\"b\": [1, -2.5e3, true, null, \"x\\\"y\"]}},\n"
		 " \"w\\u00e9.\\ud83d\\ude00\": {\"dtype\": \"I32\", \"shape\": [2], \"data_offsets\": [0, 8],"
		 " \"note\": {}}}   ", two);
	ok = rt_safetensors_load(tpath("hand.safetensors"), &back, &m, err, sizeof err);
	check(ok && m == 1 && !strcmp(back[0].name, "w\xc3\xa9.\xf0\x9f\x98\x80") &&
	      back[0].dt == RT_I32 && back[0].rank == 1 && ((int32_t *)back[0].data)[1] == -9,
	      "safetensors_foreign_header", "%s", ok ? "wrong tensor" : err);
	if (ok)
		rt_tensors_free(back, m);

	write_st("f16.safetensors", "{\"h\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 8]}}", two);
	ok = rt_safetensors_load(tpath("f16.safetensors"), &back, &m, err, sizeof err);
	check(!ok && strstr(err, "F16") && strstr(err, "'h'"), "safetensors_error_dtype", "got '%s'", err);

	/* BF16: two bytes an element, little-endian bits of the f32's upper half */
	write_st("bf16.safetensors", "{\"h\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [0, 8]}}", two);
	ok = rt_safetensors_load(tpath("bf16.safetensors"), &back, &m, err, sizeof err);
	check(ok && m == 1 && back[0].dt == RT_BF16 && back[0].dim[0] == 4 &&
	      ((uint16_t *)back[0].data)[0] == 7 &&
	      ((uint16_t *)back[0].data)[2] == (uint16_t)-9, "safetensors_bf16_read", "got '%s'", ok ? "" : err);
	if (ok)
		rt_tensors_free(back, m);
	write_st("bf16_size.safetensors", "{\"h\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 8]}}", two);
	ok = rt_safetensors_load(tpath("bf16_size.safetensors"), &back, &m, err, sizeof err);
	check(!ok && strstr(err, "has 8 bytes of data, but its shape needs 4"), "safetensors_bf16_size", "got '%s'", err);

	ok = rt_safetensors_load(tpath("absent.safetensors"), &back, &m, err, sizeof err);
	check(!ok && strstr(err, "cannot open") && strstr(err, strerror(ENOENT)),
	      "safetensors_error_missing", "got '%s'", err);
}

int main(void)
{
	return tmpdir_run("safetensors", (const CheckTest[]){ test_safetensors, NULL });
}
