/*
 * llmc_step.c — times the training step of llm.c's CPU reference trainer
 * (karpathy/llm.c, train_gpt2.c) on the GPT of bench/gpt_step.sn, for
 * bench/llmc_step.sh.  llm.c is not part of sinter and is not shipped: the
 * script compiles this file against a checkout the user names (LLMC_DIR),
 * with train_gpt2.c's own main left out (-DTESTING), as its test_gpt2.c is.
 *
 * The model is written here as an llm.c checkpoint (header version 3:
 * magic, version, maxT, V, L, NH, C, padded V) with GPT-2's initialization
 * (weights N(0, 0.02) by a fixed xorshift and Box-Muller, layer norms'
 * weights 1, biases 0); the vocabulary is not padded (Vp = V), so the head
 * does the same work as sinter's.  Each step takes a fresh batch of random
 * tokens below V and runs what llm.c's main runs per step: forward with
 * targets, zero_grad, backward, AdamW update (lr 1e-3, betas 0.9 and 0.999,
 * eps 1e-8, weight decay 0.01, as bench/gpt_step.sn).
 *
 * Usage: llmc_step CKPT_PATH V T C L H BATCH STEPS LOG
 * Writes LOG as sinter's and bench/torch_gpt_step.py's run logs are written
 * (one JSON line per step: step, time in seconds at its end, loss), the time
 * counting the steps alone (not the drawing of tokens), so that
 * bench/benchlib.py reads all three the same way; prints the step's wall
 * and CPU milliseconds on stdout.
 */
#define TESTING
#include "train_gpt2.c"

static uint64_t llmc_rng = 0x9E3779B97F4A7C15ull;

static double llmc_uniform(void)
{
	llmc_rng ^= llmc_rng >> 12;
	llmc_rng ^= llmc_rng << 25;
	llmc_rng ^= llmc_rng >> 27;
	return ((llmc_rng * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

static float llmc_normal(float std)
{
	double u = llmc_uniform(), v = llmc_uniform();
	return (float)(std * sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

/* Writes an llm.c checkpoint of the given shape with GPT-2's initialization. */
static void llmc_write_checkpoint(const char *path, int V, int T, int C, int L, int H)
{
	GPT2Config cfg = { .max_seq_len = T, .vocab_size = V, .padded_vocab_size = V, .num_layers = L,
		.num_heads = H, .channels = C };
	size_t sizes[NUM_PARAMETER_TENSORS];
	fill_in_parameter_sizes(sizes, cfg);
	int header[256] = { 20240326, 3, T, V, L, H, C, V };
	FILE *f = fopenCheck(path, "wb");
	fwrite(header, sizeof(int), 256, f);
	/* tensors 2, 8, 14 are the layer norms' weights; the odd ones biases */
	for (int i = 0; i < NUM_PARAMETER_TENSORS; i++)
		for (size_t j = 0; j < sizes[i]; j++) {
			float x = (i == 2 || i == 8 || i == 14) ? 1.0f : (i % 2 == 1 && i > 1) ? 0.0f : llmc_normal(0.02f);
			fwrite(&x, sizeof x, 1, f);
		}
	fcloseCheck(f);
}

static double llmc_seconds(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 10) {
		fprintf(stderr, "usage: llmc_step CKPT V T C L H BATCH STEPS LOG\n");
		return 2;
	}
	int V = atoi(argv[2]), T = atoi(argv[3]), C = atoi(argv[4]), L = atoi(argv[5]), H = atoi(argv[6]);
	int B = atoi(argv[7]), steps = atoi(argv[8]);
	if (V < 2 || T < 1 || C < 1 || L < 1 || H < 1 || C % H || B < 1 || steps < 1) {
		fprintf(stderr, "llmc_step: bad shape\n");
		return 2;
	}
	llmc_write_checkpoint(argv[1], V, T, C, L, H);
	GPT2 model;
	gpt2_build_from_checkpoint(&model, argv[1]);
	FILE *log = fopenCheck(argv[9], "w");
	double elapsed = 0;
	int *tok = mallocCheck((size_t)B * (T + 1) * sizeof *tok);
	int *inp = mallocCheck((size_t)B * T * sizeof *inp), *tgt = mallocCheck((size_t)B * T * sizeof *tgt);
	for (int step = 1; step <= steps; step++) {
		for (int i = 0; i < B * (T + 1); i++)
			tok[i] = (int)(llmc_uniform() * V);
		for (int b = 0; b < B; b++)
			for (int t = 0; t < T; t++) {
				inp[b * T + t] = tok[b * (T + 1) + t];
				tgt[b * T + t] = tok[b * (T + 1) + t + 1];
			}
		double w0 = llmc_seconds(CLOCK_MONOTONIC), c0 = llmc_seconds(CLOCK_PROCESS_CPUTIME_ID);
		gpt2_forward(&model, inp, tgt, B, T);
		gpt2_zero_grad(&model);
		gpt2_backward(&model);
		gpt2_update(&model, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step);
		double w1 = llmc_seconds(CLOCK_MONOTONIC), c1 = llmc_seconds(CLOCK_PROCESS_CPUTIME_ID);
		elapsed += w1 - w0;
		fprintf(log, "{\"step\": %d, \"time\": %.6f, \"loss\": %.6f}\n", step, elapsed, model.mean_loss);
		printf("step %d ms %.3f cpu_ms %.3f loss %.6f\n", step, (w1 - w0) * 1e3, (c1 - c0) * 1e3, model.mean_loss);
	}
	fcloseCheck(log);
	free(tok);
	free(inp);
	free(tgt);
	gpt2_free(&model);
	return 0;
}
