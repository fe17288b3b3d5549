/*
 * safetensors.c — load named tensors from a safetensors file (saving is
 * runtime/stsave.c): an 8-byte little-endian header length N, N bytes of
 * JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin,
 * end]}}, padded with spaces, then the raw little-endian data.  Loading
 * validates the whole header against the file before reading (header
 * length, dtypes, shapes against byte counts, offsets in order, back to
 * back and covering the data exactly, no duplicate names), so a damaged
 * file gives a message naming the file and the tensor, never a crash or a
 * silent misread.  The JSON parser is a small one of our own.
 */
#include "runtime/runtime.h"

#include "base/arena.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this file assumes a little-endian host"
#endif

enum { MAX_RANK = 8, MAX_DEPTH = 64 };
#define MAX_HEADER (100u << 20) /* bytes; the reference reader's limit too */

/* ---- a growable byte buffer for the header ---- */

typedef struct {
	char *p;
	size_t len, cap; /* bytes used / allocated */
} Buf;

static void buf_put(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *np = xmalloc(cap);
		if (b->len)
			memcpy(np, b->p, b->len);
		free(b->p);
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

/* Element count, or -1 if a dim is negative or the bytes overflow. */
int64_t rt_tensor_numel(int rank, const int64_t *dim)
{
	int64_t n = 1;
	for (int d = 0; d < rank; d++) {
		if (dim[d] < 0)
			return -1;
		if (dim[d] && n > (INT64_MAX / 4) / dim[d])
			return -1;
		n *= dim[d];
	}
	return n;
}

/* ---- a small JSON reader for the header ---- */

typedef struct {
	const char *base, *p, *end; /* the header text; p is the cursor */
	const char *path;
	char *err;
	size_t errlen;
	bool failed; /* err holds the first error */
} Json;

static bool jfail(Json *j, const char *what)
{
	if (!j->failed)
		snprintf(j->err, j->errlen, "'%s' is not a safetensors file: bad JSON header at byte %td: %s",
			 j->path, j->p - j->base, what);
	j->failed = true;
	return false;
}

static void jws(Json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* Consumes c after optional space. */
static bool jeat(Json *j, char c)
{
	jws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool jhex4(Json *j, uint32_t *u)
{
	*u = 0;
	for (int k = 0; k < 4; k++) {
		int v = j->p < j->end ? hexval(*j->p) : -1;
		if (v < 0)
			return jfail(j, "bad \\u escape");
		*u = *u << 4 | (uint32_t)v;
		j->p++;
	}
	return true;
}

static void put_utf8(Buf *b, uint32_t u)
{
	char c[4];
	size_t n;
	if (u < 0x80) {
		c[0] = (char)u;
		n = 1;
	} else if (u < 0x800) {
		c[0] = (char)(0xC0 | u >> 6);
		c[1] = (char)(0x80 | (u & 0x3F));
		n = 2;
	} else if (u < 0x10000) {
		c[0] = (char)(0xE0 | u >> 12);
		c[1] = (char)(0x80 | (u >> 6 & 0x3F));
		c[2] = (char)(0x80 | (u & 0x3F));
		n = 3;
	} else {
		c[0] = (char)(0xF0 | u >> 18);
		c[1] = (char)(0x80 | (u >> 12 & 0x3F));
		c[2] = (char)(0x80 | (u >> 6 & 0x3F));
		c[3] = (char)(0x80 | (u & 0x3F));
		n = 4;
	}
	buf_put(b, c, n);
}

/* A string into a malloc'ed, NUL-terminated copy (NUL inside is refused). */
static char *jstring(Json *j)
{
	if (!jeat(j, '"')) {
		jfail(j, "expected a string");
		return NULL;
	}
	Buf b = { 0 };
	buf_put(&b, "", 0);
	while (j->p < j->end && *j->p != '"') {
		unsigned char c = (unsigned char)*j->p++;
		if (c < 0x20) {
			jfail(j, "control character in a string");
			goto fail;
		}
		if (c != '\\') {
			buf_put(&b, (const char *)&c, 1);
			continue;
		}
		if (j->p >= j->end)
			break;
		char e = *j->p++;
		const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
		const char *hit = strchr(from, e);
		if (e && hit) {
			buf_put(&b, to + (hit - from), 1);
			continue;
		}
		uint32_t u, lo;
		if (e != 'u') {
			jfail(j, "bad escape in a string");
			goto fail;
		}
		if (!jhex4(j, &u))
			goto fail;
		if (u >= 0xD800 && u < 0xDC00) {
			if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u') {
				jfail(j, "unpaired surrogate in a string");
				goto fail;
			}
			j->p += 2;
			if (!jhex4(j, &lo))
				goto fail;
			if (lo < 0xDC00 || lo >= 0xE000) {
				jfail(j, "unpaired surrogate in a string");
				goto fail;
			}
			u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
		}
		if (u == 0) {
			jfail(j, "NUL character in a string");
			goto fail;
		}
		put_utf8(&b, u);
	}
	if (j->p >= j->end) {
		jfail(j, "unterminated string");
		goto fail;
	}
	j->p++;
	return b.p;
fail:
	free(b.p);
	return NULL;
}

/* A non-negative integer (shapes and offsets admit nothing else). */
static bool jcount(Json *j, int64_t *out)
{
	jws(j);
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return jfail(j, "expected a non-negative integer");
	int64_t v = 0;
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
		if (v > (INT64_MAX - 9) / 10)
			return jfail(j, "integer too large");
		v = v * 10 + (*j->p++ - '0');
	}
	if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		return jfail(j, "expected an integer");
	*out = v;
	return true;
}

/* An array of non-negative integers; *n receives the count (at most max). */
static bool jcounts(Json *j, int64_t *v, int max, int *n, const char *what)
{
	*n = 0;
	if (!jeat(j, '['))
		return jfail(j, "expected '['");
	if (jeat(j, ']'))
		return true;
	do {
		if (*n == max) {
			char msg[64];
			snprintf(msg, sizeof msg, "%s has more than %d entries", what, max);
			return jfail(j, msg);
		}
		if (!jcount(j, &v[(*n)++]))
			return false;
	} while (jeat(j, ','));
	return jeat(j, ']') || jfail(j, "expected ',' or ']'");
}

static bool jskip(Json *j, int depth)
{
	if (depth > MAX_DEPTH)
		return jfail(j, "nesting too deep");
	jws(j);
	if (j->p >= j->end)
		return jfail(j, "unexpected end");
	char c = *j->p;
	if (c == '"') {
		char *s = jstring(j);
		free(s);
		return s != NULL;
	}
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		j->p++;
		if (jeat(j, close))
			return true;
		do {
			if (c == '{') {
				char *k = jstring(j);
				free(k);
				if (!k || !(jeat(j, ':') || jfail(j, "expected ':'")))
					return false;
			}
			if (!jskip(j, depth + 1))
				return false;
		} while (jeat(j, ','));
		return jeat(j, close) || jfail(j, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
	}
	static const char *const words[] = { "true", "false", "null" };
	for (int w = 0; w < 3; w++) {
		size_t len = strlen(words[w]);
		if ((size_t)(j->end - j->p) >= len && !memcmp(j->p, words[w], len)) {
			j->p += len;
			return true;
		}
	}
	/* A number: JSON's grammar, checked only loosely since it is skipped. */
	const char *start = j->p;
	while (j->p < j->end && *j->p && strchr("0123456789+-.eE", *j->p))
		j->p++;
	return j->p > start || jfail(j, "unexpected character");
}

/* ---- load ---- */

typedef struct {
	RtTensor t;
	int64_t begin, end; /* data_offsets: bytes after the header */
	char *dtype;        /* as written in the file */
} Entry;

/* One tensor's object: {"dtype": .., "shape": [..], "data_offsets": [..]}. */
static bool jtensor(Json *j, Entry *e)
{
	bool have_shape = false, have_offsets = false;
	if (!jeat(j, '{'))
		return jfail(j, "expected '{'");
	if (jeat(j, '}'))
		goto check;
	do {
		char *key = jstring(j);
		if (!key)
			return false;
		bool ok = jeat(j, ':') || jfail(j, "expected ':'");
		if (ok && !strcmp(key, "dtype")) {
			free(e->dtype);
			ok = (e->dtype = jstring(j)) != NULL;
		} else if (ok && !strcmp(key, "shape")) {
			ok = jcounts(j, e->t.dim, MAX_RANK, &e->t.rank, "shape");
			have_shape = true;
		} else if (ok && !strcmp(key, "data_offsets")) {
			int64_t v[2] = { 0, 0 };
			int n;
			ok = jcounts(j, v, 2, &n, "data_offsets") && (n == 2 || jfail(j, "data_offsets needs two entries"));
			e->begin = v[0];
			e->end = v[1];
			have_offsets = true;
		} else if (ok) {
			ok = jskip(j, 1);
		}
		free(key);
		if (!ok)
			return false;
	} while (jeat(j, ','));
	if (!jeat(j, '}'))
		return jfail(j, "expected ',' or '}'");
check:
	if (!e->dtype || !have_shape || !have_offsets) {
		if (!j->failed)
			snprintf(j->err, j->errlen, "'%s' is not a safetensors file: tensor '%s' lacks %s",
				 j->path, e->t.name, !e->dtype ? "a dtype" : !have_shape ? "a shape" : "data_offsets");
		j->failed = true;
		return false;
	}
	return true;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const Entry *)a)->t.name, ((const Entry *)b)->t.name);
}

static int cmp_offsets(const void *a, const void *b)
{
	const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

/* The data of the tensors, in offset order, must lie back to back from 0 to
   datasize, as the format prescribes: an overlap would alias two tensors and
   a gap hides bytes nobody reads (both signs of a damaged file). */
static bool check_layout(Json *j, Entry *e, int n, int64_t datasize)
{
	Entry **by = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *by);
	for (int i = 0; i < n; i++)
		by[i] = &e[i];
	qsort(by, (size_t)n, sizeof *by, cmp_offsets);
	int64_t at = 0;
	bool ok = true;
	for (int i = 0; i < n && ok; i++) {
		if (by[i]->begin < at) {
			snprintf(j->err, j->errlen, "'%s' is not a safetensors file: the data of tensor '%s' "
				 "[%" PRId64 ", %" PRId64 "] overlaps that of tensor '%s' [%" PRId64 ", %" PRId64 "]",
				 j->path, by[i]->t.name, by[i]->begin, by[i]->end, by[i - 1]->t.name,
				 by[i - 1]->begin, by[i - 1]->end);
			ok = false;
		} else if (by[i]->begin > at) {
			snprintf(j->err, j->errlen, "'%s' is not a safetensors file: bytes [%" PRId64 ", %" PRId64
				 ") of the data, before tensor '%s', belong to no tensor",
				 j->path, at, by[i]->begin, by[i]->t.name);
			ok = false;
		}
		at = by[i]->end;
	}
	if (ok && at != datasize) {
		snprintf(j->err, j->errlen, "'%s' is not a safetensors file: the last %" PRId64
			 " bytes of the data belong to no tensor", j->path, datasize - at);
		ok = false;
	}
	free(by);
	return ok;
}

static void entries_free(Entry *e, int n)
{
	for (int i = 0; i < n; i++) {
		free((char *)e[i].t.name);
		free(e[i].t.data);
		free(e[i].dtype);
	}
	free(e);
}

/* Parses the header into entries; checks dtypes, shapes and offsets against
   the data size. */
static Entry *parse_header(Json *j, int64_t datasize, int *count)
{
	int n = 0, cap = 16;
	Entry *e = xcalloc((size_t)cap, sizeof *e);
	if (!jeat(j, '{')) {
		jfail(j, "expected '{'");
		goto fail;
	}
	if (!jeat(j, '}')) {
		do {
			char *name = jstring(j);
			if (!name || !(jeat(j, ':') || jfail(j, "expected ':'"))) {
				free(name);
				goto fail;
			}
			if (!strcmp(name, "__metadata__")) {
				free(name);
				if (!jskip(j, 1))
					goto fail;
				continue;
			}
			if (n == cap) {
				Entry *ne = xcalloc((size_t)cap * 2, sizeof *e);
				memcpy(ne, e, (size_t)cap * sizeof *e);
				free(e);
				e = ne;
				cap *= 2;
			}
			e[n].t.name = name;
			if (!jtensor(j, &e[n++]))
				goto fail;
		} while (jeat(j, ','));
		if (!jeat(j, '}')) {
			jfail(j, "expected ',' or '}'");
			goto fail;
		}
	}
	jws(j);
	if (j->p != j->end) {
		jfail(j, "text after the header object");
		goto fail;
	}
	for (int i = 0; i < n; i++) {
		Entry *x = &e[i];
		if (!strcmp(x->dtype, "F32") || !strcmp(x->dtype, "I32") || !strcmp(x->dtype, "BF16")) {
			x->t.dt = x->dtype[0] == 'F' ? RT_F32 : x->dtype[0] == 'B' ? RT_BF16 : RT_I32;
		} else {
			snprintf(j->err, j->errlen, "'%s': tensor '%s' has dtype %s; only F32, BF16 and I32 are supported",
				 j->path, x->t.name, x->dtype);
			goto fail;
		}
		int64_t numel = rt_tensor_numel(x->t.rank, x->t.dim);
		if (x->begin > x->end) {
			snprintf(j->err, j->errlen, "'%s' is not a safetensors file: tensor '%s' has data_offsets "
				 "[%" PRId64 ", %" PRId64 "] that end before they begin",
				 j->path, x->t.name, x->begin, x->end);
			goto fail;
		}
		if (x->end > datasize) {
			snprintf(j->err, j->errlen, "'%s' is not a safetensors file: tensor '%s' has data_offsets "
				 "[%" PRId64 ", %" PRId64 "] outside the %" PRId64 " bytes of data",
				 j->path, x->t.name, x->begin, x->end, datasize);
			goto fail;
		}
		if (numel < 0 || x->end - x->begin != rt_dtype_size(x->t.dt) * numel) {
			snprintf(j->err, j->errlen, "'%s' is not a safetensors file: tensor '%s' has %" PRId64
				 " bytes of data, but its shape needs %" PRId64,
				 j->path, x->t.name, x->end - x->begin, rt_dtype_size(x->t.dt) * numel);
			goto fail;
		}
	}
	qsort(e, (size_t)n, sizeof *e, cmp_entry);
	for (int i = 1; i < n; i++)
		if (!strcmp(e[i].t.name, e[i - 1].t.name)) {
			snprintf(j->err, j->errlen, "'%s' is not a safetensors file: tensor '%s' appears twice",
				 j->path, e[i].t.name);
			goto fail;
		}
	if (!check_layout(j, e, n, datasize))
		goto fail;
	*count = n;
	return e;
fail:
	j->failed = true;
	entries_free(e, n);
	return NULL;
}

bool rt_safetensors_load(const char *path, RtTensor **out, int *n, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	if (!f || fstat(fileno(f), &st) != 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		if (f)
			fclose(f);
		return false;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(EISDIR));
		fclose(f);
		return false;
	}
	char *hdr = NULL;
	Entry *e = NULL;
	int count = 0;
	int64_t size = st.st_size;
	unsigned char len8[8];
	if (size < 8 || fread(len8, 1, 8, f) != 8) {
		snprintf(err, errlen, "'%s' is not a safetensors file: %" PRId64 " bytes, too short for a header",
			 path, size);
		goto fail;
	}
	uint64_t hlen = 0;
	for (int k = 0; k < 8; k++)
		hlen |= (uint64_t)len8[k] << (8 * k);
	if (hlen > (uint64_t)(size - 8) || hlen > MAX_HEADER || hlen < 2) {
		snprintf(err, errlen, "'%s' is not a safetensors file: header length %" PRIu64
			 " is impossible in a file of %" PRId64 " bytes", path, hlen, size);
		goto fail;
	}
	hdr = xmalloc(hlen);
	if (fread(hdr, 1, hlen, f) != hlen) {
		snprintf(err, errlen, "cannot read '%s': %s", path, ferror(f) ? strerror(errno) : "unexpected end");
		goto fail;
	}
	Json j = { hdr, hdr, hdr + hlen, path, err, errlen, false };
	e = parse_header(&j, size - 8 - (int64_t)hlen, &count);
	if (!e)
		goto fail;
	for (int i = 0; i < count; i++) {
		size_t bytes = (size_t)(e[i].end - e[i].begin);
		e[i].t.data = malloc(bytes ? bytes : 1);
		if (!e[i].t.data) {
			snprintf(err, errlen, "'%s': cannot allocate %zu bytes for tensor '%s'", path, bytes, e[i].t.name);
			goto fail;
		}
		if (fseeko(f, (off_t)(8 + hlen + (uint64_t)e[i].begin), SEEK_SET) != 0 ||
		    fread(e[i].t.data, 1, bytes, f) != bytes) {
			snprintf(err, errlen, "cannot read '%s': %s", path, ferror(f) ? strerror(errno) : "unexpected end");
			goto fail;
		}
	}
	RtTensor *t = xmalloc((size_t)(count > 0 ? count : 1) * sizeof *t);
	for (int i = 0; i < count; i++) {
		t[i] = e[i].t;
		free(e[i].dtype);
	}
	free(e);
	free(hdr);
	fclose(f);
	*out = t;
	*n = count;
	return true;
fail:
	if (e)
		entries_free(e, count);
	free(hdr);
	fclose(f);
	return false;
}

void rt_tensors_free(RtTensor *t, int n)
{
	if (!t)
		return;
	for (int i = 0; i < n; i++) {
		free((char *)t[i].name);
		free(t[i].data);
	}
	free(t);
}
