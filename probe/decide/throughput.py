"""Throttling from a throughput test: a ratio and a shape, never an absolute speed alone.

A download's rate is its bytes over its time (request sent → last byte, or the time cap). Per
repeat, the target's rate is compared with the faster of its references (the same address with
an innocuous SNI, and a control site): at most THROTTLE_RATIO (OONI's 10× slowdown) is "slow".
`throttled` needs every judged repeat slow, at least MIN_REPEATS of them, and a policer's shape:
after the initial burst, the target's rate in fixed bins stays at one level: their spread, the
smaller of the coefficient of variation and the median absolute deviation over the median, is
at most PLATEAU_MAX_VARIATION. The robust spread forgives TCP through a dropping policer its
stalls (a retransmission timeout now and then leaves a few empty bins, the policer's doing, not
congestion's); the coefficient forgives a handful of bins split between two close levels, where
the median deviation is coarse. Congestion's noise fails both. Which reference
was fast names the technique: the same address with another SNI fast → keyed on the SNI; slow
too while control sites are fast → the address. Everything slow at once is the network
(METHODS §1.5, §13 throttling).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass
from itertools import pairwise
from statistics import fmean, median, pstdev

from probe.decide.evidence import ThroughputEvidence
from probe.decide.rules import THROUGHPUT_RULES, Rule, first_match
from probe.models.observations import (
    ThroughputLimits,
    ThroughputTest,
    ThroughputTransfer,
    TransferRole,
)
from probe.models.results import Finding

THROTTLE_RATIO = 0.1
MIN_REPEATS = 2
PLATEAU_MAX_VARIATION = 0.3
BURST_SHARE = 0.2  # the first fifth of a body is the burst: slow start, a policer's bucket
MIN_BIN_S = 0.2
MIN_BINS = 4
BIN_PACKETS = 8  # a bin holds this many full packets at the plateau rate, at least
PACKET_BYTES = 1_500
SLOW_NETWORK_BPS = 5_000_000  # references below this: "the network is slow"


@dataclass(frozen=True)
class Plateau:
    """The steady part of a download: its median bin rate and how far the bins stray from it
    (the smaller of their coefficient of variation and median absolute deviation over median)."""

    bps: float
    variation: float
    bins: int

    @property
    def flat(self) -> bool:
        return self.variation <= PLATEAU_MAX_VARIATION


def measured(transfer: ThroughputTransfer, limits: ThroughputLimits) -> bool:
    """Return whether a download is long enough to give a rate (a cut one is)."""
    if transfer.failure is not None or transfer.status_code is None:
        return False
    if transfer.status_code >= 400 or transfer.duration_s <= 0 or transfer.bytes == 0:
        return False
    return transfer.stopped in ("max_bytes", "max_duration") or transfer.bytes >= limits.min_bytes


def rate_bps(transfer: ThroughputTransfer) -> float:
    """Return the download's rate in bits per second (0 when it took no time)."""
    return 8 * transfer.bytes / transfer.duration_s if transfer.duration_s > 0 else 0.0


def plateau(transfer: ThroughputTransfer) -> Plateau | None:
    """Return the download's plateau after its burst, None when too short to show a shape."""
    samples = transfer.samples
    start = transfer.ttfb_s or 0.0
    end = transfer.duration_s
    if not samples or end <= start:
        return None
    times = [0.0, *(s.t for s in samples)]
    counts = [0, *(s.bytes for s in samples)]

    def bytes_at(t: float) -> float:
        # Reads arrive in lumps (whole socket buffers): between two samples the bytes are
        # taken to have come in evenly, or a 200 ms bin would count one lump more or less.
        index = bisect_right(times, t)
        if index >= len(times):
            return counts[-1]
        before, after = times[index - 1], times[index]
        share = (t - before) / (after - before) if after > before else 1.0
        return counts[index - 1] + share * (counts[index] - counts[index - 1])

    steady_from = start + BURST_SHARE * (end - start)
    steady_bytes = bytes_at(end) - bytes_at(steady_from)
    if steady_bytes <= 0:
        return None
    steady_bps = 8 * steady_bytes / (end - steady_from)
    width = max(MIN_BIN_S, BIN_PACKETS * PACKET_BYTES * 8 / steady_bps)
    bins = int((end - steady_from) / width)
    if bins < MIN_BINS:
        return None
    edges = [end - width * i for i in range(bins, -1, -1)]  # aligned to the end
    rates = [8 * (bytes_at(b) - bytes_at(a)) / width for a, b in pairwise(edges)]
    level, mean = median(rates), fmean(rates)
    if level <= 0 or mean <= 0:
        return Plateau(bps=level, variation=math.inf, bins=bins)
    robust = median(abs(rate - level) for rate in rates) / level
    return Plateau(bps=level, variation=min(robust, pstdev(rates) / mean), bins=bins)


@dataclass(frozen=True)
class _Repeat:
    target: ThroughputTransfer
    same: ThroughputTransfer | None
    control: ThroughputTransfer | None


def _repeats(test: ThroughputTest, url: str) -> list[_Repeat]:
    """Return the object's repeats with a measured target, each with its measured references."""
    by_repeat: dict[int, dict[TransferRole, ThroughputTransfer]] = {}
    controls: dict[int, ThroughputTransfer] = {}
    for transfer in test.transfers:
        if not measured(transfer, test.limits):
            continue
        if transfer.role is TransferRole.CONTROL:
            controls.setdefault(transfer.repeat, transfer)
        elif transfer.url == url:
            by_repeat.setdefault(transfer.repeat, {}).setdefault(transfer.role, transfer)
    return [
        _Repeat(roles[TransferRole.TARGET], roles.get(TransferRole.SAME_ADDRESS), controls.get(n))
        for n, roles in sorted(by_repeat.items())
        if TransferRole.TARGET in roles
    ]


def _median(values: list[float]) -> float | None:
    return median(values) if values else None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _evidence(test: ThroughputTest, url: str) -> ThroughputEvidence:
    repeats = _repeats(test, url)
    judged = [r for r in repeats if r.same is not None or r.control is not None]
    ratios, best, same_ratios, same_vs_control, slow = [], [], [], [], []
    for r in judged:
        best.append(max(rate_bps(t) for t in (r.same, r.control) if t is not None))
        ratio = rate_bps(r.target) / best[-1]
        ratios.append(ratio)
        if ratio <= THROTTLE_RATIO:
            slow.append(r)
        if r.same is not None:
            same_ratios.append(rate_bps(r.target) / rate_bps(r.same))
            if r.control is not None:
                same_vs_control.append(rate_bps(r.same) / rate_bps(r.control))
    plateaus = [p for p in (plateau(r.target) for r in slow) if p is not None]
    flat = [p for p in plateaus if p.flat]
    shown = flat or plateaus
    return ThroughputEvidence(
        object=url,
        measured_targets=len(repeats),
        judged=len(judged),
        slow=len(slow),
        flat=len(flat),
        needed=MIN_REPEATS,
        target_bps=_median([rate_bps(r.target) for r in repeats]),
        reference_bps=_median(best),
        same_address_bps=_median([rate_bps(r.same) for r in repeats if r.same is not None]),
        control_bps=_median([rate_bps(r.control) for r in repeats if r.control is not None]),
        ratio=_median(ratios),
        same_ratio=_median(same_ratios),
        same_vs_control=_median(same_vs_control),
        plateau_bps=_median([p.bps for p in shown]),
        plateau_variation=_median([p.variation for p in shown]),
        target_handshake_s=_median(
            [r.target.handshake_s for r in repeats if r.target.handshake_s is not None]
        ),
        same_handshake_s=_median(
            [r.same.handshake_s for r in repeats if r.same and r.same.handshake_s is not None]
        ),
        innocuous_sni=test.innocuous_sni or "",
        slow_network_bps=SLOW_NETWORK_BPS,
    )


def _finding(rule: Rule[ThroughputEvidence], evidence: ThroughputEvidence) -> Finding:
    return Finding(
        layer=rule.layer,
        rule_id=rule.id,
        verdict=rule.verdict,
        blocking=rule.blocking,
        reasons=[rule.render(evidence.facts())],
    )


def throughput_finding(test: ThroughputTest) -> Finding:
    """Return the throughput test's finding: throttled (with the technique) or why not.

    Each measured object is judged on its own; a throttled object decides, else the first.
    """
    if test.skipped is not None or not test.objects:
        evidence = ThroughputEvidence(skipped=test.skipped or "no large object")
        return _finding(first_match(THROUGHPUT_RULES, evidence), evidence)
    findings = []
    for url in test.objects:
        evidence = _evidence(test, url)
        findings.append(_finding(first_match(THROUGHPUT_RULES, evidence), evidence))
    return next((f for f in findings if f.blocking is not None), findings[0])


__all__ = ["THROTTLE_RATIO", "Plateau", "measured", "plateau", "rate_bps", "throughput_finding"]
