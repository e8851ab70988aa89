"""Every registered figure renders; the same figure twice gives the same bytes; the manifest traces it."""

import hashlib
import json
import os
import re
import threading
from pathlib import Path

import matplotlib.figure
import pytest

from precopy import figures as F
from precopy.cli import main
from precopy.plotting import new_figure

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    a, b = tmp_path_factory.mktemp("run_a"), tmp_path_factory.mktemp("run_b")
    F._memo.clear()
    ma = F.render_all(out_dir=a, quick=True, progress=False)
    F._memo.clear()                     # recompute everything the second time, in two worker processes
    mb = F.render_all(out_dir=b, quick=True, progress=False, jobs=2)
    return a, ma, b, mb


def test_every_registered_figure_renders_png_and_pdf(two_runs):
    a, manifest, _, _ = two_runs
    names = {e["figure"] for e in manifest["files"]}
    assert names == set(F.REGISTRY)
    for name in F.REGISTRY:
        png, pdf = a / f"{name}.png", a / f"{name}.pdf"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert pdf.read_bytes()[:5] == b"%PDF-"


def test_running_twice_gives_the_same_bytes(two_runs):
    """The second run draws in two worker processes (--jobs 2): the same bytes as the serial one."""
    a, ma, b, mb = two_runs
    for name in F.REGISTRY:
        for fmt in F.FORMATS:
            assert (a / f"{name}.{fmt}").read_bytes() == (b / f"{name}.{fmt}").read_bytes(), f"{name}.{fmt}"
    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()


def test_manifest_lists_file_function_parameters(two_runs):
    a, manifest, _, _ = two_runs
    on_disk = json.loads((a / "manifest.json").read_text())
    assert on_disk == manifest
    assert len(manifest["files"]) == len(F.REGISTRY) * len(F.FORMATS)
    for e in manifest["files"]:
        spec = F.REGISTRY[e["figure"]]
        assert e["function"] == spec.function and e["function"].startswith("precopy.")
        assert e["function"].endswith("." + e["figure"])            # one function per figure, named after it
        assert set(e["parameters"]) == set(spec.params)
        assert e["quick"] is True
        assert e["sha256"] == hashlib.sha256((a / e["file"]).read_bytes()).hexdigest()
        assert (ROOT / "notebooks" / e["notebook"]).is_file()


def test_figure_params_and_errors():
    p = F.figure_params("downtime_vs_wws")
    assert p["links_gbps"] == (1.0, 10.0, 25.0) and p["seed"] == 1
    assert F.figure_params("downtime_vs_wws", quick=True)["memory_bytes"] < p["memory_bytes"]
    with pytest.raises(ValueError, match="figure name must be one of"):
        F.figure_params("nope")
    with pytest.raises(ValueError, match="unknown"):
        F.figure_params("downtime_vs_wws", colour="red")
    with pytest.raises(ValueError, match="fmt"):
        F.save(None, "x.gif")


def test_cli_renders_a_subset_and_updates_the_manifest(tmp_path, capsys):
    assert main(["figures", "--quick", "--no-progress", "--out", str(tmp_path), "quickstart_timeline"]) == 0
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert [e["file"] for e in m["files"]] == ["quickstart_timeline.png", "quickstart_timeline.pdf"] or \
        sorted(e["file"] for e in m["files"]) == ["quickstart_timeline.pdf", "quickstart_timeline.png"]
    assert "wrote 1 figure" in capsys.readouterr().out
    assert main(["figures", "--list"]) == 0
    listing = capsys.readouterr().out
    assert all(n in listing for n in F.REGISTRY)


def test_cli_unknown_figure_is_a_clear_error(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path), "no_such_figure"]) == 2
    assert "figure name must be one of" in capsys.readouterr().err


def test_figures_is_a_cli_command():
    from precopy.cli import COMMANDS
    assert COMMANDS["figures"][0] == "precopy.figures"


# ---------------------------------------------------------------------------------------------
# the output folder: atomic files, manifest, lock, errors (with small stand-in figures)


_FAKE = ("_t_alpha", "_t_beta", "_t_slow")
_release = threading.Event()


def _fake(name):
    def draw(scale=2.0):
        if name == "_t_slow":
            assert _release.wait(30)
        fig, ax = new_figure()
        ax.plot([0, 1, 2], [0, 1, scale], label=name)
        ax.set_title(f"{name} at {scale}")
        return fig
    draw.__name__ = draw.__qualname__ = name
    return draw


@pytest.fixture
def fake_figures():
    for n in _FAKE:
        F.register("01_quickstart.ipynb", quick={"scale": 1.0})(_fake(n))
    _release.clear()
    yield
    _release.set()
    for n in _FAKE:
        F.REGISTRY.pop(n, None)


def _hashes_true(folder):
    m = json.loads((folder / "manifest.json").read_text())
    for e in m["files"]:
        assert e["sha256"] == hashlib.sha256((folder / e["file"]).read_bytes()).hexdigest(), e["file"]
    return {e["file"] for e in m["files"]}


def test_interrupted_save_leaves_the_old_file_whole(tmp_path, fake_figures, monkeypatch):
    F.render_all(["_t_alpha"], tmp_path, progress=False)
    good = {f: (tmp_path / f).read_bytes() for f in ("_t_alpha.png", "_t_alpha.pdf")}
    real = matplotlib.figure.Figure.savefig

    def half_then_interrupt(self, fname, **kw):       # Ctrl-C while the file is being written
        if hasattr(fname, "write"):
            fname.write(b"%PDF-1.4 truncated")
        else:
            Path(fname).write_bytes(b"%PDF-1.4 truncated")
        raise KeyboardInterrupt
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        F.render_all(["_t_alpha"], tmp_path, quick=True, progress=False)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", real)
    assert {f: (tmp_path / f).read_bytes() for f in good} == good
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".precopy-figures")) == \
        ["_t_alpha.pdf", "_t_alpha.png", "manifest.json"]          # no temporary file left behind
    assert _hashes_true(tmp_path) == set(good)


def test_interrupted_full_run_over_a_quick_run_keeps_hashes_true(tmp_path, fake_figures, monkeypatch):
    F.render_all(["_t_alpha", "_t_beta"], tmp_path, quick=True, progress=False)
    spec = F.REGISTRY["_t_beta"]

    def interrupted(**kw):
        raise KeyboardInterrupt
    monkeypatch.setitem(F.REGISTRY, "_t_beta", F.FigureSpec("_t_beta", interrupted, spec.notebook, spec.params,
                                                            spec.quick))
    with pytest.raises(KeyboardInterrupt):
        F.render_all(["_t_alpha", "_t_beta"], tmp_path, progress=False)    # full run: alpha redrawn, then ^C
    files = _hashes_true(tmp_path)
    assert {"_t_alpha.png", "_t_beta.png"} <= files
    m = {e["file"]: e for e in json.loads((tmp_path / "manifest.json").read_text())["files"]}
    assert m["_t_alpha.png"]["quick"] is False and m["_t_beta.png"]["quick"] is True


def test_an_interrupt_at_any_rename_never_leaves_a_wrong_hash(tmp_path, fake_figures, monkeypatch):
    real = F._replace
    k = 0
    while True:
        d = tmp_path / f"run{k}"
        F.render_all(["_t_alpha", "_t_beta"], d, quick=True, progress=False)
        calls = []

        def replace(src, dst, calls=calls, k=k):
            calls.append(dst)
            if len(calls) == k + 1:
                raise KeyboardInterrupt
            real(src, dst)
        monkeypatch.setattr(F, "_replace", replace)
        try:
            F.render_all(["_t_alpha", "_t_beta"], d, progress=False)
            done = True
        except KeyboardInterrupt:
            done = False
        monkeypatch.setattr(F, "_replace", real)
        _hashes_true(d)
        assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]
        if done:
            break
        k += 1
    assert k >= 6


def test_concurrent_runs_keep_each_others_manifest_entries(tmp_path, fake_figures):
    errors = []

    def run(names):
        try:
            F.render_all(names, tmp_path, quick=True, progress=False)
        except BaseException as e:      # pragma: no cover - reported below
            errors.append(e)
    slow = threading.Thread(target=run, args=(["_t_slow"],))
    slow.start()                        # starts, then waits inside its figure
    run(["_t_alpha", "_t_beta"])        # a second run finishes meanwhile
    _release.set()
    slow.join(30)
    assert not errors
    files = _hashes_true(tmp_path)
    assert files == {f"{n}.{fmt}" for n in _FAKE for fmt in F.FORMATS}


@pytest.mark.parametrize("case", ["under_a_file", "existing_file", "unwritable"])
def test_out_errors_are_one_line(tmp_path, capsys, case, fake_figures):
    (tmp_path / "afile").write_text("x")
    if case == "under_a_file":
        out = tmp_path / "afile" / "figs"
    elif case == "existing_file":
        out = tmp_path / "afile"
    else:
        out = Path("/sys/precopy-figures-test")
        if not out.parent.is_dir():
            pytest.skip("needs a folder this user cannot write into")
    assert main(["figures", "--no-progress", "--out", str(out), "_t_alpha"]) == 2
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and cap.err.count("\n") == 1 and "--out" in cap.err, cap.err
    assert (tmp_path / "afile").read_text() == "x"


def test_unwritable_folder_is_one_line(tmp_path, capsys, fake_figures):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["figures", "--no-progress", "--out", str(ro), "_t_alpha"]) == 2
    finally:
        ro.chmod(0o700)
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"files": ["a"]}', b"\x89PNG\r\n\x1a\n\x00\xff"])
def test_malformed_manifest_is_one_line_and_nothing_is_drawn(tmp_path, capsys, content, fake_figures):
    (tmp_path / "manifest.json").write_bytes(content)
    assert main(["figures", "--no-progress", "--out", str(tmp_path), "_t_alpha"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "not a precopy figures manifest" in err
    assert not (tmp_path / "_t_alpha.png").exists()
    assert (tmp_path / "manifest.json").read_bytes() == content


def test_every_input_is_checked_before_drawing(tmp_path, fake_figures, monkeypatch):
    from precopy import datasets
    assert "link_fit_points.csv" in F.REGISTRY["link_fit"].inputs
    assert {"published_migrations.csv", "validation_map.csv"} <= set(F.REGISTRY["measured_vs_predicted"].inputs)
    real = datasets.path

    def missing(name):
        if str(name) == "link_fit_points.csv":
            raise ValueError("dataset link_fit_points.csv not found")
        return real(name)
    monkeypatch.setattr(datasets, "path", missing)
    with pytest.raises(ValueError, match="link_fit needs dataset link_fit_points.csv"):
        F.render_all(["_t_alpha", "link_fit"], tmp_path, quick=True, progress=False)
    assert not (tmp_path / "_t_alpha.png").exists()


# ---------------------------------------------------------------------------------------------
# figures a reviewer accepts

_IDENTIFIER = re.compile(r"\b[a-z]+_[a-z_]+\b|\b(qemu|xen|vmware|simgrid|hotcold)\b")


@pytest.mark.parametrize("name", [n for n in F.REGISTRY])
def test_figure_text_is_in_peoples_words(name, two_runs):
    from matplotlib.text import Text
    fig = F.REGISTRY[name].func(**F.figure_params(name, quick=True))
    texts = [t.get_text() for t in fig.findobj(Text) if t.get_text()]
    assert texts
    bad = [t for t in texts if _IDENTIFIER.search(t)]
    assert not bad, f"{name}: identifiers in {bad}"


def test_downtime_vs_wws_full_and_column_width(two_runs):
    full = F.downtime_vs_wws(**F.figure_params("downtime_vs_wws", quick=True))
    col = F.downtime_vs_wws_column(**F.figure_params("downtime_vs_wws_column", quick=True))
    assert col.get_figwidth() == 3.5 and full.get_figwidth() == pytest.approx(7.16)
    assert F.REGISTRY["downtime_vs_wws_column"].notebook == F.REGISTRY["downtime_vs_wws"].notebook
    assert F.figure_params("downtime_vs_wws_column") == F.figure_params("downtime_vs_wws")


@pytest.mark.parametrize("jobs", ["0", "-2", "two"])
def test_bad_jobs_is_one_line(tmp_path, capsys, jobs):
    if jobs == "two":
        with pytest.raises(SystemExit):
            main(["figures", "--jobs", jobs, "--out", str(tmp_path)])
        return
    assert main(["figures", "--no-progress", "--jobs", jobs, "--out", str(tmp_path), "link_fit"]) == 2
    err = capsys.readouterr().err
    assert "jobs" in err and err.count("\n") == 1
    assert not (tmp_path / "link_fit.png").exists()
