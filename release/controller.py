"""The gray-release controller: stages of deploy, weights, analysis and a decision, as an operation.

Per stage (``run``), each side effect between two atomic writes of the state:

1. freeze check (no stage advances inside a freeze window), the progress deadline starts;
2. Alertmanager silences for the servers about to restart and for the new version's alerts
   (a planned restart opens no incident; a bad canary is the gate's to judge, and its rollback is
   a warning, not a critical incident);
3. the stage's new hosts are drained (weight 0, state drain), ``playbooks/deploy.yml`` runs
   limited to them, each must answer the new version on its health URL;
4. the stage's weights are set (servers ready), the background load starts, the analysis waits
   until the canary has traffic, then for the window; the synthetic probe runs;
5. the gates are measured (every query, value, threshold in ``release.gate`` events) and decided:
   promote (next stage, or done at the last), pause at a manual gate (unless ``--auto``) or on
   missing data when so configured, roll back.

Rollback: the canary servers' weight goes to 0 first (traffic back on stable, timed), then
``playbooks/rollback.yml`` on the canary hosts, then the original weights. Whatever stops the
controller (Ctrl-C, SIGTERM, an error) the ``finally`` path sets every server ready with its
original weight: no server is left drained. A controller killed with SIGKILL leaves its state;
``resume`` re-reads HAProxy's weights and the hosts' versions and runs the stage again (deploy is
idempotent).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.errors import BadInput, EnvironmentFailure, VerdictFailed
from procops.events import Kind, ReleaseEnd, ReleaseGate, ReleaseStage, ReleaseStart, Status
from procops.home import exclusive_lock, project_path
from procops.release import gates as G
from procops.release import plan as P
from procops.release import state as S
from procops.timeutil import iso, parse_iso, utcnow

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config, LoadedConfig
    from procops.haproxy import RuntimeAPI
    from procops.operation import Operation

LOCK = "release"
POST_ROLLBACK_SILENCE = 420.0  # the new version's alerts look back 5 minutes: keep them silent after a rollback


# --------------------------------------------------------------------------- outcomes


class Outcome:
    ROLLED_OUT = "rolled_out"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    PAUSED = "paused"


EXIT = {Outcome.ROLLED_OUT: 0, Outcome.PAUSED: 0, Outcome.ABORTED: 0, Outcome.ROLLED_BACK: 1}


@dataclass
class Result:
    outcome: str
    state: S.ReleaseState
    message: str = ""

    @property
    def exit_code(self) -> int:
        return EXIT[self.outcome]

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "message": self.message,
            **status_view(self.state),
        }


# --------------------------------------------------------------------------- the environment


@dataclass
class Env:
    config: Config
    hosts: list[P.Host]
    socket: Path
    backend: str
    frontend: str
    instances: dict[str, str]  # host -> Prometheus instance label
    prometheus: str
    alertmanager: str
    auth: tuple[str, str] | None
    sandbox: bool
    config_source: Path | None = None
    pilot_map: Path | None = None
    _api: RuntimeAPI | None = field(default=None, repr=False)

    @property
    def api(self) -> RuntimeAPI:
        if self._api is None:
            from procops.haproxy import RuntimeAPI

            self._api = RuntimeAPI(self.socket)
        return self._api

    def host(self, name: str) -> P.Host:
        return next(h for h in self.hosts if h.name == name)

    def server(self, name: str) -> str:
        return self.host(name).server


def resolve(config: Config, config_source: Path | None = None) -> Env:
    """Where the release acts: the configured inventory, or the running sandbox's replicas."""
    rc = config.release
    prom = rc.prometheus_url or f"http://127.0.0.1:{config.monitoring.prometheus_port}"
    am = rc.alertmanager_url or f"http://127.0.0.1:{config.monitoring.alertmanager_port}"
    auth = None
    if rc.prometheus_url is None or rc.alertmanager_url is None:
        from procops.monitoring import api as monitoring

        with contextlib.suppress(Exception):
            auth = monitoring.client_auth(config)
    if "inventory" in rc.model_fields_set and not rc.inventory:
        raise BadInput(
            _("release.inventory is empty: there is no host to deploy to"),
            hint=_("list the hosts in release.inventory, or remove the key to release on the sandbox"),
        )
    if rc.inventory:
        from urllib.parse import urlparse

        if rc.haproxy_socket is None:
            raise BadInput(_("release.haproxy_socket is required with a release inventory"))
        hosts = [
            P.Host(
                h.name,
                h.server,
                h.address or h.name,
                h.user,
                h.health_url or f"http://{h.address or h.name}:8000/healthz",
                dict(h.vars),
            )
            for h in rc.inventory
        ]
        return Env(
            config,
            hosts,
            rc.haproxy_socket,
            rc.backend,
            config.platform.url or "",
            {h.name: urlparse(h.health_url).netloc for h in hosts},
            prom,
            am,
            auth,
            False,
            config_source,
            rc.pilot_map,
        )
    from procops.sandbox import api as sandbox

    r = sandbox.frontend()
    if r is None or not r.haproxy_alive:
        raise EnvironmentFailure(
            _("the sandbox is not running: there is nothing to release to"),
            hint=_("start it with: procops sandbox up (and the monitoring stack: procops monitor up)"),
        )
    hosts = [P.Host(rep.name, rep.name, None, None, f"http://{r.host}:{rep.port}/healthz") for rep in r.replicas]
    return Env(
        config,
        hosts,
        r.haproxy_socket,
        rc.backend,
        r.url,
        {rep.name: f"127.0.0.1:{rep.port}" for rep in r.replicas},
        prom,
        am,
        auth,
        True,
        config_source,
        rc.pilot_map or r.pilot_map,
    )


# --------------------------------------------------------------------------- inputs: versions, notices


def known_versions(env: Env) -> tuple[str, ...] | None:
    if env.sandbox:
        from procops.sandbox import api as sandbox

        return sandbox.versions()
    return None


def artifact(env: Env, version: str) -> Path | None:
    d = env.config.release.artifacts_dir
    return None if env.sandbox or d is None else Path(d).expanduser() / f"platform-{version}.tar.gz"


def check_version(env: Env, version: str) -> str | None:
    """The artifact's sha256 (None on the sandbox); BadInput for an unknown version."""
    known = known_versions(env)
    if known is not None:
        if version not in known:
            raise BadInput(
                _("unknown platform version {version!r}: use one of {versions}").format(
                    version=version, versions=", ".join(known)
                )
            )
        return None
    a = artifact(env, version)
    if a is None or not a.is_file():
        raise BadInput(
            _("no release artifact for version {version}: {path} does not exist").format(
                version=version, path=a or "release.artifacts_dir"
            ),
            hint=_("put platform-VERSION.tar.gz into release.artifacts_dir"),
        )
    import hashlib

    h = hashlib.sha256()
    with a.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def notice(config: Config, version: str) -> P.Notice | None:
    """The version's change notice: the config's, else notices_dir/VERSION.yaml, else the shipped one."""
    import yaml

    rc = config.release
    if version in rc.notices:
        n = rc.notices[version]
        return P.Notice(version, n.zh, n.en, tuple(n.workflows), "procops.yaml")
    for d in [rc.notices_dir, P.NOTICES_DIR]:
        if d is None:
            continue
        f = Path(d).expanduser() / f"{version}.yaml"
        if f.is_file():
            try:
                return P.parse_notice(version, yaml.safe_load(f.read_text()), str(f))
            except (ValueError, yaml.YAMLError) as e:
                raise BadInput(_("the change notice {path} is invalid: {e}").format(path=f, e=e)) from None
    return None


def require_notice(config: Config, version: str) -> P.Notice:
    n = notice(config, version)
    if n is None:
        raise BadInput(
            _("version {version} has no change notice (zh and en): users must be told what changes").format(
                version=version
            ),
            hint=_("write release/notices/{version}.yaml or release.notices in procops.yaml").format(version=version),
        )
    return n


# --------------------------------------------------------------------------- freeze windows


def deadlines(env: Env) -> list[tuple[str, dt.datetime]]:
    """Bid deadlines of the platform's open announcements (read through its front end)."""
    import httpx

    if not env.frontend:
        return []
    out: list[tuple[str, dt.datetime]] = []
    now = utcnow()
    try:
        with httpx.Client(base_url=env.frontend, timeout=10) as c:
            for page in range(1, 51):
                r = c.get("/api/announcements", params={"page": page, "size": 100})
                r.raise_for_status()
                body = r.json()
                for it in body.get("items", []):
                    d = it.get("deadline_at")
                    if not d:
                        continue
                    t = (
                        parse_iso(d)
                        if d.endswith("Z") or "+" in d
                        else dt.datetime.fromisoformat(d).replace(tzinfo=dt.UTC)
                    )
                    if t > now:
                        out.append((_("bid deadline of announcement {id}").format(id=it["id"]), t))
                if page >= int(body.get("pages") or 1):
                    break
    except (httpx.HTTPError, ValueError, KeyError) as e:
        raise EnvironmentFailure(
            _("cannot read the announcements' bid deadlines from {url}: {e}").format(url=env.frontend, e=e),
            hint=_("the freeze windows come from them: check that the platform answers"),
        ) from None
    return out


def windows(env: Env) -> list[P.Window]:
    fz = env.config.release.freeze
    return P.freeze_windows(deadlines(env), fz.before_deadline, [(w.name, w.start, w.end) for w in fz.windows])


def refuse_in_freeze(env: Env, what: str) -> None:
    from procops.display import when

    w = P.active_window(windows(env), utcnow())
    if w is not None:
        raise VerdictFailed(
            _("{what} refused: inside the freeze window '{name}' ({start} - {end})").format(
                what=what, name=w.name, start=when(w.start), end=when(w.end)
            ),
            hint=_("wait until the window ends; a procurement platform never changes under a bid opening"),
        )


# --------------------------------------------------------------------------- Prometheus, Alertmanager, hosts


def prom_query(env: Env, q: str) -> float | None:
    """One instant query: its single value, None when empty, NaN or unanswered (no data never passes)."""
    import httpx

    try:
        r = httpx.get(f"{env.prometheus}/api/v1/query", params={"query": q}, auth=env.auth, timeout=10)
        r.raise_for_status()
        res = r.json()["data"]["result"]
    except (httpx.HTTPError, ValueError, KeyError):
        return None
    if not res:
        return None
    try:
        v = float(res[0]["value"][1])
    except (KeyError, IndexError, ValueError, TypeError):
        return None
    return None if math.isnan(v) or math.isinf(v) else v


def prom_up(env: Env) -> bool:
    import httpx

    try:
        return httpx.get(f"{env.prometheus}/-/ready", auth=env.auth, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def silence(env: Env, matchers: list[dict[str, Any]], seconds: float, comment: str) -> str | None:
    """Create an Alertmanager silence; its id, or None (a silence never fails the release: warned)."""
    import httpx

    now = utcnow()
    body = {
        "matchers": [{"isEqual": True, **m} for m in matchers],
        "startsAt": iso(now),
        "endsAt": iso(now + dt.timedelta(seconds=seconds)),
        "createdBy": "procops release",
        "comment": comment,
    }
    try:
        r = httpx.post(f"{env.alertmanager}/api/v2/silences", json=body, auth=env.auth, timeout=10)
        r.raise_for_status()
        return str(r.json().get("silenceID") or "") or None
    except (httpx.HTTPError, ValueError):
        return None


def expire_silence(env: Env, sid: str) -> None:
    import httpx

    with contextlib.suppress(httpx.HTTPError):
        httpx.delete(f"{env.alertmanager}/api/v2/silence/{sid}", auth=env.auth, timeout=10)


def notify_rollback(env: Env, st: S.ReleaseState) -> bool:
    """A warning alert ``ReleaseRolledBack`` posted to Alertmanager (its routes tell the people; the
    incident webhook ignores a warning without a service: a rolled-back release is no incident).
    Never fails the release."""
    import httpx

    now = utcnow()
    alert = {
        "labels": {
            "alertname": "ReleaseRolledBack",
            "severity": "warning",
            "release": st.id,
            "release_version": st.version,
        },
        "annotations": {
            "summary": f"Gray release {st.id} of {st.version} was rolled back to {st.from_version}",
            "description": st.reason[:1000],
        },
        "startsAt": iso(now),
        "endsAt": iso(now + dt.timedelta(hours=1)),
    }
    try:
        r = httpx.post(f"{env.alertmanager}/api/v2/alerts", json=[alert], auth=env.auth, timeout=10)
        return r.status_code < 300
    except httpx.HTTPError:
        return False


def host_version(h: P.Host) -> str | None:
    """The version a host answers on its health URL (None: it does not answer)."""
    import httpx

    try:
        r = httpx.get(h.health_url, timeout=3)
        if r.status_code != 200:
            return None
        return str(r.json().get("version") or "") or None
    except (httpx.HTTPError, ValueError):
        return None


def wait_version(h: P.Host, version: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if host_version(h) == version:
            return True
        time.sleep(0.5)
    return False


def read_weights(env: Env) -> dict[str, int]:
    return {s.server: s.weight for s in env.api.servers(env.backend)}


def set_weights(env: Env, weights: dict[str, int]) -> None:
    for server, w in weights.items():
        env.api.set_weight(env.backend, server, w)
        env.api.set_state(env.backend, server, "ready")


def route_pilots(env: Env, units: list[str], server: str) -> dict[str, str]:
    """Send the pilot units' requests to ``server`` (the HAProxy map, edited over the runtime API)."""
    if env.pilot_map is None or not units:
        return {}
    for u in units:
        env.api.command(f"del map {env.pilot_map} {u}")
        out = env.api.command(f"add map {env.pilot_map} {u} {server}").strip()
        if out:
            raise EnvironmentFailure(_("HAProxy refused the pilot route of {unit}: {out}").format(unit=u, out=out))
    return dict.fromkeys(units, server)


def clear_pilots(env: Env) -> None:
    if env.pilot_map is not None:
        with contextlib.suppress(EnvironmentFailure):
            env.api.command(f"clear map {env.pilot_map}")


def wait_up(env: Env, servers: list[str], deadline: float) -> bool:
    while time.monotonic() < deadline:
        st = {s.server: s.status for s in env.api.servers(env.backend)}
        if all(st.get(s) == "UP" for s in servers):
            return True
        time.sleep(0.3)
    return False


# --------------------------------------------------------------------------- playbooks


def inventory_text(env: Env) -> str:
    """A YAML inventory of every host (sandbox replicas: local connection, the procops of this venv)."""
    import yaml

    hosts: dict[str, dict[str, Any]] = {}
    for h in env.hosts:
        if h.local:
            hosts[h.name] = {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "sandbox_replica": h.name,
            }
        else:
            v: dict[str, Any] = {"ansible_host": h.address, "health_url": h.health_url, **h.vars}
            if h.user:
                v["ansible_user"] = h.user
            hosts[h.name] = v
    return yaml.safe_dump({"all": {"hosts": hosts}}, sort_keys=False)


def playbook_vars(env: Env, **extra: Any) -> dict[str, Any]:
    v: dict[str, Any] = {
        "procops_bin": str(Path(sys.executable).parent / "procops"),
        "procops_home": os.environ.get("PROCOPS_HOME", ""),
        "procops_config": str(env.config_source or os.environ.get("PROCOPS_CONFIG", "")),
    }
    v.update(extra)
    return v


def run_play(env: Env, name: str, hosts: list[str], **extra: Any) -> tuple[bool, str]:
    from procops.playbook import run_playbook

    res = run_playbook(
        project_path("playbooks", name),
        inventory_text(env),
        extra_vars=playbook_vars(env, **extra),
        limit=",".join(hosts),
        timeout=env.config.release.deploy_timeout,
    )
    return res.ok, res.summary() if not res.ok else ""


# --------------------------------------------------------------------------- journal, metrics


def _record(kind: Kind, subject: str, ev: Any) -> None:
    from procops.journal import record

    record(kind, subject, ev)


def publish_metrics(st: S.ReleaseState) -> None:
    """procops_release_stage{release,version} and procops_release_rollbacks_total (textfile; never fails)."""
    from procops import metrics

    try:
        from prometheus_client import Gauge

        reg = metrics.new_registry()
        g = Gauge(
            "procops_release_stage",
            "Current stage of a gray release (1-based; 0 ended by a rollback or abort).",
            ["release", "version", "status"],
            registry=reg,
        )
        stage = (
            len(st.plan)
            if st.status == S.ROLLED_OUT
            else (0 if st.status in (S.ROLLED_BACK, S.ABORTED) else st.stage + 1)
        )
        g.labels(st.id, st.version, st.status).set(stage)
        c = Gauge(
            "procops_release_rollbacks_total", "Gray releases rolled back (automatically or aborted).", registry=reg
        )
        c.set(S.counters().get("rollbacks_total", 0))
        cc = Gauge(
            "procops_release_consecutive_rollbacks",
            "Automatic rollbacks since the last rollout or acknowledgement.",
            registry=reg,
        )
        cc.set(S.counters().get("consecutive_rollbacks", 0))
        metrics.write_textfile("release", reg)
    except Exception:  # noqa: BLE001 - metrics never fail the release
        pass


# --------------------------------------------------------------------------- the controller


@dataclass
class Controller:
    env: Env
    st: S.ReleaseState
    op: Operation | None = None
    say: Any = None  # progress callback (str) -> None

    @property
    def rc(self) -> Any:
        return self.env.config.release

    def log(self, text: str) -> None:
        if self.say is not None:
            self.say(text)

    def save(self) -> None:
        S.save(self.st)

    @property
    def stages(self) -> list[dict[str, Any]]:
        return self.st.plan

    def canary_servers(self, stage: dict[str, Any]) -> list[str]:
        return [self.env.server(h) for h in stage["hosts"]]

    def stable_servers(self, stage: dict[str, Any]) -> list[str]:
        return [h.server for h in self.env.hosts if h.name not in stage["hosts"]]

    def restore(self) -> None:
        """Every server ready with its original weight (the ``finally`` path)."""
        with contextlib.suppress(Exception):
            clear_pilots(self.env)
            set_weights(self.env, self.st.original_weights)
            self.st.weights = dict(self.st.original_weights)
            self.save()

    # ------------------------------------------------------------------ run

    def run(self) -> Result:
        st = self.st
        st.status = S.RUNNING
        st.pid = os.getpid()
        self.save()
        clean = False
        try:
            while st.stage < len(self.stages):
                res = self.run_stage(st.stage)
                if res is not None:
                    clean = True
                    return res
                st.stage += 1
                self.save()
            clean = True
            return self.finish_rolled_out()
        except BaseException:
            st.status = S.INTERRUPTED
            st.reason = _("the controller stopped during stage {n} ({phase})").format(n=st.stage + 1, phase=st.phase)
            self.save()
            raise
        finally:
            if not clean:
                self.restore()
                publish_metrics(st)

    def run_stage(self, i: int) -> Result | None:
        st, env, rc = self.st, self.env, self.rc
        stage = self.stages[i]
        t_stage = time.monotonic()
        deadline = t_stage + rc.progress_deadline
        if i > 0:
            try:
                refuse_in_freeze(env, _("advancing to stage {n}").format(n=i + 1))
            except VerdictFailed as e:
                st.decide(i, G.PAUSE, e.message)
                return self.pause(i, e.message)
        analysis = float(stage["analysis_s"])
        self.log(
            _("stage {n}/{total}: {hosts} on {version}, {traffic:.1f}% of the traffic, analysis {window}").format(
                n=i + 1,
                total=len(self.stages),
                hosts=", ".join(stage["hosts"]),
                version=st.version,
                traffic=stage["traffic_percent"],
                window=G.window(analysis),
            )
        )
        # silences: the servers about to restart, and the new version's own alerts
        new_hosts = [
            h for h in stage["hosts"] if st.deployed.get(h) != st.version or host_version(env.host(h)) != st.version
        ]
        span = rc.progress_deadline + analysis + 60
        inst = "|".join(env.instances[h].replace(".", "\\.") for h in new_hosts)
        if inst:
            sid = silence(
                env, [{"name": "instance", "value": inst, "isRegex": True}], span, f"release {st.id}: planned restart"
            )
            if sid:
                st.silences.append(sid)
        sid = silence(
            env, [{"name": "version", "value": st.version, "isRegex": False}], span, f"release {st.id}: canary analysis"
        )
        if sid:
            st.silences.append(sid)
        self.save()

        # deploy the stage's new hosts, drained
        if new_hosts:
            st.phase = "deploying"
            drained = dict(st.weights or st.original_weights)
            for h in new_hosts:
                drained[env.server(h)] = 0
            self.save()
            for h in new_hosts:
                env.api.set_weight(env.backend, env.server(h), 0)
                env.api.set_state(env.backend, env.server(h), "drain")
            st.weights = drained
            self.save()
            ok, detail = run_play(env, "deploy.yml", new_hosts, release_version=st.version)
            for h in new_hosts:
                v = host_version(env.host(h))
                if v:
                    st.deployed[h] = v
            self.save()
            if not ok or not all(wait_version(env.host(h), st.version, deadline) for h in new_hosts):
                reason = _("deploy of {hosts} failed: {detail}").format(
                    hosts=", ".join(new_hosts), detail=detail or _("wrong version answered")
                )
                return self.rollback(i, reason, G.ROLLBACK)
        # weights of the stage
        st.phase = "weights"
        self.save()
        weights = {s: int(w) for s, w in stage["weights"].items()}
        set_weights(env, weights)
        st.weights = weights
        self.save()
        if not wait_up(env, list(weights), deadline):
            return self.rollback(i, _("HAProxy does not see every server UP"), G.ROLLBACK)
        if st.pilot_units and not stage["last"]:
            # the pilot units' sessions go to the first canary server, sticky for the whole release
            st.pilots = route_pilots(env, st.pilot_units, env.server(stage["hosts"][0]))
            self.save()
        _record(
            Kind.RELEASE_STAGE,
            st.id,
            ReleaseStage(
                release_id=st.id,
                stage=i + 1,
                hosts=list(stage["hosts"]),
                weights=weights,
                traffic_percent=float(stage["traffic_percent"]),
                decision="deployed",
                status=Status.OK,
            ),
        )
        # analysis
        st.phase = "analysing"
        self.save()
        checks = self.analyse(i, stage, analysis, deadline)
        dec = G.decision(checks, rc.gates.on_no_data)
        failed = [c for c in checks if not c.passed]
        reason = "; ".join(
            f"{c.gate}: {c.reason} (value {_fmt(c.value)}, threshold {_fmt(c.threshold)})" for c in failed
        )
        st.timings[f"stage_{i + 1}_overhead_s"] = round(time.monotonic() - t_stage - analysis, 3)
        if dec == G.ROLLBACK:
            return self.rollback(i, reason, G.ROLLBACK)
        if time.monotonic() > deadline:
            return self.rollback(
                i, _("the stage exceeded its progress deadline of {s:.0f}s").format(s=rc.progress_deadline), G.ROLLBACK
            )
        if dec == G.PAUSE:
            st.decide(i, G.PAUSE, reason)
            self.stage_event(i, stage, G.PAUSE, Status.SKIPPED)
            return self.pause(i + 0, reason, rerun=True)
        st.decide(i, G.PROMOTE, "")
        self.stage_event(i, stage, G.PROMOTE, Status.OK)
        if stage["last"]:
            return None
        if stage["manual_gate"] and not st.auto:
            return self.pause(
                i + 1,
                _("manual gate after stage {n}: review the feedback, then procops release promote").format(n=i + 1),
            )
        return None

    def stage_event(self, i: int, stage: dict[str, Any], decision: str, status: Status) -> None:
        _record(
            Kind.RELEASE_STAGE,
            self.st.id,
            ReleaseStage(
                release_id=self.st.id,
                stage=i + 1,
                hosts=list(stage["hosts"]),
                weights=dict(self.st.weights),
                traffic_percent=float(stage["traffic_percent"]),
                decision=decision,
                status=status,
            ),
        )

    def analyse(self, i: int, stage: dict[str, Any], analysis: float, deadline: float) -> list[G.Check]:
        from procops.release import traffic

        st, env, g = self.st, self.env, self.rc.gates
        canary_hosts = list(stage["hosts"])
        stable_hosts = [h.name for h in env.hosts if h.name not in canary_hosts]
        canary = G.Selector(self.rc.job, tuple(env.instances[h] for h in canary_hosts), st.version)
        baseline = (
            G.Selector(self.rc.job, tuple(env.instances[h] for h in stable_hosts), st.from_version)
            if stable_hosts
            else None
        )
        password = g.probe_password.reveal() if g.probe_password is not None else "password-1"
        # the pilot units' requests go to the canary: judged on their own against like traffic
        pilots = sorted(st.pilots) if baseline is not None else []
        load = None
        if self.rc.load.enabled and env.frontend:
            load = traffic.BackgroundLoad(
                env.frontend,
                self.rc.load.rate,
                self.rc.load.upload_share,
                g.probe_user,
                password,
                max_seconds=self.rc.progress_deadline,
                pilot_units=pilots,
                pilot_share=self.rc.load.pilot_share,
                announcement=g.probe_announcement,
            )
            load.start()
        try:
            # the analysis starts only once the canary has received traffic
            settle = min(15.0, self.env.config.monitoring.scrape_interval + 1.0)
            t0 = time.monotonic()
            tq = G.traffic_query(canary, max(30.0, analysis))
            had = False
            while time.monotonic() - t0 < g.traffic_timeout and time.monotonic() < deadline:
                v = prom_query(env, tq)
                if v is not None and v > 0:
                    had = True
                    break
                time.sleep(1.0)
            st.timings[f"stage_{i + 1}_traffic_wait_s"] = round(time.monotonic() - t0, 3)
            if not had:
                self.log(
                    _("the canary has received no traffic within {s:.0f}s: it is not judged").format(
                        s=g.traffic_timeout
                    )
                )
            else:
                self.log(_("the canary has traffic: analysing for {window}").format(window=G.window(analysis)))
                end = time.monotonic() + analysis
            probe = None
            if g.probe:
                # through one canary server directly, at the start of the window: its uploads count in it
                h = env.host(canary_hosts[0])
                base = h.health_url.rsplit("/healthz", 1)[0]
                probe = traffic.probe(base, g.probe_user, password, g.probe_uploads, announcement=g.probe_announcement)
            if had:
                while time.monotonic() < end:
                    time.sleep(min(1.0, max(0.0, end - time.monotonic())))
                # the last requests of the window are scraped before it is measured
                time.sleep(settle)
        finally:
            counts = load.stop() if load is not None else None
        if counts is not None:
            st.timings[f"stage_{i + 1}_load_requests"] = counts.requests
            if pilots:
                st.timings[f"stage_{i + 1}_load_pilot_requests"] = counts.pilot_requests
        q = G.queries(canary, baseline, analysis + settle, pilots=bool(pilots))
        values = {k: prom_query(env, v) for k, v in q.items()} if had else dict.fromkeys(q)
        checks = G.evaluate(values, q, g, probe)
        if not had:
            checks = [
                G.Check(
                    "traffic",
                    G.traffic_query(canary, analysis),
                    None,
                    1.0,
                    False,
                    "the canary received no traffic",
                    no_data=True,
                ),
                *checks,
            ]
        now = iso(utcnow())
        for c in checks:
            st.gates.append({"stage": i + 1, "at": now, **c.as_dict()})
            _record(
                Kind.RELEASE_GATE,
                st.id,
                ReleaseGate(
                    release_id=st.id,
                    stage=i + 1,
                    gate=c.gate,
                    query=c.query,
                    value=c.value,
                    threshold=c.threshold,
                    passed=c.passed,
                    reason=c.reason,
                ),
            )
            self.log(
                ("  ok   " if c.passed else "  FAIL ")
                + f"{c.gate}: {_fmt(c.value)} / {_fmt(c.threshold)}"
                + (f" ({c.reason})" if c.reason else "")
            )
        self.save()
        return checks

    # ------------------------------------------------------------------ endings

    def pause(self, next_stage: int, reason: str, *, rerun: bool = False) -> Result:
        st = self.st
        st.status = S.PAUSED
        st.stage = next_stage
        st.phase = "paused"
        st.reason = reason
        self.save()
        publish_metrics(st)
        self.log(_("paused: {reason}").format(reason=reason))
        return Result(Outcome.PAUSED, st, reason)

    def expire_silences(self, keep_version: bool) -> None:
        for sid in self.st.silences:
            expire_silence(self.env, sid)
        self.st.silences = []
        if keep_version:
            kept = silence(
                self.env,
                [{"name": "version", "value": self.st.version, "isRegex": False}],
                POST_ROLLBACK_SILENCE,
                f"release {self.st.id}: rolled back",
            )
            if kept:
                self.st.silences.append(kept)
        self.save()

    def rollback(
        self, i: int, reason: str, decision: str, *, by: str = "controller", outcome: str = Outcome.ROLLED_BACK
    ) -> Result:
        st, env = self.st, self.env
        t0 = time.monotonic()
        st.decide(i, decision if decision != G.PAUSE else G.ROLLBACK, reason, by)
        st.phase = "rolling_back"
        self.save()
        self.log(_("rolling back: {reason}").format(reason=reason))
        in_stage = self.stages[min(i, len(self.stages) - 1)]["hosts"]
        canary_hosts = [h.name for h in env.hosts if h.name in in_stage or st.deployed.get(h.name) == st.version]
        canary_servers = [env.server(h) for h in canary_hosts]
        stable = [h.server for h in env.hosts if h.name not in canary_hosts]
        # 1. traffic back on stable (the pilot units' too)
        clear_pilots(env)
        st.pilots = {}
        if stable:
            w = dict(st.weights or st.original_weights)
            for s in canary_servers:
                w[s] = 0
            for s in stable:
                w[s] = st.original_weights.get(s, P.BASE_WEIGHT)
            for s in stable:
                env.api.set_weight(env.backend, s, w[s])
                env.api.set_state(env.backend, s, "ready")
            for s in canary_servers:
                env.api.set_weight(env.backend, s, 0)
            st.weights = w
            st.timings["rollback_traffic_on_stable_s"] = round(time.monotonic() - t0, 4)
            self.save()
        # 2. the canary hosts back on the old version
        ok, detail = (True, "")
        if canary_hosts:
            ok, detail = run_play(env, "rollback.yml", canary_hosts, rollback_version=st.from_version)
            for h in canary_hosts:
                v = host_version(env.host(h))
                if v:
                    st.deployed[h] = v
            self.save()
            deadline = time.monotonic() + 120
            ok = ok and all(wait_version(env.host(h), st.from_version, deadline) for h in canary_hosts)
        # 3. the original weights
        set_weights(env, st.original_weights)
        st.weights = dict(st.original_weights)
        wait_up(env, list(st.original_weights), time.monotonic() + 60)
        st.timings["rollback_total_s"] = round(time.monotonic() - t0, 3)
        if not ok:
            reason += "; " + _("rollback of {hosts} did not complete: {detail}").format(
                hosts=", ".join(canary_hosts), detail=detail
            )
        self.stage_event(
            i,
            self.stages[min(i, len(self.stages) - 1)],
            G.ROLLBACK if outcome == Outcome.ROLLED_BACK else "abort",
            Status.FAILED,
        )
        return self.end(outcome, reason, rollback_ok=ok)

    def finish_rolled_out(self) -> Result:
        st = self.st
        clear_pilots(self.env)
        st.pilots = {}
        set_weights(self.env, st.original_weights)
        st.weights = dict(st.original_weights)
        return self.end(Outcome.ROLLED_OUT, "")

    def end(self, outcome: str, reason: str, rollback_ok: bool = True) -> Result:
        st = self.st
        st.status = {Outcome.ROLLED_OUT: S.ROLLED_OUT, Outcome.ROLLED_BACK: S.ROLLED_BACK, Outcome.ABORTED: S.ABORTED}[
            outcome
        ]
        st.phase = "done"
        st.reason = reason
        st.ended_at = iso(utcnow())
        self.expire_silences(keep_version=outcome != Outcome.ROLLED_OUT)
        c = S.counters()
        if outcome == Outcome.ROLLED_OUT:
            c["consecutive_rollbacks"] = 0
        else:
            c["rollbacks_total"] = int(c.get("rollbacks_total", 0)) + 1
            if outcome == Outcome.ROLLED_BACK:
                c["consecutive_rollbacks"] = int(c.get("consecutive_rollbacks", 0)) + 1
        S.save_counters(c)
        if outcome == Outcome.ROLLED_BACK:
            st.timings["warning_notified"] = float(notify_rollback(self.env, st))
        self.save()
        S.append_history(st)
        passed = sum(1 for d in st.decisions if d["decision"] == G.PROMOTE)
        _record(
            Kind.RELEASE_END,
            st.id,
            ReleaseEnd(
                release_id=st.id,
                version=st.version,
                from_version=st.from_version,
                status=Status.OK if outcome == Outcome.ROLLED_OUT else (Status.FAILED if rollback_ok else Status.ERROR),
                outcome={
                    Outcome.ROLLED_OUT: "promoted",
                    Outcome.ROLLED_BACK: "rolled_back",
                    Outcome.ABORTED: "aborted",
                }[outcome],
                stages_passed=passed,
                stages_total=len(st.plan),
                change_notice=bool(st.notice),
                reason=reason,
            ),
        )
        publish_metrics(st)
        if outcome == Outcome.ROLLED_OUT:
            self.log(_("rolled out: every host runs {version}").format(version=st.version))
        return Result(outcome, st, reason)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}"


# --------------------------------------------------------------------------- commands


def real_tender_problem(config: Config) -> str | None:
    """Why the release would bid on a real tender: on real hosts the probe and the background load's
    uploads need ``gates.probe_announcement`` (a test tender); None when nothing would."""
    rc = config.release
    if not rc.inventory or rc.gates.probe_announcement is not None:
        return None
    uploads = rc.load.enabled and rc.load.upload_share > 0
    parts = [_("the probe (gates.probe)")] if rc.gates.probe else []
    if uploads:
        parts.append(_("the load's uploads (load.upload_share)"))
    if not parts:
        return None
    what = parts[0] if len(parts) == 1 else _("{a} and {b}").format(a=parts[0], b=parts[1])
    return _(
        "{what} would upload test bids to an open announcement of the real platform: set "
        "release.gates.probe_announcement to a test tender kept for this, or turn them off"
    ).format(what=what)


def new_state(
    env: Env, version: str, auto: bool, analysis: float | None, notice_: P.Notice, sha: str | None
) -> S.ReleaseState:
    plan = P.stages(env.hosts, env.config.release.stages, analysis)
    problems = P.stage_problems(env.hosts, plan)
    if problems:
        raise BadInput(_("the release plan is not usable: {problems}").format(problems="; ".join(problems)))
    versions = {h.name: host_version(h) for h in env.hosts}
    current = {v for v in versions.values() if v}
    if len(current) != 1:
        raise EnvironmentFailure(
            _(
                "the hosts do not run one version ({versions}): finish or abort the release that changed them first"
            ).format(versions=", ".join(f"{k}={v or '?'}" for k, v in versions.items()))
        )
    from_version = current.pop()
    if from_version == version:
        raise BadInput(_("every host already runs {version}").format(version=version))
    weights = read_weights(env)
    missing = [h.server for h in env.hosts if h.server not in weights]
    if missing:
        raise BadInput(
            _("HAProxy backend {backend} has no server {servers}").format(
                backend=env.backend, servers=", ".join(missing)
            )
        )
    original = {h.server: (weights[h.server] or P.BASE_WEIGHT) for h in env.hosts}
    # a stage's weights are in the original scale (equal weights: the base)
    return S.ReleaseState(
        id="REL-" + utcnow().strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4],
        version=version,
        from_version=from_version,
        auto=auto,
        analysis=analysis,
        plan=[s.as_dict() for s in plan],
        hosts=[h.as_dict() for h in env.hosts],
        original_weights=original,
        weights=dict(original),
        deployed={k: v for k, v in versions.items() if v},
        pilot_units=list(env.config.release.pilot_units),
        notice=notice_.as_dict(),
        artifact_sha256=sha,
        started_at=iso(utcnow()),
    )


def refuse_active() -> None:
    cur = S.load()
    if cur is not None and cur.status in S.ACTIVE:
        raise EnvironmentFailure(
            _("release {id} of {version} is {status}: one release at a time").format(
                id=cur.id, version=cur.version, status=cur.status
            ),
            hint=_("finish it (procops release promote / resume) or stop it (procops release abort)"),
        )


def start(
    config: Config,
    version: str,
    *,
    auto: bool = False,
    analysis: float | None = None,
    acknowledge: str | None = None,
    loaded: LoadedConfig | None = None,
    say: Any = None,
) -> Result:
    from procops.operation import Operation

    if not config.release.inventory and "inventory" not in config.release.model_fields_set:
        from procops.sandbox import api as sandbox

        if version not in sandbox.versions():  # bad input is said before the platform is looked at
            raise BadInput(
                _("unknown platform version {version!r}: use one of {versions}").format(
                    version=version, versions=", ".join(sandbox.versions())
                )
            )
    env = resolve(config, loaded.source if loaded else None)
    sha = check_version(env, version)
    n = require_notice(config, version)
    problem = real_tender_problem(config)
    if problem:
        raise BadInput(problem)
    with exclusive_lock(LOCK):
        refuse_active()
        c = S.counters()
        if int(c.get("consecutive_rollbacks", 0)) >= config.release.max_auto_rollbacks:
            if not acknowledge:
                raise VerdictFailed(
                    _("{n} consecutive automatic rollbacks: a person must look before the next release").format(
                        n=c["consecutive_rollbacks"]
                    ),
                    hint=_("read procops release history, then start again with --acknowledge REASON"),
                )
            c["consecutive_rollbacks"] = 0
            c.setdefault("acknowledgements", []).append({"at": iso(utcnow()), "reason": acknowledge})
            S.save_counters(c)
        refuse_in_freeze(env, _("starting a release"))
        if not prom_up(env):
            raise EnvironmentFailure(
                _("Prometheus at {url} does not answer: the gates cannot be measured").format(url=env.prometheus),
                hint=_("start the monitoring stack: procops monitor up"),
            )
        st = new_state(env, version, auto, analysis, n, sha)
        S.save(st)
        with Operation("release.run", st.id, loaded=loaded) as op:
            _record(
                Kind.RELEASE_START,
                st.id,
                ReleaseStart(
                    release_id=st.id,
                    version=version,
                    from_version=st.from_version,
                    stages=len(st.plan),
                    auto=auto,
                    change_notice=True,
                    pilot_units=list(st.pilot_units),
                    artifact_sha256=sha,
                ),
            )
            ctl = Controller(env, st, op, say)
            res = ctl.run()
            op.finish(Status.OK if res.exit_code == 0 else Status.FAILED, res.message)
        return res


def _continue(config: Config, *, loaded: LoadedConfig | None, say: Any, what: str, prepare: Any) -> Result:
    from procops.operation import Operation

    env = resolve(config, loaded.source if loaded else None)
    with exclusive_lock(LOCK):
        st = S.load()
        if st is None or st.status not in S.ACTIVE:
            raise BadInput(_("no release to {what}: procops release status shows the last one").format(what=what))
        prepare(env, st)
        with Operation("release.run", st.id, loaded=loaded) as op:
            res = Controller(env, st, op, say).run()
            op.finish(Status.OK if res.exit_code == 0 else Status.FAILED, res.message)
        return res


def promote(
    config: Config,
    *,
    by: str,
    override: bool = False,
    reason: str | None = None,
    loaded: LoadedConfig | None = None,
    say: Any = None,
) -> Result:
    def prepare(env: Env, st: S.ReleaseState) -> None:
        if st.status != S.PAUSED:
            raise BadInput(
                _("release {id} is {status}, not paused at a gate: use procops release resume").format(
                    id=st.id, status=st.status
                )
            )
        blocking = st.open_blocking_feedback()
        if blocking and not override:
            raise VerdictFailed(
                _("{n} blocking feedback item(s) open: {items}").format(
                    n=len(blocking), items="; ".join(f"{f['unit']}: {f['text']}" for f in blocking)
                ),
                hint=_("resolve them, or promote with --override --reason TEXT"),
            )
        if override and not reason:
            raise BadInput(_("--override needs --reason"))
        refuse_in_freeze(env, _("promoting"))
        st.approvals.append(
            {"at": iso(utcnow()), "stage": st.stage, "by": by, "override": override, "reason": reason or ""}
        )
        st.decide(max(0, st.stage - 1), G.PROMOTE, reason or "", by)
        S.save(st)

    return _continue(config, loaded=loaded, say=say, what=_("promote"), prepare=prepare)


def resume(config: Config, *, auto: bool | None = None, loaded: LoadedConfig | None = None, say: Any = None) -> Result:
    """Continue an interrupted (or SIGKILLed) release: HAProxy's weights and the hosts' versions are
    read again, and the stage it was in runs again from its deploy (idempotent)."""

    def prepare(env: Env, st: S.ReleaseState) -> None:
        if (
            st.status == S.PAUSED
            and st.phase == "paused"
            and st.decisions
            and st.decisions[-1]["decision"] == G.PROMOTE
        ):
            raise BadInput(_("release {id} waits at a manual gate: procops release promote").format(id=st.id))
        if auto is not None:
            st.auto = auto
        st.weights = read_weights(env)
        for h in env.hosts:
            v = host_version(h)
            if v:
                st.deployed[h.name] = v
        st.decide(st.stage, "resume", _("weights {w}; versions {v}").format(w=st.weights, v=st.deployed), "operator")
        S.save(st)

    return _continue(config, loaded=loaded, say=say, what=_("resume"), prepare=prepare)


def abort(config: Config, *, by: str, reason: str = "", loaded: LoadedConfig | None = None, say: Any = None) -> Result:
    """Traffic to stable, the canary hosts rolled back, the original weights."""
    from procops.operation import Operation

    env = resolve(config, loaded.source if loaded else None)
    with exclusive_lock(LOCK):
        st = S.load()
        if st is None or st.status not in S.ACTIVE:
            raise BadInput(_("no release to abort: procops release status shows the last one"))
        st.weights = read_weights(env)
        for h in env.hosts:
            v = host_version(h)
            if v:
                st.deployed[h.name] = v
        with Operation("release.abort", st.id, loaded=loaded) as op:
            ctl = Controller(env, st, op, say)
            i = min(st.stage, len(st.plan) - 1)
            res = ctl.rollback(i, reason or _("aborted by {by}").format(by=by), "abort", by=by, outcome=Outcome.ABORTED)
            op.finish(Status.OK, res.message)
        return res


def add_feedback(unit: str, text: str, *, blocking: bool, by: str) -> dict[str, Any]:
    from procops.events import ReleaseFeedback

    if not unit.strip() or not text.strip():
        raise BadInput(_("feedback needs a --unit and a text"))
    with exclusive_lock("release-feedback", wait=True):
        st = S.load()
        if st is None:
            raise BadInput(_("there is no release to give feedback on"))
        item = {
            "id": len(st.feedback) + 1,
            "at": iso(utcnow()),
            "unit": unit,
            "blocking": blocking,
            "text": text,
            "by": by,
            "resolved": False,
        }
        # re-read and write under the lock: the controller saves the same file
        st.feedback.append(item)
        S.save(st)
    _record(
        Kind.RELEASE_FEEDBACK,
        st.id,
        ReleaseFeedback(release_id=st.id, version=st.version, unit=unit, blocking=blocking, text=text),
    )
    return item


def resolve_feedback(item_id: int, *, by: str) -> dict[str, Any]:
    from procops.events import ReleaseFeedback

    with exclusive_lock("release-feedback", wait=True):
        st = S.load()
        if st is None:
            raise BadInput(_("there is no release to give feedback on"))
        item = next((f for f in st.feedback if f["id"] == item_id), None)
        if item is None:
            raise BadInput(_("release {id} has no feedback #{n}").format(id=st.id, n=item_id))
        item["resolved"] = True
        item["resolved_by"] = by
        item["resolved_at"] = iso(utcnow())
        S.save(st)
    _record(
        Kind.RELEASE_FEEDBACK,
        st.id,
        ReleaseFeedback(
            release_id=st.id,
            version=st.version,
            unit=item["unit"],
            blocking=item["blocking"],
            text=item["text"],
            resolved=True,
        ),
    )
    return item


def status_view(st: S.ReleaseState | None) -> dict[str, Any]:
    if st is None:
        return {"release": None}
    last_stage = max((g["stage"] for g in st.gates), default=None)
    return {
        "release": {
            "id": st.id,
            "version": st.version,
            "from_version": st.from_version,
            "status": st.status,
            "stage": min(st.stage + 1, len(st.plan)),
            "stages": len(st.plan),
            "phase": st.phase,
            "auto": st.auto,
            "weights": st.weights,
            "original_weights": st.original_weights,
            "deployed": st.deployed,
            "last_gates": [g for g in st.gates if g["stage"] == last_stage],
            "decisions": st.decisions,
            "approvals": st.approvals,
            "feedback": st.feedback,
            "pilot_units": st.pilot_units,
            "pilots": st.pilots,
            "notice": st.notice,
            "reason": st.reason,
            "started_at": st.started_at,
            "ended_at": st.ended_at,
            "timings": st.timings,
        }
    }
