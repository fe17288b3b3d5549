/*
 * load.c — turns a user's file into a Program: the standard library first
 * (every .sn file of stdlib/, in name order), then the user's file with its imports
 * expanded depth first, each file parsed once.  Files are identified by
 * their real path, so "a.sn" and "./a.sn" are the same file and an import
 * cycle simply stops at a file that is already loaded.
 */
#include "lang/lang.h"
#include "lang/diag.h"
#include "parser.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
	Arena *arena;
	Program *prog;
	char **loaded; /* real paths of files already parsed */
	int nloaded, caploaded;
} Loader;

/* Appends n decls to prog (one copy per file, so no capacity is kept). */
static void append_decls(Arena *a, Program *prog, Decl **decls, int n)
{
	if (n == 0)
		return;
	Decl **all = arena_alloc(a, (size_t)(prog->ndecls + n) * sizeof *all);
	if (prog->ndecls)
		memcpy(all, prog->decls, (size_t)prog->ndecls * sizeof *all);
	memcpy(all + prog->ndecls, decls, (size_t)n * sizeof *all);
	prog->decls = all;
	prog->ndecls += n;
}

void lang_parse_text(Arena *a, Program *prog, const char *file, const char *text, bool from_stdlib)
{
	const char *f = arena_strdup(a, file);
	diag_add_source(f, text);
	ParseCtx ctx = {
		.arena = a,
		.lx = lexer_new(a, f, text, strlen(text)),
		.file = f,
		.from_stdlib = from_stdlib,
	};
	int rc = sn_parse(&ctx);
	lexer_free(ctx.lx);
	if (rc != 0)
		die("parser stopped without reporting an error (%s)", f);
	int n = 0;
	Decl **decls = NULL;
	if (ctx.decls) {
		n = ctx.decls->n;
		decls = arena_alloc(a, (size_t)n * sizeof *decls);
		for (int i = 0; i < n; i++)
			decls[i] = ctx.decls->v[i];
	}
	append_decls(a, prog, decls, n);
}

/* Reads a whole file into the arena, NUL-terminated; returns 0 or an errno. */
static int read_file(Arena *a, const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno;
	size_t cap = 1 << 16, n = 0;
	char *buf = arena_alloc(a, cap);
	for (;;) {
		if (cap - n < 2) {
			buf = arena_grow(a, buf, cap, 2 * cap);
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	int err = ferror(f) ? (errno ? errno : EIO) : 0;
	fclose(f);
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return err;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Records real as loaded; false when it already was. */
static bool mark_loaded(Loader *ld, const char *real)
{
	for (int i = 0; i < ld->nloaded; i++)
		if (strcmp(ld->loaded[i], real) == 0)
			return false;
	if (ld->nloaded == ld->caploaded) {
		int cap = ld->caploaded ? 2 * ld->caploaded : 16;
		ld->loaded = arena_grow(ld->arena, ld->loaded, (size_t)ld->caploaded * sizeof *ld->loaded,
					(size_t)cap * sizeof *ld->loaded);
		ld->caploaded = cap;
	}
	ld->loaded[ld->nloaded++] = arena_strdup(ld->arena, real);
	return true;
}

/* Reports a file that cannot be opened: at the import that names it, or
   without a position for the user's own file. */
_Noreturn static void cannot_open(const Decl *import, const char *path, int err)
{
	if (import)
		diag_error(import->loc, "cannot open '%s': %s", import->path, strerror(err));
	fatal("cannot open '%s': %s", path, strerror(err));
}

/* An import's path relative to the directory of the importing file. */
static const char *import_path(Arena *a, const char *from, const char *path)
{
	const char *slash = strrchr(from, '/');
	if (path[0] == '/' || !slash)
		return path;
	return arena_printf(a, "%.*s/%s", (int)(slash - from), from, path);
}

static void load_file(Loader *ld, const char *path, const Decl *import, bool from_stdlib)
{
	char *real = realpath(path, NULL);
	if (!real)
		cannot_open(import, path, errno);
	bool fresh = mark_loaded(ld, real);
	free(real);
	if (!fresh)
		return;
	if (is_dir(path))
		cannot_open(import, path, EISDIR);

	char *text = NULL;
	size_t len = 0;
	int err = read_file(ld->arena, path, &text, &len);
	if (err)
		cannot_open(import, path, err);
	if (strlen(text) != len) {
		/* The parser works on C strings; point at the byte it would stop at. */
		Loc loc = {arena_strdup(ld->arena, path), 1, 1};
		for (const char *p = text; *p; p++, loc.col++)
			if (*p == '\n') {
				loc.line++;
				loc.col = 0;
			}
		diag_add_source(loc.file, text);
		diag_error(loc, "the file contains a NUL byte");
	}

	Program own = {0};
	lang_parse_text(ld->arena, &own, path, text, from_stdlib);
	for (int i = 0; i < own.ndecls; i++) {
		const Decl *d = own.decls[i];
		if (d->kind != D_IMPORT)
			continue;
		if (!d->path[0])
			diag_error(d->loc, "import of an empty path");
		load_file(ld, import_path(ld->arena, own.decls[i]->loc.file, d->path), d, from_stdlib);
	}
	append_decls(ld->arena, ld->prog, own.decls, own.ndecls);
	Program *p = ld->prog;
	p->src = arena_grow(ld->arena, p->src, p->nsrc * sizeof *p->src, (p->nsrc + 1) * sizeof *p->src);
	p->src[p->nsrc++] = (Source){ arena_strdup(ld->arena, path), text, from_stdlib };
}

/* $SINTER_STDLIB, else stdlib/ beside the executable, else ../stdlib from
   it (the checkout), else ../share/sinter/stdlib (an installed copy, found
   relative to the binary so that a moved install still works); NULL when
   there is none. */
static const char *stdlib_dir(Arena *a)
{
	const char *env = getenv("SINTER_STDLIB");
	if (env && env[0]) {
		if (!is_dir(env))
			fatal("SINTER_STDLIB is '%s', which is not a folder", env);
		return env;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	const char *dir = arena_printf(a, "%s/stdlib", exe);
	if (is_dir(dir))
		return dir;
	dir = arena_printf(a, "%s/../stdlib", exe);
	if (is_dir(dir))
		return dir;
	dir = arena_printf(a, "%s/../share/sinter/stdlib", exe);
	return is_dir(dir) ? dir : NULL;
}

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static void load_stdlib(Loader *ld)
{
	const char *dir = stdlib_dir(ld->arena);
	if (!dir)
		return;
	DIR *d = opendir(dir);
	if (!d)
		fatal("cannot open the standard library folder '%s': %s", dir, strerror(errno));
	char **names = NULL;
	int n = 0, cap = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 3, ".sn") != 0)
			continue;
		if (n == cap) {
			int ncap = cap ? 2 * cap : 32;
			names = arena_grow(ld->arena, names, (size_t)cap * sizeof *names,
					   (size_t)ncap * sizeof *names);
			cap = ncap;
		}
		names[n++] = arena_strdup(ld->arena, e->d_name);
	}
	closedir(d);
	if (n > 1)
		qsort(names, (size_t)n, sizeof *names, cmp_names);
	for (int i = 0; i < n; i++)
		load_file(ld, arena_printf(ld->arena, "%s/%s", dir, names[i]), NULL, true);
}

Program *lang_load(Arena *a, const char *path)
{
	/* A missing user file is the likelier mistake than a broken stdlib. */
	if (access(path, R_OK) != 0)
		fatal("cannot open '%s': %s", path, strerror(errno));
	Loader ld = {.arena = a, .prog = arena_alloc(a, sizeof(Program))};
	load_stdlib(&ld);
	load_file(&ld, path, NULL, false);
	return ld.prog;
}
