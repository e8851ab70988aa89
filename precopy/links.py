"""Network links: nominal rate, framing, streams, caps.

The kernel needs one number, the goodput in bytes per second that a migration
stream achieves.  :class:`Link` derives it from a nominal line rate, the Ethernet/
IP/TCP framing implied by the MTU, the number of streams and a per-stream
throughput ceiling (one migration stream is CPU-bound), and an optional rate cap.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _validate as v

__all__ = ["Link", "framing_efficiency", "ETH_OVERHEAD_BYTES", "IP_TCP_HEADER_BYTES"]

#: Bytes an Ethernet frame occupies on the wire beyond its payload: preamble+SFD
#: 8, MAC header 14, FCS 4, inter-frame gap 12 (IEEE 802.3).
ETH_OVERHEAD_BYTES = 8 + 14 + 4 + 12
#: IPv4 header 20 + TCP header 20 + TCP timestamp option 12 (Linux default, RFC 7323).
IP_TCP_HEADER_BYTES = 20 + 20 + 12


def framing_efficiency(mtu: int) -> float:
    """Share of the line rate left for TCP payload at a given MTU.

    ``(mtu - IP/TCP headers) / (mtu + Ethernet overhead)``: 1448/1538 = 0.9415 at
    MTU 1500, 8948/9038 = 0.9900 at MTU 9000.

    Examples
    --------
    >>> round(framing_efficiency(1500), 4)
    0.9415
    """
    mtu = v.integer(mtu, "mtu", "bytes", lo=576, hi=65535)
    return (mtu - IP_TCP_HEADER_BYTES) / (mtu + ETH_OVERHEAD_BYTES)


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
        15 Gbit/s; see ``../shared/data/migration_stream_throughput.csv``).  ``None``:
        no per-stream ceiling.
    cap_bps : float or None, default None
        A rate cap on the payload (bits/s), e.g. an administrator's limit.
    rtt_s : float, default 0
        Round-trip time in seconds; recorded for models that use it.

    Examples
    --------
    >>> import precopy as pc
    >>> round(pc.Link(rate_bps=pc.Gbps(10)).goodput_bps / 1e9, 3)
    9.415
    >>> pc.Link(rate_bps=pc.Gbps(9.4), mtu=None).goodput_bps
    9400000000.0
    """

    rate_bps: float
    mtu: int | None = 1500
    streams: int = 1
    per_stream_bps: float | None = None
    cap_bps: float | None = None
    rtt_s: float = 0.0

    def __post_init__(self):
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

    @property
    def efficiency(self) -> float:
        """Framing efficiency (1 when ``mtu`` is None)."""
        return 1.0 if self.mtu is None else framing_efficiency(self.mtu)

    @property
    def goodput_bps(self) -> float:
        """Payload bits per second a migration achieves on this link."""
        g = self.rate_bps * self.efficiency
        if self.per_stream_bps is not None:
            g = min(g, self.streams * self.per_stream_bps)
        if self.cap_bps is not None:
            g = min(g, self.cap_bps)
        return g

    @property
    def goodput_Bps(self) -> float:
        """Payload bytes per second."""
        return self.goodput_bps / 8.0
