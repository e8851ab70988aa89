"""Calibration: every fitted parameter recovers known values and the stored file is reproducible."""

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from precopy import calibrate as CF, calibration as C, validation as V
from precopy.units import GiB, MiB


@dataclass
class FakeCase:
    scenario: str
    hypervisor: str
    kind: str
    memory_bytes: int
    measured: dict
    device_bytes: float = 0.0
    workload: object = None

    @property
    def uses_background(self):
        return self.kind == "sim" and self.workload is None


def test_stream_ceiling_fit_reproduces_the_vmotion_rows():
    rec = CF.fit_stream_ceilings()
    assert rec["rows"] == list(CF.VMWARE_STREAM_ROWS)
    # every row within 20 % (log residual), the one-stream statement (T2, 15 Gbit/s) within 10 %
    assert all(abs(e) < math.log(1.2) for e in rec["log_residuals"].values())
    assert abs(rec["log_residuals"]["T2"]) < math.log(1.1)


def test_device_state_fit_recovers_a_line():
    cs = [FakeCase(f"d{i}", "vmware-6", "device", 0, {"downtime_ms": (2.0 + b / 100.0) * 1e3, "converged": True},
                   device_bytes=b * MiB(1)) for i, b in enumerate((1000, 2000, 5000, 9000))]
    cs.append(FakeCase("fail", "vmware-6", "device", 0, {"downtime_ms": None, "converged": False},
                       device_bytes=GiB(30)))
    out = CF.fit_device_state(cs)
    assert out["device_fixed_s[vmware]"]["value"] == pytest.approx(2.0, rel=1e-4)
    assert out["device_rate_mibps[vmware]"]["value"] == pytest.approx(100.0, rel=1e-4)
    assert out["device_rate_mibps[vmware]"]["rows"] == ["d0", "d1", "d2", "d3"]


def test_switchover_fit_recovers_terms_and_background():
    """Measured = memory part at a known background + 30 ms + 0.5 ms/GiB; the fit finds them."""
    true_bg = (8.0, 3.0)

    def ram(case, bg):
        if not case.uses_background or bg is None:
            return 0.0
        w, r = bg
        # a smooth saturating stand-in for the simulator: the set at the row's link speed
        return link_s_per_mib[case.scenario] * w * (1 - math.exp(-r / 2.0))

    mems = (4, 16, 64, 1024)
    link_s_per_mib = {"q0": 0.008, "q1": 0.0008, "q2": 0.004, "q3": 0.002}
    cs = []
    for i, m in enumerate(mems):
        c = FakeCase(f"q{i}", "qemu", "sim", GiB(m), {"converged": True})
        c.measured["downtime_ms"] = (ram(c, true_bg) + 0.03 + 0.0005 * m) * 1e3
        cs.append(c)
    cs.append(FakeCase("x0", "xen-3", "sim", GiB(1), {"converged": True, "downtime_ms": 100.0}, workload="fixed"))
    out = CF.fit_switchover(cs, ram)
    assert out["switchover_fixed_s[qemu]"]["value"] == pytest.approx(0.03, abs=2e-3)
    assert out["switchover_per_gib_s[qemu]"]["value"] == pytest.approx(0.0005, rel=0.05)
    assert out["switchover_fixed_s[xen]"]["value"] == pytest.approx(0.1, rel=1e-3)
    assert out["background_set_mib"]["rows"] == ["q0", "q1", "q2", "q3"]
    assert out["switchover_fixed_s[qemu]"]["rows"] == ["q0", "q1", "q2", "q3"]
    assert out["switchover_fixed_s[xen]"]["rows"] == ["x0"]


def test_switchover_fit_without_xen_rows_falls_back():
    cs = [FakeCase(f"q{i}", "qemu", "downtime", GiB(m), {"converged": True, "downtime_ms": 50.0})
          for i, m in enumerate((4, 64))]
    out = CF.fit_switchover(cs, lambda c, bg: 0.0)
    assert out["switchover_fixed_s[xen]"]["value"] is None and out["switchover_fixed_s[xen]"]["fallback"]
    cal = C.Calibration(out)
    assert cal.switchover_fixed_s("xen") == cal.switchover_fixed_s("qemu")


def test_stored_calibration_is_what_the_fit_gives():
    """precopy/data/calibration.json is reproduced by the code from the rows in data/."""
    stored = C.load()
    cs, _ = V.cases()
    import json
    seeds = json.loads(C.CALIBRATION_PATH.read_text()).get("seeds", 3)
    fresh = CF.fit(cs, V.RamPart(seeds))
    assert set(fresh.params) == set(stored.params)
    for k, rec in fresh.params.items():
        a, b = rec["value"], stored.params[k]["value"]
        assert (a is None and b is None) or a == pytest.approx(b, rel=1e-6, abs=1e-12), k
        assert rec.get("rows", []) == stored.params[k].get("rows", []), k
