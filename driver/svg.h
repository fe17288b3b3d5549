/*
 * svg.h — the SVG writing that `sinter plot` (driver/plot.c) and `sinter
 * plan --svg` (driver/plan.c) share: the document's start, escaping,
 * linear and log axes with round ticks, a colour palette, and saving the
 * picture through a temporary file renamed into place (as PNG through
 * rsvg-convert when the name ends in .png).
 */
#ifndef SINTER_DRIVER_SVG_H
#define SINTER_DRIVER_SVG_H

#include <stdbool.h>
#include <stdio.h>

#include "base/arena.h"

typedef struct {
	double lo, hi;    /* data range shown (log10 of it when log) */
	bool log;
} SvgAxis;

/* Where v falls on the axis, 0 at lo and 1 at hi. */
double svg_axis_pos(const SvgAxis *ax, double v);
/* Tick values (data units) inside the axis; their number. */
int svg_axis_ticks(const SvgAxis *a, double *out, int cap);
/* A tick's label. */
void svg_fmt_tick(char *buf, size_t cap, double v);

extern const char *const svg_palette[10];
/* s with &, <, > and " escaped. */
void svg_escaped(FILE *f, const char *s);
/* The XML declaration, <svg> of w x h pixels, a white background. */
void svg_begin(FILE *f, int w, int h);
/* The plot area's frame at (x, y) of w x h with grid lines and tick
   labels of both axes, the x axis label below, the y label (NULL: none)
   turned along the left side. */
void svg_axes(FILE *f, const SvgAxis *ax, const SvgAxis *ay, double x, double y, double w, double h,
              const char *xlabel, const char *ylabel);

typedef void SvgWriter(FILE *f, const void *ctx);
/* Writes the picture write(f, ctx) to out (.svg, or .png through
   rsvg-convert) through a temporary file renamed into place; a failure is
   fatal, "<who>: cannot write ...", and leaves no file behind. */
void svg_save(Arena *a, const char *out, const char *who, SvgWriter *write, const void *ctx);
/* Does out end in .svg or .png? */
bool svg_format_ok(const char *out);

#endif
