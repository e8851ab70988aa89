"""Packaging: the two dependency declarations agree; import is cheap."""

import os
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


# --- install anywhere ---------------------------------------------------------------------------

def _spec_bounds(spec):
    lo = re.search(r">=\s*3\.(\d+)", spec)
    hi = re.search(r"<\s*3\.(\d+)", spec)
    return int(lo.group(1)), int(hi.group(1)) - 1


def test_supported_pythons_follow_the_dependencies_and_are_stated():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lo, hi = _spec_bounds(project["requires-python"])
    # numba >= 0.63 runs on 3.14 (within the pinned numba range); numpy < 2.4 has no 3.15 wheels
    assert (lo, hi) == (10, 14)
    classifiers = {c.rsplit(":: ", 1)[-1] for c in project["classifiers"] if "Python :: 3." in c}
    assert classifiers == {f"3.{m}" for m in range(lo, hi + 1)}
    assert f"3.{lo} to 3.{hi}" in (ROOT / "README.md").read_text()
    env = (ROOT / "environment.yml").read_text()
    assert re.search(r"^  - python(.*)$", env, re.M).group(1).replace(" ", "") == \
        project["requires-python"].replace(" ", "")


def test_license_file_is_the_declared_one():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "LICENSE").read_text()
    assert project["license"] == "BSD-3-Clause" and "LICENSE" in project["license-files"]
    assert text.startswith("BSD 3-Clause License") and "precopy developers" in text


def test_pandas_is_an_extra_with_a_clear_message(monkeypatch):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(_name(d) == "pandas" for d in project["optional-dependencies"]["pandas"])
    import precopy as pc
    monkeypatch.setitem(sys.modules, "pandas", None)          # as if pandas were not installed
    t = pc.RoundTable({"round": [0, 1]})
    with pytest.raises(ImportError, match=r"pip install 'precopy\[pandas\]'"):
        t.to_pandas()


def test_readme_says_how_to_use_environment_yml():
    text = (ROOT / "README.md").read_text()
    assert "conda env create -f environment.yml" in text and "pip install -e '.[test]'" in text


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second_verbatim():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[2] == "```bash" and lines[5] == "```"
    main_job, tests = lines[3], lines[4]
    assert main_job.endswith("precopy figures") and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci


def test_package_alone_carries_every_dataset(tmp_path):
    """A non-editable install has only the package folder: copy it alone and use the data."""
    import shutil
    shutil.copytree(ROOT / "precopy", tmp_path / "site" / "precopy",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    work = tmp_path / "elsewhere"
    work.mkdir()
    code = ("import precopy as pc, pathlib\n"
            "from precopy import datasets, validation, workload_fit, links\n"
            "assert 'site' in pathlib.Path(pc.__file__).parts\n"
            "for n in datasets.FILES:\n"
            "    assert datasets.path(n).is_file(), n\n"
            "assert validation.scenario_rows()[0]\n"
            "assert workload_fit.clark_runs()\n"
            "assert links.profile(10e9).link().goodput_bps > 0\n"
            "tr = pc.workloads.Trace.load(datasets.path('example_trace.npz'))\n"
            "print('ok')")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tmp_path / "site")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=work, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_every_dataset_the_code_reads_is_package_data():
    """The wheel takes precopy/data/* (pyproject package-data); nothing the code reads is left
    in the top-level data/ folder, which holds the description for people."""
    pkg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["precopy"]
    assert "data/*" in pkg
    from precopy import datasets
    assert set(datasets.FILES) <= set(datasets.files())
    assert sorted(p.name for p in (ROOT / "data").iterdir() if p.is_file()) == ["README.md",
                                                                                "make_example_trace.py"]
