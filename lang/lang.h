/*
 * lang.h — entry points of the language layer: loading and parsing programs.
 */
#ifndef SINTER_FRONTEND_H
#define SINTER_FRONTEND_H

#include "lang/ast.h"
#include "base/arena.h"

/*
 * Parses the standard library (every .sn file of stdlib/, in name order), then the
 * user's file with its imports (depth first, each file once, paths relative
 * to the importing file).  Syntax errors and unreadable files are reported
 * through diag_error.  The stdlib folder is $SINTER_STDLIB if set, else
 * "stdlib" beside the sinter executable, else "../stdlib" from it.
 */
Program *lang_load(Arena *a, const char *path);

/* Parses one file's text (for tests); appends its decls to prog. */
void lang_parse_text(Arena *a, Program *prog, const char *file, const char *text, bool from_stdlib);

#endif
