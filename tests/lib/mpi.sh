# tests/lib/mpi.sh — what the multi-process tests (tests/e2e/mpi_*.sh)
# share, sourced after common.sh:
#   mpi_setup NAME COUNT   without mpirun, COUNT "SKIP NAME i: skipped:
#                          mpirun not installed" lines (tests/plan counts
#                          them) and exit 0; else the environment Open MPI
#                          wants as root (CI's containers), and scratch --cd
#   mpi N CMD...           mpirun --oversubscribe -np N CMD... (two ranks
#                          on any machine, whatever its cores)
#   agree A B [OPTIONS]    numdiff, silent: for check
# CI installs Open MPI (`make deps`), so the tests run there.
mpi_setup() {
	local name=$1 count=$2 i
	if ! command -v mpirun >/dev/null; then
		for i in $(seq "$count"); do skip "$name $i: skipped: mpirun not installed"; done
		exit 0
	fi
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	scratch --cd
}

mpi() { mpirun --oversubscribe -np "$@"; }
agree() { numdiff "$@" >/dev/null 2>&1; }
