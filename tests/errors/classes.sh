#!/usr/bin/env bash
# tests/errors/classes.sh — the table of bad-input classes in tests/README.md.
#
# Each test of tests/errors belongs to one class: the `# CLASS: name` header
# when it has one (tests/run.sh ignores it), else the class of its file-name
# prefix (the text before the first '_') in the list below.  A test whose
# class is unknown is listed as "unclassified" so it is noticed.  Prints the
# markdown table and the total; `tests/errors/classes.sh --update` rewrites
# the table between the markers in tests/README.md.
set -eu
cd "$(dirname "$0")"

# prefix -> class
class_of_prefix() {
	case $1 in
	syntax) echo syntax ;;
	name | assign | redefine | import) echo names ;;
	args | fn) echo calls ;;
	type | types | if | keepdims | iterate | generate) echo types ;;
	shape | axis) echo shapes ;;
	int) echo integers ;;
	depth) echo nesting ;;
	model | param) echo models ;;
	optimizer | minimize | loss) echo training ;;
	data | tokens | split | load | save | resume) echo files ;;
	memory) echo memory ;;
	ir) echo ir-text ;;
	index | take | one) echo indices ;;
	command | define | seed | threads | option | input) echo command-line ;;
	flow) echo control-flow ;;
	*) echo unclassified ;;
	esac
}

describe() {
	case $1 in
	syntax) echo "lexical and grammar errors: bad characters, escapes, unclosed brackets, missing tokens, bad literals" ;;
	names) echo "unknown or redefined names, assignment to undeclared or global names, missing imports" ;;
	calls) echo "wrong arity, unknown or repeated keywords, recursion, calling what is not callable" ;;
	types) echo "a value of the wrong kind or dtype: tensors where host values are needed, bools, strings, lists" ;;
	shapes) echo "shape mismatches: broadcasting, matmul, reshape, concat, declared types, axes" ;;
	integers) echo "host integer overflow, int() of huge floats, ints that do not fit in i32" ;;
	nesting) echo "expressions, statements and list values nested past the bound" ;;
	models) echo "model misuse: members, parameters (zero-size, non-f32), initializers, constructors" ;;
	training) echo "optimizer and minimize misuse, non-finite losses" ;;
	files) echo "missing, corrupt or truncated data, weight and checkpoint files (safetensors layout, meta fields), unwritable outputs, bad splits" ;;
	indices) echo "indices and token ids out of range, on the host and inside compiled steps (JIT, interpreter)" ;;
	memory) echo "parameters, optimizer state, host tensors, arenas, data sets and batches past the memory limit; bad --max-memory" ;;
	ir-text) echo "text IR given to sinter opt: malformed or duplicate regions" ;;
	command-line) echo "unknown commands and options, bad -D/--seed/--threads values, input files" ;;
	control-flow) echo "break/continue outside a loop or in a traced function, while conditions that are tensors or never end, append to a non-list" ;;
	*) echo "no class yet: give the test a '# CLASS:' header or a known prefix" ;;
	esac
}

table() {
	local t name class total=0
	declare -A count
	for t in *.sn; do
		name=${t%.sn}
		class=$(sed -n 's/^# CLASS: //p' "$t" | head -1)
		[ -n "$class" ] || class=$(class_of_prefix "${name%%_*}")
		count[$class]=$((${count[$class]:-0} + 1))
		total=$((total + 1))
	done
	echo "| class | tests | what they feed |"
	echo "|---|---:|---|"
	for class in $(printf '%s\n' "${!count[@]}" | sort); do
		echo "| $class | ${count[$class]} | $(describe "$class") |"
	done
	echo "| **total** | **$total** | |"
}

if [ "${1:-}" = --update ]; then
	readme=../README.md
	new=$(table)
	awk -v table="$new" '
		/<!-- classes:begin -->/ { print; print table; skip = 1; next }
		/<!-- classes:end -->/ { skip = 0 }
		!skip' "$readme" >"$readme.tmp"
	mv "$readme.tmp" "$readme"
else
	table
fi
