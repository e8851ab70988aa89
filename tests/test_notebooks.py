"""Every notebook runs top to bottom, headless, on this tree's precopy; stored notebooks carry no outputs."""

import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"][: len(NOTEBOOKS)]
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs (nbstripout)"
    assert nb.metadata.kernelspec.name == "python3"


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory):
    """A 'python3' kernel spec for the interpreter running the tests, with this tree on its path."""
    from ipykernel.kernelspec import write_kernel_spec
    share = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(share / "kernels" / "python3", overrides={"display_name": "precopy tests"})
    env = {
        "JUPYTER_PATH": os.pathsep.join([str(share), os.environ.get("JUPYTER_PATH", "")]).rstrip(os.pathsep),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    return env


def execute(path, env, timeout_s=600):
    """Run a notebook in a fresh kernel; return it with outputs and the wall time."""
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import precopy\nprint('precopy from', precopy.__file__)"))
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        t0 = time.perf_counter()
        client.execute()
        return nb, time.perf_counter() - t0
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, kernel_env, capsys):
    nb, wall_s = execute(path, kernel_env)       # raises CellExecutionError on any error
    with capsys.disabled():
        print(f"\n{path.name}: executed in {wall_s:.1f} s", file=sys.stderr)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # the kernel imported this tree's precopy, not another installed copy
    assert f"precopy from {ROOT / 'precopy' / '__init__.py'}" in nb.cells[-1].outputs[0].text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} drew no figure"
    widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    if "MigrationExplorer" in "".join(c.source for c in nb.cells):
        assert widgets, f"{path.name} shows no widget"
        # the compile note is shown when the explorer is created (and updated in place)
        notes = [o for o in outputs if "precopy: kernels ready" in str(o.get("data", {}).get("text/html", ""))]
        assert notes, f"{path.name}: no visible compile note"
