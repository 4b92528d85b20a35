#!/usr/bin/env python3
"""Keep the help blocks of docs/cli/*.md equal to what `mw ... --help` prints.

Every fenced block in docs/cli/*.md whose first line is "usage: mw WORDS ..."
is the help of the command WORDS (the words before the first argument,
option or placeholder).  Without options this rewrites those blocks from the
binary; with --check it only reports blocks that differ and exits 1.

usage: scripts/cli_docs.py [--check] [--mw build/mw]
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"^```\n(usage: mw [^\n]*\n.*?)^```\n", re.S | re.M)


def command_words(usage_line):
    """The command words of "usage: mw a b ARG" or "mw a b ARG": [a, b]."""
    parts = usage_line.split()
    parts = parts[parts.index("mw") + 1:] if "mw" in parts else []
    words = []
    for w in parts:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", w):
            break
        words.append(w)
    return words


def help_text(mw, words):
    env = dict(os.environ, COLUMNS="100")
    env.pop("MW_URI", None)
    p = subprocess.run([mw, *words, "--help"], capture_output=True, text=True, timeout=30,
                       env=env, stdin=subprocess.DEVNULL)
    out = p.stdout if p.stdout.strip() else p.stderr
    return out if out.endswith("\n") else out + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--mw", default=os.path.join(ROOT, "build", "mw"))
    a = ap.parse_args()
    stale = []
    docs = os.path.join(ROOT, "docs", "cli")
    for name in sorted(os.listdir(docs)):
        if not name.endswith(".md"):
            continue
        path = os.path.join(docs, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()

        def repl(m):
            words = command_words(m.group(1).splitlines()[0])
            subs = {tuple(command_words(ln.split("or: ", 1)[1])[1:2])
                    for ln in m.group(1).splitlines() if ln.lstrip().startswith("or: ")}
            if subs - {tuple(words[1:2])}:  # a whole group's usage: the group's help
                words = words[:1]
            want = help_text(a.mw, words)
            if want != m.group(1):
                stale.append(f"docs/cli/{name}: mw {' '.join(words)} --help")
            return "```\n" + want + "```\n"

        new = BLOCK.sub(repl, text)
        if not a.check and new != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
    for s in stale:
        print(("stale: " if a.check else "updated: ") + s)
    return 1 if a.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
