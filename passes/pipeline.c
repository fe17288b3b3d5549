/*
 * pipeline.c — runs the passes over a region: a flat list, in order, with
 * the verifier after every pass (a failure is an internal error: it prints
 * the offending IR) and the IR printed after any pass on request.
 */
#include "passes/pipeline.h"
#include "kernel/kernel.h"
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *name;
	void (*run)(Region *r);
} Pass;

/* The pipeline, in order.  New passes go here and nowhere else. */
static const Pass passes[] = {
	{ "autodiff", ad_run },
	{ "simplify", simplify_run },
	{ "pack", pack_run },
	{ "precision", precision_run },
	{ "fusion", fusion_run },
	{ "remat", remat_run },
	{ "bf16store", bf16store_run },
	{ "schedule", schedule_run },
	{ "memplan", memplan_run },
};
enum { NPASSES = sizeof passes / sizeof passes[0] };

/* Passes of a mode, not of every compile: they run only when PipeOpts.enable
   (or .only, for sinter opt) names them: PIPE_BF16, --precision=bf16. */
static const char on_request[] = PIPE_BF16;

int pipeline_passes(const char **names, int max)
{
	for (int i = 0; i < NPASSES && i < max; i++)
		names[i] = passes[i].name;
	return NPASSES;
}

bool pipeline_has(const char *name)
{
	for (int i = 0; i < NPASSES; i++)
		if (!strcmp(passes[i].name, name))
			return true;
	return false;
}

/* Is name an element of the comma-separated list? */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

static bool check_list(const char *list, char *err, size_t errlen)
{
	char buf[256];
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		snprintf(buf, sizeof buf, "%.*s", (int)len, p);
		if (len && !pipeline_has(buf)) {
			snprintf(err, errlen, "unknown pass '%s'", buf);
			return false;
		}
		p = end ? end + 1 : NULL;
	}
	return true;
}

static void verify_or_die(const Region *r, const char *after)
{
	char err[512];
	if (ir_verify(r, err, sizeof err))
		return;
	ir_print_with(stderr, r, kernel_print_comments);
	die("IR does not verify after %s: %s", after, err);
}

bool pipeline_run(Region *r, const PipeOpts *o, char *err, size_t errlen)
{
	if (!check_list(o->only, err, errlen) || !check_list(o->disable, err, errlen) ||
		!check_list(o->enable, err, errlen))
		return false;
	if (o->after && strcmp(o->after, "all") && strcmp(o->after, "trace") && !pipeline_has(o->after)) {
		snprintf(err, errlen, "unknown pass '%s'", o->after);
		return false;
	}
	verify_or_die(r, "tracing");
	if (o->after && !strcmp(o->after, "trace"))
		ir_print_with(o->out, r, kernel_print_comments);
	for (int i = 0; i < NPASSES; i++) {
		const Pass *p = &passes[i];
		if ((o->only && !in_list(o->only, p->name)) || in_list(o->disable, p->name))
			continue;
		if (in_list(on_request, p->name) && !o->only && !in_list(o->enable, p->name))
			continue;
		double t0 = rt_now_ms();
		p->run(r);
		if (o->time_passes)
			fprintf(stderr, "pass %-12s %8.3f ms  (%s)\n", p->name, rt_now_ms() - t0, r->name);
		verify_or_die(r, p->name);
		if (o->after && (!strcmp(o->after, "all") || !strcmp(o->after, p->name))) {
			if (!strcmp(o->after, "all"))
				fprintf(o->out, "; after %s\n", p->name);
			ir_print_with(o->out, r, kernel_print_comments);
		}
	}
	return true;
}
