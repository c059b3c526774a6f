"""The alert webhook: Alertmanager notifications (payload version 4) start the emergency plan.

``POST /alerts`` (the incident receiver) and ``POST /escalation`` (the
``IncidentDeadline*`` receiver) need ``Authorization: Bearer <token>``;
missing or wrong is 401. A body that is not a JSON object of the webhook
format, or is larger than ``monitoring.webhook_max_body``, is 400/413; the
server never crashes on input, and unknown fields are ignored.

One outage is one incident (:mod:`procops.monitoring.grouping`): a firing alert of
a service (its ``service`` label) that has an open incident attaches to it as
further evidence (journal ``incident.alert``; a more severe alert raises the
incident's severity). Otherwise a ``critical`` alert, or a warning whose rule says
``opens_incident="true"`` (``ReplicaDown``), opens an incident (T0 = the alert's
``startsAt``, source = alert name, fingerprint, labels; dedupe key
``alert:<fingerprint>``), which starts the three response clocks; other warnings
are counted and ignored. An alert with a ``drill`` label opens (or attaches to) a
drill incident only. The same fingerprint again opens nothing new; its resolution
is recorded once on the incident's timeline.
Every delivery is one journal event (``monitor.webhook``) that counts its
duplicates, so a storm of repeats costs one row each and no timeline rows.

Refusals (401, 411, 413, 400) write no journal row each: they are counted in
``procops_webhook_rejected_total{reason}`` (``GET /metrics``, scraped by the stack's
Prometheus) and summarised in one ``monitor.webhook.rejected`` row at most every
:data:`REJECTION_SUMMARY_EVERY` seconds (:class:`RejectionWindow`: the first refusal of a
quiet period at once, the rest of the window when it closes or the service stops).

A background thread runs the escalation loop (R11) every
``monitoring.escalation_every`` when the incident area provides it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable

from procops.errors import BadInput
from procops.events import Kind, Record, WebhookDelivery, WebhookRejected
from procops.monitoring import grouping
from procops.monitoring.rules import WATCHDOG
from procops.timeutil import iso, parse_iso, utcnow

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

log = logging.getLogger(__name__)

TOKEN_SECRET = "monitoring-webhook-token"
INCIDENT_PATH = "/alerts"
SYNTHETIC_LABEL = "procops_synthetic"  # alerts with this label test the delivery path and open nothing
ESCALATION_PATH = "/escalation"
REJECTION_SUMMARY_EVERY = 60.0  # seconds: at most one journal row of refusals per window


class PayloadError(ValueError):
    pass


# --------------------------------------------------------------------------- payload (pure)


@dataclass(frozen=True)
class AlertNote:
    status: str  # firing | resolved
    name: str
    severity: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: str  # ISO UTC
    ends_at: str | None


@dataclass(frozen=True)
class Notification:
    version: str
    status: str
    receiver: str
    group_key: str
    alerts: tuple[AlertNote, ...]


def _str_map(v: Any, what: str) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
        raise PayloadError(f"{what} must be an object of strings")
    return dict(v)


def _fingerprint(labels: dict[str, str]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


MAX_DEPTH = 16  # Alertmanager's payload is 4 levels deep (object, alerts, alert, labels)


def _depth_over(doc: Any, limit: int) -> bool:
    """Whether lists/objects nest deeper than ``limit`` (iterative: deep input cannot exhaust the stack)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            items: Any = v.values()
        elif isinstance(v, list):
            items = v
        else:
            continue
        if d > limit:
            return True
        stack.extend((x, d + 1) for x in items if isinstance(x, (dict, list)))
    return False


def parse_payload(body: bytes) -> Notification:
    """Validate an Alertmanager webhook payload; raises :class:`PayloadError` with the reason."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise PayloadError(f"not JSON: {e}") from None
    except RecursionError:
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if _depth_over(doc, MAX_DEPTH):
        raise PayloadError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if not isinstance(doc, dict):
        raise PayloadError("the payload must be a JSON object")
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("'alerts' must be a list")
    version = str(doc.get("version", "4"))
    if version.split(".")[0] != "4":
        raise PayloadError(f"unsupported payload version {version!r} (Alertmanager webhook version 4)")
    notes = []
    for i, a in enumerate(alerts):
        if not isinstance(a, dict):
            raise PayloadError(f"alerts[{i}] must be an object")
        labels = _str_map(a.get("labels"), f"alerts[{i}].labels")
        annotations = _str_map(a.get("annotations"), f"alerts[{i}].annotations")
        status = a.get("status", doc.get("status"))
        if status not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{i}].status must be firing or resolved")
        name = labels.get("alertname")
        if not name:
            raise PayloadError(f"alerts[{i}] has no alertname label")
        fp = a.get("fingerprint")
        if fp is not None and not isinstance(fp, str):
            raise PayloadError(f"alerts[{i}].fingerprint must be a string")
        starts = a.get("startsAt")
        try:
            starts_at = iso(parse_iso(starts)) if isinstance(starts, str) and starts else iso(utcnow())
        except ValueError:
            raise PayloadError(f"alerts[{i}].startsAt is not a time") from None
        ends = a.get("endsAt")
        ends_at = None
        if isinstance(ends, str) and ends and not ends.startswith("0001-"):
            try:
                ends_at = iso(parse_iso(ends))
            except ValueError:
                ends_at = None
        notes.append(
            AlertNote(
                status,
                name,
                labels.get("severity", ""),
                fp or _fingerprint(labels),
                labels,
                annotations,
                starts_at,
                ends_at,
            )
        )
    return Notification(
        version, str(doc.get("status", "")), str(doc.get("receiver", "")), str(doc.get("groupKey", "")), tuple(notes)
    )


def bearer_ok(header: str | None, token: str) -> bool:
    if not header or not token:
        return False
    scheme, _unused, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def incident_title(a: AlertNote) -> str:
    summary = a.annotations.get("summary")
    return f"{a.name}: {summary}" if summary else a.name


# --------------------------------------------------------------------------- token


def token_file(config: Config) -> Path:
    """The file holding the webhook token, for Alertmanager's ``credentials_file`` (0600)."""
    from procops.home import area_dir, atomic_write, generated_secret

    ref = config.monitoring.webhook_token
    if ref is None:
        return generated_secret(TOKEN_SECRET)
    if ref.file is not None:
        return ref.file.expanduser()
    path = area_dir("monitoring") / "webhook-token"
    atomic_write(path, ref.reveal() + "\n", mode=0o600)
    return path


def token(config: Config) -> str:
    from procops.home import read_secret

    ref = config.monitoring.webhook_token
    if ref is not None:
        return ref.reveal()
    return read_secret(token_file(config))


# --------------------------------------------------------------------------- refusals (pure)


@dataclass
class RejectionWindow:
    """Refusals counted between journal summaries; ``now`` is a monotonic clock, ``at`` the UTC ISO time."""

    every: float = REJECTION_SUMMARY_EVERY
    count: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    code: int = 0
    reason: str = ""
    first_at: str | None = None
    last_at: str | None = None
    last_summary: float | None = None  # monotonic time of the last summary journaled

    def add(self, reason_class: str, code: int, reason: str, now: float, at: str) -> WebhookRejected | None:
        """Count one refusal; returns the summary to journal when the window allows one now."""
        self.count += 1
        self.reasons[reason_class] = self.reasons.get(reason_class, 0) + 1
        self.code, self.reason = code, reason[:200]
        self.first_at = self.first_at or at
        self.last_at = at
        return self.due(now)

    def due(self, now: float, *, force: bool = False) -> WebhookRejected | None:
        if not self.count:
            return None
        if not force and self.last_summary is not None and now - self.last_summary < self.every:
            return None
        out = WebhookRejected(
            code=self.code,
            reason=self.reason,
            count=self.count,
            reasons=dict(self.reasons),
            window_start=self.first_at,
            window_end=self.last_at,
        )
        self.count, self.reasons, self.first_at, self.last_at = 0, {}, None, None
        self.last_summary = now
        return out


def _rejected_counter(registry: Any) -> Any:
    from prometheus_client import Counter

    return Counter(
        "procops_webhook_rejected",
        "Webhook requests refused, by reason (unauthorized, no_length, too_large, truncated, bad_payload).",
        ["reason"],
        registry=registry,
    )


# --------------------------------------------------------------------------- processing


@dataclass
class Tracked:
    incident: str
    resolved: bool = False


@dataclass
class Outcome:
    code: int
    body: dict


@dataclass
class Receiver:
    """What the webhook does with notifications; independent of HTTP (tested directly)."""

    store_factory: Callable[[], Any]
    journal: Any  # procops.journal.Journal, kept open
    state_path: Path | None = None
    tracked: dict[str, Tracked] = field(default_factory=dict)
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "deliveries": 0,
            "alerts": 0,
            "opened": 0,
            "duplicates": 0,
            "resolved": 0,
            "rejected": 0,
        }
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _store: Any = None
    rejections: RejectionWindow = field(default_factory=RejectionWindow)
    registry: Any = None  # prometheus_client CollectorRegistry of this service (GET /metrics)
    _rejected: Any = None

    def __post_init__(self) -> None:
        from procops.metrics import new_registry

        self.registry = new_registry()
        self._rejected = _rejected_counter(self.registry)
        if self.state_path and self.state_path.exists():
            try:
                raw = json.loads(self.state_path.read_text())
                self.tracked = {fp: Tracked(**t) for fp, t in raw.items()}
            except (ValueError, TypeError, OSError) as e:
                log.warning("webhook state %s unreadable, starting empty: %s", self.state_path, e)

    def store(self) -> Any:
        if self._store is None:
            self._store = self.store_factory()
        return self._store

    def _save(self) -> None:
        if self.state_path:
            from procops.home import atomic_write

            atomic_write(self.state_path, json.dumps({fp: vars(t) for fp, t in self.tracked.items()}))

    def reject(self, code: int, reason: str, path: str, reason_class: str = "bad_payload") -> Outcome:
        """Refuse a request: counted in the metric, journaled only as a summary (:class:`RejectionWindow`)."""
        import time

        self._rejected.labels(reason=reason_class).inc()
        with self._lock:
            self.stats["rejected"] += 1
            summary = self.rejections.add(reason_class, code, reason, time.monotonic(), iso(utcnow()))
            if summary is not None:
                self._journal(Kind.MONITOR_WEBHOOK_REJECTED, "webhook", summary)
        return Outcome(code, {"error": reason})

    def flush_rejections(self, *, force: bool = False) -> None:
        """Journal the refusals counted since the last summary, when the window has passed (or ``force``)."""
        import time

        with self._lock:
            summary = self.rejections.due(time.monotonic(), force=force)
            if summary is not None:
                self._journal(Kind.MONITOR_WEBHOOK_REJECTED, "webhook", summary)

    def _journal(self, kind: Kind, subject: str, evidence: Record) -> None:
        try:
            self.journal.append(kind, subject, evidence)
        except Exception as e:  # noqa: BLE001 - a notification is still handled
            log.error("journal append failed: %s", e)

    def handle(self, note: Notification, path: str = INCIDENT_PATH) -> Outcome:
        with self._lock:
            return self._handle(note, path)

    def _handle(self, note: Notification, path: str) -> Outcome:
        opened: list[str]
        attached: list[str]
        resolved: list[str]
        refired: list[str]
        errors: list[str]
        synthetic: list[str]
        opened, attached, resolved, refired, errors, synthetic = [], [], [], [], [], []
        errors_ignored: list[str] = []
        drills: list[str] = []
        duplicates = ignored = watchdog = 0
        reopened: list[dict[str, str]] = []
        open_cache: dict[str, bool] = {}  # incident id -> still open (read at most once per delivery)
        received = utcnow()
        changed = False
        escalation = path == ESCALATION_PATH
        # the most severe firing alert of a delivery first: it opens the incident, the others attach to it
        order = sorted(note.alerts, key=lambda x: (x.status != "firing", grouping.rank(x.severity)))
        for a in order:
            t = self.tracked.get(a.fingerprint)
            if a.labels.get(SYNTHETIC_LABEL):  # an end-to-end delivery test: recorded, never an incident
                synthetic.append(a.labels[SYNTHETIC_LABEL][:64])
                continue
            try:
                if escalation:
                    changed |= self._escalation(a, resolved)
                    continue
                if a.status == "firing":
                    if a.name == WATCHDOG:  # the dead man's switch: proof of life, never an incident
                        watchdog += 1
                        continue
                    previous = None
                    if t is not None and not t.resolved:
                        if open_cache.setdefault(t.incident, self._still_open(t.incident)):
                            duplicates += 1  # the storm case: one status read per incident and delivery
                            continue
                        previous = t.incident  # its incident was resolved while the alert kept firing
                    elif (
                        t is not None
                        and t.resolved
                        and not open_cache.setdefault(t.incident, self._still_open(t.incident))
                    ):
                        previous = t.incident  # resolved, incident resolved, firing again: a new outage
                    if not grouping.opens_incident(a) and grouping.group_key(a.labels) is None:
                        ignored += 1  # a warning with nothing to attach to: no database work either
                        continue
                    store = self.store()
                    d = grouping.decide(a, [grouping.view(i) for i in store.list(open_only=True)])
                    if d.action == "ignore":
                        ignored += 1
                        continue
                    if d.action == "duplicate":
                        iid = str(d.incident)
                        if t is not None:  # resolved, then firing again: same open incident
                            store.add_timeline(iid, "alert.refired", _source(a))
                            refired.append(iid)
                        else:
                            duplicates += 1
                    elif d.action == "attach":
                        iid = str(d.incident)
                        store.attach_alert(iid, _evidence(a, note.group_key), drill=d.drill)
                        attached.append(iid)
                    else:
                        t0, skew = receipt_t0(a.starts_at, received)
                        source = _source(a)
                        if skew is not None:
                            source["starts_at_skew_seconds"] = skew
                        if previous is not None:
                            source["previous_incident"] = previous
                        inc, created = store.open(
                            incident_title(a),
                            severity=d.severity or "critical",
                            t0=t0,
                            source=source,
                            dedupe_key="alert:" + a.fingerprint,
                            drill=d.drill,
                            group=d.group,
                        )
                        iid = str(getattr(inc, "id", inc))
                        if t is not None and not created and previous is None:
                            store.add_timeline(iid, "alert.refired", _source(a))
                            refired.append(iid)
                        else:
                            (opened if created else attached).append(iid)
                        if created and skew is not None:
                            store.add_timeline(
                                iid,
                                "alert.clock_skew",
                                {"starts_at": a.starts_at, "received_at": iso(received), "skew_seconds": skew},
                            )
                        if created and previous is not None:
                            reopened.append({"incident": iid, "previous": previous})
                        if created and d.drill:
                            drills.append(iid)
                    self.tracked[a.fingerprint] = Tracked(iid)
                    changed = True
                else:
                    if t is None or t.resolved:
                        duplicates += t is not None
                        continue
                    self.store().add_timeline(
                        t.incident, "alert.resolved", _source(a) | {"ends_at": a.ends_at or iso(utcnow())}
                    )
                    t.resolved = True
                    changed = True
                    resolved.append(t.incident)
            except BadInput as e:  # the incident is gone (deleted store): nothing to retry
                log.warning("alert %s (%s): %s", a.name, a.fingerprint, e.message)
                self.tracked.pop(a.fingerprint, None)
                changed = True
                errors_ignored.append(f"{a.name}/{a.fingerprint}: {e.message}"[:300])
            except Exception as e:  # noqa: BLE001 - recorded, answered 500 so Alertmanager retries
                log.error("alert %s (%s) not handled: %s", a.name, a.fingerprint, e)
                errors.append(f"{a.name}/{a.fingerprint}: {type(e).__name__}: {e}"[:300])
        if changed:
            self._save()
        self.stats["deliveries"] += 1
        self.stats["alerts"] += len(note.alerts)
        self.stats["opened"] += len(opened)
        self.stats["duplicates"] += duplicates
        self.stats["resolved"] += len(resolved)
        data: dict[str, Any] = {
            "receiver": note.receiver,
            "status": note.status,
            "path": path,
            "alerts": len(note.alerts),
            "firing": sum(a.status == "firing" for a in note.alerts),
            "critical": sum(a.severity == "critical" for a in note.alerts),
            "alertnames": sorted({a.name for a in note.alerts})[:20],
            "fingerprints": [a.fingerprint for a in note.alerts][:20],
            "opened": opened,
            "attached": attached,
            "resolved": resolved,
            "refired": refired,
            "duplicates": duplicates,
            "ignored": ignored,
            "errors": errors + errors_ignored,
        }
        if drills:
            data["drill_incidents"] = drills
        if reopened:
            data["refired_after_resolve"] = reopened
        if watchdog:
            data["watchdog"] = watchdog
        if synthetic:
            data["synthetic"] = synthetic
        self._journal(Kind.MONITOR_WEBHOOK, note.group_key[:200] or note.receiver, WebhookDelivery(**data))
        body = {"opened": opened, "attached": attached, "resolved": resolved, "duplicates": duplicates}
        if errors:
            return Outcome(500, body | {"errors": errors})
        return Outcome(200, body)

    def _still_open(self, incident_id: str) -> bool:
        """Whether a tracked alert's incident is still open (a deleted one is not)."""
        store = self.store()
        try:
            if hasattr(store, "is_open"):
                return bool(store.is_open(incident_id))
            return bool(store.get(incident_id).is_open)
        except BadInput:
            return False

    def _escalation(self, a: AlertNote, resolved: list) -> bool:
        """An IncidentDeadline* alert: recorded on the incident's timeline once per firing/resolution."""
        iid = a.labels.get("incident")
        key = "esc:" + a.fingerprint
        t = self.tracked.get(key)
        state_resolved = a.status == "resolved"
        if t is not None and t.resolved == state_resolved:
            return False
        if iid:
            self.store().add_timeline(
                iid, "alert.escalation" if not state_resolved else "alert.escalation.resolved", _source(a)
            )
        self.tracked[key] = Tracked(iid or "", state_resolved)
        if state_resolved:
            resolved.append(iid)
        return True


def receipt_t0(starts_at: str, received: dt.datetime) -> tuple[dt.datetime, float | None]:
    """T0 of an incident opened by an alert: its ``startsAt``, or the receipt time when that lies in the future.

    A sender whose clock runs ahead must not push the response clocks into the future (nor
    get the alert refused): the skew in seconds is returned so the incident notes it.
    """
    starts = parse_iso(starts_at)
    if starts > received:
        return received, round((starts - received).total_seconds(), 3)
    return starts, None


def _evidence(a: AlertNote, group_key: str) -> dict:
    """The evidence of an alert attached to an open incident (journal kind ``incident.alert``)."""
    return {
        "fingerprint": a.fingerprint,
        "alertname": a.name,
        "status": a.status,
        "severity": a.severity,
        "labels": a.labels,
        "starts_at": a.starts_at,
        "group_key": group_key[:200],
    }


def _source(a: AlertNote) -> dict:
    return {
        "kind": "alert",
        "alertname": a.name,
        "fingerprint": a.fingerprint,
        "labels": a.labels,
        "starts_at": a.starts_at,
        "summary": a.annotations.get("summary", ""),
    }


def default_store_factory() -> Any:
    from procops.incidents import api as incidents

    return incidents.open_store()


# --------------------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    server_version = "procops-webhook"
    protocol_version = "HTTP/1.1"
    timeout = 15  # a client that stalls mid-body is dropped
    wbufsize = 64 * 1024  # headers and body leave in one write (no Nagle/delayed-ACK stall per reply)

    def setup(self) -> None:
        super().setup()
        import socket

        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet; the journal is the record
        log.debug("%s " + fmt, self.address_string(), *args)

    def _reply(self, code: int, body: dict, extra: dict | None = None, close: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self) -> None:  # noqa: N802
        srv: WebhookServer = self.server  # type: ignore[assignment]
        path = self.path.split("?")[0]
        if path in ("/healthz", "/-/healthy"):
            self._reply(200, {"ok": True, "stats": dict(srv.receiver.stats)})
        elif path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            data = generate_latest(srv.receiver.registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        srv: WebhookServer = self.server  # type: ignore[assignment]
        path = self.path.split("?")[0].rstrip("/") or "/"
        if path == "/":
            path = INCIDENT_PATH
        try:
            if path not in (INCIDENT_PATH, ESCALATION_PATH):
                self._reply(404, {"error": "not found"}, close=True)
                return
            if not bearer_ok(self.headers.get("Authorization"), srv.token):
                out = srv.receiver.reject(401, "missing or wrong bearer token", path, "unauthorized")
                self._reply(401, out.body, {"WWW-Authenticate": 'Bearer realm="procops"'}, close=True)
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                out = srv.receiver.reject(
                    411 if length is None else 400, "a Content-Length is required", path, "no_length"
                )
                self._reply(out.code, out.body, close=True)
                return
            n = int(length)
            if n > srv.max_body:
                out = srv.receiver.reject(413, f"body of {n} bytes is larger than {srv.max_body}", path, "too_large")
                self._reply(413, out.body, close=True)
                return
            body = self.rfile.read(n)
            if len(body) < n:
                out = srv.receiver.reject(400, "truncated body", path, "truncated")
                self._reply(400, out.body, close=True)
                return
            try:
                note = parse_payload(body)
            except PayloadError as e:
                out = srv.receiver.reject(400, str(e), path, "bad_payload")
                self._reply(400, out.body)
                return
            out = srv.receiver.handle(note, path)
            self._reply(out.code, out.body)
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - never crash the service on one request
            log.exception("webhook request failed")
            try:
                self._reply(500, {"error": f"{type(e).__name__}"}, close=True)
            except OSError:
                self.close_connection = True


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], receiver: Receiver, token: str, max_body: int) -> None:
        super().__init__(addr, _Handler)
        self.receiver = receiver
        self.token = token
        self.max_body = max_body


def escalation_loop(config: Config, stop: threading.Event, every: float) -> None:
    """Call ``procops.incidents.api.escalate_due(config)`` every ``every`` seconds."""
    from procops.incidents.api import escalate_due

    while not stop.wait(every):
        try:
            escalate_due(config)
        except Exception as e:  # noqa: BLE001 - the loop keeps running
            log.error("escalation run failed: %s", e)


@dataclass
class Service:
    server: WebhookServer
    threads: list[threading.Thread]
    stop_event: threading.Event

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        self.server.receiver.flush_rejections(force=True)  # the window's refusals are not lost
        self.server.receiver.journal.close()


def rejection_flush_loop(receiver: Receiver, stop: threading.Event, every: float = 5.0) -> None:
    """Journal the summary of a closed window of refusals even when no further request comes."""
    while not stop.wait(every):
        try:
            receiver.flush_rejections()
        except Exception as e:  # noqa: BLE001 - the loop keeps running
            log.error("rejection summary failed: %s", e)


def start(
    config: Config,
    port: int | None = None,
    host: str = "127.0.0.1",
    *,
    store_factory: Callable[[], Any] | None = None,
    escalation: bool = True,
) -> Service:
    """Start the webhook (and the escalation loop) in background threads."""
    from procops.errors import EnvironmentFailure
    from procops.home import area_dir
    from procops.journal import open_journal

    mon = config.monitoring
    receiver = Receiver(
        store_factory or default_store_factory, open_journal(), state_path=area_dir("monitoring") / "webhook-state.json"
    )
    try:
        server = WebhookServer(
            (host, port if port is not None else mon.webhook_port), receiver, token(config), mon.webhook_max_body
        )
    except OSError as e:
        receiver.journal.close()
        raise EnvironmentFailure(
            _("the webhook cannot listen on {host}:{port}: {strerror}").format(
                host=host, port=port, strerror=e.strerror
            )
        ) from None
    stop = threading.Event()
    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="webhook", daemon=True),
        threading.Thread(target=rejection_flush_loop, args=(receiver, stop), name="rejections", daemon=True),
    ]
    if escalation:
        threads.append(
            threading.Thread(
                target=escalation_loop, args=(config, stop, mon.escalation_every), name="escalation", daemon=True
            )
        )
    for t in threads:
        t.start()
    return Service(server, threads, stop)


def wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT (the foreground services)."""
    import signal

    done = threading.Event()

    def _stop(*_: Any) -> None:
        done.set()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not done.wait(1.0):
            pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_forever(service: Service) -> None:
    try:
        wait_for_signal()
    finally:
        service.stop()
