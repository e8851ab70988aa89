"""Every registered figure renders; the same figure twice gives the same bytes; the manifest traces it."""

import hashlib
import json
from pathlib import Path

import pytest

from precopy import figures as F
from precopy.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    a, b = tmp_path_factory.mktemp("run_a"), tmp_path_factory.mktemp("run_b")
    F._memo.clear()
    ma = F.render_all(out_dir=a, quick=True, progress=False)
    F._memo.clear()                     # recompute everything the second time
    mb = F.render_all(out_dir=b, quick=True, progress=False)
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
