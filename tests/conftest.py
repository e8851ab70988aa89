import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


import math

import pytest


@pytest.fixture
def per_write_path(monkeypatch):
    """Draw every write: the kernel's exact per-write path, which the plain twins
    in tests/naive.py restate draw for draw (the set path agrees with it in
    distribution only; tests/test_setpath_kernel.py)."""
    from precopy import config
    monkeypatch.setattr(config, "DIRTYSET_MIN_WRITES_PER_PAGE", math.inf)
    monkeypatch.setattr(config, "DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE", math.inf)
