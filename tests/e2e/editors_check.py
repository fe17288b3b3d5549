"""editors_check.py — checks the editor support of editors/ against the
lexer: the JSON files parse, every reserved word of lang/lexer.l is in the
vim syntax file and in the TextMate grammar, and the grammar's patterns
scope a sample program as expected (a small TextMate tokenizer: at each
position the earliest match of the patterns in order, begin/end regions
with their inner patterns).  With --vim FILE it instead compares the
syntax items vim reported (one "LINE COL GROUP" per line) with the
expected ones; --sample writes the sample program and the vim script that
reports them.

Usage: editors_check.py ROOT [--vim VIMOUT | --sample SAMPLE SCRIPT VIMOUT]
Prints "PASS name" / "FAIL name: reason" lines.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402

# The sample program and, per line (1-based), a word of it (its first
# occurrence on the line), the TextMate scope and the vim syntax item
# expected there (its highlight group is the syntax file's `hi def link`).
SAMPLE = '''import "lib.sn"  # a comment
const N = 128
model Net(hidden = 0.5) {
  param w: f32[N, 784] = normal(std = 1e-3)
  buffer count: i32 = zeros
  fn call(x) = relu(x @ w) ** 2
}
optimizer plain(lr = 1e-2) {
  state m = zeros
  update(p, g) {
    p = p - lr * g
  }
}
train {
  for i in 0..10 {
    if i != 3 and not false { print("a\\tb\\n", none) } else { break }
  }
}
'''
EXPECT = [
    (1, "import", "keyword.control.import", "sinterInclude"),
    (1, "\"", "string.quoted.double", "sinterString"),
    (1, "#", "comment.line", "sinterComment"),
    (2, "const", "keyword.declaration", "sinterDefine"),
    (2, "128", "constant.numeric.integer", "sinterNumber"),
    (3, "model", "keyword.declaration", "sinterStructure"),
    (3, "Net", "entity.name.function", "sinterFuncName"),
    (3, "0.5", "constant.numeric.float", "sinterFloat"),
    (4, "param", "keyword.declaration.item", "sinterItem"),
    (4, "f32", "storage.type", "sinterType"),
    (4, "784", "constant.numeric.integer", "sinterNumber"),
    (4, "1e-3", "constant.numeric.float", "sinterFloat"),
    (5, "buffer", "keyword.declaration.item", "sinterItem"),
    (5, "i32", "storage.type", "sinterType"),
    (6, "fn", "keyword.declaration", "sinterDefine"),
    (6, "call", "entity.name.function", "sinterFuncName"),
    (6, "**", "keyword.operator", "sinterOperator"),
    (8, "optimizer", "keyword.declaration", "sinterStructure"),
    (8, "plain", "entity.name.function", "sinterFuncName"),
    (9, "state", "keyword.declaration.item", "sinterItem"),
    (10, "update", "keyword.declaration.item", "sinterItem"),
    (14, "train", "keyword.declaration", "sinterDefine"),
    (15, "for", "keyword.control", "sinterRepeat"),
    (15, "in", "keyword.control", "sinterRepeat"),
    (15, "0", "constant.numeric.integer", "sinterNumber"),
    (15, "..", "keyword.operator", "sinterOperator"),
    (16, "if", "keyword.control", "sinterConditional"),
    (16, "and", "keyword.operator.logical", "sinterOperatorKw"),
    (16, "false", "constant.language.boolean", "sinterBoolean"),
    (16, "\\t", "invalid.illegal.escape", "sinterBadEscape"),
    (16, "\\n", "constant.character.escape", "sinterEscape"),
    (16, "none", "constant.language.none", "sinterConstant"),
    (16, "break", "keyword.control", "sinterStatement"),
]


def expected():
    """(line, column, word, scope, group), columns 1-based."""
    lines = SAMPLE.split("\n")
    return [(ln, lines[ln - 1].index(word) + 1, word, scope, group) for ln, word, scope, group in EXPECT]


def reserved_words(root):
    words = []
    with open(os.path.join(root, "lang", "lexer.l")) as f:
        for line in f:
            m = re.match(r'^"([a-z]+)"\s+\{\s*TOK\(T_', line)
            if m:
                words.append(m.group(1))
    return words


class Grammar:
    """The part of TextMate's semantics the grammar uses: match patterns with
    captures, begin/end regions with inner patterns, includes."""

    def __init__(self, g):
        self.repo = g["repository"]
        self.top = self.flatten(g["patterns"])

    def flatten(self, pats):
        out = []
        for p in pats:
            if "include" in p:
                out += self.flatten([self.repo[p["include"][1:]]])
            elif "patterns" in p and "match" not in p and "begin" not in p:
                out += self.flatten(p["patterns"])
            else:
                out.append(p)
        return out

    def scopes(self, text):
        """A list with, per character, the innermost scope name or None."""
        res = []
        for line in text.split("\n"):
            sc = [None] * len(line)
            self.scan(line, 0, len(line), self.top, sc)
            res.append(sc)
        return res

    def scan(self, line, pos, stop, pats, sc):
        while pos < stop:
            best = None
            for p in pats:
                m = re.compile(p.get("match") or p["begin"]).search(line, pos)
                if m and m.end() > m.start() and (best is None or m.start() < best[1].start()):
                    best = (p, m)
            if best is None:
                return stop
            p, m = best
            if "match" in p:
                if "name" in p:
                    for i in range(m.start(), m.end()):
                        sc[i] = p["name"]
                for k, c in p.get("captures", {}).items():
                    if m.group(int(k)) is not None:
                        for i in range(m.start(int(k)), m.end(int(k))):
                            sc[i] = c["name"]
                pos = m.end()
            else:
                inner = self.flatten(p.get("patterns", []))
                end_re = re.compile(p["end"])
                q = m.end()
                while True:
                    e = end_re.search(line, q)
                    e_at = e.start() if e else len(line)
                    # inner patterns that start before the end win
                    nq = self.scan(line, q, e_at, inner, sc) if inner else e_at
                    if nq >= e_at:
                        break
                    q = nq
                end = e.end() if e else len(line)
                for i in range(m.start(), end):
                    if sc[i] is None:
                        sc[i] = p["name"]
                pos = end
        return pos


def main():
    root = sys.argv[1]
    report = Checks("editors ")
    if len(sys.argv) > 5 and sys.argv[2] == "--sample":
        sample, script, vimout = sys.argv[3:6]
        with open(sample, "w") as f:
            f.write(SAMPLE)
        with open(script, "w") as f:
            f.write("let s:out = []\n")
            for ln, col, _, _, _ in expected():
                f.write(f"call add(s:out, '{ln} {col} ' . synIDattr(synID({ln}, {col}, 1), 'name'))\n")
            f.write(f"call writefile(s:out, '{vimout}')\n")
        return 0
    if len(sys.argv) > 3 and sys.argv[2] == "--vim":
        got = {}
        with open(sys.argv[3]) as f:
            for line in f:
                ln, col, group = (line.split() + ["none"])[:3]
                got[(int(ln), int(col))] = group
        for ln, col, word, _, group in expected():
            report(f"vim {ln}:{col} {word}", got.get((ln, col)) == group,
                   f"vim highlights it as {got.get((ln, col))}, expected {group}")
        return report.status()
    ed = os.path.join(root, "editors")
    docs = {}
    for rel in ["vscode/syntaxes/sinter.tmLanguage.json", "vscode/package.json",
                "vscode/language-configuration.json"]:
        try:
            with open(os.path.join(ed, rel)) as f:
                docs[rel] = json.load(f)
            report(f"json {rel}", True)
        except (OSError, ValueError) as e:
            report(f"json {rel}", False, str(e))
    words = reserved_words(root)
    report("lexer has reserved words", len(words) >= 20, f"found only {words}")
    with open(os.path.join(ed, "vim", "syntax", "sinter.vim")) as f:
        vim_words = set()
        for line in f:
            if line.startswith("syn keyword"):
                vim_words.update(line.split()[3:])
    missing = [w for w in words if w not in vim_words]
    report("vim lists every reserved word", not missing, f"missing {missing}")
    g = docs.get("vscode/syntaxes/sinter.tmLanguage.json")
    if g is None:
        return report.status()
    kw = [p["match"] for p in g["repository"]["keyword"]["patterns"]]
    missing = [w for w in words if not any(re.fullmatch(m, w) for m in kw)]
    report("grammar lists every reserved word", not missing, f"missing {missing}")
    sc = Grammar(g).scopes(SAMPLE)
    for ln, col, word, scope, _ in expected():
        got = sc[ln - 1][col - 1]
        report(f"grammar {ln}:{col} {word}", got is not None and got.startswith(scope + "."),
               f"scoped {got}, expected {scope}")
    return report.status()


if __name__ == "__main__":
    sys.exit(main())
