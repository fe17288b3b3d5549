/*
 * plot.c — `sinter plot RUN.jsonl [MORE.jsonl ...] -o curves.svg`: the
 * metrics of run logs (--log) as line charts, written by sinter itself as
 * one self-contained SVG (no plotting library, no fonts to embed).
 *
 * One panel per metric against step (or wall time with --x time); every
 * run is overlaid in its own colour, with a legend.  Series whose names
 * differ only by a train_/val_/valid_/test_ prefix or a _train/_val/_valid/
 * _test suffix share a panel ("loss" and "val_loss" are one panel), the
 * non-training one dashed.  --log-y draws log-scale y axes (values <= 0
 * are left out), --smooth A an exponential moving average with weight A
 * (0 <= A < 1, TensorBoard's slider, bias-corrected) over the faint raw
 * line.  -o x.png converts through rsvg-convert (Debian's librsvg2-bin).
 *
 * A log line that does not parse (a torn last line of a killed run) is
 * skipped with one warning per file; `null` values (a non-finite number)
 * are gaps.  The picture goes to a temporary file renamed into place.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "driver/driver.h"
#include "driver/svg.h"
#include "lang/diag.h"

#define PLOT_MAX_RUNS 16
#define PLOT_MAX_SERIES 256

typedef struct {
	const char *name;  /* metric as logged ("val_loss") */
	const char *stem;  /* its panel ("loss") */
	bool train;        /* the panel's training series (solid) */
	int run;           /* index into the runs */
	double *x, *y;     /* n points, x ascending as logged */
	int n, cap;
} Series;

typedef struct {
	const char *runs[PLOT_MAX_RUNS]; /* run labels: file names without .jsonl */
	int nruns;
	Series s[PLOT_MAX_SERIES];
	int ns;
	bool time_x, log_y;
	double smooth;     /* EMA weight, 0 = none */
} Plot;

/* ---- reading logs ---- */

/* The panel a metric belongs to: its name without a split prefix or suffix. */
static const char *metric_stem(Arena *a, const char *name, bool *train)
{
	static const char *const pre[] = { "train_", "val_", "valid_", "test_" };
	static const char *const suf[] = { "_train", "_val", "_valid", "_test" };
	size_t n = strlen(name);
	for (int i = 0; i < 4; i++) {
		size_t k = strlen(pre[i]);
		if (n > k && !strncmp(name, pre[i], k)) {
			*train = i == 0;
			return arena_strdup(a, name + k);
		}
		k = strlen(suf[i]);
		if (n > k && !strcmp(name + n - k, suf[i])) {
			*train = i == 0;
			char *s = arena_strdup(a, name);
			s[n - k] = 0;
			return s;
		}
	}
	*train = true;
	return name;
}

static Series *series_for(Plot *p, Arena *a, int run, const char *name)
{
	for (int i = 0; i < p->ns; i++)
		if (p->s[i].run == run && !strcmp(p->s[i].name, name))
			return &p->s[i];
	if (p->ns == PLOT_MAX_SERIES)
		fatal("plot: more than %d series", PLOT_MAX_SERIES);
	Series *s = &p->s[p->ns++];
	*s = (Series){ .name = arena_strdup(a, name), .run = run };
	s->stem = metric_stem(a, s->name, &s->train);
	return s;
}

static void series_add(Arena *a, Series *s, double x, double y)
{
	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 256;
		s->x = arena_grow(a, s->x, s->cap * sizeof *s->x, cap * sizeof *s->x);
		s->y = arena_grow(a, s->y, s->cap * sizeof *s->y, cap * sizeof *s->y);
		s->cap = cap;
	}
	s->x[s->n] = x;
	s->y[s->n++] = y;
}

static void skip_ws(char **c)
{
	while (isspace((unsigned char)**c))
		(*c)++;
}

/* A JSON string, unescaped in place in the line (\" and \\; the log
   writes no other escapes in names) and ended by a NUL where it ended,
   so names of any length stay whole; *out points at it.  False when
   malformed. */
static bool read_string(char **c, char **out)
{
	if (**c != '"')
		return false;
	char *w = ++*c;
	*out = w;
	for (; **c && **c != '"'; (*c)++) {
		if (**c == '\\' && (*c)[1])
			(*c)++;
		*w++ = **c;
	}
	if (**c != '"')
		return false;
	(*c)++;
	*w = 0; /* at or before the closing quote, which is behind *c now */
	return true;
}

/* One log line: {"step": N, "time": T, "name": value, ...}.  Adds its
   numbers to the run's series; false when the line is not such an object. */
static bool read_record(Plot *p, Arena *a, int run, char *line)
{
	enum { MAXF = 256 }; /* values per record; a record with more is skipped, with the warning */
	char *names[MAXF];
	double vals[MAXF];
	bool isnum[MAXF];
	int nf = 0;
	double step = NAN, time = NAN;
	char *c = line;
	skip_ws(&c);
	if (*c++ != '{')
		return false;
	skip_ws(&c);
	while (*c != '}') {
		if (nf == MAXF || !read_string(&c, &names[nf]))
			return false;
		skip_ws(&c);
		if (*c++ != ':')
			return false;
		skip_ws(&c);
		isnum[nf] = false;
		if (!strncmp(c, "null", 4)) {
			vals[nf] = NAN;
			isnum[nf] = true;
			c += 4;
		} else if (*c == '"') {
			char *skip;
			if (!read_string(&c, &skip))
				return false;
		} else if (!strncmp(c, "true", 4) || !strncmp(c, "false", 5)) {
			c += *c == 't' ? 4 : 5;
		} else {
			char *end;
			vals[nf] = strtod(c, &end);
			if (end == c)
				return false;
			isnum[nf] = true;
			c = end;
		}
		if (!strcmp(names[nf], "step"))
			step = vals[nf];
		else if (!strcmp(names[nf], "time"))
			time = vals[nf];
		else
			nf++;
		skip_ws(&c);
		if (*c == ',')
			c++;
		else if (*c != '}')
			return false;
		skip_ws(&c);
	}
	double x = p->time_x ? time : step;
	if (!isfinite(x))
		return false;
	for (int i = 0; i < nf; i++)
		if (isnum[i])
			series_add(a, series_for(p, a, run, names[i]), x, vals[i]);
	return true;
}

static void read_log(Plot *p, Arena *a, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fatal("plot: cannot open '%s': %s", path, strerror(errno));
	if (p->nruns == PLOT_MAX_RUNS)
		fatal("plot: at most %d run logs", PLOT_MAX_RUNS);
	int run = p->nruns++;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char *label = arena_strdup(a, base);
	char *ext = strstr(label, ".jsonl");
	if (ext && ext != label)
		*ext = 0;
	p->runs[run] = label;
	char *line = NULL;
	size_t cap = 0;
	int64_t lineno = 0, bad = 0, first_bad = 0, good = 0;
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		if (read_record(p, a, run, line))
			good++;
		else if (!bad++)
			first_bad = lineno;
	}
	free(line);
	fclose(f);
	if (bad)
		fprintf(stderr, "sinter: warning: %s:%lld: %lld line%s that %s not a log record, skipped\n", path,
		        (long long)first_bad, (long long)bad, bad > 1 ? "s" : "", bad > 1 ? "are" : "is");
	if (!good)
		fatal("plot: '%s' has no log records (a run writes them with --log and log(name = value))", path);
}

enum { PW = 460, PH = 300, ML = 62, MR = 14, MT = 30, MB = 44 };

/* The polyline of one series, raw or smoothed, broken at gaps. */
static void put_line(FILE *f, const Plot *p, const Series *s, const SvgAxis *ax, const SvgAxis *ay, double ox, double oy,
                     bool smoothed, const char *style)
{
	double w = PW - ML - MR, h = PH - MT - MB, ema = 0, weight = 0;
	bool open = false;
	for (int i = 0; i < s->n; i++) {
		double y = s->y[i];
		if (smoothed && isfinite(y)) {
			ema = p->smooth * ema + (1 - p->smooth) * y;
			weight = p->smooth * weight + (1 - p->smooth);
			y = ema / weight; /* the bias correction of Adam's moments */
		}
		if (!isfinite(y) || (ay->log && y <= 0)) {
			if (open)
				fputs("\"/>\n", f);
			open = false;
			continue;
		}
		if (!open)
			fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" %s points=\"", svg_palette[s->run % 10], style);
		open = true;
		fprintf(f, "%.1f,%.1f ", ox + ML + w * svg_axis_pos(ax, s->x[i]), oy + MT + h * (1 - svg_axis_pos(ay, y)));
	}
	if (open)
		fputs("\"/>\n", f);
}

static void put_axes(FILE *f, const SvgAxis *ax, const SvgAxis *ay, double ox, double oy, const char *xlabel)
{
	svg_axes(f, ax, ay, ox + ML, oy + MT, PW - ML - MR, PH - MT - MB, xlabel, NULL);
}

/* The range of the panel's series on one axis (log10 for a log axis). */
static SvgAxis axis_of(const Plot *p, const char *stem, bool y)
{
	SvgAxis a = { INFINITY, -INFINITY, y && p->log_y };
	for (int i = 0; i < p->ns; i++)
		if (!strcmp(p->s[i].stem, stem))
			for (int k = 0; k < p->s[i].n; k++) {
				double v = y ? p->s[i].y[k] : p->s[i].x[k];
				if (!isfinite(v) || (a.log && v <= 0))
					continue;
				v = a.log ? log10(v) : v;
				a.lo = fmin(a.lo, v);
				a.hi = fmax(a.hi, v);
			}
	if (!(a.lo <= a.hi))
		a.lo = 0, a.hi = 1;
	if (a.hi - a.lo < 1e-12 * fmax(1, fabs(a.hi))) {
		a.lo -= a.log ? 0.5 : fmax(0.5, fabs(a.lo) * 0.1);
		a.hi += a.log ? 0.5 : fmax(0.5, fabs(a.hi) * 0.1);
	} else if (y && !a.log) {
		double pad = 0.04 * (a.hi - a.lo);
		a.lo -= pad, a.hi += pad;
	}
	return a;
}

/* Training series solid, the others (validation, test) dashed. */
static const char *series_style(const Series *s)
{
	return s->train ? "stroke-width=\"1.5\"" : "stroke-width=\"1.5\" stroke-dasharray=\"5,3\"";
}

static void put_panel(FILE *f, const Plot *p, const char *stem, double ox, double oy)
{
	SvgAxis ax = axis_of(p, stem, false), ay = axis_of(p, stem, true);
	put_axes(f, &ax, &ay, ox, oy, p->time_x ? "time (s)" : "step");
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" font-weight=\"bold\">", ox + ML, oy + 20);
	svg_escaped(f, stem);
	fprintf(f, "%s</text>\n", p->log_y ? " (log scale)" : "");
	int total = 0;
	for (int i = 0; i < p->ns; i++) {
		const Series *s = &p->s[i];
		if (strcmp(s->stem, stem))
			continue;
		total++;
		if (p->smooth > 0) {
			put_line(f, p, s, &ax, &ay, ox, oy, false, "stroke-width=\"1\" stroke-opacity=\"0.25\"");
			put_line(f, p, s, &ax, &ay, ox, oy, true, series_style(s));
		} else
			put_line(f, p, s, &ax, &ay, ox, oy, false, series_style(s));
	}
	/* the legend, top right inside the frame, over the lines */
	double lx = ox + PW - MR - 150, ly = oy + MT + 14;
	fprintf(f, "<rect class=\"legend\" x=\"%.1f\" y=\"%.1f\" width=\"150\" height=\"%d\" fill=\"white\" "
	           "fill-opacity=\"0.85\"/>\n", lx - 4, oy + MT + 3, 14 * total + 4);
	for (int i = 0; i < p->ns; i++) {
		const Series *s = &p->s[i];
		if (strcmp(s->stem, stem))
			continue;
		fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" %s/>\n", lx, lx + 18, ly - 4,
		        ly - 4, svg_palette[s->run % 10], series_style(s));
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", lx + 22, ly);
		svg_escaped(f, p->runs[s->run]);
		fputs(": ", f);
		svg_escaped(f, s->name);
		fputs("</text>\n", f);
		ly += 14;
	}
}

static void write_svg(FILE *f, const Plot *p)
{
	const char *stems[PLOT_MAX_SERIES];
	int np = 0;
	for (int i = 0; i < p->ns; i++) {
		bool seen = false;
		for (int k = 0; k < np; k++)
			seen |= !strcmp(stems[k], p->s[i].stem);
		if (!seen)
			stems[np++] = p->s[i].stem;
	}
	int cols = np > 1 ? 2 : 1, rows = (np + cols - 1) / cols;
	svg_begin(f, cols * PW, rows * PH);
	for (int k = 0; k < np; k++) {
		fprintf(f, "<g class=\"panel\">\n");
		put_panel(f, p, stems[k], (k % cols) * PW, (k / cols) * PH);
		fprintf(f, "</g>\n");
	}
	fprintf(f, "</svg>\n");
}

static void write_plot(FILE *f, const void *ctx)
{
	write_svg(f, ctx);
}

/* ---- the command ---- */

static void usage_error(const char *msg)
{
	fatal("plot: %s\nusage: sinter plot RUN.jsonl [MORE.jsonl ...] -o OUT.svg|OUT.png [--x step|time] "
	      "[--log-y] [--smooth A]",
	      msg);
}

int cmd_plot(int argc, char **argv)
{
	Arena *a = arena_new();
	Plot *p = arena_alloc(a, sizeof *p);
	const char *out = NULL, *files[PLOT_MAX_RUNS];
	int nfiles = 0;
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		if (!strcmp(o, "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(o, "--x") && i + 1 < argc) {
			const char *v = argv[++i];
			if (strcmp(v, "step") && strcmp(v, "time"))
				usage_error(arena_printf(a, "--x takes step or time, not '%s'", v));
			p->time_x = !strcmp(v, "time");
		} else if (!strcmp(o, "--log-y"))
			p->log_y = true;
		else if (!strcmp(o, "--smooth") && i + 1 < argc) {
			char *end;
			p->smooth = strtod(argv[++i], &end);
			if (*end || end == argv[i] || !(p->smooth >= 0 && p->smooth < 1))
				usage_error(arena_printf(a, "--smooth takes a weight from 0 to below 1, not '%s'", argv[i]));
		} else if (o[0] == '-' && o[1])
			usage_error(arena_printf(a, "unknown option '%s' (or its value is missing)", o));
		else if (nfiles == PLOT_MAX_RUNS)
			usage_error(arena_printf(a, "at most %d run logs", PLOT_MAX_RUNS));
		else
			files[nfiles++] = o;
	}
	if (!nfiles)
		usage_error("no run log given");
	if (!out)
		usage_error("no output given (-o curves.svg)");
	if (!svg_format_ok(out))
		usage_error(arena_printf(a, "-o %s: the picture is written as .svg or .png", out));
	for (int i = 0; i < nfiles; i++)
		read_log(p, a, files[i]);
	svg_save(a, out, "plot", write_plot, p);
	arena_free(a);
	return 0;
}
