/*
 * log.c — the run log and the progress display.  Each record becomes one
 * JSON line ({"step": 12, "time": 0.532, "loss": 0.4321}) in the log file,
 * and, on a terminal, refreshes a single status line on stderr
 * (`step 1200/4685  loss 0.4312  412.3 steps/s  ETA 0:08`) at most ten
 * times a second, so that logging every step costs next to nothing.
 */
#include "runtime/runtime.h"

#include "ir/arena.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { WINDOW = 32 };   /* draws remembered for the rate: ~3 s at 10 Hz */
#define REDRAW 0.1      /* seconds between redraws of the progress line */
#define FLUSH 1.0       /* seconds between flushes of the log file */

struct RtLog {
	FILE *f;            /* JSON-lines file, or NULL */
	bool progress;      /* draw the status line on stderr */
	double t0;          /* open time, seconds (CLOCK_MONOTONIC) */
	double last_draw;   /* seconds since t0 of the last draw */
	double last_flush;  /* seconds since t0 of the last flush of f */
	int64_t total;      /* expected steps, 0 = unknown */
	bool shown;         /* the status line is on the terminal now */
	bool stale;         /* a record arrived since the last draw */
	int64_t step;       /* step of the last record */
	char vals[192];     /* "loss 0.4312  acc 0.9" of the last record */
	double wt[WINDOW];  /* ring of (time, step) at past draws */
	int64_t ws[WINDOW];
	int nw, hw;         /* samples in the ring / index of the oldest */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

RtLog *rt_log_open(const char *path, bool progress, char *err, size_t errlen)
{
	FILE *f = NULL;
	if (path) {
		f = fopen(path, "w");
		if (!f) {
			snprintf(err, errlen, "cannot open '%s' for writing: %s", path, strerror(errno));
			return NULL;
		}
	}
	RtLog *l = xcalloc(1, sizeof *l);
	l->f = f;
	l->progress = progress;
	l->t0 = now();
	l->last_draw = -1;
	return l;
}

void rt_log_set_total(RtLog *l, int64_t total)
{
	if (l)
		l->total = total > 0 ? total : 0;
}

/* JSON has no NaN or infinity; null keeps the line parseable. */
static void put_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.9g", v);
	else
		fputs("null", f);
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '"' || *c == '\\')
			fprintf(f, "\\%c", *c);
		else if (*c < 0x20)
			fprintf(f, "\\u%04x", *c);
		else
			fputc(*c, f);
	}
	fputc('"', f);
}

/* Steps per second over the remembered draws (0 until two exist). */
static double rate(const RtLog *l)
{
	if (l->nw < 2)
		return 0;
	int newest = (l->hw + l->nw - 1) % WINDOW;
	double dt = l->wt[newest] - l->wt[l->hw];
	return dt > 0 ? (double)(l->ws[newest] - l->ws[l->hw]) / dt : 0;
}

static void draw(RtLog *l, double t)
{
	if (l->nw == WINDOW) {
		l->hw = (l->hw + 1) % WINDOW;
		l->nw--;
	}
	int slot = (l->hw + l->nw++) % WINDOW;
	l->wt[slot] = t;
	l->ws[slot] = l->step;

	char line[320];
	int len = l->total ? snprintf(line, sizeof line, "step %" PRId64 "/%" PRId64, l->step, l->total)
			   : snprintf(line, sizeof line, "step %" PRId64, l->step);
	if (l->vals[0])
		len += snprintf(line + len, sizeof line - (size_t)len, "  %s", l->vals);
	double r = rate(l);
	if (r > 0) {
		len += snprintf(line + len, sizeof line - (size_t)len, "  %.1f steps/s", r);
		if (l->total > l->step) {
			int64_t eta = (int64_t)((double)(l->total - l->step) / r + 0.5);
			if (eta >= 3600)
				snprintf(line + len, sizeof line - (size_t)len, "  ETA %" PRId64 ":%02d:%02d",
					 eta / 3600, (int)(eta / 60 % 60), (int)(eta % 60));
			else
				snprintf(line + len, sizeof line - (size_t)len, "  ETA %d:%02d",
					 (int)(eta / 60), (int)(eta % 60));
		}
	}
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	l->shown = true;
	l->stale = false;
	l->last_draw = t;
}

void rt_log_record(RtLog *l, int64_t step, int n, const char *const *names, const double *values)
{
	if (!l)
		return;
	double t = now() - l->t0;
	if (l->f) {
		fprintf(l->f, "{\"step\": %" PRId64 ", \"time\": ", step);
		put_number(l->f, t);
		for (int i = 0; i < n; i++) {
			fputs(", ", l->f);
			put_string(l->f, names[i]);
			fputs(": ", l->f);
			put_number(l->f, values[i]);
		}
		fputs("}\n", l->f);
		/* A killed run should still leave a log of nearly every step. */
		if (t - l->last_flush >= FLUSH) {
			fflush(l->f);
			l->last_flush = t;
		}
	}
	if (!l->progress)
		return;
	l->step = step;
	size_t len = 0;
	l->vals[0] = 0;
	for (int i = 0; i < n && len < sizeof l->vals; i++)
		len += (size_t)snprintf(l->vals + len, sizeof l->vals - len, "%s%s %.4g",
					i ? "  " : "", names[i], values[i]);
	l->stale = true;
	if (!l->shown || t - l->last_draw >= REDRAW)
		draw(l, t);
}

void rt_log_clear_line(RtLog *l)
{
	if (l && l->shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		l->shown = false;
	}
}

void rt_log_close(RtLog *l)
{
	if (!l)
		return;
	/* Leave the final state of the run on screen, not a throttled one. */
	if (l->progress && l->stale)
		draw(l, now() - l->t0);
	if (l->shown)
		fputc('\n', stderr);
	if (l->f)
		fclose(l->f);
	free(l);
}
