/*
 * docs.c — documents and packed rows: a text file (or a directory's text
 * files) split at a separator into byte-level documents, or a token file
 * split after each end-of-text token, and the plan that lays one pass over
 * them into rows of T positions for packed_batches: in order (greedy),
 * best-fit decreasing, or one per row (padded).  A row records its pieces
 * (document, first token, length); filling a batch reads the document's
 * bytes or token ids straight into x, y, segment and position.
 */
#include "runtime/runtime.h"
#include "runtime/loader.h"

#include "base/arena.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first occurrence of sep in [p, end), or NULL. */
static const unsigned char *find_sep(const unsigned char *p, const unsigned char *end, const char *sep, size_t nsep)
{
	while ((size_t)(end - p) >= nsep) {
		const unsigned char *c = memchr(p, (unsigned char)sep[0], (size_t)(end - p) - nsep + 1);
		if (!c)
			return NULL;
		if (!memcmp(c, sep, nsep))
			return c;
		p = c + 1;
	}
	return NULL;
}

typedef struct {
	int64_t *v; /* (start, length) pairs */
	int64_t n, cap;
} Spans;

/* The span array grows by doubling, each step checked against the memory
   limit next to the text it indexes. */
static bool spans_add(Spans *s, int64_t start, int64_t len, const char *path, size_t text, char *err,
                      size_t errlen)
{
	if (len < 2)
		return true; /* nothing to predict */
	if (s->n == s->cap) {
		int64_t cap = s->cap ? 2 * s->cap : 1024;
		if (!rt_data_mem_ok(path, text + (size_t)cap * 2 * sizeof *s->v, err, errlen))
			return false;
		s->v = realloc(s->v, (size_t)cap * 2 * sizeof *s->v);
		if (!s->v)
			die_out_of_memory((size_t)cap * 2 * sizeof *s->v);
		s->cap = cap;
	}
	s->v[2 * s->n] = start;
	s->v[2 * s->n + 1] = len;
	s->n++;
	return true;
}

/* The set of the documents found, or NULL (both buffers freed) when
   reading failed (!ok) or no document has 2 tokens. */
static RtDataset *docs_finish(Spans *s, bool ok, unsigned char *b, size_t size, int width, const char *path,
                              char *err, size_t errlen)
{
	if (ok && s->n == 0) {
		snprintf(err, errlen, "'%s' holds no document of 2 %s or more (a document needs an input and a target)",
			 path, width == 1 ? "bytes" : "tokens");
		ok = false;
	}
	if (!ok) {
		free(b);
		free(s->v);
		return NULL;
	}
	return rt_dataset_docs(b, size, s->v, s->n, width);
}

RtDataset *rt_documents_open(const char *path, const char *sep, size_t nsep, bool *sep_found, char *err,
                             size_t errlen)
{
	size_t size, *ends = NULL, nends = 0;
	*sep_found = false;
	if (nsep == 0) {
		snprintf(err, errlen, "'%s': the document separator is empty", path);
		return NULL;
	}
	unsigned char *b = rt_text_read(path, &size, &ends, &nends, err, errlen);
	if (!b)
		return NULL;
	Spans s = { 0 };
	bool ok = true;
	if (size == 0) {
		snprintf(err, errlen, "'%s' is empty: there are no documents in it", path);
		ok = false;
	}
	/* every file of a directory ends its last document */
	for (size_t f = 0, start = 0; ok && f < nends; start = ends[f++]) {
		const unsigned char *p = b + start, *end = b + ends[f];
		for (const unsigned char *q; ok && (q = find_sep(p, end, sep, nsep)); p = q + nsep) {
			*sep_found = true;
			ok = spans_add(&s, p - b, q - p, path, size, err, errlen);
		}
		if (ok)
			ok = spans_add(&s, p - b, end - p, path, size, err, errlen);
	}
	free(ends);
	return docs_finish(&s, ok, b, size, 1, path, err, errlen);
}

static int32_t token_at(const unsigned char *t, int64_t i)
{
	return t[2 * i] | t[2 * i + 1] << 8;
}

RtDataset *rt_token_documents_open(const char *path, int64_t vocab, int64_t eot, bool *eot_found, char *err,
                                   size_t errlen)
{
	size_t size;
	int64_t count;
	*eot_found = false;
	unsigned char *b = rt_tokens_read(path, vocab, &size, &count, err, errlen);
	if (!b)
		return NULL;
	const unsigned char *t = b + RT_TOKENS_HEADER;
	Spans s = { 0 };
	bool ok = true;
	if (count == 0) {
		snprintf(err, errlen, "'%s' holds no tokens: there are no documents in it", path);
		ok = false;
	}
	int64_t start = 0;
	for (int64_t i = 0; ok && i < count; i++)
		if (token_at(t, i) == eot) {
			*eot_found = true;
			ok = spans_add(&s, RT_TOKENS_HEADER + 2 * start, i + 1 - start, path, size, err, errlen);
			start = i + 1;
		}
	if (ok && start < count)
		ok = spans_add(&s, RT_TOKENS_HEADER + 2 * start, count - start, path, size, err, errlen);
	return docs_finish(&s, ok, b, size, 2, path, err, errlen);
}

/* ---- packing ---- */

typedef struct {
	int64_t doc, off, len;
} Piece;

struct RtPack {
	int64_t T;
	Piece *pieces;   /* row after row */
	int64_t npieces, cappieces;
	int64_t *first;  /* row r holds pieces first[r] .. first[r + 1] */
	int64_t nrows, caprows;
	int64_t tokens, splits;
};

static void *grow_array(void *p, int64_t *cap, int64_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	int64_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	p = realloc(p, (size_t)c * elem);
	if (!p)
		die_out_of_memory((size_t)c * elem);
	*cap = c;
	return p;
}

static void pack_piece(RtPack *p, Piece pc)
{
	p->pieces = grow_array(p->pieces, &p->cappieces, p->npieces + 1, sizeof *p->pieces);
	p->pieces[p->npieces++] = pc;
	p->first[p->nrows] = p->npieces;
	p->tokens += pc.len;
}

/* Starts row nrows (its pieces are those added until the next row). */
static void pack_row(RtPack *p)
{
	p->first = grow_array(p->first, &p->caprows, p->nrows + 2, sizeof *p->first);
	p->first[p->nrows++] = p->npieces;
	p->first[p->nrows] = p->npieces;
}

/* A piece holding only its document's last byte has no target: left out
   (that byte is already the target of the piece before it). */
static bool has_target(int64_t off, int64_t len, int64_t doclen)
{
	return off + 1 < doclen || len > 1;
}

/* Rows filled in order: a document that does not fit in what is left of
   the row fills it and goes on at the start of the next. */
static void pack_greedy(RtPack *p, const RtDataset *ds, const int64_t *order, int64_t n)
{
	int64_t fill = p->T;
	for (int64_t k = 0; k < n; k++) {
		int64_t len, pieces = 0;
		rt_dataset_doc(ds, order[k], &len);
		for (int64_t off = 0; off < len;) {
			if (fill == p->T) {
				if (!has_target(off, len - off, len))
					break; /* no row for what has nothing to predict */
				pack_row(p);
				fill = 0;
			}
			int64_t take = len - off < p->T - fill ? len - off : p->T - fill;
			if (has_target(off, take, len)) {
				pack_piece(p, (Piece){ order[k], off, take });
				pieces++;
				fill += take;
			}
			off += take;
		}
		p->splits += pieces > 1;
	}
}

typedef struct {
	int64_t len, rank; /* rank: the piece's place in the (shuffled) order */
	Piece pc;
} Item;

static int by_len_desc(const void *a, const void *b)
{
	const Item *x = a, *y = b;
	if (x->len != y->len)
		return x->len > y->len ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* The documents cut into pieces of at most T, in order. */
static Item *cut_pieces(RtPack *p, const RtDataset *ds, const int64_t *order, int64_t n, int64_t *nitems)
{
	int64_t cap = 0, m = 0;
	Item *items = NULL;
	for (int64_t k = 0; k < n; k++) {
		int64_t len, pieces = 0;
		rt_dataset_doc(ds, order[k], &len);
		for (int64_t off = 0; off < len; off += p->T) {
			int64_t take = len - off < p->T ? len - off : p->T;
			if (!has_target(off, take, len))
				continue;
			items = grow_array(items, &cap, m + 1, sizeof *items);
			items[m] = (Item){ take, m, { order[k], off, take } };
			m++;
			pieces++;
		}
		p->splits += pieces > 1;
	}
	*nitems = m;
	return items;
}

/* Best-fit decreasing: the longest piece first, each into the open row
   with the least room that still takes it.  Open rows wait in one stack
   per room left (1 .. T - 1), so a piece looks at no more than T stacks. */
static void pack_best_fit(RtPack *p, Item *items, int64_t m)
{
	int64_t T = p->T;
	qsort(items, (size_t)m, sizeof *items, by_len_desc);
	int64_t *head = xmalloc((size_t)(T + 1) * sizeof *head), *next = NULL, capnext = 0;
	for (int64_t c = 0; c <= T; c++)
		head[c] = -1;
	/* rows are built apart, then laid out: row r's pieces in a list */
	int64_t *rfirst = NULL, *rlast = NULL, caprf = 0, caprl = 0, nrows = 0, *link = xmalloc((size_t)(m ? m : 1) * sizeof *link);
	for (int64_t i = 0; i < m; i++) {
		int64_t c = items[i].len, r = -1;
		while (c < T && head[c] < 0)
			c++;
		if (c < T) {
			r = head[c];
			head[c] = next[r];
		} else {
			r = nrows++;
			rfirst = grow_array(rfirst, &caprf, nrows, sizeof *rfirst);
			rlast = grow_array(rlast, &caprl, nrows, sizeof *rlast);
			next = grow_array(next, &capnext, nrows, sizeof *next);
			rfirst[r] = -1;
			c = T;
		}
		link[i] = -1;
		if (rfirst[r] < 0)
			rfirst[r] = i;
		else
			link[rlast[r]] = i;
		rlast[r] = i;
		int64_t room = c - items[i].len;
		if (room > 0) {
			next[r] = head[room];
			head[room] = r;
		}
	}
	for (int64_t r = 0; r < nrows; r++) {
		pack_row(p);
		for (int64_t i = rfirst[r]; i >= 0; i = link[i])
			pack_piece(p, items[i].pc);
	}
	free(head);
	free(next);
	free(rfirst);
	free(rlast);
	free(link);
}

/* The rows of p in the order perm (a shuffle of whole rows). */
static void permute_rows(RtPack *p, uint64_t key)
{
	int64_t *perm = xmalloc((size_t)(p->nrows ? p->nrows : 1) * sizeof *perm);
	rt_permutation(perm, p->nrows, key);
	Piece *pieces = xmalloc((size_t)(p->npieces ? p->npieces : 1) * sizeof *pieces);
	int64_t *first = xmalloc((size_t)(p->nrows + 1) * sizeof *first), n = 0;
	for (int64_t r = 0; r < p->nrows; r++) {
		first[r] = n;
		for (int64_t i = p->first[perm[r]]; i < p->first[perm[r] + 1]; i++)
			pieces[n++] = p->pieces[i];
	}
	first[p->nrows] = n;
	free(p->pieces);
	free(p->first);
	free(perm);
	p->pieces = pieces;
	p->first = first;
	p->cappieces = p->npieces;
	p->caprows = p->nrows + 1;
}

RtPack *rt_pack_plan(const RtDataset *ds, int64_t T, RtPackStrategy strategy, bool shuffle, uint64_t key)
{
	if (T < 2 || !rt_dataset_is_docs(ds))
		die("rt_pack_plan: T = %" PRId64 " or not a set of documents", T);
	RtPack *p = xcalloc(1, sizeof *p);
	p->T = T;
	int64_t n = rt_dataset_len(ds);
	int64_t *order = rt_batch_order(n, shuffle, key);
	if (strategy == RT_PACK_GREEDY) {
		pack_greedy(p, ds, order, n);
	} else {
		int64_t m;
		Item *items = cut_pieces(p, ds, order, n, &m);
		if (strategy == RT_PACK_BEST_FIT) {
			pack_best_fit(p, items, m);
		} else {
			for (int64_t i = 0; i < m; i++) {
				pack_row(p);
				pack_piece(p, items[i].pc);
			}
		}
		free(items);
		if (shuffle)
			permute_rows(p, rt_mix64(key ^ 0x9e3779b97f4a7c15ull));
	}
	free(order);
	return p;
}

/* An estimate from above: every row boundary and every T bytes cut a
   document at most once, so there are at most n + 2 * bytes / T + 1
   pieces (and rows); a piece takes
   a Piece, and while best-fit plans an Item, a link and the document
   order; a row its first piece, its list ends and its stack link. */
int64_t rt_pack_bytes(const RtDataset *ds, int64_t T)
{
	int64_t n = rt_dataset_len(ds), bytes = 0, len;
	for (int64_t k = 0; k < n; k++) {
		rt_dataset_doc(ds, k, &len);
		bytes += len;
	}
	int64_t pieces = n + 2 * (bytes / T) + 1;
	return pieces * (int64_t)(2 * sizeof(Piece) + sizeof(Item) + 5 * sizeof(int64_t)) + (T + 1) * 8;
}

int64_t rt_pack_rows(const RtPack *p)
{
	return p->nrows;
}

int64_t rt_pack_tokens(const RtPack *p)
{
	return p->tokens;
}

int64_t rt_pack_splits(const RtPack *p)
{
	return p->splits;
}

void rt_pack_fill(const RtPack *p, const RtDataset *ds, int64_t row0, int64_t n, int32_t *x, int32_t *y,
                  int32_t *seg, int32_t *pos)
{
	int64_t T = p->T;
	int w = rt_dataset_doc_width(ds);
	for (int64_t i = 0; i < n * T; i++) {
		x[i] = 0;
		y[i] = -1;
		seg[i] = -1;
		pos[i] = 0;
	}
	for (int64_t r = 0; r < n; r++) {
		int64_t row = row0 + r, at = r * T;
		if (row < 0 || row >= p->nrows)
			continue;
		for (int64_t j = p->first[row]; j < p->first[row + 1]; j++) {
			const Piece *pc = &p->pieces[j];
			int64_t len;
			const unsigned char *d = rt_dataset_doc(ds, pc->doc, &len);
			for (int64_t i = 0; i < pc->len; i++, at++) {
				int64_t b = pc->off + i;
				x[at] = w == 1 ? d[b] : token_at(d, b);
				y[at] = b + 1 >= len ? -1 : w == 1 ? d[b + 1] : token_at(d, b + 1);
				seg[at] = (int32_t)(j - p->first[row]);
				pos[at] = (int32_t)i;
			}
		}
	}
}

void rt_pack_free(RtPack *p)
{
	if (!p)
		return;
	free(p->pieces);
	free(p->first);
	free(p);
}
