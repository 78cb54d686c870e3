"""Follow-up plans (decide/followup.py): what a throughput test measures, how much of the run's
byte budget is left, which targets get packet tests. The packet plan's cases are in
tests/test_packet_plan.py (through the runner's settings adapter)."""

from __future__ import annotations

from ipaddress import ip_network

from hypothesis import given
from hypothesis import strategies as st

from decide.builders import HOST, IP, PAGE, fetch, handshake, https
from probe.decide import (
    packet_plan,
    packets_due,
    throughput_budget_bytes,
    throughput_candidates,
    throughput_plan,
)
from probe.models.addresses import IPNetwork
from probe.models.observations import (
    ThroughputChoice,
    ThroughputLimits,
    ThroughputTest,
    ThroughputTransfer,
    TransferRole,
)
from probe.models.packets import PacketPlan, Trigger
from probe.models.results import Blocking, EndpointResult, TestKeys, Verdict
from probe.models.targets import Target, TargetKind

OBJECT = "https://media.example.org/big.bin"
SMALL = "<html>" + "x" * 100 + "</html>"


def page(url: str, body: str = PAGE, verdict: Verdict = Verdict.ACCESSIBLE) -> EndpointResult:
    keys = TestKeys(requests=[fetch(url, body=body)])
    blocking = Blocking.HTTP_RESET if verdict is Verdict.BLOCKED else None
    return EndpointResult(endpoint=https(), verdict=verdict, blocking=blocking, test_keys=keys)


def target(objects: list[str] | None = None) -> Target:
    kind = TargetKind.PLATFORM if objects else TargetKind.URL
    return Target(
        input=HOST, kind=kind, name=HOST, endpoints=[https()], objects=objects or []
    )  # fmt: skip


def test_a_platform_measures_its_objects_never_its_pages() -> None:
    endpoints = [page(f"https://{HOST}/")]
    plan = throughput_plan(target([OBJECT]), endpoints, [OBJECT], pages=True, min_bytes=10)
    assert plan is not None
    assert (plan.candidates, plan.choice) == ((OBJECT,), ThroughputChoice.CATALOGUE_OBJECTS)
    # The host the check fetched keeps its address; the object's host is looked up later.
    assert plan.key == (("", "media.example.org", OBJECT),)
    assert dict(plan.known) == {HOST: IP}


def test_pages_are_measured_only_when_asked_for_and_large_enough() -> None:
    endpoints = [page(f"https://{HOST}/")]
    assert throughput_plan(target(), endpoints, [], pages=False, min_bytes=10) is None
    assert throughput_plan(target(), endpoints, [], pages=True, min_bytes=10**6) is None
    plan = throughput_plan(target(), endpoints, [], pages=True, min_bytes=10)
    assert plan is not None and plan.choice is ThroughputChoice.PAGES
    assert plan.key == ((IP, HOST, f"https://{HOST}/"),)


def test_candidates_are_the_objects_then_the_largest_pages() -> None:
    small, large = f"https://{HOST}/small", f"https://{HOST}/large"
    endpoints = [
        page(small, SMALL),
        page(large),
        page(f"https://{HOST}/x", verdict=Verdict.BLOCKED),
    ]
    candidates, known = throughput_candidates(target(), endpoints, 10, [OBJECT])
    assert candidates == [OBJECT, large, small] and known == {HOST: IP}


def test_the_budget_left_is_the_run_budget_less_every_earlier_download() -> None:
    def test(*sizes: int) -> ThroughputTest:
        limits = ThroughputLimits(repeats=1, duration_s=5.0, max_bytes=1000, min_bytes=10)
        return ThroughputTest(limits=limits, transfers=[transfer(size) for size in sizes])

    def transfer(size: int) -> ThroughputTransfer:
        return ThroughputTransfer(
            role=TransferRole.TARGET, repeat=1, url=OBJECT, server_name=HOST, verified=True,
            bytes=size, stopped="max_bytes", t0=0.0,
        )  # fmt: skip

    assert throughput_budget_bytes(5000, []) == 5000
    assert throughput_budget_bytes(5000, [test(1000, 500), test(), test(2000)]) == 1500


@given(st.sampled_from(Verdict))
def test_only_a_blocked_target_gets_packet_tests(verdict: Verdict) -> None:
    assert packets_due(verdict) is (verdict is Verdict.BLOCKED)


def test_the_plan_takes_its_limits_as_arguments() -> None:
    """No Settings in decide/: the routable ranges and the limits arrive as arguments."""
    lab = "10.10.34.35"  # a bogon, unless the routable ranges say otherwise (a lab)
    keys = TestKeys(tls_handshakes=[handshake(lab, failure="connection_reset")])
    blocked = EndpointResult(
        endpoint=https(), verdict=Verdict.BLOCKED, blocking=Blocking.TLS_RESET, test_keys=keys
    )

    def plan(routable: tuple[IPNetwork, ...], localise: bool) -> PacketPlan:
        return packet_plan(
            [blocked], ["203.0.113.80"], routable=routable, localise=localise,
            traces_per_target=1, control_name="control.test",
        )  # fmt: skip

    assert plan((), localise=True).is_empty
    routable = (ip_network("10.0.0.0/8"),)
    quiet = plan(routable, localise=False)
    assert [(p.address, p.trigger, p.name) for p in quiet.tcp] == [
        (lab, Trigger.TLS_CLIENT_HELLO, HOST)
    ]
    assert quiet.traces == () and quiet.dns == ()  # no DNS blocking: no silent host asked
    traced = plan(routable, localise=True)
    assert [(t.name, t.control) for t in traced.traces] == [("control.test", True), (HOST, False)]
