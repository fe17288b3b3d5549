/*
 * log.c — the run log and the progress display.  Each record becomes one
 * JSON line ({"step": 12, "time": 0.532, "loss": 0.4321}) in the log file,
 * and, on a terminal, refreshes a single status line on stderr
 * (`step 1200/4685  loss 0.4312  412.3 steps/s  ETA 0:08`) at most ten
 * times a second, so that logging every step costs next to nothing.
 *
 * A log file belongs to one run: it is locked (flock) while the run lives,
 * so a second run given the same --log path is refused instead of
 * interleaving its lines with the first one's.  Each record goes out in one
 * write(), so a run killed at any moment leaves only whole lines.
 *
 * Also here: SIGINT/SIGTERM.  The first one only sets a flag that the host
 * program polls between steps (it then finishes the step, closes the log
 * and exits 130/143); a second one exits at once, removing the temporary
 * file of a checkpoint being written, so nothing partial is left.
 *
 * And the bad index generated code met: a range-checked kernel that saw an
 * index outside its table calls rt_index_record and makes its region
 * return 1; whoever called the region takes the record (rt_index_take) to
 * report it with the op and source location.
 */
#include "runtime/runtime.h"

#include "base/arena.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { WINDOW = 32 };   /* draws remembered for the rate: ~3 s at 10 Hz */
#define REDRAW 0.1      /* seconds between redraws of the progress line */

struct RtLog {
	int fd;             /* JSON-lines file (locked), or -1 */
	bool failed;        /* a write failed; reported once at close */
	int werr;           /* its errno */
	char *path;
	bool progress;      /* draw the status line on stderr */
	double t0;          /* open time, seconds (CLOCK_MONOTONIC) */
	double last_draw;   /* seconds since t0 of the last draw */
	int64_t total;      /* expected steps, 0 = unknown */
	bool shown;         /* the status line is on the terminal now */
	bool stale;         /* a record arrived since the last draw */
	int64_t step;       /* step of the last record */
	int64_t nrecords;   /* records written: none means a --log for nothing */
	char vals[192];     /* "loss 0.4312  acc 0.9" of the last record */
	double wt[WINDOW];  /* ring of (time, step) at past draws */
	int64_t ws[WINDOW];
	int nw, hw;         /* samples in the ring / index of the oldest */
};

double rt_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now(void)
{
	return rt_now_ms() / 1e3;
}

RtLog *rt_log_open(const char *path, bool progress, char *err, size_t errlen)
{
	int fd = -1;
	if (path) {
		/* not O_TRUNC: the file may be another live run's log */
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
		if (fd < 0) {
			snprintf(err, errlen, "cannot open '%s' for writing: %s", path, strerror(errno));
			return NULL;
		}
		/* Only a regular file is a run's own: many runs may log to a pipe
		   or /dev/null, which cannot be (and need not be) emptied. */
		struct stat st;
		bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
		if (regular && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
			close(fd);
			snprintf(err, errlen, "'%s' is the log of another run that is still going; "
				 "give this run another --log path", path);
			return NULL;
		} /* a file system without locks: lines stay whole all the same */
		if (regular && ftruncate(fd, 0) != 0) {
			snprintf(err, errlen, "cannot truncate '%s': %s", path, strerror(errno));
			close(fd);
			return NULL;
		}
	}
	RtLog *l = xcalloc(1, sizeof *l);
	l->fd = fd;
	l->path = path ? strcpy(xmalloc(strlen(path) + 1), path) : NULL;
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
	l->nrecords++;
	if (l->fd >= 0 && !l->failed) {
		char *line = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&line, &len);
		fprintf(f, "{\"step\": %" PRId64 ", \"time\": ", step);
		put_number(f, t);
		for (int i = 0; i < n; i++) {
			fputs(", ", f);
			put_string(f, names[i]);
			fputs(": ", f);
			put_number(f, values[i]);
		}
		fputs("}\n", f);
		fclose(f);
		/* One write per line: nothing to flush, and a killed run leaves
		   every record before the kill, whole. */
		for (size_t done = 0; done < len;) {
			ssize_t w = write(l->fd, line + done, len - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				l->failed = true;
				l->werr = w < 0 ? errno : ENOSPC;
				break;
			}
			done += (size_t)w;
		}
		free(line);
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
	if (l->failed)
		fprintf(stderr, "sinter: warning: the log '%s' is incomplete: %s\n", l->path, strerror(l->werr));
	/* an empty file would look like a run that died before its first step */
	if (l->path && !l->nrecords)
		fprintf(stderr, "sinter: warning: --log '%s' is empty: the program never called log(...) "
		        "(write log(loss = loss) in the training loop)\n", l->path);
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l);
}

/* ---- interruption ---- */

static volatile sig_atomic_t got_signal;   /* first SIGINT/SIGTERM, or 0 */
static char tmp_path[4096];                /* temporary file being written */
static volatile sig_atomic_t tmp_live;     /* tmp_path names a file to remove */

static void on_signal(int sig)
{
	if (!got_signal) {
		got_signal = sig;
		return;
	}
	/* the second one: only async-signal-safe calls from here */
	if (tmp_live)
		unlink(tmp_path);
	static const char msg[] = "\nsinter: interrupted again; exiting at once\n";
	ssize_t w = write(2, msg, sizeof msg - 1);
	(void)w;
	_exit(128 + sig);
}

void rt_signals_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART; /* reads of data files and writes go on */
	/* A signal ignored when we started (nohup, `cmd &` in a script) stays
	   ignored, as the shell meant it to be. */
	int sigs[2] = { SIGINT, SIGTERM };
	for (int i = 0; i < 2; i++) {
		struct sigaction old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

int rt_signal_pending(void)
{
	return got_signal;
}

void rt_tmp_register(const char *path)
{
	tmp_live = 0;
	if (path && strlen(path) < sizeof tmp_path) {
		memcpy(tmp_path, path, strlen(path) + 1);
		tmp_live = 1;
	}
}

/* ---- a bad index in generated code ---- */

/* The first bad index the last region met; regions run one at a time. */
static struct {
	int32_t op, loc;
	int64_t index, n;
} index_err;

void rt_index_record(const int32_t *idx, int64_t ni, int64_t n, int32_t loc, int32_t op)
{
	/* the kernel only knows that one was bad: find it (a cold path) */
	for (int64_t i = 0; i < ni; i++)
		if (idx[i] < 0 || idx[i] >= n) {
			index_err.op = op;
			index_err.loc = loc;
			index_err.index = idx[i];
			index_err.n = n;
			return;
		}
}

void rt_index_take(int32_t *op, int32_t *loc, int64_t *index, int64_t *n)
{
	*op = index_err.op;
	*loc = index_err.loc;
	*index = index_err.index;
	*n = index_err.n;
}
