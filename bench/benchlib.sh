# benchlib.sh — what bench/run.sh and bench/gpt_step.sh share; they source
# it after setting PY and TIME.  (The Python side shares bench/benchlib.py.)

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
