"""Packaging: the two dependency declarations agree; import is cheap."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# pip name -> conda-forge name, where they differ
CONDA_NAMES = {}


def _name(req: str) -> str:
    return re.split(r"[<>=!~ \[;]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_deps = {CONDA_NAMES.get(_name(d), _name(d)): d.replace(" ", "") for d in project["dependencies"]}
    conda = []
    in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        m = re.match(r"^  - ([A-Za-z0-9_.-][^#]*)$", line)
        if in_deps and m:
            conda.append(m.group(1).strip())
    conda_deps = {_name(d): d.replace(" ", "") for d in conda if _name(d) not in ("python", "pip", "pip:")}
    assert set(conda_deps) == set(pip_deps)
    for name, spec in pip_deps.items():           # same version ranges too
        assert conda_deps[name] == spec, name


def test_numpy_range_is_supported_by_numba_range():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {_name(d): d for d in project["dependencies"]}
    assert "numba" in deps and "<" in deps["numpy"], "numpy must be capped to a range numba supports"


def test_import_does_not_compile_or_import_heavy_modules():
    # (numba itself imports scipy, so scipy is not on the list)
    code = ("import sys, precopy; "
            "print(','.join(m for m in ('matplotlib', 'ipywidgets', 'tqdm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("cmd", [["--help"]])
def test_cli_runs(cmd):
    out = subprocess.run([sys.executable, "-m", "precopy", *cmd], capture_output=True, text=True)
    assert out.returncode == 0 and "precopy" in out.stdout


def test_second_process_loads_kernels_from_cache():
    code = ("import precopy as pc; from precopy import _kernel as K; pc.warmup(); "
            "print(sum(K.simulate_kernel.stats.cache_misses.values()), "
            "sum(K.simulate_kernel.stats.cache_hits.values()))")
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    misses, hits = map(int, out.stdout.split())
    assert misses == 0 and hits >= 1
