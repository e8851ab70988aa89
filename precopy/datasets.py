"""The published datasets in ``data/``: where they are and how to read them.

Every file keeps its provenance columns (``source_id``, ``source``/``note``,
``exactness``); ``data/README.md`` documents each file and every assumption made
when a published number becomes a model input.

The folder is found as ``$PRECOPY_DATA_DIR`` if that is set, else the ``data/``
folder next to the ``precopy`` package (a source checkout).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

__all__ = ["data_dir", "path", "read_csv"]


def data_dir() -> Path:
    """The folder holding the published datasets.

    Raises
    ------
    ValueError
        If neither ``$PRECOPY_DATA_DIR`` nor a ``data/`` folder beside the package exists.

    Examples
    --------
    >>> (data_dir() / "published_migrations.csv").exists()
    True
    """
    env = os.environ.get("PRECOPY_DATA_DIR")
    d = Path(env) if env else Path(__file__).resolve().parent.parent / "data"
    if not d.is_dir():
        raise ValueError(f"data directory {d} not found: set PRECOPY_DATA_DIR to the precopy data/ folder")
    return d


def path(name: str | os.PathLike) -> Path:
    """Path of a dataset: ``name`` inside :func:`data_dir`, or ``name`` itself if it
    is an existing path.

    Examples
    --------
    >>> path("published_migrations.csv").name
    'published_migrations.csv'
    """
    if isinstance(name, bool) or not isinstance(name, (str, os.PathLike)):
        raise ValueError(f"name must be a dataset file name (str or os.PathLike); got {type(name).__name__}")
    p = Path(name)
    if p.exists():
        return p
    q = data_dir() / p
    if not q.exists():
        raise ValueError(f"dataset {name!s} not found (looked in {data_dir()})")
    return q


def read_csv(name: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a CSV dataset as dicts of strings (empty cells are ``''``).

    Examples
    --------
    >>> rows = read_csv("migration_stream_throughput.csv")
    >>> rows[0]["source_id"]
    'T1a'
    """
    p = path(name)
    try:
        with open(p, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except UnicodeDecodeError:
        raise ValueError(f"dataset {name!s}: {p} is not a UTF-8 text (CSV) file") from None
    except (OSError, csv.Error) as e:
        raise ValueError(f"dataset {name!s}: cannot read {p} ({e})") from None
