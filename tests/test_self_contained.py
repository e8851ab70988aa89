"""The project stands on its own: no tracked file names a path outside the tree.

A user who clones or installs precopy has only what is in it, so no docstring,
README, notebook or script may point at a sibling directory, a machine's
absolute path, or a home directory.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Spelled in pieces so this file does not match itself.
_PATTERNS = [
    re.escape(".." + "/shared"),                    # a sibling directory of the checkout
    r"(?<![\w.])/" + "work/",                       # the development machine's work area
    r"(?<![\w.])/" + r"home/[A-Za-z_]",             # Linux home directories
    r"(?<![\w.])/" + r"Users/[A-Za-z_]",            # macOS home directories
    r"(?<![\w.])/" + r"root/",                      # root's home
    r"[A-Za-z]:\\" + r"Users\\",                    # Windows home directories
]
OUTSIDE = re.compile("|".join(_PATTERNS))


def tracked_files():
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing tracked to check")
    return [ROOT / p for p in out.decode().split("\0") if p]


def offending_lines(paths):
    bad = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue                                # binary data files, deleted in the work tree
        for i, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()[:120]}")
    return bad


def test_pattern_catches_what_it_must(tmp_path):
    samples = {
        "a.py": "see ``" + ".." + "/shared/reference/x.md``\n",
        "b.md": "run " + "/" + "work/main/.venv/bin/python\n",
        "c.txt": "data in " + "/" + "home/alice/data\n",
        "d.txt": "ok: docs/reference.md and ./benchmarks/x.c and https://example.org/work/x\n",
    }
    for name, text in samples.items():
        (tmp_path / name).write_text(text)
    global ROOT
    old, ROOT = ROOT, tmp_path
    try:
        bad = offending_lines(sorted(tmp_path.iterdir()))
    finally:
        ROOT = old
    assert [b.split(":")[0] for b in bad] == ["a.py", "b.md", "c.txt"]


def test_no_tracked_file_names_a_path_outside_the_tree():
    bad = offending_lines(tracked_files())
    assert not bad, "files naming paths outside the project:\n" + "\n".join(bad)
