"""Network links: nominal rate, framing, streams, caps, and fitted profiles.

The kernel needs one number, the goodput in bits per second that a migration
achieves.  :class:`Link` derives it from

* the **line payload capacity** ``rate_bps x framing_efficiency(mtu) x
  stack_efficiency``: the Ethernet/IP/TCP framing follows from header sizes
  (:func:`framing_efficiency`), and ``stack_efficiency`` is the share of that
  payload capacity a saturated TCP migration really reaches (fitted, <= 1);
* the **stream capacity** ``streams x per-stream ceiling``: one migration stream
  is CPU-bound (one vMotion stream tops out near 15-18 Gbit/s), and with a
  round-trip time a stream is also limited to ``window_bytes x 8 / rtt_s``;
* an optional **rate cap** ``cap_bps`` (QEMU's ``max-bandwidth``), which always binds.

Line and stream capacity combine through a soft minimum of exponent
``sharpness`` (``None``: a hard minimum), so the goodput bends smoothly as the
streams approach the line rate, as the measured vMotion and Cloud Hypervisor
multi-stream throughputs do.  The cap is applied as a hard minimum afterwards.

Fitted profiles (:func:`profile`, :meth:`Link.from_profile`) carry the
parameters that :mod:`precopy.linkfit` fitted with ``scipy.optimize`` to the
published throughputs in ``precopy/data/link_fit_points.csv``; they are stored in
``precopy/data/link_profiles.json`` with residuals and standard errors, and
``precopy fit-links`` re-runs the fit and rewrites that file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import _validate as v

__all__ = [
    "Link", "LinkProfile", "framing_efficiency", "soft_min", "profile", "profiles", "fitted_parameters",
    "PROFILE_NAMES", "STREAM_CLASSES", "ETH_OVERHEAD_BYTES", "IP_TCP_HEADER_BYTES", "PROFILES_PATH",
]

#: Bytes an Ethernet frame occupies on the wire beyond its payload: preamble+SFD
#: 8, MAC header 14, FCS 4, inter-frame gap 12 (IEEE 802.3).
ETH_OVERHEAD_BYTES = 8 + 14 + 4 + 12
#: IPv4 header 20 + TCP header 20 + TCP timestamp option 12 (Linux default, RFC 7323).
IP_TCP_HEADER_BYTES = 20 + 20 + 12

#: Where the fitted parameters live (rewritten by ``precopy fit-links``).
PROFILES_PATH = Path(__file__).parent / "data" / "link_profiles.json"

#: Built-in profile names, in order of rate.
PROFILE_NAMES = ("1GbE", "10GbE", "25GbE", "40GbE", "100GbE")
#: Stream classes with a fitted per-stream ceiling: ``modern`` (vMotion in vSphere
#: 6-8, Cloud Hypervisor 2025; used for QEMU, which published no per-stream
#: ceiling), ``hyperv-2012`` (Windows Server 2012 Hyper-V), ``none`` (no ceiling).
STREAM_CLASSES = ("modern", "hyperv-2012", "none")


def framing_efficiency(mtu: int) -> float:
    """Share of the line rate left for TCP payload at a given MTU.

    ``(mtu - IP/TCP headers) / (mtu + Ethernet overhead)``: 1448/1538 = 0.9415 at
    MTU 1500, 8948/9038 = 0.9900 at MTU 9000.

    Parameters
    ----------
    mtu : int
        Ethernet MTU in bytes, in [576, 65535].

    Returns
    -------
    float
        TCP payload bytes per byte time on the wire.

    References
    ----------
    IEEE 802.3 (preamble, header, FCS, inter-frame gap); RFC 791, RFC 9293 and
    RFC 7323 (IPv4, TCP and timestamp-option header sizes).

    Examples
    --------
    >>> round(framing_efficiency(1500), 4)
    0.9415
    >>> round(framing_efficiency(9000), 4)
    0.99
    """
    mtu = v.integer(mtu, "mtu", "bytes", lo=576, hi=65535)
    return (mtu - IP_TCP_HEADER_BYTES) / (mtu + ETH_OVERHEAD_BYTES)


def soft_min(a: float, b: float, sharpness: float | None) -> float:
    """Smooth minimum ``(a**-k + b**-k) ** (-1/k)`` of two positive rates.

    Never above ``min(a, b)``, increasing in both arguments, and equal to the
    hard minimum when ``sharpness`` is None (or either rate is infinite).

    Examples
    --------
    >>> soft_min(10.0, 20.0, None)
    10.0
    >>> round(soft_min(10.0, 10.0, 2.0), 4)      # two equal limits: 10 / sqrt(2)
    7.0711
    """
    a = v.real(a, "a", "bit/s", lo=0.0, lo_open=True, allow_inf=True)
    b = v.real(b, "b", "bit/s", lo=0.0, lo_open=True, allow_inf=True)
    if sharpness is not None:
        sharpness = v.real(sharpness, "sharpness", "exponent", lo=1.0, hi=100.0)
    if sharpness is None or math.isinf(a) or math.isinf(b):
        return min(a, b)
    lo, hi = (a, b) if a <= b else (b, a)
    return lo * (1.0 + (lo / hi) ** sharpness) ** (-1.0 / sharpness)


@dataclass(frozen=True)
class Link:
    """A migration link.

    Parameters
    ----------
    rate_bps : float
        Nominal line rate in bits per second (``pc.Gbps(10)`` for 10 GbE).
    mtu : int or None, default 1500
        Ethernet MTU in bytes; sets the framing efficiency.  ``None`` means
        ``rate_bps`` is already the payload rate (goodput), with no framing applied.
    streams : int, default 1
        Parallel migration streams (QEMU multifd channels, vMotion streams).
    per_stream_bps : float or None, default None
        Throughput ceiling of one stream in bits/s (one vMotion stream saturates near
        15 Gbit/s; see ``precopy/data/migration_stream_throughput.csv``).  ``None``:
        no per-stream ceiling.
    cap_bps : float or None, default None
        A rate cap on the payload (bits/s), e.g. an administrator's limit.  It
        always binds: ``goodput_bps <= cap_bps``.
    rtt_s : float, default 0
        Round-trip time in seconds.  With ``window_bytes`` set, one stream moves
        at most ``window_bytes * 8 / rtt_s`` bits/s.
    stack_efficiency : float, default 1
        Share of the framed payload capacity a saturated TCP migration reaches,
        in (0, 1] (fitted profiles: about 0.97).
    sharpness : float or None, default None
        Exponent of the soft minimum between line and stream capacity, in
        [1, 100]; ``None``: hard minimum.
    window_bytes : int or None, default None
        Bytes a stream may have in flight (TCP send/receive buffer); only used
        when ``rtt_s > 0``.  ``None``: no window limit.
    profile : str or None
        Name of the profile the link came from, for reports.

    Examples
    --------
    >>> import precopy as pc
    >>> round(pc.Link(rate_bps=pc.Gbps(10)).goodput_bps / 1e9, 3)
    9.415
    >>> pc.Link(rate_bps=pc.Gbps(9.4), mtu=None).goodput_bps
    9400000000.0
    >>> pc.Link(rate_bps=pc.Gbps(10), cap_bps=pc.Gbps(1)).goodput_bps
    1000000000.0
    """

    rate_bps: float
    mtu: int | None = 1500
    streams: int = 1
    per_stream_bps: float | None = None
    cap_bps: float | None = None
    rtt_s: float = 0.0
    stack_efficiency: float = 1.0
    sharpness: float | None = None
    window_bytes: int | None = None
    profile: str | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.profile is not None and not isinstance(self.profile, str):
            raise ValueError(f"profile must be a profile name (str) or None; got {self.profile!r}")
        object.__setattr__(self, "rate_bps", v.real(self.rate_bps, "rate_bps", "bit/s", lo=1e3, hi=1e13))
        if self.mtu is not None:
            object.__setattr__(self, "mtu", v.integer(self.mtu, "mtu", "bytes", lo=576, hi=65535))
        object.__setattr__(self, "streams", v.integer(self.streams, "streams", "count", lo=1, hi=1024))
        if self.per_stream_bps is not None:
            object.__setattr__(self, "per_stream_bps",
                               v.real(self.per_stream_bps, "per_stream_bps", "bit/s", lo=1e3, hi=1e13))
        if self.cap_bps is not None:
            object.__setattr__(self, "cap_bps", v.real(self.cap_bps, "cap_bps", "bit/s", lo=1e3, hi=1e13))
        object.__setattr__(self, "rtt_s", v.real(self.rtt_s, "rtt_s", "s", lo=0.0, hi=10.0))
        object.__setattr__(self, "stack_efficiency",
                           v.real(self.stack_efficiency, "stack_efficiency", "fraction", lo=0.0, hi=1.0,
                                  lo_open=True))
        if self.sharpness is not None:
            object.__setattr__(self, "sharpness", v.real(self.sharpness, "sharpness", "exponent", lo=1.0, hi=100.0))
        if self.window_bytes is not None:
            object.__setattr__(self, "window_bytes",
                               v.integer(self.window_bytes, "window_bytes", "bytes", lo=1024, hi=2**40))

    @classmethod
    def from_profile(cls, name, *, mtu: int | None = 1500, streams: int = 1, cap_bps: float | None = None,
                     rtt_s: float = 0.0, per_stream_bps: float | None = None,
                     stream_class: str = "modern") -> "Link":
        """A link with fitted parameters: see :func:`profile` and :meth:`LinkProfile.link`.

        Examples
        --------
        >>> import precopy as pc
        >>> link = pc.Link.from_profile("25GbE", streams=2)
        >>> 15e9 < link.goodput_bps < link.rate_bps
        True
        """
        return profile(name).link(mtu=mtu, streams=streams, cap_bps=cap_bps, rtt_s=rtt_s,
                                  per_stream_bps=per_stream_bps, stream_class=stream_class)

    @property
    def efficiency(self) -> float:
        """Framing efficiency (1 when ``mtu`` is None)."""
        return 1.0 if self.mtu is None else framing_efficiency(self.mtu)

    @property
    def line_bps(self) -> float:
        """Payload bits/s the line carries when it is the bottleneck."""
        return self.rate_bps * self.efficiency * self.stack_efficiency

    @property
    def stream_ceiling_bps(self) -> float:
        """Ceiling of one stream (bits/s): CPU-bound rate and, with an RTT, the TCP window."""
        c = math.inf if self.per_stream_bps is None else self.per_stream_bps
        if self.window_bytes is not None and self.rtt_s > 0:
            c = min(c, self.window_bytes * 8.0 / self.rtt_s)
        return c

    @property
    def streams_bps(self) -> float:
        """What the streams together can carry (bits/s; inf without a ceiling)."""
        return self.streams * self.stream_ceiling_bps

    @property
    def goodput_bps(self) -> float:
        """Payload bits per second a migration achieves on this link."""
        g = soft_min(self.line_bps, self.streams_bps, self.sharpness)
        if self.cap_bps is not None:
            g = min(g, self.cap_bps)
        return g

    @property
    def goodput_Bps(self) -> float:
        """Payload bytes per second."""
        return self.goodput_bps / 8.0

    @property
    def bottleneck(self) -> str:
        """What limits the goodput: ``'cap'``, ``'line'`` or ``'streams'``."""
        if self.cap_bps is not None and self.cap_bps <= soft_min(self.line_bps, self.streams_bps, self.sharpness):
            return "cap"
        return "line" if self.line_bps <= self.streams_bps else "streams"


# --- fitted profiles -------------------------------------------------------------

@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    p = Path(path)
    if not p.exists():
        raise ValueError(f"path: link profile file {p} does not exist; run `precopy fit-links` to create it")
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"path: cannot read the link profile file {p} ({e})") from None


def fitted_parameters(path: str | Path | None = None) -> dict:
    """The stored link fit: parameters with standard errors, residuals, profiles.

    Parameters
    ----------
    path : path, optional
        A JSON file written by :func:`precopy.linkfit.write_profiles`
        (default :data:`PROFILES_PATH`).

    Returns
    -------
    dict
        Keys ``parameters`` (name -> ``{"value", "std_error", "unit"}``),
        ``residuals`` (one record per fitted point), ``summary``, ``profiles``,
        ``fixed`` and ``model``.

    Examples
    --------
    >>> p = fitted_parameters()["parameters"]
    >>> 0.8 < p["stack_efficiency"]["value"] <= 1.0
    True
    """
    if path is not None and (isinstance(path, bool) or not isinstance(path, (str, os.PathLike))):
        raise ValueError(f"path must be a file name (str or os.PathLike) or None; got {type(path).__name__}")
    return _load(str(PROFILES_PATH if path is None else Path(path)))


def forget_fitted_parameters() -> None:
    """Drop the cached link fits, so that the next read sees a rewritten file."""
    _load.cache_clear()


def _param(params, key):
    return float(params["parameters"][key]["value"])


@dataclass(frozen=True)
class LinkProfile:
    """Fitted parameters of one nominal link rate.

    Parameters
    ----------
    name : str
        ``"1GbE"`` ... ``"100GbE"``, or ``"<x>Gbps"`` for a rate without a built-in profile.
    rate_bps : float
        Nominal line rate (bits/s).
    stack_efficiency, sharpness : float
        Fitted line efficiency and soft-minimum exponent (shared by all rates).
    per_stream_bps : dict
        Fitted per-stream ceiling (bits/s) per stream class (:data:`STREAM_CLASSES`).
    window_bytes : int
        TCP bytes in flight per stream (fixed, not fitted; used with an RTT).
    extrapolation : bool
        True when the profile lies outside the range the model was validated on
        (40 and 100 GbE, and rates without a built-in profile).
    evidence : tuple of str
        Fitted points measured at this nominal rate.

    Examples
    --------
    >>> pr = profile("10GbE")
    >>> pr.extrapolation, 8e9 < pr.link().goodput_bps < 9.42e9
    (False, True)
    """

    name: str
    rate_bps: float
    stack_efficiency: float
    sharpness: float
    per_stream_bps: dict
    window_bytes: int
    extrapolation: bool
    evidence: tuple = ()

    def __post_init__(self):
        # the same ranges as Link's, checked here so that a bad profile fails when built
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty profile name (str); got {self.name!r}")
        object.__setattr__(self, "rate_bps", v.real(self.rate_bps, "rate_bps", "bit/s", lo=1e3, hi=1e13))
        object.__setattr__(self, "stack_efficiency", v.real(self.stack_efficiency, "stack_efficiency", "fraction",
                                                            lo=0.0, hi=1.0, lo_open=True))
        object.__setattr__(self, "sharpness", v.real(self.sharpness, "sharpness", "exponent", lo=1.0, hi=100.0))
        if not isinstance(self.per_stream_bps, dict):
            raise ValueError(f"per_stream_bps must be a dict stream class -> bit/s or None; "
                             f"got {self.per_stream_bps!r}")
        for c, x in self.per_stream_bps.items():
            v.choice(c, "per_stream_bps key", STREAM_CLASSES)
            if x is not None:
                v.real(x, f"per_stream_bps[{c!r}]", "bit/s", lo=1e3, hi=1e13)
        object.__setattr__(self, "window_bytes", v.integer(self.window_bytes, "window_bytes", "bytes",
                                                           lo=1024, hi=2**40))
        object.__setattr__(self, "extrapolation", v.flag(self.extrapolation, "extrapolation"))
        if isinstance(self.evidence, (str, bytes)) or not hasattr(self.evidence, "__iter__") or \
                not all(isinstance(e, str) for e in self.evidence):
            raise ValueError(f"evidence must be a sequence of fit point ids (str); got {self.evidence!r}")
        object.__setattr__(self, "evidence", tuple(self.evidence))

    def link(self, *, mtu: int | None = 1500, streams: int = 1, cap_bps: float | None = None,
             rtt_s: float = 0.0, per_stream_bps: float | None = None, stream_class: str = "modern") -> Link:
        """A :class:`Link` at this rate with the fitted parameters.

        Parameters
        ----------
        mtu : int, default 1500
            Ethernet MTU (bytes); 9000 for jumbo frames.
        streams : int, default 1
            Parallel migration streams.
        cap_bps : float or None
            Rate cap (QEMU ``max-bandwidth``) in bits/s of payload.
        rtt_s : float, default 0
            Round-trip time (s); limits a stream to ``window_bytes * 8 / rtt_s``.
        per_stream_bps : float or None
            Override of the fitted per-stream ceiling (bits/s).
        stream_class : str, default ``'modern'``
            Which fitted per-stream ceiling to use (:data:`STREAM_CLASSES`).
        """
        v.choice(stream_class, "stream_class", STREAM_CLASSES)
        ps = self.per_stream_bps[stream_class] if per_stream_bps is None else per_stream_bps
        return Link(rate_bps=self.rate_bps, mtu=mtu, streams=streams, per_stream_bps=ps, cap_bps=cap_bps,
                    rtt_s=rtt_s, stack_efficiency=self.stack_efficiency, sharpness=self.sharpness,
                    window_bytes=self.window_bytes, profile=self.name)


def _profile_from(name, rate_bps, fit, extrapolation, evidence):
    par = fit["parameters"]
    ps = {c: _param(fit, f"per_stream_gbps[{c}]") * 1e9 for c in STREAM_CLASSES if c != "none"}
    ps["none"] = None
    return LinkProfile(name=name, rate_bps=float(rate_bps), stack_efficiency=_param(fit, "stack_efficiency"),
                       sharpness=float(par["sharpness"]["value"]), per_stream_bps=ps,
                       window_bytes=int(fit["fixed"]["window_bytes"]), extrapolation=bool(extrapolation),
                       evidence=tuple(evidence))


def _canonical(name) -> str | None:
    key = str(name).strip().lower().replace(" ", "").replace("gbit/s", "gbe").replace("gbps", "gbe")
    for n in PROFILE_NAMES:
        if key == n.lower():
            return n
    return None


def profile(name, *, path: str | Path | None = None) -> LinkProfile:
    """A fitted link profile by name (``"1GbE"``, ``"10GbE"``, ``"25GbE"``, ``"40GbE"``,
    ``"100GbE"``) or by nominal rate in bits/s.

    The model parameters are shared by all rates (one fit to every usable
    published throughput); a profile instantiates them at its nominal rate.
    Any other rate gives a profile marked ``extrapolation=True``.

    Parameters
    ----------
    name : str or float
        Profile name, or a nominal rate in bits/s (e.g. ``pc.Gbps(25)``).
    path : path, optional
        Stored fit to read (default :data:`PROFILES_PATH`).

    Returns
    -------
    LinkProfile

    Raises
    ------
    ValueError
        For an unknown name or a rate outside [1 kbit/s, 10 Tbit/s].

    References
    ----------
    ``precopy/data/link_fit_points.csv`` (the fitted points and their sources);
    :mod:`precopy.linkfit` (the fit).

    Examples
    --------
    >>> import precopy as pc
    >>> profile("25GbE").rate_bps
    25000000000.0
    >>> profile(pc.Gbps(25)).name
    '25GbE'
    >>> profile(pc.Gbps(2.5)).extrapolation
    True
    """
    fit = fitted_parameters(path)
    if isinstance(name, str):
        canon = _canonical(name)
        if canon is None:
            raise ValueError(f"name (link profile) must be one of {', '.join(map(repr, PROFILE_NAMES))} "
                             f"or a rate in bit/s; got {name!r}")
        rec = fit["profiles"][canon]
        return _profile_from(canon, rec["rate_gbps"] * 1e9, fit, rec["extrapolation"], rec["evidence"])
    rate = v.real(name, "name (a nominal rate_bps)", "bit/s", lo=1e3, hi=1e13)
    for n, rec in fit["profiles"].items():
        if abs(rec["rate_gbps"] * 1e9 - rate) <= 1e-9 * rate:
            return _profile_from(n, rate, fit, rec["extrapolation"], rec["evidence"])
    return _profile_from(f"{rate / 1e9:g}Gbps", rate, fit, True, ())


def profiles(path: str | Path | None = None) -> dict[str, LinkProfile]:
    """All built-in profiles by name.

    Examples
    --------
    >>> list(profiles())
    ['1GbE', '10GbE', '25GbE', '40GbE', '100GbE']
    """
    return {n: profile(n, path=path) for n in PROFILE_NAMES}
