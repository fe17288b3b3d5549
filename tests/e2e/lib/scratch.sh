# tests/e2e/lib/scratch.sh — sourced by e2e scripts that train in the
# background and kill runs: sets root, sinter and mlp, makes a scratch
# folder $tmp and enters it, and on exit kills every pid the script pushed
# on pids[] and removes the folder.  (Not a test: tests/run.sh runs only
# tests/e2e/*.sh.)
root=$(cd "$(dirname "$0")/../.." && pwd)
sinter=$root/sinter
mlp=$root/examples/mlp.sn
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp" || exit 1
