"""The ``precopy`` command line: one sub-command per job.

Each sub-command lives in the module named in ``COMMANDS`` as a function
``add_arguments(parser)`` plus ``run(args) -> int``; this file only dispatches, so
modules own their commands and importing the CLI stays cheap.  A module holding
several commands is named ``"module:prefix"`` and defines
``<prefix>_add_arguments`` and ``<prefix>_run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: sub-command -> (module, one-line help)
COMMANDS = {
    "simulate": ("precopy.predict:simulate", "simulate one migration and print its summary and round table"),
    "predict": ("precopy.predict", "predict every migration of a scenario table (CSV in, CSV out)"),
    "validate": ("precopy.validation", "predict the published measurements in data/ and report the errors"),
    "fit-workload": ("precopy.workload_fit", "fit workload parameters to observed rounds or dirty-page samples"),
    "fit-links": ("precopy.linkfit", "re-fit the link model to data/link_fit_points.csv and rewrite the profiles"),
    "storage": ("precopy.storage", "simulate a Storage VMotion (snapshot, dirty block tracking, I/O mirroring)"),
    "eta": ("precopy.eta", "remaining time, verdict and progress of a migration in flight (query-migrate / domjobinfo)"),
    "dirty-rate": ("precopy.hvstats", "fit a workload to QMP calc-dirty-rate / virsh domstats --dirtyrate output and predict"),
    "plan": ("precopy.planning", "least bandwidth, streams, downtime limit and aid that meet the budgets; orchestrator settings"),
    "figures": ("precopy.figures", "redraw every figure of the notebooks (PNG + PDF, deterministic, with a manifest)"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="precopy", description="Pre-copy live-migration simulator and models.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (mod, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        modname, _, prefix = mod.partition(":")
        m = importlib.import_module(modname)
        pre = f"{prefix}_" if prefix else ""
        getattr(m, f"{pre}add_arguments")(sp)
        sp.set_defaults(_run=getattr(m, f"{pre}run"))
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
