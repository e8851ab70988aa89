import os
import sys
from pathlib import Path

# Under pytest-xdist (pyproject's addopts run the suite on every core), each worker gets its own
# numba cache folder before numba is imported: numba's cache index is a read-modify-write of one
# file per function, so two processes compiling different signatures of one kernel at the same
# moment could leave an index entry pointing at the other signature's machine code.  The worker's
# subprocesses (notebook kernels, joblib and figure workers) inherit the folder.  The folders sit
# under .pytest_cache so that later runs load them instead of compiling again.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = str(Path(__file__).resolve().parents[1] / ".pytest_cache" / "numba" / _WORKER)
    if "numba" in sys.modules:                      # pragma: no cover - imported by a plugin first
        from numba.core import config as _numba_config
        _numba_config.reload_config()

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


import math

import pytest

#: The longest test files, collected first: ``--dist loadfile`` hands whole files to the workers in
#: collection order, so a long file collected last would leave one worker running it alone.
_LONG_FILES_FIRST = ("test_figures.py", "test_notebooks.py", "test_bad_inputs.py", "test_kernel_vs_naive.py",
                     "test_browser.py", "test_widgets.py", "test_aids.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))     # stable: file order kept otherwise


@pytest.fixture
def per_write_path(monkeypatch):
    """Draw every write: the kernel's exact per-write path, which the plain twins
    in tests/naive.py restate draw for draw (the set path agrees with it in
    distribution only; tests/test_setpath_kernel.py)."""
    from precopy import config
    monkeypatch.setattr(config, "DIRTYSET_MIN_WRITES_PER_PAGE", math.inf)
    monkeypatch.setattr(config, "DIRTYSET_ALIAS_MIN_WRITES_PER_PAGE", math.inf)
