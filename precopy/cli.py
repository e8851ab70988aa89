"""The ``precopy`` command line: one sub-command per job.

Each sub-command lives in the module named in ``COMMANDS`` as a function
``add_arguments(parser)`` plus ``run(args) -> int``; this file only dispatches, so
modules own their commands and importing the CLI stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: sub-command -> (module, one-line help)
COMMANDS = {
    "figures": ("precopy.figures", "redraw every figure of the notebooks (PNG + PDF, deterministic, with a manifest)"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="precopy", description="Pre-copy live-migration simulator and models.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (mod, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        m = importlib.import_module(mod)
        m.add_arguments(sp)
        sp.set_defaults(_run=m.run)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except ValueError as e:      # bad input: one clear line, no traceback
        print(f"precopy {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
