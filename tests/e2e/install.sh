#!/usr/bin/env bash
# tests/e2e/install.sh — `make install` into a temporary DESTDIR: the files
# land where docs say; the installed sinter runs and builds a program from a
# folder outside the checkout (standard library, libraries and headers found
# relative to the binary), still does after the install is moved, and its
# output equals the checkout's; --version, COMMAND --help for every command,
# the man page (groff without warnings, naming every command), the bash
# completion; make uninstall leaves nothing behind.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
dest=$tmp/root
prefix=/usr/local
make -C "$root" --no-print-directory install PREFIX=$prefix DESTDIR="$dest" >"$tmp/make.out" 2>&1
check "install: make install exits 0" test $? -eq 0
inst=$dest$prefix
missing=""
for f in bin/sinter lib/sinter/libsinter_host.a lib/sinter/libsinter_rt.a include/sinter/driver/aot.h \
	share/sinter/stdlib/layers.sn share/doc/sinter/LANGUAGE.md share/man/man1/sinter.1 \
	share/bash-completion/completions/sinter share/sinter/editors/vim/syntax/sinter.vim; do
	[ -e "$inst/$f" ] || missing="$missing $f"
done
check "install: every file in place${missing:+ (missing:$missing)}" test -z "$missing"
mkdir -p "$tmp/work" && cp "$root/examples/linreg.sn" "$tmp/work/"
cd "$tmp/work" || exit 1
"$root/sinter" run linreg.sn >want.out 2>&1
"$inst/bin/sinter" run linreg.sn >got.out 2>&1
check "install: the installed sinter runs a program from outside the checkout, same output" cmp -s want.out got.out
"$inst/bin/sinter" build linreg.sn -o lr >build.out 2>&1 && ./lr >lr.out 2>&1
check "install: the installed sinter builds a program that runs the same" cmp -s want.out lr.out
mv "$inst" "$tmp/moved"
"$tmp/moved/bin/sinter" build linreg.sn -o lr2 >build2.out 2>&1 && ./lr2 >lr2.out 2>&1
check "install: a moved install still builds and runs" cmp -s want.out lr2.out
mv "$tmp/moved" "$inst"
expect "install: --version" "sinter" bash -c "'$inst/bin/sinter' --version | cut -d' ' -f1"
cmds=$("$inst/bin/sinter" --help | sed -n 's/^  \([a-z]\+\) .*/\1/p')
check "install: --help lists the commands" test "$(echo $cmds | wc -w)" -ge 10
bad=""
for c in $cmds; do
	"$inst/bin/sinter" "$c" --help 2>&1 | head -1 | grep -q "^usage: sinter $c " || bad="$bad $c"
done
check "install: COMMAND --help for every command${bad:+ (wrong:$bad)}" test -z "$bad"
groff -man -Tutf8 -ww -z "$inst/share/man/man1/sinter.1" 2>"$tmp/groff.err"
check "install: the man page renders without warnings" bash -c "test $? -eq 0 && ! test -s '$tmp/groff.err'"
page=$(groff -man -Tascii -P-c -P-b -P-u -P-o "$inst/share/man/man1/sinter.1" 2>/dev/null)
bad=""
for c in $cmds; do grep -q "^ *$c " <<<"$page" || bad="$bad $c"; done
check "install: the man page names every command${bad:+ (missing:$bad)}" test -z "$bad"
comp() { # WORDS...: the completions of the last word
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _sinter; echo "${COMPREPLY[*]}"' \
		_ "$inst/share/bash-completion/completions/sinter" "$@"
}
: >run.jsonl
expect "install: completion of a command" "run" comp "$inst/bin/sinter" r
expect "install: completion of an option of run" "--time-passes" comp "$inst/bin/sinter" run --ti
expect "install: completion of a pass" "fusion" comp "$inst/bin/sinter" ir --after fu
expect "install: completion of a .sn file" "linreg.sn" comp "$inst/bin/sinter" run li
expect "install: completion of a log for plot" "run.jsonl" comp "$inst/bin/sinter" plot ru
make -C "$root" --no-print-directory uninstall PREFIX=$prefix DESTDIR="$dest" >"$tmp/make.out" 2>&1
check "install: make uninstall leaves no file" test -z "$(find "$dest" -type f)"
