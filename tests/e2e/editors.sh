#!/usr/bin/env bash
# tests/e2e/editors.sh — the editor support in editors/: the TextMate
# grammar and the VS Code files parse, both the grammar and the vim syntax
# file know every reserved word of the lexer, and a sample program gets the
# expected scopes from the grammar and the expected highlight groups from
# vim itself, run headless with the syntax file (editors_check.py).
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
status=0
"$PY" "$root/tests/e2e/editors_check.py" "$root" || status=1
need "vim is not installed (make test-deps installs it)" command -v vim
"$PY" "$root/tests/e2e/editors_check.py" "$root" --sample "$tmp/sample.sn" "$tmp/report.vim" "$tmp/groups"
# -es: silent Ex mode, no terminal; -Nu NONE: no user vimrc or plugins
vim -Nu NONE -i NONE -es \
	-c "set rtp^=$root/editors/vim" -c 'filetype on' -c 'syntax on' \
	-c "edit $tmp/sample.sn" -c "source $tmp/report.vim" -c 'qa!' </dev/null >/dev/null 2>&1
if [ -s "$tmp/groups" ]; then
	"$PY" "$root/tests/e2e/editors_check.py" "$root" --vim "$tmp/groups" || status=1
else
	fail "editors vim: vim wrote no highlight groups"
	status=1
fi
exit $status
