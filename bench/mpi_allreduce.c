/*
 * mpi_allreduce.c — the all-reduce cost that data-parallel training pays
 * per step (bench/mpi_scaling.sh): MPI_Allreduce of n floats, summed in
 * place, as runtime/dist.c sums a gradient bucket, for n from 1 to 4M.
 * For each size it prints "BYTES SECONDS" on rank 0: the median of REPS
 * timed calls after warm-up calls, each call bracketed by barriers so that
 * every rank starts together.  Built with mpicc by the bench script, not by
 * the Makefile (sinter itself never links MPI).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	int reps = argc > 1 ? atoi(argv[1]) : 20;
	if (reps < 1)
		reps = 1;
	long max = 1L << 22;
	float *buf = malloc((size_t)max * sizeof *buf);
	double *t = malloc((size_t)reps * sizeof *t);
	if (!buf || !t) {
		fprintf(stderr, "mpi_allreduce: out of memory\n");
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	for (long i = 0; i < max; i++)
		buf[i] = (float)(i % 7) * 0.25f;
	for (long n = 1; n <= max; n *= 4) {
		for (int w = 0; w < 3; w++)
			MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
		for (int r = 0; r < reps; r++) {
			MPI_Barrier(MPI_COMM_WORLD);
			double t0 = MPI_Wtime();
			MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
			t[r] = MPI_Wtime() - t0;
		}
		/* the slowest rank's time is the call's */
		MPI_Allreduce(MPI_IN_PLACE, t, reps, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
		qsort(t, (size_t)reps, sizeof *t, by_value);
		if (rank == 0)
			printf("%ld %.9f\n", n * (long)sizeof(float), t[reps / 2]);
		/* sums of sums grow: keep the values small */
		for (long i = 0; i < n; i++)
			buf[i] = (float)(i % 7) * 0.25f;
	}
	free(t);
	free(buf);
	MPI_Finalize();
	return 0;
}
