/*
 * hostdist.c — the host's side of data-parallel training on several ranks
 * (runtime/dist.c is the MPI side): which rows of a global batch this rank
 * reads, which training steps can be averaged, the loss every rank prints,
 * the check that every rank runs the same program, and the evaluation
 * side: each rank's share of a data set (batches(..., shard = true)) and
 * the builtins rank(), world_size() and all_reduce().
 *
 * The design follows PyTorch's DistributedDataParallel: every rank holds
 * the whole model and optimizer, computes the gradients of its share of
 * each batch, and the update reads their mean over the ranks, so N ranks
 * with batches of B rows train the model one process trains with batches
 * of B rows.  The mean is computed where the gradients are packed into the
 * gradient arena (codegen/region.c, dist_grads; the interpreter's pack),
 * inside the compiled step, between the backward and the update.
 */
#include "host/host.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lang/diag.h"
#include "runtime/dist.h"

/* A built binary runs the regions `sinter build` traced: for the shapes of
   a rank's share of the batches, the build is told how many ranks. */
static int dry_ranks = 1;

void host_dist_plan(int ranks)
{
	dry_ranks = ranks;
}

/*
 * Batch k of a training loop has *n rows of the global order; this rank
 * reads rows [r n / N, (r + 1) n / N) of them: returns the first and sets
 * *n to the share.  The order is drawn from the seed alone, so every rank
 * and a single process see the same global batches.  A batch that does
 * not split evenly would give the ranks means over different row counts,
 * whose mean is not the batch's mean: an error, located at the batches()
 * call (drop_last = true avoids a short last batch).
 */
int64_t host_dist_shard(Ev *ev, Loc loc, bool packed, int64_t k, int64_t *n)
{
	int size = ev->dry ? dry_ranks : rt_dist_size();
	if (size <= 1)
		return 0;
	if (packed)
		ev_error(ev, loc, "packed_batches cannot be shared out among %d ranks yet: train on packed documents in one "
		         "process", size);
	if (*n % size)
		ev_error(ev, loc, "batch %lld has %lld rows, which %d ranks cannot share equally: use a batch size that is "
		         "a multiple of %d%s", (long long)k, (long long)*n, size, size,
		         k > 0 ? " and drop_last = true" : "");
	*n /= size;
	return ev->dry ? 0 : rt_dist_rank() * *n;
}

/*
 * batches(data, B, shard = true) in a loop without minimize (an
 * evaluation): rank r of N takes examples [r len / N, (r + 1) len / N) of
 * the order, in batches of B, so the ranks evaluate disjoint parts of the
 * set that together are the whole, and all_reduce of their sums gives the
 * single-process value (PyTorch's DistributedSampler, without its padding,
 * which would count some examples twice).  Returns the first example of
 * this rank's part and sets *len to its size; one rank: all of it.
 */
int64_t host_dist_part(Ev *ev, Loc loc, bool training, int64_t *len)
{
	if (training)
		ev_error(ev, loc, "batches(..., shard = true) is for loops without minimize (an evaluation): a training "
		         "loop gives each rank its share of every batch already");
	int size = ev->dry ? dry_ranks : rt_dist_size(), rank = ev->dry ? 0 : rt_dist_rank();
	if (size <= 1)
		return 0;
	if (*len < size)
		ev_error(ev, loc, "%lld examples are too few to give each of %d ranks a share", (long long)*len, size);
	int64_t lo = *len * rank / size, hi = *len * (rank + 1) / size;
	*len = hi - lo;
	return lo;
}

/* rank() and world_size(): this process's place in the job, 0 and 1 without
   mpirun (as torch.distributed.get_rank and get_world_size). */
Value hostdist_rank(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	(void)args;
	(void)names;
	if (n)
		ev_error(ev, loc, "%s() takes no arguments, got %d", b->name, n);
	if (b->name[0] == 'r')
		return v_int(ev->dry ? 0 : rt_dist_rank());
	return v_int(ev->dry ? dry_ranks : rt_dist_size());
}

/*
 * all_reduce(x, op = "sum"): x (a number, or a list of numbers) combined
 * over the ranks: "sum", "mean", "max" or "min", every rank receiving the
 * result (torch.distributed.all_reduce, which works in place).  Ints stay
 * ints, except under "mean"; one rank (or no mpirun) returns x as it is,
 * so a program written for several ranks runs unchanged in one process.
 * Every rank must call it, the same number of times and with lists of the
 * same length, as MPI's collectives require.
 */
Value hostdist_all_reduce(Ev *ev, const Builtin *b, Loc loc, Value *args, const char **names, int n)
{
	Value v[2];
	get_args(ev, loc, b->name, b->spec, args, names, n, v);
	static const char *const ops[] = { "sum", "mean", "max", "min" };
	int op = v[1].kind == V_NONE ? 0 : -1;
	for (int i = 0; v[1].kind == V_STR && i < 4; i++)
		if (!strcmp(v[1].s, ops[i]))
			op = i;
	if (op < 0)
		ev_error(ev, loc, "all_reduce: op must be \"sum\", \"mean\", \"max\" or \"min\", got %s",
		         v[1].kind == V_STR ? arena_printf(ev->arena, "\"%s\"", v[1].s)
		                            : arena_printf(ev->arena, "a %s", value_kind_name(&v[1])));
	bool list = v[0].kind == V_LIST;
	int cnt = list ? v[0].n : 1;
	Value *in = list ? v[0].items : &v[0];
	double *d = arena_alloc(ev->arena, ((size_t)cnt + 1) * sizeof *d);
	bool *whole = arena_alloc(ev->arena, (size_t)cnt + 1);
	for (int i = 0; i < cnt; i++) {
		Value x = host_force(ev, in[i], loc);
		if (!is_number(&x))
			ev_error(ev, loc, "all_reduce takes a number or a list of numbers, got %s%s",
			         list ? "a list holding a " : "a ", value_kind_name(&x));
		whole[i] = x.kind != V_FLOAT;
		if (whole[i] && (x.i > (1ll << 53) || x.i < -(1ll << 53)))
			ev_error(ev, loc, "all_reduce: the int %lld is beyond 2^53, which the reduction (in doubles) cannot "
			         "hold exactly", (long long)x.i);
		d[i] = op == 3 ? -num(&x) : num(&x);
	}
	/* a dry run (sinter check, a build's trace) combines nothing: no rank waits for it */
	int size = ev->dry ? 1 : rt_dist_size();
	if (!ev->dry)
		rt_dist_reduce(d, cnt, op >= 2);
	Value *out = arena_alloc(ev->arena, ((size_t)cnt + 1) * sizeof *out);
	for (int i = 0; i < cnt; i++) {
		double r = op == 3 ? -d[i] : op == 1 ? d[i] / size : d[i];
		if (op == 1 || !whole[i])
			out[i] = v_float(r);
		else if (fabs(r) > 9007199254740992.0)
			ev_error(ev, loc, "all_reduce: the sum %.17g is beyond 2^53, which an int cannot hold exactly here", r);
		else
			out[i] = v_int((int64_t)r);
	}
	return list ? (Value){ .kind = V_LIST, .items = out, .n = cnt } : out[0];
}

/*
 * A training step on several ranks: every parameter the update writes must
 * be updated from a packed gradient, the one buffer whose mean the step
 * computes.  The pack pass leaves the updates that are not elementwise
 * alone (LAMB's trust ratio, Adafactor's factored moments, a typed state);
 * their gradients would stay this rank's own, and the ranks would drift
 * apart, so such a step is refused rather than run.
 */
void host_dist_check_step(Ev *ev, const Region *r, Loc loc)
{
	if (!rt_dist_on)
		return;
	for (int v = 0; v < r->nnode; v++) {
		const Node *nd = &r->node[v];
		if (nd->op != OP_WRITE)
			continue;
		const Node *slot = &r->node[ir_operand(r, v, 0)];
		if (slot->op == OP_PARAM)
			ev_error(ev, loc, "the update of parameter '%s' is not packed with the others (an update rule that is "
			         "not elementwise, or a state of its own type), so its gradient cannot be averaged over the "
			         "%d ranks yet: train it in one process", slot->name, rt_dist_size());
	}
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/*
 * At start-up: ranks that run different programs, -D values or seeds would
 * trace different steps, and their collectives would not match (a hang, or
 * sums of unrelated buffers).  Every rank hashes the source texts, the -D
 * options and the seed and compares the hash with the others' before the
 * first statement runs.
 */
void host_dist_start(Ev *ev, const char *const *defines, int ndefines)
{
	if (!rt_dist_on)
		return;
	uint64_t h = 0xcbf29ce484222325ull;
	for (int i = 0; i < ev->prog->nsrc; i++)
		h = fnv(h, ev->prog->src[i].text, strlen(ev->prog->src[i].text) + 1);
	for (int i = 0; i < ndefines; i++)
		h = fnv(h, defines[i], strlen(defines[i]) + 1);
	h = fnv(h, &ev->seed, sizeof ev->seed);
	if (!rt_dist_same(h, "the comparison of the ranks' programs"))
		fatal("the %d ranks do not run the same program: their source files, -D options or --seed differ "
		      "(rank %d's program hash is %016llx); start every rank with the same command", rt_dist_size(),
		      rt_dist_rank(), (unsigned long long)h);
}

/* A hash of every parameter and optimizer state (names and bytes), the
   same on every rank while they agree.  Buffers are left out: a
   BatchNorm's running statistics are each rank's own, as in PyTorch's DDP
   without broadcast_buffers. */
static uint64_t checksum(Ev *ev)
{
	uint64_t sum = 0;
	for (int i = 0; ev->slots && i < SLOT_BUCKETS; i++)
		for (const Slot *s = ev->slots[i]; s; s = s->next) {
			if (slot_is_buffer(s))
				continue;
			uint64_t h = fnv(0xcbf29ce484222325ull, s->name, strlen(s->name) + 1);
			if (s->sname)
				h = fnv(h, s->sname, strlen(s->sname) + 1);
			/* summed, so that the table's order does not matter */
			sum += rt_mix64(fnv(h, s->t.data, (size_t)type_bytes(&s->t.type)));
		}
	return sum;
}

/*
 * The consistency guard: after every HOST_DIST_GUARD_EVERY steps and at
 * every checkpoint the ranks compare their checksums.  The ranks compute
 * the same update from the same mean, so they can only part through a
 * bug or a fault (a bit flipped in memory, a rank reading other data);
 * training on would average gradients of different models.
 */
void host_dist_guard(Ev *ev, int64_t step, Loc loc)
{
	if (!rt_dist_on || ev->dry)
		return;
	if (!rt_dist_same(checksum(ev), "the comparison of the ranks' parameters"))
		ev_error(ev, loc, "the parameters of the %d ranks differ after step %lld: the ranks no longer train the "
		         "same model; stopping", rt_dist_size(), (long long)step);
}

/*
 * The end of a run on several ranks: the last comparison of the parameters
 * (--verbose prints each rank's checksum, which tests/e2e/mpi_train.sh
 * compares), then MPI_Finalize.  Only a run that every rank finished gets
 * here; one that stops with an error exits without finalizing, and mpirun
 * ends the others.
 */
void host_dist_finish(Ev *ev, bool verbose)
{
	if (!rt_dist_on)
		return;
	uint64_t sum = checksum(ev);
	if (verbose)
		fprintf(stderr, "sinter: rank %d of %d: parameter checksum %016llx\n", rt_dist_rank(), rt_dist_size(),
		        (unsigned long long)sum);
	if (!rt_dist_same(sum, "the comparison of the ranks' parameters"))
		fatal("the parameters of the %d ranks differ at the end of the run", rt_dist_size());
	rt_dist_finalize();
}
