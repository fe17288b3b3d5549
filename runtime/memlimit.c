/*
 * memlimit.c — the memory limit: parsing "--max-memory 8G", the default
 * (the physical memory available when the program starts) and the check
 * sinter makes before every large allocation (the parameter store and
 * optimizer state, a region's arena and results, a data set).
 *
 * Large allocations that outlive a statement (blocks of parameters and
 * state, data sets, tensors held by host variables) are counted as held;
 * a new one must fit in the limit together with what is held.  Failing
 * here, with a message naming what needs how much, replaces failing in
 * malloc (or being killed by the kernel) later, with no location.
 */
#include "runtime/runtime.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t limit_bytes = -1; /* -1: not chosen yet, use the default */
static bool limit_given;         /* set by --max-memory */
static int64_t held_bytes;

bool rt_parse_bytes(const char *s, int64_t *out)
{
	if (!s)
		return false;
	while (isspace((unsigned char)*s))
		s++;
	/* a digit first: no sign, no "inf" */
	if (!isdigit((unsigned char)*s) && !(*s == '.' && isdigit((unsigned char)s[1])))
		return false;
	/* strtod alone would take hex, exponents, "inf": only digits and a point */
	size_t span = strspn(s, "0123456789.");
	char *end;
	double v = strtod(s, &end);
	if (end != s + span || !isfinite(v) || v < 0)
		return false;
	double mul = 1;
	switch (toupper((unsigned char)*end)) {
	case 'K': mul = 0x1p10; end++; break;
	case 'M': mul = 0x1p20; end++; break;
	case 'G': mul = 0x1p30; end++; break;
	case 'T': mul = 0x1p40; end++; break;
	default: break;
	}
	/* "8G", "8GB", "8GiB" and "8g" all mean 8 * 2^30 bytes, as in free -h */
	if (mul > 1 && *end == 'i')
		end++;
	if (toupper((unsigned char)*end) == 'B')
		end++;
	if (*end)
		return false;
	double b = v * mul;
	if (b >= 0x1p62 || b < 1)
		return false;
	*out = (int64_t)b;
	return true;
}

char *rt_format_bytes(int64_t b, char *buf, size_t n)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, n, "%lld bytes", (long long)b);
	else
		snprintf(buf, n, "%.1f %s", v, unit[u]);
	return buf;
}

int64_t rt_mem_available(void)
{
	/* MemAvailable counts reclaimable page cache, which sysconf's free
	   pages do not; sysconf is the fallback where /proc is missing */
	FILE *f = fopen("/proc/meminfo", "r");
	if (f) {
		char line[256];
		long long kb;
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1 && kb > 0) {
				fclose(f);
				return (int64_t)kb * 1024;
			}
		fclose(f);
	}
	long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	if (pages > 0 && size > 0)
		return (int64_t)pages * size;
	return INT64_MAX; /* unknown: no limit but the kernel's */
}

void rt_mem_set_limit(int64_t bytes)
{
	limit_bytes = bytes;
	limit_given = true;
}

int64_t rt_mem_limit(void)
{
	if (limit_bytes < 0)
		limit_bytes = rt_mem_available();
	return limit_bytes;
}

void rt_mem_hold(int64_t bytes)
{
	held_bytes += bytes;
	if (held_bytes < 0)
		held_bytes = 0;
}

int64_t rt_mem_held(void)
{
	return held_bytes;
}

bool rt_mem_check(int64_t bytes, const char *what, char *err, size_t errlen)
{
	int64_t limit = rt_mem_limit();
	if (bytes <= limit && held_bytes <= limit - bytes)
		return true;
	char b1[32], b2[32], b3[32];
	snprintf(err, errlen, "%s needs %lld bytes (%s); the memory limit is %s (%s), %s of it in use",
		what, (long long)bytes, rt_format_bytes(bytes, b1, sizeof b1),
		rt_format_bytes(limit, b2, sizeof b2),
		limit_given ? "--max-memory" : "the available physical memory",
		rt_format_bytes(held_bytes, b3, sizeof b3));
	return false;
}
