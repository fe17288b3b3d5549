/*
 * targets.c — libFuzzer targets for sinter's input parsers, one per build:
 * compile with -DFUZZ_CHECK, -DFUZZ_IR, -DFUZZ_SAFETENSORS, -DFUZZ_IDX,
 * -DFUZZ_TOKENS or -DFUZZ_CSV (the Makefile's `make fuzz` does, into
 * build-fuzz/).
 *
 *   check        a .sn program: load (with the standard library), bind the
 *                globals and dry-run every train block, as `sinter check`
 *   ir           text IR: parse, verify and print each region, as `sinter opt`
 *                with no passes
 *   safetensors  rt_safetensors_load of the input
 *   idx          rt_idx_open; the input is the images file, then the labels
 *                file, split at the 32-bit little-endian length in its first
 *                four bytes (tests/fuzz/seeds.sh packs them so)
 *   tokens       rt_tokens_open and rt_text_open of the input, then one batch
 *   csv          rt_csv_open of the input, then one batch and a slice; its
 *                last byte picks the options: bit 0 a header, bit 1 the
 *                target by the name "label", the rest an index (-4 .. 3)
 *
 * The readers take paths, so each input is written to a private temporary
 * file.  User errors are the expected outcome of most inputs: the front end
 * reports them through diag_exit, whose hook longjmps back here instead of
 * exiting; the arena of the failed run is freed, and the registered source
 * texts are dropped after every run.  What is left to find is what the
 * sanitizers and libFuzzer report: crashes, aborts (die() on an internal
 * error), reads out of bounds, undefined behaviour, timeouts.
 */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver/driver.h"
#include "lang/diag.h"
#include "lang/lang.h"
#include "ir/ir.h"
#include "kernel/kernel.h"
#include "runtime/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#if !defined(FUZZ_IR)
/* A temporary file of this process holding one input (or part of one). */
static const char *write_temp(int which, const uint8_t *data, size_t size)
{
	static char path[2][64];
	if (!path[which][0])
		snprintf(path[which], sizeof path[which], "/tmp/sinter-fuzz-%d-%d.in", (int)getpid(), which);
	FILE *f = fopen(path[which], "wb");
	if (!f) {
		perror(path[which]);
		abort();
	}
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	return path[which];
}

static void remove_temps(void)
{
	for (int i = 0; i < 2; i++) {
		char p[64];
		snprintf(p, sizeof p, "/tmp/sinter-fuzz-%d-%d.in", (int)getpid(), i);
		unlink(p);
	}
}
#endif

#if defined(FUZZ_CHECK)

static jmp_buf user_error;

static void back_to_harness(void)
{
	longjmp(user_error, 1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	diag_set_exit_hook(back_to_harness);
	atexit(remove_temps);
	/* the harness lives in build-fuzz/; the standard library is found from
	   the executable unless SINTER_STDLIB says where */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = write_temp(0, data, size);
	Arena *a = arena_new();
	Ev *volatile ev = NULL;
	if (!setjmp(user_error)) {
		Options o = { .cmd = "check", .file = path };
		ev = driver_setup(&o, a);
		driver_run(ev, &o, (Backend){ 0 });
	}
	if (ev)
		host_free(ev);
	arena_free(a);
	diag_forget_sources();
	return 0;
}

#elif defined(FUZZ_IR)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* ir_parse takes a C string: the input up to its first NUL */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = 0;
	Arena *a = arena_new();
	Region **rs;
	char err[512];
	int n = ir_parse(a, text, "fuzz.ir", &rs, err, sizeof err);
	FILE *sink = fopen("/dev/null", "w");
	for (int i = 0; i < n; i++)
		if (ir_verify(rs[i], err, sizeof err))
			ir_print_with(sink, rs[i], kernel_print_comments);
	fclose(sink);
	arena_free(a);
	free(text);
	return 0;
}

#else /* the data readers */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	atexit(remove_temps);
	return 0;
}

#if defined(FUZZ_IDX) || defined(FUZZ_TOKENS) || defined(FUZZ_CSV)
/* Fills the first batch of up to 4 examples, as a training loop would. */
static void read_batch(RtDataset *ds)
{
	int64_t n = rt_dataset_len(ds);
	if (n > 4)
		n = 4;
	RtShape xs = rt_dataset_xshape(ds), ys = rt_dataset_yshape(ds);
	int64_t nx = 1, ny = 1;
	for (int i = 0; i < xs.rank; i++)
		nx *= xs.dim[i];
	for (int i = 0; i < ys.rank; i++)
		ny *= ys.dim[i];
	if (n <= 0 || nx > (1 << 20) || ny > (1 << 20))
		return;
	int64_t idx[4] = { 0, 1, 2, 3 };
	void *x = malloc((size_t)(n * nx) * 4), *y = malloc((size_t)(n * ny) * 4);
	rt_dataset_fill(ds, idx, n, x, y);
	free(x);
	free(y);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
#if defined(FUZZ_SAFETENSORS)
	RtTensor *t;
	int n;
	if (rt_safetensors_load(write_temp(0, data, size), &t, &n, err, sizeof err))
		rt_tensors_free(t, n);
#elif defined(FUZZ_IDX)
	if (size < 4)
		return 0;
	size_t split = (size_t)data[0] | (size_t)data[1] << 8 | (size_t)data[2] << 16 | (size_t)data[3] << 24;
	if (split > size - 4)
		split = size - 4;
	const char *images = write_temp(0, data + 4, split);
	const char *labels = write_temp(1, data + 4 + split, size - 4 - split);
	for (int flatten = 0; flatten < 2; flatten++) {
		RtDataset *ds = rt_idx_open(images, labels, flatten, err, sizeof err);
		if (ds) {
			read_batch(ds);
			rt_dataset_free(ds);
		}
	}
#elif defined(FUZZ_TOKENS)
	const char *path = write_temp(0, data, size);
	int64_t context = size ? 1 + data[size - 1] % 8 : 1;
	RtDataset *ds = rt_tokens_open(path, context, size > 1 ? 1 + data[size - 2] * 4 : 0, err, sizeof err);
	if (ds) {
		read_batch(ds);
		rt_dataset_free(ds);
	}
	ds = rt_text_open(path, context, err, sizeof err);
	if (ds) {
		read_batch(ds);
		rt_dataset_free(ds);
	}
#elif defined(FUZZ_CSV)
	unsigned opt = size ? data[size - 1] : 0;
	bool header = opt & 1;
	const char *target = header && (opt & 2) ? "label" : NULL;
	RtDataset *ds = rt_csv_open(write_temp(0, data, size), target, (int64_t)(opt >> 2) % 8 - 4, header,
	                            err, sizeof err);
	if (ds) {
		read_batch(ds);
		RtDataset *part = rt_dataset_slice(ds, 1, -1);
		rt_dataset_free(ds);
		read_batch(part);
		rt_dataset_free(part);
	}
#else
#error "define one of FUZZ_CHECK, FUZZ_IR, FUZZ_SAFETENSORS, FUZZ_IDX, FUZZ_TOKENS, FUZZ_CSV"
#endif
	return 0;
}

#endif
