"""decide/throughput.py: throttling from download time series, a ratio and a shape.

Series are built the way measure/throughput.py records them (cumulative bytes on the wire,
one sample per 25 ms): a policer's burst then flat plateau, congestion's noisy rate, a fast
download that ends at its byte cap. Recordings from the lab (tests/decide/data/throughput/,
written by `scripts/lab.sh record`) are judged too.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probe.decide import cut_while_arriving, target_verdict
from probe.decide.rules import THROUGHPUT_RULES
from probe.decide.throughput import (
    MIN_REPEATS,
    THROTTLE_RATIO,
    measured,
    plateau,
    rate_bps,
    throughput_finding,
)
from probe.models.observations import (
    HttpTransaction,
    ThroughputLimits,
    ThroughputSample,
    ThroughputTest,
    ThroughputTransfer,
    TransferRole,
)
from probe.models.results import (
    Blocking,
    EndpointResult,
    Finding,
    Layer,
    TestKeys,
    Verdict,
)
from probe.models.targets import Target, TargetKind

from .builders import IP, context, control, fetch, https, judge, keys, query, tls_step

LIMITS = ThroughputLimits(repeats=2, duration_s=5.0, max_bytes=1 << 20, min_bytes=1 << 16)
OBJECT = "https://abs.twimg.com/sticky/illustrations/lohp_en_1302x955.png"
CONTROL = "https://speed.cloudflare.com/__down?bytes=4194304"
RECORDINGS = Path(__file__).parent / "data" / "throughput"
TARGET, SAME, CTL = TransferRole.TARGET, TransferRole.SAME_ADDRESS, TransferRole.CONTROL
STEP_S = 0.025


def download(
    role: TransferRole,
    repeat: int,
    rate: float,
    *,
    burst: int = 0,
    noise: float = 0.0,
    seed: int = 0,
    limits: ThroughputLimits = LIMITS,
    total: int | None = None,
    ttfb: float = 0.05,
    url: str | None = None,
    stall_every_s: float = 0.0,
) -> ThroughputTransfer:
    """Return a download at `rate` bit/s after a `burst` of bytes, stopped as measure/ stops it.

    `noise`: each 200 ms the rate is multiplied by a random factor in [1 - noise, 1 + noise]
    (congestion); `total`: the object's size (the download completes there); `stall_every_s`:
    nothing arrives for 250 ms once per period (TCP's retransmission timeout behind a policer
    that drops), the rate is made up for in between.
    """
    rng = random.Random(seed)
    cap = min(limits.max_bytes, total) if total is not None else limits.max_bytes
    received, t, factor = burst, ttfb, 1.0
    samples = [ThroughputSample(t=ttfb, bytes=min(burst, cap) or 1)]
    stopped = "max_duration"
    while t < limits.duration_s:
        if noise and round(t / STEP_S) % 8 == 0:
            factor = rng.uniform(1 - noise, 1 + noise)
        t = round(t + STEP_S, 6)
        stalled = stall_every_s and (t % stall_every_s) < 0.25
        boost = stall_every_s / (stall_every_s - 0.25) if stall_every_s else 1.0
        received += 0 if stalled else int(rate * factor * boost * STEP_S / 8)
        if received >= cap:
            received = cap
            samples.append(ThroughputSample(t=t, bytes=received))
            stopped = "complete" if total is not None and total <= limits.max_bytes else "max_bytes"
            break
        samples.append(ThroughputSample(t=t, bytes=received))
    return ThroughputTransfer(
        role=role,
        repeat=repeat,
        url=url or (CONTROL if role is CTL else OBJECT),
        address="104.244.42.1:443",
        server_name="example.org" if role is SAME else "abs.twimg.com",
        verified=role is not SAME,
        status_code=200,
        connect_s=0.04,
        handshake_s=0.09,
        ttfb_s=ttfb,
        bytes=samples[-1].bytes,
        duration_s=samples[-1].t if stopped != "max_duration" else limits.duration_s,
        stopped=stopped,
        samples=samples,
        t0=1.0,
    )


def failed(
    role: TransferRole, repeat: int, failure: str = "connection_reset"
) -> ThroughputTransfer:
    return ThroughputTransfer(
        role=role, repeat=repeat, url=CONTROL if role is CTL else OBJECT, server_name="x",
        verified=True, failure=failure, x_failed_operation="read", stopped="failure", t0=1.0,
    )  # fmt: skip


def make_test(
    *transfers: ThroughputTransfer, objects: tuple[str, ...] = (OBJECT,)
) -> ThroughputTest:
    return ThroughputTest(
        objects=list(objects), innocuous_sni="example.org", limits=LIMITS, transfers=list(transfers)
    )


def repeats(
    target: float, same: float | None, control: float | None, **shape: float
) -> list[ThroughputTransfer]:
    """Return two repeats at these rates (None: that reference failed); shape applies to all."""
    found = []
    for n in (1, 2):
        found.append(download(TARGET, n, target, seed=n, **shape))  # type: ignore[arg-type]
        found.append(download(SAME, n, same, seed=10 + n) if same else failed(SAME, n))
        found.append(download(CTL, n, control, seed=20 + n) if control else failed(CTL, n))
    return found


POLICER = 140_000  # Russia 2021: 130–150 kbit/s
FAST = 40_000_000


def finding_for(test: ThroughputTest) -> Finding:
    found = throughput_finding(test)
    assert found.layer is Layer.THROUGHPUT and found.reasons, found
    return found


def test_sni_keyed_policer() -> None:
    found = finding_for(make_test(*repeats(POLICER, FAST, FAST, burst=60_000)))
    assert (found.rule_id, found.verdict, found.blocking) == (
        "throughput.throttled_sni", Verdict.THROTTLED, Blocking.THROTTLING,
    ), found.reasons  # fmt: skip
    reason = found.reasons[0]
    assert "keyed on the server name (SNI)" in reason and "2 of 2 repeats" in reason, reason
    assert re.search(r"a flat 1[34]\d kbit/s", reason), f"the plateau rate is reported: {reason}"
    assert re.search(r"0\.00\d\d× the same address", reason), f"and the ratio: {reason}"


def test_a_dropping_policer_stalls_now_and_then_and_is_still_flat() -> None:
    # Russia 2021 dropped the excess: TCP waits out a retransmission timeout now and then.
    stalling = download(TARGET, 1, 1_000_000, stall_every_s=1.0)
    shape = plateau(stalling)
    assert shape is not None and shape.flat, shape
    found = finding_for(make_test(*repeats(1_000_000, FAST, FAST, stall_every_s=1.0)))
    assert found.rule_id == "throughput.throttled_sni", found.reasons


def test_address_keyed_policer() -> None:
    found = finding_for(make_test(*repeats(POLICER, POLICER, FAST)))
    assert (found.rule_id, found.blocking) == ("throughput.throttled_address", Blocking.THROTTLING)
    assert "the platform's address" in found.reasons[0]


def test_policer_without_a_same_address_download() -> None:
    found = finding_for(make_test(*repeats(POLICER, None, FAST)))
    assert (found.rule_id, found.verdict) == ("throughput.throttled", Verdict.THROTTLED)


def test_same_address_alone_is_a_reference() -> None:
    found = finding_for(make_test(*repeats(POLICER, FAST, None)))
    assert found.rule_id == "throughput.throttled_sni", found.reasons


def test_congested_link_is_the_network_not_throttling() -> None:
    found = finding_for(make_test(*repeats(1_500_000, 1_800_000, 1_600_000, noise=0.6)))
    assert (found.rule_id, found.verdict) == ("throughput.network_slow", Verdict.ACCESSIBLE)
    assert "the network is slow" in found.reasons[0]


def test_slow_policed_network_is_still_not_throttling() -> None:
    # A link shaped to 2 Mbit/s for everyone: flat plateaus everywhere, ratio about 1.
    found = finding_for(make_test(*repeats(2_000_000, 2_000_000, 2_000_000)))
    assert found.rule_id == "throughput.network_slow", found.reasons


def test_noisy_slowdown_without_a_plateau_is_not_called_throttling() -> None:
    found = finding_for(make_test(*repeats(1_000_000, FAST, FAST, noise=0.95)))
    assert (found.rule_id, found.verdict) == ("throughput.slow_unshaped", Verdict.ACCESSIBLE)
    assert "without a policer's flat plateau" in found.reasons[0]


def test_slow_in_one_repeat_only() -> None:
    transfers = repeats(FAST, FAST, FAST)
    transfers[0] = download(TARGET, 1, POLICER)
    found = finding_for(make_test(*transfers))
    assert (found.rule_id, found.verdict) == ("throughput.slow_sometimes", Verdict.ACCESSIBLE)
    assert "1 of 2 repeats" in found.reasons[0]


def test_one_judged_repeat_is_not_enough() -> None:
    transfers = repeats(POLICER, FAST, FAST)[:3]  # the second repeat never ran
    found = finding_for(make_test(*transfers))
    assert found.rule_id == "throughput.slow_sometimes", found.reasons
    assert MIN_REPEATS == 2


def test_normal_download() -> None:
    found = finding_for(make_test(*repeats(FAST, FAST * 1.1, FAST * 0.9)))
    assert (found.rule_id, found.verdict) == ("throughput.normal", Verdict.ACCESSIBLE)


def test_no_reference_could_be_measured() -> None:
    found = finding_for(make_test(*repeats(POLICER, None, None)))
    assert found.rule_id == "throughput.no_reference"


def test_a_target_too_short_to_measure() -> None:
    short = [download(TARGET, n, FAST, total=10_000) for n in (1, 2)]
    refs = [download(CTL, n, FAST) for n in (1, 2)]
    assert not measured(short[0], LIMITS)
    found = finding_for(make_test(*short, *refs))
    assert found.rule_id == "throughput.too_short"


def test_skipped_test() -> None:
    test = ThroughputTest(limits=LIMITS, skipped="no large object")
    found = finding_for(test)
    assert (found.rule_id, found.verdict) == ("throughput.not_run", Verdict.ACCESSIBLE)
    assert found.reasons == ["throughput not measured: no large object"]


def test_every_throughput_rule_has_a_case_here() -> None:
    ids = {rule.id for rule in THROUGHPUT_RULES}
    tested = {
        "throughput.throttled_sni", "throughput.throttled_address", "throughput.throttled",
        "throughput.network_slow", "throughput.slow_unshaped", "throughput.slow_sometimes",
        "throughput.normal", "throughput.no_reference", "throughput.too_short",
        "throughput.not_run",
    }  # fmt: skip
    assert ids == tested, f"untested: {sorted(ids - tested)}, unknown: {sorted(tested - ids)}"


def test_plateau_ignores_the_burst_and_measures_the_policer() -> None:
    transfer = download(TARGET, 1, POLICER, burst=300_000)
    shape = plateau(transfer)
    assert shape is not None and shape.flat and shape.bins >= 4, shape
    assert abs(shape.bps - POLICER) < 0.1 * POLICER, shape
    # The average includes the burst: it is not what the policer allows.
    assert rate_bps(transfer) > 3 * POLICER


def test_plateau_of_a_download_too_short_is_none() -> None:
    assert plateau(download(TARGET, 1, FAST)) is None


def test_failed_and_refused_downloads_are_not_measured() -> None:
    assert not measured(failed(TARGET, 1), LIMITS)
    refused = download(TARGET, 1, FAST).model_copy(update={"status_code": 403})
    assert not measured(refused, LIMITS)


rates = st.floats(min_value=50_000, max_value=1e9)


@settings(max_examples=200, deadline=None)
@given(target=rates, same=rates, control=rates, scale=st.floats(min_value=0.01, max_value=100))
def test_throttled_needs_the_ratio_in_every_repeat(
    target: float, same: float, control: float, scale: float
) -> None:
    """Never throttled when the target keeps up with its references (whatever the speed), and
    slowing everything by the same factor never turns a verdict into throttling."""
    test = make_test(*repeats(target, same, control))
    found = throughput_finding(test)
    ratio = target / max(same, control)
    if ratio > 1.5 * THROTTLE_RATIO:  # the cap and the time base blur the exact boundary
        assert found.verdict is Verdict.ACCESSIBLE, (ratio, found.reasons)
    scaled = make_test(*repeats(target * scale, same * scale, control * scale))
    if found.verdict is Verdict.ACCESSIBLE and ratio > 1.5 * THROTTLE_RATIO:
        assert throughput_finding(scaled).verdict is Verdict.ACCESSIBLE


# target_verdict: the throughput finding on top of the endpoints' verdicts -------------------


def _endpoint(
    verdict: Verdict, blocking: Blocking | None = None, *, slow_body: bool = False
) -> EndpointResult:
    findings = []
    if slow_body:
        findings.append(Finding(layer=Layer.HTTP, rule_id="http.body_timeout", verdict=verdict,
                                reasons=["its body was still arriving"]))  # fmt: skip
    return EndpointResult(
        endpoint=https("abs.twimg.com"), verdict=verdict, blocking=blocking,
        reasons=[f"{verdict.value}"], findings=findings, test_keys=TestKeys(),
    )  # fmt: skip


def _target(*endpoints: EndpointResult) -> Target:
    return Target(input="twitter", kind=TargetKind.PLATFORM, name="twitter", platform="twitter",
                  endpoints=[e.endpoint for e in endpoints])  # fmt: skip


THROTTLED_TEST = make_test(*repeats(POLICER, FAST, FAST))
SLOW_NETWORK_TEST = make_test(*repeats(1_500_000, 1_500_000, 1_500_000))


def test_an_accessible_target_with_a_policed_object_is_throttled() -> None:
    endpoints = [_endpoint(Verdict.ACCESSIBLE), _endpoint(Verdict.ACCESSIBLE)]
    decision = target_verdict(_target(*endpoints), endpoints, context(), THROTTLED_TEST)
    verdict, blocking, reasons = decision.verdict, decision.blocking, list(decision.reasons)
    assert (verdict, blocking) == (Verdict.THROTTLED, Blocking.THROTTLING), reasons
    assert "keyed on the server name (SNI)" in reasons[0]


def test_a_blocked_target_stays_blocked_whatever_its_throughput() -> None:
    endpoints = [_endpoint(Verdict.ACCESSIBLE), _endpoint(Verdict.BLOCKED, Blocking.TLS_RESET)]
    decision = target_verdict(_target(*endpoints), endpoints, context(), THROTTLED_TEST)
    verdict, blocking = decision.verdict, decision.blocking
    assert (verdict, blocking) == (Verdict.BLOCKED, Blocking.TLS_RESET)


def test_pages_cut_while_arriving_are_throttling_when_the_test_says_so() -> None:
    endpoints = [_endpoint(Verdict.INCONCLUSIVE, slow_body=True), _endpoint(Verdict.ACCESSIBLE)]
    decision = target_verdict(_target(*endpoints), endpoints, context(), THROTTLED_TEST)
    verdict, blocking, reasons = decision.verdict, decision.blocking, list(decision.reasons)
    assert (verdict, blocking) == (Verdict.THROTTLED, Blocking.THROTTLING), reasons
    assert any("cut by the timeout while arriving" in r for r in reasons), reasons


def test_pages_cut_on_a_slow_network_stay_inconclusive_and_say_why() -> None:
    endpoints = [_endpoint(Verdict.INCONCLUSIVE, slow_body=True)]
    decision = target_verdict(_target(*endpoints), endpoints, context(), SLOW_NETWORK_TEST)
    verdict, blocking, reasons = decision.verdict, decision.blocking, list(decision.reasons)
    assert (verdict, blocking) == (Verdict.INCONCLUSIVE, None), reasons
    assert any("the network is slow" in r for r in reasons), reasons


def test_an_accessible_target_on_a_slow_network_says_so() -> None:
    endpoints = [_endpoint(Verdict.ACCESSIBLE)]
    decision = target_verdict(_target(*endpoints), endpoints, context(), SLOW_NETWORK_TEST)
    verdict, reasons = decision.verdict, list(decision.reasons)
    assert verdict is Verdict.ACCESSIBLE and "the network is slow" in reasons[-1], reasons


# Recordings from the lab ---------------------------------------------------------------------

EXPECTED_RECORDINGS = {
    "sni_throttled": "throughput.throttled_sni",
    "sni_policed": "throughput.throttled_sni",
    "address_throttled": "throughput.throttled_address",
    "congested_link": "throughput.network_slow",
    "clean": "throughput.normal",
}


@pytest.mark.parametrize("name", sorted(EXPECTED_RECORDINGS))
def test_lab_recording(name: str) -> None:
    path = RECORDINGS / f"{name}.json"
    test = ThroughputTest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    found = throughput_finding(test)
    assert found.rule_id == EXPECTED_RECORDINGS[name], f"{name}: {found.reasons}"


# A starved path: overlapping attempts share a policer's rate --------------------------------


def _cut(attempt: int) -> HttpTransaction:
    """A response that began (200) and whose body the timeout cut while it was arriving."""
    began = fetch(attempt=attempt)
    return began.model_copy(
        update={"failure": "generic_timeout_error", "x_failed_operation": "read"}
    )


def test_an_attempt_cut_while_arriving_outweighs_attempts_that_got_no_response() -> None:
    # Russia 2021 at 130 kbit/s shared by three overlapping attempts: one got the response head
    # and part of the body, the others nothing before their timeout. Not `http_timeout`.
    silent = fetch(attempt=1, failure="generic_timeout_error", operation="read")
    measured_keys = keys(
        query([IP]), tls_step(), silent,
        query([IP], attempt=2), tls_step(attempt=2), _cut(2),
        control=control(),
    )  # fmt: skip
    result = judge(https(), measured_keys, context())
    rules = [f.rule_id for f in result.findings]
    assert (result.verdict, result.blocking) == (Verdict.INCONCLUSIVE, None), result.reasons
    assert "http.body_timeout" in rules and "http.response_timeout" not in rules, rules


def test_attempts_failing_at_different_steps_on_a_starved_path_name_the_slow_body() -> None:
    measured_keys = keys(
        query([IP]), tls_step(failure="generic_timeout_error"),
        query([IP], attempt=2), tls_step(attempt=2), _cut(2),
        control=control(),
    )  # fmt: skip
    result = judge(https(), measured_keys, context())
    assert (result.verdict, result.blocking) == (Verdict.INCONCLUSIVE, None), result.reasons
    assert "its body was still arriving" in result.reasons[0], result.reasons
    assert any("different steps" in r for r in result.reasons), result.reasons
    assert cut_while_arriving(result), "the runner must give this endpoint a throughput test"


def test_no_response_in_any_attempt_is_still_a_timeout_block() -> None:
    silent = [fetch(attempt=n, failure="generic_timeout_error", operation="read") for n in (1, 2)]
    measured_keys = keys(
        query([IP]), tls_step(), silent[0],
        query([IP], attempt=2), tls_step(attempt=2), silent[1],
        control=control(),
    )  # fmt: skip
    result = judge(https(), measured_keys, context())
    assert (result.verdict, result.blocking) == (Verdict.BLOCKED, Blocking.HTTP_TIMEOUT)
