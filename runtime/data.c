/*
 * data.c — data sets and batching.  Each loader reads its whole file into
 * one buffer kept in the file's own element type (u8 pixels and labels,
 * text bytes, uint16 tokens); examples are converted to f32/i32 only when
 * a batch is filled.  Slices are views that share the buffers through a
 * reference count, so views and their parents may be freed in any order.
 * Data sets held in memory (csv, tensors) keep 4-byte f32/i32 rows.
 */
#include "runtime/runtime.h"
#include "runtime/loader.h"

#include "base/arena.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
#define TOKENS_MAGIC 20240520

typedef struct {
	int refs;             /* data sets (parents and views) using it */
	unsigned char *bytes; /* whole payload; size bytes */
	size_t size;
} RtBuf;

typedef enum { DS_IDX, DS_TEXT, DS_TOKENS, DS_MEM, DS_DOCS } DsKind;

struct RtDataset {
	DsKind kind;
	RtBuf *xbuf;   /* IDX: pixels [N, H*W] u8; text: bytes; tokens: u16 LE tokens; memory: 4-byte rows */
	RtBuf *ybuf;   /* IDX: labels [N] u8; memory: 4-byte rows or NULL (no y); documents: int64
	                  (start in bytes, length in tokens) pairs into xbuf; otherwise NULL */
	int64_t first; /* example 0 of this view is example `first` of the buffers */
	int64_t len;   /* examples in this view */
	int64_t row;   /* IDX: pixels per image; text/tokens: context T; memory: x elements per example;
	                  documents: bytes per token (1: text, 2: u16 LE tokens) */
	int64_t yrow;  /* memory: y elements per example */
	RtShape xs, ys;
};

/* Every buffer is checked against the memory limit before it is allocated
   (or grown) and counted as held while a data set uses it. */
bool rt_data_mem_ok(const char *path, size_t bytes, char *err, size_t errlen)
{
	char what[320];
	snprintf(what, sizeof what, "data file '%s'", path);
	return rt_mem_check(bytes > INT64_MAX ? INT64_MAX : (int64_t)bytes, what, err, errlen);
}

static RtBuf *buf_new(unsigned char *bytes, size_t size)
{
	rt_mem_hold((int64_t)size);
	RtBuf *b = xmalloc(sizeof *b);
	b->refs = 1;
	b->bytes = bytes;
	b->size = size;
	return b;
}

static void buf_release(RtBuf *b)
{
	if (b && --b->refs == 0) {
		rt_mem_hold(-(int64_t)b->size);
		free(b->bytes);
		free(b);
	}
}

/* gzopen on a directory succeeds and only fails at the first read, with a
   confusing message; stat first so that the user sees the real cause.
   Only regular files: a FIFO blocks in open until someone writes, and a
   device (/dev/zero) or a socket may never end, so reading one would hang
   even under `sinter check`. */
gzFile rt_data_open(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(EISDIR));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot read '%s': not a regular file (%s)", path,
			S_ISFIFO(st.st_mode) ? "a pipe" : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
			: S_ISSOCK(st.st_mode) ? "a socket" : "not a file");
		return NULL;
	}
	gzFile f = gzopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 strerror(errno ? errno : ENOMEM));
		return NULL;
	}
	gzbuffer(f, 256 * 1024);
	return f;
}

/* Reads up to n bytes (any size; gzread takes an unsigned int).  Returns the
   count read, or -1 with a message on a read or decompression error. */
int64_t rt_data_read(gzFile f, const char *path, void *dst, size_t n, char *err, size_t errlen)
{
	unsigned char *p = dst;
	size_t got = 0;
	while (got < n) {
		size_t want = n - got;
		if (want > (1u << 30))
			want = 1u << 30;
		int r = gzread(f, p + got, (unsigned)want);
		if (r < 0) {
			int code;
			const char *msg = gzerror(f, &code);
			snprintf(err, errlen, "cannot read '%s': %s", path,
				 code == Z_ERRNO ? strerror(errno) : msg);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (int64_t)got;
}

/* Whole file into a malloc'ed buffer; gzipped files are inflated, which
   lets text and token sets be stored compressed too.  `pending` bytes read
   by the caller so far count against the memory limit too; a file that
   inflates or grows while it is read stops at the limit. */
static unsigned char *read_whole(const char *path, size_t pending, size_t *size, char *err, size_t errlen)
{
	gzFile f = rt_data_open(path, err, errlen);
	if (!f)
		return NULL;
	struct stat st;
	size_t cap = stat(path, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	size_t len = 0;
	if (!rt_data_mem_ok(path, pending + cap, err, errlen)) {
		gzclose(f);
		return NULL;
	}
	unsigned char *b = malloc(cap);
	for (;;) {
		if (!b) {
			snprintf(err, errlen, "'%s': out of memory reading the file", path);
			gzclose(f);
			return NULL;
		}
		int64_t r = rt_data_read(f, path, b + len, cap - len, err, errlen);
		if (r < 0) {
			free(b);
			gzclose(f);
			return NULL;
		}
		len += (size_t)r;
		if (len < cap)
			break;
		/* A gzipped file inflates past its on-disk size. */
		if (!rt_data_mem_ok(path, pending + cap * 2, err, errlen)) {
			free(b);
			gzclose(f);
			return NULL;
		}
		unsigned char *nb = realloc(b, cap * 2);
		if (!nb)
			free(b);
		b = nb;
		cap *= 2;
	}
	gzclose(f);
	*size = len;
	return b;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One IDX file: checks the magic, reads the dims and exactly the payload.
   expect is IDX_IMAGES or IDX_LABELS; dims receives N (and H, W). */
static unsigned char *idx_read(const char *path, uint32_t expect, int64_t *dims, char *err, size_t errlen)
{
	const char *what = expect == IDX_IMAGES ? "image" : "label";
	int ndim = (int)(expect & 0xff);
	size_t hdr = 4 + 4 * (size_t)ndim;
	unsigned char h[16];
	gzFile f = rt_data_open(path, err, errlen);
	if (!f)
		return NULL;
	int64_t got = rt_data_read(f, path, h, 4, err, errlen);
	if (got < 0)
		goto fail;
	if (got < 4) {
		snprintf(err, errlen, "'%s' is truncated: expected a %zu-byte IDX %s header, found %" PRId64 " bytes",
			 path, hdr, what, got);
		goto fail;
	}
	uint32_t magic = be32(h);
	if (magic != expect) {
		snprintf(err, errlen, "'%s' is not an IDX %s file (magic 0x%08x, expected 0x%08x)",
			 path, what, magic, expect);
		goto fail;
	}
	got = rt_data_read(f, path, h + 4, hdr - 4, err, errlen);
	if (got < 0)
		goto fail;
	if ((size_t)got < hdr - 4) {
		snprintf(err, errlen, "'%s' is truncated: expected a %zu-byte IDX %s header, found %" PRId64 " bytes",
			 path, hdr, what, got + 4);
		goto fail;
	}
	/* Each dim is below 2^32 and there are at most three, but their product
	   may not fit: cap it at 2^40 bytes, far beyond any memory (zero dims
	   left out, so that a row of an empty set cannot overflow either). */
	uint64_t total = 1, nonzero = 1; /* with a zero dim, the others still size a row */
	for (int d = 0; d < ndim; d++) {
		dims[d] = be32(h + 4 + 4 * d);
		total *= (uint64_t)dims[d];
		/* tested before the product, which could wrap past 2^64 */
		if (dims[d] && nonzero > (1ull << 40) / (uint64_t)dims[d]) {
			snprintf(err, errlen, "'%s': IDX dimensions are implausibly large", path);
			goto fail;
		}
		nonzero *= dims[d] ? (uint64_t)dims[d] : 1;
	}
	/* The header's claim is not trusted with memory: the buffer grows with
	   the data actually read (doubling from 1 MiB), so a short file that
	   claims gigabytes fails as truncated without allocating them; the
	   claim meets the memory limit once the file holds what was read so far. */
	size_t cap = total < (1u << 20) ? (size_t)total : (1u << 20);
	unsigned char *data = malloc(cap ? cap : 1);
	got = 0;
	while (data) {
		int64_t r = rt_data_read(f, path, data + got, cap - (size_t)got, err, errlen);
		if (r < 0) {
			got = -1;
			break;
		}
		got += r;
		if ((size_t)got == cap && !rt_data_mem_ok(path, total, err, errlen)) {
			free(data);
			goto fail;
		}
		if ((size_t)got < cap || cap == total)
			break;
		size_t ncap = 2 * cap < total ? 2 * cap : (size_t)total;
		unsigned char *nd = realloc(data, ncap);
		if (!nd)
			free(data);
		data = nd;
		cap = ncap;
	}
	if (!data) {
		snprintf(err, errlen, "'%s': cannot allocate %" PRIu64 " bytes", path, total);
		goto fail;
	}
	if (got >= 0 && (uint64_t)got < total)
		snprintf(err, errlen, "'%s' is truncated: expected %" PRIu64 " bytes of %s data, found %" PRId64,
			 path, total, expect == IDX_IMAGES ? "pixel" : "label", got);
	if (got < 0 || (uint64_t)got < total) {
		free(data);
		goto fail;
	}
	gzclose(f);
	return data;
fail:
	gzclose(f);
	return NULL;
}

RtDataset *rt_idx_open(const char *images, const char *labels, bool flatten, char *err, size_t errlen)
{
	int64_t idim[3], ldim[1];
	unsigned char *px = idx_read(images, IDX_IMAGES, idim, err, errlen);
	if (!px)
		return NULL;
	/* the pixels count against the limit while the labels are checked */
	int64_t npx = idim[0] * idim[1] * idim[2];
	rt_mem_hold(npx);
	unsigned char *lb = idx_read(labels, IDX_LABELS, ldim, err, errlen);
	rt_mem_hold(-npx);
	if (!lb) {
		free(px);
		return NULL;
	}
	if (idim[0] != ldim[0]) {
		snprintf(err, errlen, "'%s' has %" PRId64 " images but '%s' has %" PRId64 " labels",
			 images, idim[0], labels, ldim[0]);
		free(px);
		free(lb);
		return NULL;
	}
	RtDataset *ds = xcalloc(1, sizeof *ds);
	ds->kind = DS_IDX;
	ds->row = idim[1] * idim[2];
	ds->xbuf = buf_new(px, (size_t)(idim[0] * ds->row));
	ds->ybuf = buf_new(lb, (size_t)ldim[0]);
	ds->len = idim[0];
	ds->xs.dt = RT_F32;
	if (flatten) {
		ds->xs.rank = 1;
		ds->xs.dim[0] = ds->row;
	} else {
		ds->xs.rank = 3;
		ds->xs.dim[0] = 1;
		ds->xs.dim[1] = idim[1];
		ds->xs.dim[2] = idim[2];
	}
	ds->ys.dt = RT_I32;
	ds->ys.rank = 0;
	return ds;
}

/* Text and token sets share the layout: x = seq[i .. i+T), y shifted by one. */
static RtDataset *seq_new(DsKind kind, RtBuf *buf, int64_t count, int64_t context)
{
	RtDataset *ds = xcalloc(1, sizeof *ds);
	ds->kind = kind;
	ds->xbuf = buf;
	ds->row = context;
	ds->len = count - context;
	ds->xs.dt = ds->ys.dt = RT_I32;
	ds->xs.rank = ds->ys.rank = 1;
	ds->xs.dim[0] = ds->ys.dim[0] = context;
	return ds;
}

static bool text_member(const char *dir, const char *name)
{
	size_t n = strlen(name);
	if (name[0] == '.')
		return false; /* ., .. and hidden files */
	if ((n > 4 && !strcmp(name + n - 4, ".dat")) || (n > 3 && !strcmp(name + n - 3, ".u8")))
		return false; /* fortune's index files and its UTF-8 symlinks */
	char *full = xmalloc(strlen(dir) + n + 2);
	sprintf(full, "%s/%s", dir, name);
	struct stat st;
	bool ok = stat(full, &st) == 0 && S_ISREG(st.st_mode);
	free(full);
	return ok;
}

static void *grow(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die_out_of_memory(n);
	return p;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory of text files as one text: its regular files except the
   .dat/.u8 index files of a fortune directory (and hidden files), in
   strcmp order of their names so the result does not depend on the locale
   or on the order readdir happens to return. */
static unsigned char *read_dir(const char *path, size_t *size, size_t **ends, size_t *nends, char *err,
                               size_t errlen)
{
	DIR *d = opendir(path);
	if (!d) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (!text_member(path, e->d_name))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			names = grow(names, cap * sizeof *names);
		}
		names[n] = xmalloc(strlen(e->d_name) + 1);
		strcpy(names[n++], e->d_name);
	}
	closedir(d);
	unsigned char *all = NULL;
	size_t len = 0;
	if (n == 0)
		snprintf(err, errlen, "'%s' is a directory without text files", path);
	else
		qsort(names, n, sizeof *names, by_name);
	if (ends) {
		*ends = xmalloc((n ? n : 1) * sizeof **ends);
		*nends = n;
	}
	for (size_t i = 0; i < n; i++) {
		char *full = xmalloc(strlen(path) + strlen(names[i]) + 2);
		sprintf(full, "%s/%s", path, names[i]);
		size_t fsize;
		/* the text so far and its copy while it grows */
		unsigned char *b = read_whole(full, 2 * len, &fsize, err, errlen);
		free(full);
		if (!b) {
			free(all);
			all = NULL;
			break;
		}
		all = grow(all, len + fsize + 1);
		memcpy(all + len, b, fsize);
		len += fsize;
		free(b);
		if (ends)
			(*ends)[i] = len;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (!all && ends) {
		free(*ends);
		*ends = NULL;
	}
	*size = len;
	return all;
}

unsigned char *rt_text_read(const char *path, size_t *size, size_t **ends, size_t *nends, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return read_dir(path, size, ends, nends, err, errlen);
	unsigned char *b = read_whole(path, 0, size, err, errlen);
	if (b && ends) {
		*ends = xmalloc(sizeof **ends);
		**ends = *size;
		*nends = 1;
	}
	return b;
}

RtDataset *rt_text_open(const char *path, int64_t context, char *err, size_t errlen)
{
	if (context <= 0) {
		snprintf(err, errlen, "'%s': context must be positive, not %" PRId64, path, context);
		return NULL;
	}
	size_t size;
	unsigned char *b = rt_text_read(path, &size, NULL, NULL, err, errlen);
	if (!b)
		return NULL;
	if ((int64_t)size < context + 1) {
		snprintf(err, errlen, "'%s' has %zu bytes, but context %" PRId64 " needs at least %" PRId64,
			 path, size, context, context + 1);
		free(b);
		return NULL;
	}
	return seq_new(DS_TEXT, buf_new(b, size), (int64_t)size, context);
}

static int32_t le32(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static inline int32_t le16(const unsigned char *p)
{
	return (int32_t)(p[0] | p[1] << 8);
}

/* A token file's header checked and its tokens against vocab (when > 0):
   the whole file, the tokens RT_TOKENS_HEADER bytes in, *count of them. */
unsigned char *rt_tokens_read(const char *path, int64_t vocab, size_t *size, int64_t *count, char *err, size_t errlen)
{
	unsigned char *b = read_whole(path, 0, size, err, errlen);
	if (!b)
		return NULL;
	if (*size < RT_TOKENS_HEADER) {
		snprintf(err, errlen, "'%s' is truncated: expected a %d-byte token file header, found %zu bytes",
			 path, RT_TOKENS_HEADER, *size);
		goto fail;
	}
	int32_t magic = le32(b), version = le32(b + 4), n = le32(b + 8);
	if (magic != TOKENS_MAGIC) {
		snprintf(err, errlen, "'%s' is not a token file (magic %" PRId32 ", expected %d)",
			 path, magic, TOKENS_MAGIC);
		goto fail;
	}
	if (version != 1) {
		snprintf(err, errlen, "'%s': token file version %" PRId32 " is not supported (expected 1)",
			 path, version);
		goto fail;
	}
	if (n < 0) {
		snprintf(err, errlen, "'%s': negative token count %" PRId32 " in the header", path, n);
		goto fail;
	}
	size_t need = 2 * (size_t)n;
	if (*size - RT_TOKENS_HEADER < need) {
		snprintf(err, errlen, "'%s' is truncated: expected %zu bytes of token data, found %zu",
			 path, need, *size - RT_TOKENS_HEADER);
		goto fail;
	}
	if (vocab > 0) {
		const unsigned char *t = b + RT_TOKENS_HEADER;
		for (int32_t i = 0; i < n; i++) {
			if (le16(t + 2 * (size_t)i) >= vocab) {
				snprintf(err, errlen, "'%s': token %" PRId32 " at position %" PRId32
					 " is outside the vocabulary (V = %" PRId64 ")",
					 path, le16(t + 2 * (size_t)i), i, vocab);
				goto fail;
			}
		}
	}
	*count = n;
	return b;
fail:
	free(b);
	return NULL;
}

RtDataset *rt_tokens_open(const char *path, int64_t context, int64_t vocab, char *err, size_t errlen)
{
	if (context <= 0) {
		snprintf(err, errlen, "'%s': context must be positive, not %" PRId64, path, context);
		return NULL;
	}
	size_t size;
	int64_t count;
	unsigned char *b = rt_tokens_read(path, vocab, &size, &count, err, errlen);
	if (!b)
		return NULL;
	if (count < context + 1) {
		snprintf(err, errlen, "'%s' has %" PRId64 " tokens, but context %" PRId64 " needs at least %" PRId64,
			 path, count, context, context + 1);
		free(b);
		return NULL;
	}
	/* The header stays in the buffer; the tokens start 1024 bytes in. */
	return seq_new(DS_TOKENS, buf_new(b, size), count, context);
}

RtDataset *rt_dataset_memory(RtShape xs, void *x, RtShape ys, void *y, int64_t n)
{
	RtDataset *ds = xcalloc(1, sizeof *ds);
	ds->kind = DS_MEM;
	ds->row = rt_tensor_numel(xs.rank, xs.dim);
	ds->yrow = y ? rt_tensor_numel(ys.rank, ys.dim) : 0;
	if (ds->row < 0 || ds->yrow < 0 || n < 0)
		die("rt_dataset_memory: bad shape");
	ds->xbuf = buf_new(x, (size_t)(n * ds->row) * 4);
	ds->ybuf = y ? buf_new(y, (size_t)(n * ds->yrow) * 4) : NULL;
	ds->len = n;
	ds->xs = xs;
	ds->ys = y ? ys : (RtShape){ .dt = RT_F32, .rank = -1 };
	return ds;
}

RtDataset *rt_dataset_docs(unsigned char *bytes, size_t size, int64_t *spans, int64_t n, int width)
{
	RtDataset *ds = xcalloc(1, sizeof *ds);
	ds->kind = DS_DOCS;
	ds->row = width;
	ds->xbuf = buf_new(bytes, size);
	ds->ybuf = buf_new((unsigned char *)spans, (size_t)n * 2 * sizeof *spans);
	ds->len = n;
	ds->xs.dt = ds->ys.dt = RT_I32;
	ds->xs.rank = ds->ys.rank = 1; /* dim 0: documents have no one length */
	return ds;
}

bool rt_dataset_is_docs(const RtDataset *ds)
{
	return ds->kind == DS_DOCS;
}

const unsigned char *rt_dataset_doc(const RtDataset *ds, int64_t i, int64_t *len)
{
	if (ds->kind != DS_DOCS || i < 0 || i >= ds->len)
		die("rt_dataset_doc: document %" PRId64 " of a set of %" PRId64, i, ds->len);
	const int64_t *span = (const int64_t *)ds->ybuf->bytes + 2 * (ds->first + i);
	*len = span[1];
	return ds->xbuf->bytes + span[0];
}

int rt_dataset_doc_width(const RtDataset *ds)
{
	return ds->kind == DS_DOCS ? (int)ds->row : 0;
}

RtDataset *rt_dataset_slice(RtDataset *ds, int64_t from, int64_t to)
{
	/* Python slice bounds: negative counts from the end, then clamp. */
	if (from < 0)
		from += ds->len;
	if (to < 0)
		to += ds->len;
	from = from < 0 ? 0 : from > ds->len ? ds->len : from;
	to = to < from ? from : to > ds->len ? ds->len : to;
	RtDataset *v = xmalloc(sizeof *v);
	*v = *ds;
	v->first = ds->first + from;
	v->len = to - from;
	v->xbuf->refs++;
	if (v->ybuf)
		v->ybuf->refs++;
	return v;
}

int64_t rt_dataset_len(const RtDataset *ds)
{
	return ds->len;
}

int64_t rt_dataset_overlap(const RtDataset *ds)
{
	return ds->kind == DS_TEXT || ds->kind == DS_TOKENS ? ds->row : 0;
}

RtShape rt_dataset_xshape(const RtDataset *ds)
{
	return ds->xs;
}

RtShape rt_dataset_yshape(const RtDataset *ds)
{
	return ds->ys;
}

void rt_dataset_fill(const RtDataset *ds, const int64_t *idx, int64_t n, void *x, void *y)
{
	int64_t row = ds->row;
	/* Exactly p / 255 (a multiply by 1/255 is off by an ulp for some p). */
	float scale[256];
	if (ds->kind == DS_IDX)
		for (int p = 0; p < 256; p++)
			scale[p] = (float)p / 255.0f;
	for (int64_t k = 0; k < n; k++) {
		if (idx[k] < 0 || idx[k] >= ds->len)
			die("rt_dataset_fill: example %" PRId64 " outside 0..%" PRId64, idx[k], ds->len);
		int64_t e = ds->first + idx[k];
		if (ds->kind == DS_DOCS)
			die("rt_dataset_fill: documents are batched by runtime/docs.c");
		if (ds->kind == DS_MEM) {
			memcpy((char *)x + 4 * k * row, ds->xbuf->bytes + 4 * e * row, 4 * (size_t)row);
			if (ds->ybuf)
				memcpy((char *)y + 4 * k * ds->yrow, ds->ybuf->bytes + 4 * e * ds->yrow, 4 * (size_t)ds->yrow);
			continue;
		}
		if (ds->kind == DS_IDX) {
			const unsigned char *px = ds->xbuf->bytes + e * row;
			float *xo = (float *)x + k * row;
			for (int64_t j = 0; j < row; j++)
				xo[j] = scale[px[j]];
			((int32_t *)y)[k] = ds->ybuf->bytes[e];
			continue;
		}
		int32_t *xo = (int32_t *)x + k * row, *yo = (int32_t *)y + k * row;
		if (ds->kind == DS_TEXT) {
			const unsigned char *s = ds->xbuf->bytes + e;
			for (int64_t j = 0; j < row; j++) {
				xo[j] = s[j];
				yo[j] = s[j + 1];
			}
		} else {
			const unsigned char *s = ds->xbuf->bytes + RT_TOKENS_HEADER + 2 * e;
			for (int64_t j = 0; j < row; j++) {
				xo[j] = le16(s + 2 * j);
				yo[j] = le16(s + 2 * j + 2);
			}
		}
	}
}

void rt_dataset_free(RtDataset *ds)
{
	if (!ds)
		return;
	buf_release(ds->xbuf);
	buf_release(ds->ybuf);
	free(ds);
}

int64_t *rt_batch_order(int64_t n, bool shuffle, uint64_t key)
{
	int64_t *order = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *order);
	if (shuffle) {
		rt_permutation(order, n, key);
	} else {
		for (int64_t i = 0; i < n; i++)
			order[i] = i;
	}
	return order;
}

int64_t rt_batch_count(int64_t n, int64_t b, bool drop_last)
{
	if (n <= 0 || b <= 0)
		return 0;
	return drop_last ? n / b : (n + b - 1) / b;
}
