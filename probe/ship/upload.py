"""Outbox → collector: one upload pass, with rotation over collectors and backoff between passes.

A pass seals what is unbundled, then sends the pending bundles oldest first. A bundle leaves
the outbox only when a collector answers with a receipt naming that very bundle; a collector
that already had it says "duplicate", which is an acknowledgement too, so a lost answer costs a
resend and never a second copy. A network failure or a 5xx tries the next collector; when every
collector failed, the pass stops (the rest waits) and the next pass is due after a backoff that
doubles per failed pass, with jitter, up to `[upload] retry_max` (OONI's bk-003 §4 advises
growing to at least 15 minutes). A 4xx that names a problem of the bundle itself sets the
bundle aside as rejected instead of resending it forever.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from probe import __version__
from probe.config import UploadSettings
from probe.errors import CollectorRejected, ConfigError, UploadError
from probe.ship.identity import Identity
from probe.ship.keys import registration_message
from probe.ship.outbox import seal
from probe.store import ResultStore

if TYPE_CHECKING:
    import httpx

    from probe.models.bundles import BundleReceipt

STATE_KEY = "upload"
BUNDLE_CONTENT_TYPE = "application/x-probe-bundle"
BUNDLES_PATH = "/api/v1/bundles"
PROBES_PATH = "/api/v1/probes"
CHALLENGE_PATH = "/api/v1/probes/challenge"
_MAX_ANSWER_BYTES = 64 << 10
# 4xx codes about the bundle itself: resending the same bytes cannot succeed.
_PERMANENT_STATUSES = frozenset({400, 403, 413, 415, 422})
_UNKNOWN_PROBE = "unknown_probe"


def retry_delay_s(failures: int, initial_s: float, maximum_s: float, rng: random.Random) -> float:
    """Return the wait after `failures` failed passes in a row: doubling from `initial_s`,
    ±25 % jitter (so a fleet does not retry in step), never above `maximum_s`."""
    if failures <= 0:
        return 0.0
    base = min(maximum_s, initial_s * 2.0 ** min(failures - 1, 60))
    return min(maximum_s, base * rng.uniform(0.75, 1.25))


@dataclass
class UploadReport:
    """What one pass did; `error` is why it stopped early (None: the outbox is empty)."""

    sealed: int = 0
    uploaded: int = 0
    measurements: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    pending: int = 0
    error: str | None = None
    collector: str | None = None
    failures: int = 0
    retry_in_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "sealed": self.sealed, "uploaded": self.uploaded,
            "measurements": self.measurements, "duplicates": self.duplicates,
            "rejected": self.rejected, "pending": self.pending, "error": self.error,
            "collector": self.collector, "failures": self.failures,
            "retry_in_s": self.retry_in_s,
        }  # fmt: skip


def _client(settings: UploadSettings) -> httpx.AsyncClient:
    import certifi
    import httpx

    context = ssl.create_default_context(cafile=certifi.where())
    if settings.ca_bundle is not None:
        try:
            context.load_verify_locations(cafile=str(settings.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"[upload] ca_bundle {settings.ca_bundle}: {exc}") from exc
    return httpx.AsyncClient(
        proxy=settings.proxy, verify=context, trust_env=False, follow_redirects=False,
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        headers={"User-Agent": f"probe/{__version__}"},
    )  # fmt: skip


def _describe_failure(url: str, exc: BaseException) -> str:
    from probe.measure.failures import failure_string

    return f"{url}: {failure_string(exc)}"


async def _answer(response: httpx.Response) -> tuple[str, str, bytes]:
    """The error code, detail and raw body of an answer, read up to a small cap."""
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > _MAX_ANSWER_BYTES:
            break
    try:
        data = json.loads(body)
        return str(data["error"]), str(data["detail"]), body
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}", body[:200].decode(errors="replace"), body


class _Sender:
    """Sends bundles to the collectors, registering the probe where it is unknown."""

    def __init__(self, client: httpx.AsyncClient, identity: Identity, settings: UploadSettings):
        self.client = client
        self.identity = identity
        self.settings = settings

    async def _post(self, url: str, data: bytes) -> tuple[int, str, str, bytes]:
        async with asyncio.timeout(self.settings.timeout):
            async with self.client.stream(
                "POST", url + BUNDLES_PATH, content=data,
                headers={"Content-Type": BUNDLE_CONTENT_TYPE},
            ) as response:  # fmt: skip
                code, detail, body = await _answer(response)
                return response.status_code, code, detail, body

    async def _challenge(self, url: str) -> bytes:
        """The nonce of a fresh registration challenge from the collector at `url`."""
        async with asyncio.timeout(self.settings.timeout):
            async with self.client.stream("POST", url + CHALLENGE_PATH) as response:
                code, detail, body = await _answer(response)
        if response.status_code != 200:
            raise UploadError(f"{url}: no registration challenge ({code}: {detail})")
        try:
            return base64.b64decode(json.loads(body)["nonce"], validate=True)
        except (ValueError, KeyError, TypeError) as exc:
            raise UploadError(f"{url}: the registration challenge is not one") from exc

    async def _register(self, url: str) -> None:
        """Register this probe's key, signing the collector's challenge with it (issue 18)."""
        headers = {}
        if self.settings.register_token:
            headers["Authorization"] = f"Bearer {self.settings.register_token}"
        raw = self.identity.public_key_raw
        nonce = await self._challenge(url)
        signature = self.identity.private_key.sign(registration_message(nonce, raw))
        registration = {
            "public_key": base64.b64encode(raw).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "signature": base64.b64encode(signature).decode(),
        }
        async with asyncio.timeout(self.settings.timeout):
            async with self.client.stream(
                "POST", url + PROBES_PATH, json=registration, headers=headers
            ) as response:
                code, detail, _ = await _answer(response)
        if response.status_code not in (200, 201):
            hint = "; set [upload] register_token" if response.status_code == 401 else ""
            raise UploadError(f"{url}: registration refused ({code}: {detail}){hint}")

    async def send_to(self, url: str, bundle_id: str, data: bytes) -> BundleReceipt:
        """Return the collector's receipt for this bundle; CollectorRejected if it refuses
        the bundle for good, UploadError on anything worth retrying."""
        from pydantic import ValidationError

        from probe.models.bundles import BundleReceipt

        status, code, detail, body = await self._post(url, data)
        if status == 403 and code == _UNKNOWN_PROBE:
            await self._register(url)
            status, code, detail, body = await self._post(url, data)
        if status in (200, 201):
            try:
                receipt = BundleReceipt.model_validate_json(body)
            except ValidationError as exc:
                raise UploadError(f"{url}: the answer is not a receipt") from exc
            if receipt.bundle_id != bundle_id:
                raise UploadError(f"{url}: the receipt names another bundle")
            return receipt
        if status in _PERMANENT_STATUSES and code != _UNKNOWN_PROBE:
            raise CollectorRejected(f"{url}: {status} {code}: {detail}", code, status)
        raise UploadError(f"{url}: {status} {code}: {detail}")

    async def send(self, urls: list[str], bundle_id: str, data: bytes) -> tuple[BundleReceipt, str]:
        """Try each collector in turn; return the receipt and the collector that gave it."""
        import httpx

        errors: list[str] = []
        for url in urls:
            try:
                return await self.send_to(url, bundle_id, data), url
            except CollectorRejected:
                raise
            except UploadError as exc:
                errors.append(str(exc))
            except (httpx.HTTPError, OSError, TimeoutError) as exc:
                errors.append(_describe_failure(url, exc))
        raise UploadError("; ".join(errors))


def _rotation(collectors: list[str], preferred: object) -> list[str]:
    """The collectors to try, the last one that worked first."""
    if isinstance(preferred, str) and preferred in collectors:
        return [preferred] + [url for url in collectors if url != preferred]
    return list(collectors)


async def upload_outbox(
    store: ResultStore,
    identity: Identity,
    settings: UploadSettings,
    *,
    rng: random.Random | None = None,
) -> UploadReport:
    """Seal, then send every pending bundle; record the outcome for `probe status`."""
    if not settings.collectors:
        raise ConfigError('no collector configured: set [upload] collectors = ["https://…"]')
    report = UploadReport()
    sealed = await asyncio.to_thread(
        seal, store, identity, max_records=settings.max_bundle_records,
        max_bytes=settings.max_bundle_bytes,
    )  # fmt: skip
    report.sealed = len(sealed.bundles)
    state = await asyncio.to_thread(store.get_state, STATE_KEY)
    previous: dict[str, Any] = state if isinstance(state, dict) else {}
    urls = _rotation(settings.collectors, previous.get("collector"))
    entries = await asyncio.to_thread(store.outbox)
    # Recorded only when the pass ends: an interrupted pass (SIGTERM) is neither a success
    # nor a failure, and leaves the schedule as it was.
    async with _client(settings) as client:
        sender = _Sender(client, identity, settings)
        for entry in entries:
            data = await asyncio.to_thread(store.bundle_bytes, entry.bundle_id)
            if data is None:
                continue
            try:
                receipt, url = await sender.send(urls, entry.bundle_id, data)
            except CollectorRejected as exc:
                await asyncio.to_thread(store.reject_bundle, entry.bundle_id, str(exc))
                report.rejected.append(f"{entry.bundle_id}: {exc}")
                continue
            except UploadError as exc:
                await asyncio.to_thread(store.bundle_failed, entry.bundle_id, str(exc))
                report.error = str(exc)
                break
            await asyncio.to_thread(store.acknowledge_bundle, entry.bundle_id, url)
            report.uploaded += 1
            report.measurements += receipt.measurements
            report.duplicates += receipt.status == "duplicate"
            report.collector = url
            urls = _rotation(settings.collectors, url)
    await asyncio.to_thread(_record, store, report, previous, settings, rng)
    return report


def _record(
    store: ResultStore,
    report: UploadReport,
    previous: dict[str, Any],
    settings: UploadSettings,
    rng: random.Random | None,
) -> None:
    """Save the pass's outcome (and when the next is due) in the store's state."""
    now = datetime.now(UTC)
    report.pending = store.outbox_stats().pending_bundles
    failed = report.error is not None
    report.failures = int(previous.get("failures", 0)) + 1 if failed else 0
    delay = (
        retry_delay_s(report.failures, settings.retry_initial, settings.retry_max,
                      rng or random.Random())
        if failed else settings.every
    )  # fmt: skip
    report.retry_in_s = delay if failed else None
    state = {
        **previous,
        "failures": report.failures,
        "last_attempt_at": now.isoformat(),
        "next_attempt_at": (now + timedelta(seconds=delay)).isoformat(),
        "collector": report.collector or previous.get("collector"),
    }
    if failed:
        state["last_error"] = report.error
        state["last_error_at"] = now.isoformat()
    else:
        state["last_success_at"] = now.isoformat()
        state["last_error"] = None
    if report.rejected:
        state["last_rejected"] = report.rejected[-1]
    store.set_state(STATE_KEY, state)
