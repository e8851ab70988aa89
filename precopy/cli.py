"""The ``precopy`` command line: one sub-command per job.

Each sub-command lives in the module named in ``COMMANDS`` as a function
``add_arguments(parser)`` plus ``run(args) -> int``; this file only dispatches, so
modules own their commands.  A module holding several commands is named
``"module:prefix"`` and defines ``<prefix>_add_arguments`` and ``<prefix>_run``.

Only the module of the command being run is imported: ``precopy --help`` loads
neither numba nor Matplotlib.

Before a command runs, the files it reads must be text files and the folders it
writes into must exist (:data:`INPUT_FILES`, :data:`OUTPUT_FILES`), so that a bad
path fails in one line and before any simulation.  Errors are one line on stderr
(exit status 2 for bad input, 1 for a file the system refuses, 130 on Ctrl-C);
a closed output pipe (``precopy simulate ... | head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

#: sub-command -> (module, one-line help)
COMMANDS = {
    "simulate": ("precopy.predict:simulate", "simulate one migration and print its verdict, summary and round table"),
    "predict": ("precopy.predict", "predict every migration of a scenario table (CSV in, CSV out)"),
    "validate": ("precopy.validation", "predict the published measurements shipped with precopy and report the errors"),
    "fit-workload": ("precopy.workload_fit", "fit workload parameters to observed rounds or dirty-page samples"),
    "calibrate": ("precopy.validation:calibrate", "re-fit switchover, background and stream-ceiling parameters of the "
                                         "hypervisor presets to the published rows"),
    "fit-links": ("precopy.linkfit", "re-fit the link model to the published throughputs and rewrite the profiles"),
    "storage": ("precopy.storage", "simulate a Storage VMotion (snapshot, dirty block tracking, I/O mirroring)"),
    "drain": ("precopy.drain", "simulate draining a host: VMs share its links under an orchestrator's limits"),
    "eta": ("precopy.eta", "remaining time, verdict and progress of a migration in flight (query-migrate / domjobinfo)"),
    "dirty-rate": ("precopy.hvstats", "fit a workload to QMP calc-dirty-rate / virsh domstats --dirtyrate output and predict"),
    "plan": ("precopy.planning", "least bandwidth, streams, downtime limit and aid that meet the budgets; orchestrator settings"),
    "figures": ("precopy.figures", "redraw every figure of the notebooks (PNG + PDF, deterministic, with a manifest)"),
}

#: argument destinations that name files a command reads (checked to be text files first)
INPUT_FILES = ("scenarios", "points", "map", "rounds", "dirty_samples")
#: argument destinations that name files a command writes (their folder must exist; not a folder)
OUTPUT_FILES = ("output", "plot", "rounds_csv", "csv", "scenarios_out")


def _version() -> str:
    from . import __version__
    return __version__


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``precopy`` parser; only ``command``'s own arguments are loaded (all when ``"*"``)."""
    p = argparse.ArgumentParser(prog="precopy", description="Pre-copy live-migration simulator and models.",
                                epilog="Run 'precopy COMMAND --help' for a command's options.")
    p.add_argument("--version", action="version", version=f"precopy {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (mod, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        if command in (name, "*"):
            modname, _, prefix = mod.partition(":")
            m = importlib.import_module(modname)
            pre = f"{prefix}_" if prefix else ""
            getattr(m, f"{pre}add_arguments")(sp)
            sp.set_defaults(_run=getattr(m, f"{pre}run"), _parser=sp)
    return p


def _command_of(argv) -> str | None:
    for a in argv:
        if a == "--":
            return None
        if not a.startswith("-"):
            return a if a in COMMANDS else None
    return None


def _flag(parser, dest) -> str:
    for a in parser._actions:
        if a.dest == dest:
            return a.option_strings[-1] if a.option_strings else (a.metavar or a.dest)
    return dest


def _check_text_file(path: Path, flag: str) -> None:
    """A ValueError unless ``path`` (if it exists) is a readable text file."""
    if not path.exists():
        return                                   # the command itself reports a missing file
    if path.is_dir():
        raise ValueError(f"{flag}: {path} is a folder, not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError as e:
        raise ValueError(f"{flag}: cannot read {path} ({e.strerror})") from None
    if b"\x00" in head:
        raise ValueError(f"{flag}: {path} is not a text file (it holds binary data); a CSV file is expected")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        if len(head) < (1 << 16) or e.start < len(head) - 4:    # not just a character cut at 64 KiB
            raise ValueError(f"{flag}: {path} is not a UTF-8 text file (undecodable byte at offset {e.start}); "
                             f"a CSV file is expected") from None


def check_paths(args, parser) -> None:
    """Check the input and output paths of a parsed command line (see the module docs)."""
    for dest in INPUT_FILES:
        v = getattr(args, dest, None)
        if isinstance(v, str) and v:
            _check_text_file(Path(v), _flag(parser, dest))
    from ._validate import output_file
    for dest in OUTPUT_FILES:
        v = getattr(args, dest, None)
        if isinstance(v, str) and v and v != "-":
            # a default output (fit-links' packaged profiles) is only written on request
            output_file(v, _flag(parser, dest), writable=v != parser.get_default(dest))


def _quiet_broken_pipe() -> int:
    """stdout's reader went away (``| head``): stop without a traceback, like other tools."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 141                                   # 128 + SIGPIPE, as a shell reports it


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    name = f"precopy {args.command}"
    try:
        check_paths(args, args._parser)
        rc = int(args._run(args) or 0)
        sys.stdout.flush()                       # a closed pipe shows here, not at exit
        return rc
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return 130
    except ValueError as e:      # bad input: one clear line, no traceback
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:         # a file the system refuses: one line
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"{name}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
