"""The command line as a user meets it: units, bounds on the work, verdicts, one-line errors,
closed pipes and cheap start-up."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dataclasses import replace

import precopy as pc
from precopy import predict as P
from precopy.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
HEADER = "scenario,memory_mib,link_gbps,workload,wws_mib,write_mibps,policy,seeds"
# small, converges in a few rounds with the cap lifted; does not under QEMU's 128 MiB/s default
BUSY = ["--memory", "1GiB", "--wws", "256MiB", "--write-rate", "195MiB/s", "--link", "10GbE"]


def _err(capsys, argv):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if anything is simulated (errors must come before the work)."""
    S = importlib.import_module("precopy.simulate")      # the module (pc.simulate is the function)

    def boom(*a, **k):
        raise AssertionError("simulated although the input was bad")
    monkeypatch.setattr(S, "simulate", boom)
    monkeypatch.setattr(S.Prepared, "run", boom)
    monkeypatch.setattr(P, "predict_scenario", boom)


# --- units --------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, value, shows", [
    ("--max-bandwidth", "128", "128MiB/s"),
    ("--downtime-limit", "300", "300ms"),
    ("--write-rate", "10000", "10000MiB/s"),
    ("--memory", "16", "16GiB"),
    ("--wws", "64", "64GiB"),
    ("--rtt", "5", "5ms"),
    ("--link", "25", "25GbE"),
    ("--timeout", "600", "600ms"),
])
def test_bare_numbers_are_refused_with_the_accepted_forms(capsys, no_simulation, flag, value, shows):
    argv = ["simulate", "--memory", "1GiB", "--link", "10GbE", "--write-rate", "10MiB/s"]
    i = argv.index(flag) if flag in argv else None
    if i is None:
        argv += [flag, value]
    else:
        argv[i + 1] = value
    rc, _, err = _err(capsys, argv)
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert flag in err and "no unit" in err and shows in err and repr(value) in err


def test_units_are_accepted_where_the_readme_shows_numbers(capsys):
    args = P.simulate_row(build(["--memory", "16G", "--wws", "1GiB", "--write-rate", "781MiB/s", "--link", "25GbE",
                                 "--downtime-limit", "0.5s", "--max-bandwidth", "10Gbps", "--rtt", "0.5ms"]))
    assert args["memory_mib"] == 16384 and args["downtime_limit_ms"] == 500.0
    assert args["max_bandwidth_mibps"] == pytest.approx(1e10 / 8 / 2**20)
    assert args["rtt_ms"] == 0.5
    assert P.simulate_row(build(["--memory", "1GiB", "--link", "1GbE", "--max-bandwidth", "0"]))[
        "max_bandwidth_mibps"] == 0.0


def build(argv):
    from precopy.cli import build_parser
    return build_parser("simulate").parse_args(["simulate", *argv])


def test_errors_report_the_value_as_typed(capsys, no_simulation):
    rc, _, err = _err(capsys, ["simulate", "--memory", "1KiB", "--link", "1GbE"])
    assert rc == 2 and "--memory" in err and "'1KiB'" in err and "0.0009765625" not in err
    rc, _, err = _err(capsys, ["simulate", "--memory", "1GiB", "--link", "1GbE", "--hot-fraction", "nan",
                               "--wws", "64MiB", "--write-rate", "1MiB/s"])
    assert rc == 2 and "--hot-fraction" in err and "'nan'" in err


@pytest.mark.parametrize("fn", [pc.KiB, pc.MiB, pc.GiB, pc.TiB, pc.KB, pc.GB, pc.Gbps, pc.MiBps, pc.ms])
def test_unit_helpers_refuse_strings(fn):
    with pytest.raises(ValueError, match=r"takes a number; got '16' \(a str\).*parse_"):
        fn("16")
    with pytest.raises(ValueError, match="takes a number"):
        fn(True)
    assert fn(2) == 2 * fn(1)


def test_unit_parsers_keep_bits_and_bytes_apart():
    u = pc.units
    assert u.parse_byte_rate("8Gbps") == 1e9 and u.parse_rate_bps("1GB/s") == 8e9
    assert u.parse_bytes("16G") == pc.GiB(16) and u.parse_bytes("512MB") == 512e6
    with pytest.raises(ValueError, match="a lower-case b is a bit"):
        u.parse_bytes("16Gb")
    with pytest.raises(ValueError, match="add '/s'"):
        u.parse_byte_rate("128MiB")
    assert u.parse_seconds("0") == 0.0 and u.parse_bytes("0") == 0


# --- the work is bounded and shown ----------------------------------------------------------------

def test_a_huge_run_is_refused_before_it_starts(capsys, no_simulation):
    # the case: a cap of 128 bytes/s makes the timeout ~10 x a 6-day bulk pass.  With XBZRLE the
    # kernel applies every one of its 1.3e10 page writes: refused
    rc, _, err = _err(capsys, ["simulate", "--memory", "64MiB", "--write-rate", "10MiB/s", "--link", "1GbE",
                               "--max-bandwidth", "128B/s", "--xbzrle", "1MiB"])
    assert rc == 2
    assert "--max-writes" in err and "--timeout" in err and "page writes" in err


def test_set_path_runs_are_priced_by_pages_not_writes():
    # without XBZRLE the same migration draws each round's dirty set at once (precopy._dirtyset): each of its
    # 11 rounds costs at most the guest's 16384 pages, not the 1.2e9 writes of a 5.2e5 s round
    row = {"scenario": "a", "memory_mib": 64, "link_gbps": 1, "workload": "uniform", "write_mibps": 10,
           "policy": "qemu", "max_bandwidth_mibps": 128 / 2**20, "seeds": 1}
    sc = P.parse_scenario(row)
    w = P.estimate_work(sc)
    rounds = int(P._analytic_result(sc).n_rounds)
    assert w.writes <= (rounds + 1) * sc.vm.n_pages < 1e7
    assert w.writes_per_s * w.simulated_s > 1e10                          # what the writes alone would be
    from precopy.aids import XBZRLE
    per_write = P.estimate_work(replace(sc, aids=(XBZRLE(cache_bytes=2**20),)))
    assert per_write.writes > 1e10


def test_the_bound_is_adjustable(capsys):
    argv = ["simulate", *BUSY, "--max-bandwidth", "0", "--max-writes", "1e3"]
    rc, _, err = _err(capsys, argv)
    assert rc == 2 and "above the bound of 1e+03" in err
    rc, out, _ = _err(capsys, argv[:-2] + ["--max-writes", "1e12"])
    assert rc == 0 and out.startswith("converged")
    rc, _, err = _err(capsys, argv[:-2] + ["--max-writes", "nan"])
    assert rc == 2 and "--max-writes must be a positive number" in err


def test_estimate_is_writes_times_simulated_time():
    sc = P.parse_scenario({"scenario": "a", "memory_mib": 1024, "link_gbps": 10, "workload": "uniform",
                           "write_mibps": 4, "policy": "qemu", "max_bandwidth_mibps": 0, "seeds": 3})
    w = P.estimate_work(sc)
    a = P._analytic_result(sc)
    assert w.simulated_s == pytest.approx(a.total_time_s)
    live = [d for d, stop in zip(a.rounds["duration_s"], a.rounds["stop_copy"]) if not stop]
    # under one write per page in every round: the kernel applies each write (no set draw)
    assert all(1024 * d < sc.vm.n_pages for d in live)
    assert w.writes == pytest.approx(3 * (1024 * sum(live) + sc.vm.n_pages))
    slow = P.parse_scenario({"scenario": "b", "memory_mib": 1024, "link_gbps": 1, "workload": "uniform",
                             "write_mibps": 400, "policy": "qemu", "seeds": 1})
    assert P.estimate_work(slow).simulated_s == slow.policy.timeout_s      # does not converge: the timeout


def test_predict_refuses_a_huge_table_before_any_row_and_writes_nothing(tmp_path, capsys, no_simulation):
    src = tmp_path / "s.csv"
    src.write_text(HEADER + ",max_bandwidth_mibps\nok,64,1,idle,,,qemu,1,\n"
                   "huge,65536,1,uniform,,4000,qemu,100,0.001\n")
    rc, _, err = _err(capsys, ["predict", str(src), "-o", str(tmp_path / "r.csv")])
    assert rc == 2 and "row 2 (scenario 'huge')" in err and "--max-writes" in err
    assert not (tmp_path / "r.csv").exists()


def test_long_runs_show_progress(capsys, monkeypatch):
    monkeypatch.setattr(P, "PROGRESS_AFTER_S", 0.0)
    rc, out, err = _err(capsys, ["simulate", *BUSY, "--max-bandwidth", "0"])
    assert rc == 0 and "estimated" in err
    rc, out, err = _err(capsys, ["simulate", *BUSY, "--max-bandwidth", "0", "--no-progress"])
    assert rc == 0 and "estimated" not in err


# --- the verdict comes first ------------------------------------------------------------------------

def test_a_migration_that_does_not_converge_says_why_and_which_flag(capsys):
    rc, out, _ = _err(capsys, ["simulate", *BUSY, "--timeout", "60s"])
    assert rc == 0
    first = out.splitlines()[:4]
    assert first[0].startswith("did NOT converge: stopped by the 60 s timeout")
    assert any("capped at 128 MiB/s" in ln for ln in first)
    assert any("try: --max-bandwidth 0" in ln for ln in first)
    assert "max_bandwidth_bps" not in out                       # the flag, not the Python keyword
    rc, out, _ = _err(capsys, ["simulate", *BUSY, "--max-bandwidth", "0"])
    assert rc == 0 and out.startswith("converged: ")


def test_readme_first_cli_example_converges():
    text = (ROOT / "README.md").read_text()
    cmd = next(ln for ln in text.splitlines() if ln.startswith("precopy simulate "))
    assert "--max-bandwidth 0" in cmd
    argv = cmd.split()[1:]
    argv = [a for a in argv if not a.endswith(".png")]
    if "--plot" in argv:
        argv.remove("--plot")
    r = subprocess.run([sys.executable, "-m", "precopy", *argv, "--no-progress"], capture_output=True, text=True,
                       env=ENV, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("converged: ")


# --- files first, closed pipes, one-line errors --------------------------------------------------------

def test_closed_pipe_is_quiet_and_files_are_written_first(tmp_path):
    png, csv_ = tmp_path / "t.png", tmp_path / "r.csv"
    p = subprocess.Popen([sys.executable, "-m", "precopy", "simulate", *BUSY, "--max-bandwidth", "0",
                          "--plot", str(png), "--rounds-csv", str(csv_)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=tmp_path)
    p.stdout.close()                                    # `| head -0`: the reader is gone at once
    err = p.stderr.read().decode()
    p.wait(timeout=600)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert p.returncode in (0, 141)
    assert png.stat().st_size > 1000 and csv_.read_text().startswith("round,")


@pytest.mark.parametrize("flag", ["--plot", "--rounds-csv"])
def test_output_into_a_missing_folder_fails_before_simulating(tmp_path, capsys, no_simulation, flag):
    target = tmp_path / "missing" / "x.png"
    rc, _, err = _err(capsys, ["simulate", *BUSY, flag, str(target)])
    assert rc == 2 and err.count("\n") == 1
    assert flag in err and "does not exist" in err and str(target.parent) in err


def test_predict_output_is_checked_before_any_row(tmp_path, capsys, no_simulation):
    src = tmp_path / "s.csv"
    src.write_text(HEADER + "\nidle,128,1,idle,,,qemu,2\n")
    for out, needle in ((tmp_path, "is a folder"), (tmp_path / "nope" / "r.csv", "does not exist"),
                        (src / "r.csv", "is a file, not a folder")):
        rc, _, err = _err(capsys, ["predict", str(src), "-o", str(out)])
        assert rc == 2 and "--output" in err and needle in err and err.count("\n") == 1, err


def test_binary_input_names_the_file(tmp_path, capsys, no_simulation):
    b = tmp_path / "scen.csv"
    b.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    rc, _, err = _err(capsys, ["predict", str(b), "-o", str(tmp_path / "r.csv")])
    assert rc == 2 and str(b) in err and "not a text file" in err and err.count("\n") == 1
    rc, _, err = _err(capsys, ["fit-workload", "--rounds", str(b), "--memory", "1GiB"])
    assert rc == 2 and "--rounds" in err and str(b) in err and "not a text file" in err
    latin = tmp_path / "latin.csv"
    latin.write_bytes(("scenario,memory_mib\n" + "caf\xe9,1\n").encode("latin-1"))
    rc, _, err = _err(capsys, ["predict", str(latin), "-o", str(tmp_path / "r.csv")])
    assert rc == 2 and "not a UTF-8 text file" in err


def test_storage_errors_name_the_flags(capsys):
    for argv, flag, internal in ((["--path-rate", "1B/s"], "--path-rate", "rate_Bps"),
                                 (["--path-rate", "1GiB/s", "--io-depth", "0"], "--io-depth", "io_depth"),
                                 (["--path-rate", "1GiB/s", "--wws", "8GiB"], "--wws", "wws_bytes"),
                                 (["--path-rate", "1GiB/s", "--block", "3KiB"], "--block", "block_bytes"),
                                 (["--path-rate", "1GiB/s", "--rtt", "1h"], "--rtt", "rtt_s"),
                                 (["--path-rate", "1GiB/s", "--hot-fraction", "0.5"], "--hot-fraction", "hot_fraction")):
        rc, _, err = _err(capsys, ["storage", "--disk", "4GiB", *argv])
        assert rc == 2 and flag in err and internal not in err, err
    rc, _, err = _err(capsys, ["storage", "--disk", "4GiB", "--path-rate", "1B/s"])
    assert "'1B/s'" in err


def test_interrupt_ends_the_command_with_one_line(capsys, monkeypatch):
    S = importlib.import_module("precopy.simulate")

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(S, "simulate", interrupted)
    rc, _, err = _err(capsys, ["simulate", *BUSY])
    assert rc == 130 and "interrupted" in err and "Traceback" not in err


# --- cheap start-up ------------------------------------------------------------------------------------

from precopy.cli import COMMANDS  # noqa: E402

HEAVY = ("numba", "llvmlite", "scipy", "matplotlib", "ipywidgets", "pandas", "tqdm")


def _loaded(code):
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(','.join(m for m in "
                          f"{HEAVY!r} if m in sys.modules))"], capture_output=True, text=True, env=ENV, check=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def test_import_precopy_loads_nothing_heavy():
    assert _loaded("import precopy") == ""


@pytest.mark.parametrize("argv", [["--help"]] + [[c, "--help"] for c in COMMANDS])
def test_help_loads_neither_numba_nor_matplotlib(argv):
    code = f"from precopy.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    loaded = _loaded(code).split(",")
    assert "numba" not in loaded and "matplotlib" not in loaded and "llvmlite" not in loaded


def test_lazy_names_still_work():
    code = ("import precopy as pc, precopy.simulate, precopy.analytic\n"
            "assert callable(pc.simulate) and pc.simulate.__module__ == 'precopy.simulate'\n"
            "from precopy import simulate\nassert simulate is pc.simulate\n"
            "assert pc.workloads.HotCold and pc.policies.QEMU and pc.VM and pc.Link and pc.Prepared\n"
            "assert set(pc.__all__) <= set(dir(pc))\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    with pytest.raises(AttributeError):
        pc.no_such_name


def test_predict_jobs_gives_the_serial_result(tmp_path):
    """`precopy predict --jobs 2` (worker processes) writes the same table as the serial run."""
    src = tmp_path / "s.csv"
    src.write_text("scenario,memory_mib,link_gbps,workload,wws_mib,write_mibps,policy,max_bandwidth_mibps,seeds\n"
                   "a,256,1,hotcold,32,50,qemu,0,2\nb,512,10,uniform,,20,xen,,2\nc,256,1,idle,,,vmware,,1\n")
    assert main(["predict", str(src), "-o", str(tmp_path / "one.csv"), "--no-progress"]) == 0
    assert main(["predict", str(src), "-o", str(tmp_path / "two.csv"), "--no-progress", "--jobs", "2"]) == 0
    assert (tmp_path / "one.csv").read_text() == (tmp_path / "two.csv").read_text()
    assert main(["predict", str(src), "-o", str(tmp_path / "x.csv"), "--jobs", "0"]) == 2
