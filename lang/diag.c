/*
 * diag.c — user-facing diagnostics: "file:line:col: error: message", the
 * quoted source line and a caret under the column.  Every file that was
 * parsed registers its text here so that any later stage can point into it.
 */
#include "lang/diag.h"
#include "base/arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One registered file: the path as written in Locs and a private copy of its text. */
typedef struct {
	char *file;
	char *text;
} SourceText;

static SourceText *sources;
static int nsources, capsources;

void diag_add_source(const char *file, const char *text)
{
	if (!file || !text)
		return;
	if (nsources == capsources) {
		capsources = capsources ? 2 * capsources : 16;
		SourceText *s = xmalloc((size_t)capsources * sizeof *s);
		if (nsources)
			memcpy(s, sources, (size_t)nsources * sizeof *s);
		free(sources);
		sources = s;
	}
	size_t nf = strlen(file) + 1, nt = strlen(text) + 1;
	SourceText *s = &sources[nsources++];
	s->file = memcpy(xmalloc(nf), file, nf);
	s->text = memcpy(xmalloc(nt), text, nt);
}

/* The newest registration wins, so a test may reuse a file name. */
static const char *source_text(const char *file)
{
	for (int i = nsources - 1; i >= 0; i--)
		if (strcmp(sources[i].file, file) == 0)
			return sources[i].text;
	return NULL;
}

/*
 * Quotes line loc.line and puts a caret under loc.col.  The caret line
 * copies tabs so the caret lines up whatever the tab width, and skips
 * UTF-8 continuation bytes because columns count bytes.
 */
static void show_line(Loc loc)
{
	const char *p = source_text(loc.file);
	if (!p || loc.line < 1)
		return;
	for (int line = 1; line < loc.line && *p; p++)
		if (*p == '\n')
			line++;
	size_t n = strcspn(p, "\n");
	if (n > 0 && p[n - 1] == '\r')
		n--;
	fprintf(stderr, "%.*s\n", (int)n, p);
	for (int i = 0; i < loc.col - 1; i++) {
		unsigned char c = i < (int)n ? (unsigned char)p[i] : ' ';
		if (c == '\t')
			fputc('\t', stderr);
		else if ((c & 0xC0) != 0x80)
			fputc(' ', stderr);
	}
	fputs("^\n", stderr);
}

static void report(const char *kind, Loc loc, const char *fmt, va_list ap)
{
	/* Anything the program printed so far comes before the diagnostic. */
	fflush(stdout);
	if (loc.file)
		fprintf(stderr, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col, kind);
	else
		fprintf(stderr, "sinter: %s: ", kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (loc.file)
		show_line(loc);
}

void diag_begin_error(Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("error", loc, fmt, ap);
	va_end(ap);
}

_Noreturn void diag_error(Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("error", loc, fmt, ap);
	va_end(ap);
	diag_exit();
}

void diag_note(Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("note", loc, fmt, ap);
	va_end(ap);
}

void diag_warning(Loc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("warning", loc, fmt, ap);
	va_end(ap);
}

_Noreturn void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report("error", (Loc){0}, fmt, ap);
	va_end(ap);
	diag_exit();
}

static void (*exit_hook)(void);

void diag_set_exit_hook(void (*hook)(void))
{
	exit_hook = hook;
}

void diag_forget_sources(void)
{
	for (int i = 0; i < nsources; i++) {
		free(sources[i].file);
		free(sources[i].text);
	}
	nsources = 0;
}

_Noreturn void diag_exit(void)
{
	fflush(stderr);
	if (exit_hook)
		exit_hook();
	exit(1);
}

/* ---- "did you mean" ---- */

enum { SUGGEST_MAX_LEN = 64 };

/* Edit distance counting an insertion, a deletion, a substitution and a
   swap of two neighbours (the commonest typo) as one each. */
static int edit_distance(const char *a, int na, const char *b, int nb)
{
	int d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];
	for (int i = 0; i <= na; i++)
		d[i][0] = i;
	for (int j = 0; j <= nb; j++)
		d[0][j] = j;
	for (int i = 1; i <= na; i++)
		for (int j = 1; j <= nb; j++) {
			int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[na][nb];
}

int diag_closest(const char *name, const char *const *cands, int n)
{
	int len = (int)strlen(name);
	/* one edit in four characters, at most three: 'x' suggests nothing,
	   'lerning_rate' finds 'learning_rate' */
	int allowed = (len + 1) / 4 < 3 ? (len + 1) / 4 : 3;
	if (len < 3 || len > SUGGEST_MAX_LEN)
		return -1;
	int best = -1, best_d = allowed + 1;
	for (int i = 0; i < n; i++) {
		int nc = (int)strlen(cands[i]);
		if (nc > SUGGEST_MAX_LEN || !strcmp(cands[i], name) || abs(nc - len) >= best_d)
			continue;
		/* names the user did not write for themselves stay out of sight */
		if (cands[i][0] == '_' && name[0] != '_')
			continue;
		int d = edit_distance(name, len, cands[i], nc);
		if (d < best_d) {
			best_d = d;
			best = i;
		}
	}
	return best;
}
