/*
 * csv.c — numeric CSV files as data sets.  The file is streamed: read in
 * 64 KiB pieces, cut into lines and cells as it goes, and only the numbers
 * are kept (the features as f32 rows, the target as double until the last
 * row has decided between i32 and f32), so the text is never held whole.
 * Every growth is checked against the memory limit first, and every bad
 * input fails with the file, the row (the line of the file, as an editor
 * numbers it) and the column.
 */
#include "runtime/loader.h"
#include "runtime/runtime.h"

#include "base/arena.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CSV_CHUNK = 1 << 16, CSV_SHOW = 40 };

typedef struct {
	gzFile f;
	const char *path;
	char *err;
	size_t errlen;
	unsigned char *buf; /* CSV_CHUNK bytes read ahead */
	size_t pos, len;
	bool eof;
	char *line;         /* the current line, without its newline */
	size_t n, cap;
	int64_t row;        /* its line number, from 1 */
	size_t held;        /* bytes of numbers kept so far, for the memory checks */
	char **names;       /* header cells (NULL without a header) */
	int64_t ncols;
} Csv;

typedef struct {
	const char *s; /* a cell of c->line, trimmed and unquoted */
	size_t n;
} Cell;

/* Appends bytes to the line, growing it within the memory limit. */
static bool line_add(Csv *c, const unsigned char *p, size_t k)
{
	if (c->n + k + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 256;
		while (cap < c->n + k + 1)
			cap *= 2;
		if (!rt_data_mem_ok(c->path, c->held + cap, c->err, c->errlen))
			return false;
		c->line = realloc(c->line, cap);
		if (!c->line)
			die_out_of_memory(cap);
		c->cap = cap;
	}
	memcpy(c->line + c->n, p, k);
	c->n += k;
	c->line[c->n] = 0;
	return true;
}

/* The next line into c->line: 1, or 0 at the end of the file, -1 on error. */
static int next_line(Csv *c)
{
	c->n = 0;
	bool any = false;
	for (;;) {
		if (c->pos == c->len) {
			if (c->eof)
				return any ? 1 : 0;
			int64_t r = rt_data_read(c->f, c->path, c->buf, CSV_CHUNK, c->err, c->errlen);
			if (r < 0)
				return -1;
			c->pos = 0;
			c->len = (size_t)r;
			c->eof = r < CSV_CHUNK;
			continue;
		}
		any = true;
		const unsigned char *p = c->buf + c->pos;
		const unsigned char *nl = memchr(p, '\n', c->len - c->pos);
		size_t k = nl ? (size_t)(nl - p) : c->len - c->pos;
		if (!line_add(c, p, k))
			return -1;
		c->pos += k + (nl != NULL);
		if (nl)
			break;
	}
	return 1;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static int64_t count_cells(const Csv *c)
{
	int64_t k = 1;
	for (size_t i = 0; i < c->n; i++)
		k += c->line[i] == ',';
	return k;
}

/* The cell that starts at *at; *at moves past its comma. */
static Cell take_cell(const Csv *c, size_t *at)
{
	size_t b = *at, e = b;
	while (e < c->n && c->line[e] != ',')
		e++;
	*at = e + 1;
	while (b < e && (c->line[b] == ' ' || c->line[b] == '\t'))
		b++;
	while (e > b && (c->line[e - 1] == ' ' || c->line[e - 1] == '\t' || c->line[e - 1] == '\r'))
		e--;
	if (e - b >= 2 && c->line[b] == '"' && c->line[e - 1] == '"')
		b++, e--;
	return (Cell){ c->line + b, e - b };
}

/* A cell as a message shows it: at most CSV_SHOW bytes, unprintable ones as '?'. */
static const char *show(Cell x, char *buf)
{
	size_t k = x.n < CSV_SHOW ? x.n : CSV_SHOW;
	for (size_t i = 0; i < k; i++)
		buf[i] = x.s[i] >= 32 && x.s[i] < 127 ? x.s[i] : '?';
	strcpy(buf + k, x.n > CSV_SHOW ? "..." : "");
	return buf;
}

/* "'f.csv', row 4, column 2 ("x1")": columns count from 1, as in a spreadsheet. */
static const char *where(const Csv *c, int64_t col, char *buf, size_t n)
{
	char name[CSV_SHOW + 16] = "";
	if (c->names && col < c->ncols) {
		char shown[CSV_SHOW + 4];
		snprintf(name, sizeof name, " (\"%s\")", show((Cell){ c->names[col], strlen(c->names[col]) }, shown));
	}
	snprintf(buf, n, "'%s', row %" PRId64 ", column %" PRId64 "%s", c->path, c->row, col + 1, name);
	return buf;
}

/* A decimal number: digits, sign, point and exponent only (no nan, inf or
   hexadecimal), all of the cell, finite.  *integer: written as an integer. */
static bool parse_number(Cell x, double *v, bool *integer)
{
	char tmp[64];
	if (x.n == 0 || x.n >= sizeof tmp)
		return false;
	*integer = true;
	for (size_t i = 0; i < x.n; i++) {
		char ch = x.s[i];
		bool digit = ch >= '0' && ch <= '9';
		if (!digit && ch != '+' && ch != '-' && ch != '.' && ch != 'e' && ch != 'E')
			return false;
		if (!digit && !((ch == '+' || ch == '-') && i == 0))
			*integer = false;
	}
	memcpy(tmp, x.s, x.n);
	tmp[x.n] = 0;
	char *end;
	*v = strtod(tmp, &end);
	return end == tmp + x.n && isfinite(*v);
}

/* Reads the header's cells into c->names. */
static void read_header(Csv *c)
{
	c->ncols = count_cells(c);
	c->names = xcalloc((size_t)c->ncols, sizeof *c->names);
	size_t at = 0;
	for (int64_t k = 0; k < c->ncols; k++) {
		Cell x = take_cell(c, &at);
		c->names[k] = xmalloc(x.n + 1);
		memcpy(c->names[k], x.s, x.n);
		c->names[k][x.n] = 0;
	}
}

/* The target column by name, or by index (negative: from the end). */
static bool find_target(Csv *c, const char *target, int64_t index, int64_t *col)
{
	char w[400];
	if (!target) {
		if (index < -c->ncols || index >= c->ncols) {
			snprintf(c->err, c->errlen, "'%s', row %" PRId64 ": target column %" PRId64 " is out of range: "
			         "the rows have %" PRId64 " columns (0 to %" PRId64 ", or -%" PRId64 " to -1 from the end)",
			         c->path, c->row, index, c->ncols, c->ncols - 1, c->ncols);
			return false;
		}
		*col = index < 0 ? index + c->ncols : index;
		return true;
	}
	*col = -1;
	for (int64_t k = 0; k < c->ncols; k++) {
		if (strcmp(c->names[k], target))
			continue;
		if (*col >= 0) {
			snprintf(c->err, c->errlen, "%s: a second column named \"%s\" (the first is column %" PRId64 ")",
			         where(c, k, w, sizeof w), target, *col + 1);
			return false;
		}
		*col = k;
	}
	if (*col >= 0)
		return true;
	int len = snprintf(c->err, c->errlen, "'%s', row %" PRId64 ": no column named \"%s\"; the header has", c->path,
	                   c->row, target);
	for (int64_t k = 0; k < c->ncols && len >= 0 && (size_t)len + CSV_SHOW + 16 < c->errlen; k++) {
		char shown[CSV_SHOW + 4];
		len += snprintf(c->err + len, c->errlen - (size_t)len, "%s \"%s\"", k ? "," : "",
		                show((Cell){ c->names[k], strlen(c->names[k]) }, shown));
		if (k + 1 < c->ncols && (size_t)len + CSV_SHOW + 16 >= c->errlen)
			snprintf(c->err + len, c->errlen - (size_t)len, ", ...");
	}
	return false;
}

/* Rows of nfeat floats and one double more room for, within the limit. */
static bool grow_rows(Csv *c, float **x, double **y, int64_t *cap, int64_t nfeat)
{
	int64_t ncap = *cap ? 2 * *cap : 16;
	size_t per = (size_t)nfeat * 4 + 8;
	if ((uint64_t)ncap > (uint64_t)INT64_MAX / 2 / per) {
		snprintf(c->err, c->errlen, "'%s': too many rows", c->path);
		return false;
	}
	size_t bytes = (size_t)ncap * per;
	if (!rt_data_mem_ok(c->path, bytes + c->cap, c->err, c->errlen))
		return false;
	*x = realloc(*x, (size_t)ncap * (size_t)nfeat * 4);
	*y = realloc(*y, (size_t)ncap * 8);
	if (!*x || !*y)
		die_out_of_memory(bytes);
	*cap = ncap;
	c->held = bytes;
	return true;
}

/* One data row into x[nfeat] and *y; *integer is cleared by a target that
   is not an integer. */
static bool read_row(Csv *c, int64_t tcol, float *x, double *y, bool *integer)
{
	char w[400], shown[CSV_SHOW + 4];
	int64_t k = count_cells(c);
	if (k != c->ncols) {
		snprintf(c->err, c->errlen, "%s: the row has %" PRId64 " columns, but %s has %" PRId64,
		         where(c, k < c->ncols ? k : c->ncols, w, sizeof w), k, c->names ? "the header" : "the first row",
		         c->ncols);
		return false;
	}
	size_t at = 0;
	for (int64_t col = 0; col < c->ncols; col++) {
		Cell cell = take_cell(c, &at);
		double v;
		bool isint;
		if (!parse_number(cell, &v, &isint)) {
			if (cell.n == 0)
				snprintf(c->err, c->errlen, "%s: empty cell", where(c, col, w, sizeof w));
			else
				snprintf(c->err, c->errlen, "%s: \"%s\" is not a number", where(c, col, w, sizeof w),
				         show(cell, shown));
			return false;
		}
		if (col == tcol) {
			*y = v;
			if (!isint || v < INT32_MIN || v > INT32_MAX)
				*integer = false;
		} else {
			*x++ = (float)v;
		}
	}
	return true;
}

/* The first line that is not blank: 1, 0 at the end, -1 on error. */
static int next_row(Csv *c)
{
	for (;;) {
		int r = next_line(c);
		if (r <= 0)
			return r;
		c->row++;
		if (c->row == 1 && c->n >= 3 && !memcmp(c->line, "\xef\xbb\xbf", 3)) {
			/* a UTF-8 byte order mark, as spreadsheets write it */
			memmove(c->line, c->line + 3, c->n - 3);
			c->n -= 3;
		}
		if (!blank(c->line, c->n))
			return 1;
	}
}

static RtDataset *read_csv(Csv *c, const char *target, int64_t target_col, bool header)
{
	int r = next_row(c);
	if (r < 0)
		return NULL;
	if (r == 0) {
		snprintf(c->err, c->errlen, "'%s' is empty: a CSV data set needs at least one row", c->path);
		return NULL;
	}
	int64_t tcol;
	if (header) {
		read_header(c);
		if (!find_target(c, target, target_col, &tcol))
			return NULL;
		if ((r = next_row(c)) <= 0) {
			if (r == 0)
				snprintf(c->err, c->errlen, "'%s' has a header but no rows", c->path);
			return NULL;
		}
	} else {
		c->ncols = count_cells(c);
		if (!find_target(c, NULL, target_col, &tcol))
			return NULL;
	}
	int64_t nfeat = c->ncols - 1;
	if (nfeat < 1) {
		snprintf(c->err, c->errlen, "'%s' has only the target column; a data set needs at least one feature column",
		         c->path);
		return NULL;
	}
	float *x = NULL;
	double *y = NULL;
	int64_t n = 0, cap = 0;
	bool integer = true;
	do {
		if (n == cap && !grow_rows(c, &x, &y, &cap, nfeat))
			goto fail;
		if (!read_row(c, tcol, x + n * nfeat, y + n, &integer))
			goto fail;
		n++;
	} while ((r = next_row(c)) > 0);
	if (r < 0)
		goto fail;
	/* the targets in their final type next to their doubles */
	if (!rt_data_mem_ok(c->path, c->held + (size_t)n * 4, c->err, c->errlen))
		goto fail;
	void *t = xmalloc((size_t)n * 4);
	for (int64_t i = 0; i < n; i++) {
		if (integer)
			((int32_t *)t)[i] = (int32_t)y[i];
		else
			((float *)t)[i] = (float)y[i];
	}
	free(y);
	float *xs = realloc(x, (size_t)(n * nfeat) * 4);
	RtShape sx = { .dt = RT_F32, .rank = 1, .dim = { nfeat } };
	RtShape sy = { .dt = integer ? RT_I32 : RT_F32, .rank = 0 };
	return rt_dataset_memory(sx, xs ? xs : x, sy, t, n);
fail:
	free(x);
	free(y);
	return NULL;
}

RtDataset *rt_csv_open(const char *path, const char *target, int64_t target_col, bool header,
                       char *err, size_t errlen)
{
	if (!header && target) {
		snprintf(err, errlen, "'%s': without a header the target column is given by its index", path);
		return NULL;
	}
	Csv c = { .path = path, .err = err, .errlen = errlen };
	c.f = rt_data_open(path, err, errlen);
	if (!c.f)
		return NULL;
	c.buf = xmalloc(CSV_CHUNK);
	RtDataset *ds = read_csv(&c, target, target_col, header);
	gzclose(c.f);
	free(c.buf);
	free(c.line);
	for (int64_t k = 0; c.names && k < c.ncols; k++)
		free(c.names[k]);
	free(c.names);
	return ds;
}
