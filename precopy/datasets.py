"""The published datasets the code reads: where they are and how to read them.

The files ship inside the package (``precopy/data/``), so an installed wheel has
them as well as a source checkout; they are read with :mod:`importlib.resources`.
Every file keeps its provenance columns (``source_id``, ``source``/``note``,
``exactness``); ``data/README.md`` at the top of the source tree documents each
file and every assumption made when a published number becomes a model input.
"""

from __future__ import annotations

import csv
import io
import os
from importlib import resources
from pathlib import Path

__all__ = ["data_dir", "files", "path", "read_csv", "read_bytes"]

#: The datasets the commands read (``precopy validate``, ``fit-links``, ``fit-workload --clark``,
#: ``figures``), all shipped as package data.
FILES = ("published_migrations.csv", "validation_map.csv", "migration_stream_throughput.csv",
         "link_fit_points.csv", "clark2005_rounds.csv", "link_profiles.json", "example_trace.npz",
         "published_migrations_more.csv", "qemu_info_migrate.csv", "validation_map_more.csv", "calibration.json")


def _root():
    return resources.files("precopy").joinpath("data")


def data_dir() -> Path:
    """The folder holding the packaged datasets (``precopy/data`` of the installed package).

    Raises
    ------
    ValueError
        If the package was installed without its data (a broken install).

    Examples
    --------
    >>> (data_dir() / "published_migrations.csv").exists()
    True
    """
    root = _root()
    d = Path(str(root))
    if not d.is_dir():
        raise ValueError(f"precopy's packaged data folder {d} is missing: the installation is broken; "
                         f"reinstall precopy (its wheel carries precopy/data/)")
    return d


def files() -> list[str]:
    """Names of the packaged datasets.

    Examples
    --------
    >>> "published_migrations.csv" in files()
    True
    """
    return sorted(p.name for p in _root().iterdir() if p.is_file() and not p.name.startswith("."))


def path(name: str | os.PathLike) -> Path:
    """Path of a dataset: ``name`` itself if it is an existing file, else the packaged
    dataset of that name.

    Raises
    ------
    ValueError
        If ``name`` is neither an existing file nor a packaged dataset.

    Examples
    --------
    >>> path("published_migrations.csv").name
    'published_migrations.csv'
    """
    if isinstance(name, bool) or not isinstance(name, (str, os.PathLike)):
        raise ValueError(f"name must be a dataset file name (str or os.PathLike); got {type(name).__name__}")
    p = Path(name)
    if p.is_file():
        return p
    q = data_dir() / p
    if not q.is_file():
        raise ValueError(f"dataset {str(name)!r} not found: neither an existing file nor one of the packaged "
                         f"datasets ({', '.join(files())})")
    return q


def read_bytes(name: str | os.PathLike) -> bytes:
    """The raw bytes of a dataset (see :func:`path`)."""
    p = path(name)
    try:
        return p.read_bytes()
    except OSError as e:
        raise ValueError(f"{p}: cannot read the dataset ({e.strerror})") from None


def read_csv(name: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a CSV dataset as dicts of strings (empty cells are ``''``).

    Raises
    ------
    ValueError
        If the file is missing, unreadable or not UTF-8 text (naming the file).

    Examples
    --------
    >>> rows = read_csv("migration_stream_throughput.csv")
    >>> rows[0]["source_id"]
    'T1a'
    """
    data = read_bytes(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path(name)}: not a text (UTF-8 CSV) file: undecodable byte at offset {e.start}") \
            from None
    if "\x00" in text:
        raise ValueError(f"{path(name)}: not a text (CSV) file: it contains NUL bytes")
    return list(csv.DictReader(io.StringIO(text, newline="")))
