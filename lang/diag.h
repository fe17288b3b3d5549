/*
 * diag.h — user-facing diagnostics: "file:line:col: error: message", the
 * source line and a caret under the column, then exit status 1.
 */
#ifndef SINTER_DIAG_H
#define SINTER_DIAG_H

#include "lang/ast.h"

/* Remember a file's text so diagnostics can quote its lines. */
void diag_add_source(const char *file, const char *text);
/* Prints the error (with source line and caret) and exits with status 1. */
_Noreturn void diag_error(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "file:line:col: note: ..." with source line and caret; returns. */
void diag_note(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with "warning:", for what runs but not as the user expects. */
void diag_warning(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Error not tied to a source position: "sinter: error: ..." and exit 1. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the error like diag_error but returns (for errors followed by notes);
   call diag_exit afterwards. */
void diag_begin_error(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void diag_exit(void);

/* The index of the candidate closest to name by edit distance, for a "did
   you mean" hint, or -1 when none is close enough (about one edit in four
   characters, at most three; names of fewer than three characters get no
   hint).  The first of equally close candidates wins. */
int diag_closest(const char *name, const char *const *cands, int n);

/*
 * For in-process fuzzing only (tests/fuzz): with a hook set, diag_exit calls
 * it instead of exit(1); the hook must not return (it longjmps back to the
 * harness).  diag_forget_sources drops every registered text so a harness
 * running many inputs does not keep them all.
 */
void diag_set_exit_hook(void (*hook)(void));
void diag_forget_sources(void);

#endif
