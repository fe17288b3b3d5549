#!/usr/bin/env bash
# tests/mutations/run.sh — `make mutation-check`: proves the tests notice
# gross bugs.  Each tests/mutations/*.patch is one recorded mutation of the
# code (a gradient rule, an optimizer constant, a codegen op, each pass, the
# memory plan, the data loader, checkpoint I/O); its first lines say what
# it breaks ("# text") and which tests must notice ("# CHECK: command",
# run with bash from the root of the mutated tree).
#
# The tracked files and the build directory are copied once to a temporary
# tree (so builds are incremental and the worktree is never touched); each
# mutation is applied there with patch(1), rebuilt (./sinter and the unit
# tests), checked, and reverted.  A mutation is KILLED when its CHECK exits
# non-zero, SURVIVED when it exits 0.  A patch that does not apply or a
# mutant that does not build is an ERROR.  Ends with a table and exits 1
# unless every mutation was killed (and there are at least 10 of them).
#
#   MUTATIONS="grad_erf_scale memplan_lifetime" tests/mutations/run.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset SINTER_STDLIB

names=${MUTATIONS:-$(ls tests/mutations/*.patch 2>/dev/null | sed 's|.*/||; s|\.patch$||')}
count=$(wc -w <<<"$names")
if [ -z "${MUTATIONS:-}" ] && [ "$count" -lt 10 ]; then
	echo "FAIL mutation-check: only $count mutations in tests/mutations (at least 10 expected)"
	exit 1
fi

echo "copying the tree to $work"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work" || exit 1
cp -a build "$work/" 2>/dev/null
cp -a sinter "$work/" 2>/dev/null
units=$(ls tests/unit/*.c | sed 's|tests/unit/\(.*\)\.c|build/tests/\1|')
# shellcheck disable=SC2086 # units are words
if ! (cd "$work" && make -s -j2 sinter $units >"$work/build.log" 2>&1); then
	echo "FAIL mutation-check: the unmutated copy does not build:"
	tail -5 "$work/build.log"
	exit 1
fi

killed=0 bad=0
table=""
for name in $names; do
	p=$root/tests/mutations/$name.patch
	what=$(sed -n '1s/^# //p' "$p")
	check=$(sed -n 's/^# CHECK: //p' "$p" | head -1)
	verdict=""
	if [ -z "$check" ]; then
		verdict="ERROR (no # CHECK: line)"
	elif ! (cd "$work" && patch -p1 -s -f <"$p" >"$work/patch.log" 2>&1); then
		verdict="ERROR (does not apply: $(head -1 "$work/patch.log"))"
	else
		# shellcheck disable=SC2086
		if ! (cd "$work" && make -s -j2 sinter $units >"$work/build.log" 2>&1); then
			verdict="ERROR (does not build: $(grep -m1 error "$work/build.log"))"
		else
			(cd "$work" && bash -c "$check") >"$work/$name.log" 2>&1
			rc=$?
			if [ $rc -ne 0 ]; then
				verdict="KILLED ($(grep -c '^FAIL\|  \[.*\] FAIL' "$work/$name.log") FAIL lines, exit $rc)"
			else
				verdict="SURVIVED"
			fi
		fi
		(cd "$work" && patch -p1 -s -R -f <"$p" >/dev/null 2>&1) || {
			echo "FAIL mutation-check: cannot revert $name"
			exit 1
		}
	fi
	case $verdict in
	KILLED*) killed=$((killed + 1)) ;;
	*) bad=$((bad + 1)) ;;
	esac
	echo "$name: $verdict"
	[ "$verdict" = SURVIVED ] && tail -3 "$work/$name.log" | sed 's/^/    /'
	table+=$(printf '%-20s %-40s %s' "$name" "$verdict" "$what")$'\n'
	table+=$(printf '%-20s   check: %s' "" "$check")$'\n'
done
echo
echo "mutation                verdict                                  what it breaks"
printf '%s' "$table"
echo "$killed of $count mutations killed"
[ "$bad" -eq 0 ]
