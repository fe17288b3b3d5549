/*
 * svg.c — SVG pieces shared by `sinter plot` and `sinter plan --svg`
 * (driver/svg.h): axes with round ticks, escaping, the document's start,
 * and saving through a temporary file (PNG through rsvg-convert).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"
#include "driver/svg.h"
#include "lang/diag.h"

double svg_axis_pos(const SvgAxis *ax, double v)
{
	double t = ax->log ? log10(v) : v;
	return ax->hi > ax->lo ? (t - ax->lo) / (ax->hi - ax->lo) : 0.5;
}

/* Round tick spacing of 1, 2 or 5 times a power of ten, about n ticks. */
static double nice_step(double span, int n)
{
	double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
	return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/* Tick values (data units) inside the axis: 1, 2, 5 x 10^k steps on a
   linear axis; on a log axis the powers of ten, with 2 and 5 (then every
   digit) between them while fewer than three ticks fall inside. */
int svg_axis_ticks(const SvgAxis *a, double *out, int cap)
{
	int n = 0;
	if (!a->log) {
		double step = nice_step(a->hi - a->lo, 5);
		for (double v = ceil(a->lo / step - 1e-9) * step; v <= a->hi + step * 1e-9 && n < cap; v += step)
			out[n++] = v;
		return n;
	}
	static const double mant[3][9] = { { 1 }, { 1, 2, 5 }, { 1, 2, 3, 4, 5, 6, 7, 8, 9 } };
	static const int nmant[3] = { 1, 3, 9 };
	for (int m = 0; m < 3 && n < 3; m++) {
		n = 0;
		for (double e = floor(a->lo); e <= ceil(a->hi) && n < cap; e++)
			for (int i = 0; i < nmant[m] && n < cap; i++) {
				double v = mant[m][i] * pow(10, e), l = log10(v);
				if (l >= a->lo - 1e-9 && l <= a->hi + 1e-9)
					out[n++] = v;
			}
	}
	return n;
}

void svg_fmt_tick(char *buf, size_t cap, double v)
{
	if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3))
		snprintf(buf, cap, "%.0e", v);
	else
		snprintf(buf, cap, "%.6g", fabs(v) < 1e-12 ? 0 : v);
}

const char *const svg_palette[10] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };

void svg_escaped(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
}

void svg_axes(FILE *f, const SvgAxis *ax, const SvgAxis *ay, double x0, double y0, double w, double h,
              const char *xlabel, const char *ylabel)
{
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"white\" stroke=\"#888\"/>\n",
	        x0, y0, w, h);
	char t[32];
	for (int k = 0; k < 2; k++) {
		const SvgAxis *a = k ? ay : ax;
		double ticks[64];
		int nt = svg_axis_ticks(a, ticks, 64);
		for (int i = 0; i < nt; i++) {
			double at = svg_axis_pos(a, ticks[i]);
			svg_fmt_tick(t, sizeof t, ticks[i]);
			if (k) {
				double y = y0 + h * (1 - at);
				fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", x0,
				        x0 + w, y, y);
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
				        x0 - 4, y + 4, t);
			} else {
				double x = x0 + w * at;
				fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n", x, x,
				        y0, y0 + h);
				fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n", x,
				        y0 + h + 15, t);
			}
		}
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n", x0 + w / 2,
	        y0 + h + 36, xlabel);
	if (ylabel) {
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
		           "transform=\"rotate(-90 %.1f %.1f)\">", x0 - 48, y0 + h / 2, x0 - 48, y0 + h / 2);
		svg_escaped(f, ylabel);
		fputs("</text>\n", f);
	}
}

void svg_begin(FILE *f, int w, int h)
{
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	           "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
	        w, h, w, h);
}

bool svg_format_ok(const char *out)
{
	const char *ext = strrchr(out, '.');
	return ext && (!strcmp(ext, ".svg") || !strcmp(ext, ".png"));
}

void svg_save(Arena *a, const char *out, const char *who, SvgWriter *write, const void *ctx)
{
	const char *ext = strrchr(out, '.');
	bool png = ext && !strcmp(ext, ".png");
	const char *tmp = arena_printf(a, "%s.tmp%d.svg", out, (int)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		fatal("%s: cannot write '%s': %s", who, tmp, strerror(errno));
	write(f, ctx);
	if (fclose(f)) {
		unlink(tmp);
		fatal("%s: cannot write '%s': %s", who, tmp, strerror(errno));
	}
	const char *done = tmp;
	if (png) {
		done = arena_printf(a, "%s.tmp%d", out, (int)getpid());
		char *cmd[] = { "rsvg-convert", "-f", "png", "-o", (char *)done, (char *)tmp, NULL };
		int status = driver_spawn(cmd, false);
		unlink(tmp);
		if (status) {
			unlink(done);
			if (status == 127)
				fatal("%s: cannot write '%s': rsvg-convert is not installed (the Debian package "
				      "librsvg2-bin); -o %.*s.svg writes the picture as SVG", who, out, (int)(ext - out), out);
			fatal("%s: rsvg-convert failed on '%s' (exit status %d)", who, out, status);
		}
	}
	if (rename(done, out)) {
		int e = errno;
		unlink(done);
		fatal("%s: cannot write '%s': %s", who, out, strerror(e));
	}
}
