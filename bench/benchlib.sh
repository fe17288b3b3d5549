# benchlib.sh — what the bench scripts share; bench/run.sh and
# bench/gpt_step.sh source it after setting PY and TIME (which bench_facts
# and bench_need_time use).  It sources tests/lib/common.sh (scratch,
# snapshot), which every e2e test and bench script shares.  (The Python
# side shares bench/benchlib.py.)
. "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/common.sh"

# die MESSAGE: the script's name and MESSAGE on stderr, exit 1
die() { echo "bench/$(basename "$0"): $*" >&2; exit 1; }

# bench_snapshot [SINTER]: a copy of SINTER (default ./sinter) that every
# run measures, in the scratch folder $work (others may rebuild ./sinter
# meanwhile; KEEP=1 keeps the folder and the raw logs); sets sinter_built
# (when SINTER was built) and load_start (the load average before the runs)
bench_snapshot() {
	local from=${1:-./sinter}
	[ -x "$from" ] || die "$from is missing; build it first (make)"
	sinter_built=$(date -r "$from" '+%Y-%m-%d %H:%M')
	snapshot "$from"
	work=$tmp
	load_start=$(cut -d' ' -f1-3 /proc/loadavg)
}

# bench_tokens PATH N [VOCAB [SEED]]: a token file of N random tokens below
# VOCAB (default 65) from SEED (default 1), as bench/gpt_step.sn reads them
# (a 256-int32 header, then uint16s)
bench_tokens() {
	"$PY" - "$1" "$2" "${3:-65}" "${4:-1}" <<'EOF'
import random, struct, sys
path, n, vocab, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
toks = [rng.randrange(vocab) for _ in range(n)]
open(path, "wb").write(struct.pack("<256i", 20240520, 1, n, *[0] * 253) + struct.pack("<%dH" % n, *toks))
EOF
}

# bench_need_time: GNU time at $TIME, installed through apt-get when missing
# and run as root
bench_need_time() {
	[ -x "$TIME" ] && return
	[ "$(id -u)" -eq 0 ] || die "$TIME is missing (Debian package time)"
	echo "installing the Debian package time (for $TIME)" >&2
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
}

# bench_rounds CONFIGS THREADS: REPEATS rounds; each calls the script's
# floor REP (the cblas_sgemm timing of round REP), then the script's
# run_one IMPL CONFIG THREADS REP for sinter and torch on every config and
# thread count, sinter first every other time, so that neither side always
# meets the machine in the same state
bench_rounds() {
	local rep k c t
	for ((rep = 1; rep <= REPEATS; rep++)); do
		echo "round $rep/$REPEATS" >&2
		floor $rep
		k=$rep
		for c in $1; do
			for t in $2; do
				if ((k % 2)); then
					run_one sinter "$c" "$t" $rep
					run_one torch "$c" "$t" $rep
				else
					run_one torch "$c" "$t" $rep
					run_one sinter "$c" "$t" $rep
				fi
				k=$((k + 1))
			done
		done
	done
}

# bench_env VAR...: envline, "VAR=value " for each (<unset> when unset),
# also shown on stderr.  OpenBLAS picks its kernels from the CPU unless
# these say otherwise; they are reported, never changed, so that a
# surprising number can be explained.
bench_env() {
	local v
	envline=""
	for v in "$@"; do
		envline+="$v=${!v-<unset>} "
	done
	echo "environment: $envline" >&2
}

# bench_facts WORK: the facts a result file states about the machine and
# the checkout, measured or read after the runs.  Sets
#   torch_base     MB that `import torch` alone takes (peak RSS, into WORK)
#   torch_version  the torch PY imports
#   cpu_line       "MODEL (family F, model M; SIMD flags), N cores"
#   commit         the checkout's commit, "+ uncommitted changes" if dirty
bench_facts() {
	"$TIME" -f %M -o "$1/torch_import.rss" "$PY" -c 'import torch'
	torch_base=$(($(tail -1 "$1/torch_import.rss") / 1024))
	torch_version=$("$PY" -c 'import torch; print(torch.__version__)')
	local cpu fam model simd
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
	fam=$(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -1)
	model=$(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo | head -1)
	simd=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|fma)$' | paste -sd' ')
	cpu_line="$cpu (family $fam, model $model; $simd), $(nproc) cores"
	commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD 2>/dev/null || commit+=" + uncommitted changes"
}
