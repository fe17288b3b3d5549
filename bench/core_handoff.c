/*
 * core_handoff.c — how long a core takes to read a megabyte that the other
 * core has just written, against one it wrote itself: the cost the pool's
 * homes avoid (runtime/pool.c, docs/ARCHITECTURE.md "Parallel loops").
 * Thread 0 (pinned to CPU 0) writes 1 MB; then either it reads it back, or
 * thread 1 (pinned to CPU 1) does; 400 rounds each, the read timed.
 *
 *   cc -std=c11 -O3 -march=native -ffast-math -D_GNU_SOURCE -Wall -Wextra \
 *      -o /tmp/core_handoff bench/core_handoff.c -lpthread && /tmp/core_handoff
 *
 * -ffast-math lets the read's sum use several vector accumulators, so the
 * read is bound by where the data is, not by one chain of additions.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { FLOATS = 1 << 18, ROUNDS = 400 };

static float *buf;              /* [FLOATS], 1 MB */
static atomic_int turn;         /* 0: the writer's, 1: the reader's */
static double read_ms;          /* total of the timed reads */
static volatile float sink;

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}

static void write_buf(int round)
{
	for (int k = 0; k < FLOATS; k++)
		buf[k] = (float)(round + k);
}

static void read_buf(void)
{
	double t = now_ms();
	float s = 0;
	for (int k = 0; k < FLOATS; k++)
		s += buf[k];
	read_ms += now_ms() - t;
	sink = s;
}

static void *writer(void *arg)
{
	(void)arg;
	pin(0);
	for (int r = 0; r < ROUNDS; r++) {
		while (atomic_load(&turn) != 0)
			;
		write_buf(r);
		atomic_store(&turn, 1);
	}
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	pin(1);
	for (int r = 0; r < ROUNDS; r++) {
		while (atomic_load(&turn) != 1)
			;
		read_buf();
		atomic_store(&turn, 0);
	}
	return NULL;
}

int main(void)
{
	buf = aligned_alloc(64, FLOATS * sizeof *buf);
	if (!buf)
		return 1;
	pin(0);
	for (int r = 0; r < ROUNDS; r++) {
		write_buf(r);
		read_buf();
	}
	printf("same core:  %.1f us per 1 MB read\n", read_ms / ROUNDS * 1e3);
	read_ms = 0;
	pthread_t w, r;
	pthread_create(&w, NULL, writer, NULL);
	pthread_create(&r, NULL, reader, NULL);
	pthread_join(w, NULL);
	pthread_join(r, NULL);
	printf("other core: %.1f us per 1 MB read\n", read_ms / ROUNDS * 1e3);
	free(buf);
	return 0;
}
