"""Run the reference platform: N uvicorn replicas behind a real HAProxy, on loopback.

``up`` is idempotent (a running, healthy instance is reported, not started
twice), checks its ports first (a port in use is exit 3 naming it), records
every pid with its start time in ``state.json`` before waiting for health, and
tears down what it started when the platform does not come up. ``down`` stops
only the processes recorded there whose start time still matches, so a reused
pid is never killed.

Instances: ``main`` lives in ``$PROCOPS_HOME/sandbox``; others (the standby of
the incident issue) in ``$PROCOPS_HOME/sandbox-<name>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from procops.errors import BadInput, EnvironmentFailure
from procops.home import area_dir, atomic_write, exclusive_lock, generated_secret, read_secret
from procops import execute
from procops.execute import ProcessGroup, Proc, port_free
from procops.execute import http_ok as _http_ok
from procops.execute import log_tail as _log_tail
from procops.timeutil import iso, utcnow

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import SandboxConfig

ADMIN_TOKEN_SECRET = "sandbox-admin-token"
HEALTH_TIMEOUT = 45.0
MAX_SOCKET_PATH = 96


@dataclass(frozen=True)
class SandboxPaths:
    instance: str
    base: Path

    @classmethod
    def of(cls, instance: str = "main") -> SandboxPaths:
        if not instance.replace("-", "").isalnum():
            raise BadInput(_("invalid sandbox instance name {instance!r}").format(instance=instance))
        name = "sandbox" if instance == "main" else f"sandbox-{instance}"
        return cls(instance, area_dir(name))

    @property
    def database(self) -> Path:
        return self.base / "platform.db"

    @property
    def documents(self) -> Path:
        return self.base / "documents"

    @property
    def run(self) -> Path:
        d = self.base / "run"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def logs(self) -> Path:
        d = self.base / "logs"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def state_file(self) -> Path:
        return self.run / "state.json"

    @property
    def haproxy_cfg(self) -> Path:
        return self.run / "haproxy.cfg"

    @property
    def pilot_map(self) -> Path:
        """HAProxy map of the pilot purchasing units (unit -> server), edited live by a gray release."""
        return self.run / "pilot.map"

    @property
    def haproxy_state(self) -> Path:
        """HAProxy's server-state-file: the runtime weights and states a reload keeps."""
        return self.run / "haproxy.state"

    @property
    def haproxy_socket(self) -> Path:
        """The runtime API socket: in run/, or in a short private folder when that path is too long
        for a unix socket (sun_path holds 108 bytes; HAProxy accepts fewer)."""
        path = self.run / "haproxy.sock"
        if len(str(path)) <= MAX_SOCKET_PATH:
            return path
        import hashlib

        short = Path("/tmp") / f"procops-{os.getuid()}-{hashlib.sha256(str(self.base).encode()).hexdigest()[:12]}"
        short.mkdir(mode=0o700, exist_ok=True)
        os.chmod(short, 0o700)
        return short / "haproxy.sock"

    def sqlite_url(self) -> str:
        return f"sqlite:///{self.database}"


@dataclass
class SandboxState:
    instance: str
    port: int
    url: str
    database_url: str
    documents_dir: str
    started_at: str
    haproxy: Proc | None = None
    replicas: list[Proc] = field(default_factory=list)
    bind_address: str = "127.0.0.1"
    max_upload_size: int | None = None  # what the replicas were started with (a switched replica keeps it)

    @property
    def host(self) -> str:
        """Where this machine reaches the replicas."""
        return connect_host(self.bind_address)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SandboxState:
        d = dict(d)
        d["haproxy"] = Proc(**d["haproxy"]) if d.get("haproxy") else None
        d["replicas"] = [Proc(**r) for r in d.get("replicas", [])]
        return cls(**d)

    def processes(self) -> list[Proc]:
        return ([self.haproxy] if self.haproxy else []) + list(self.replicas)

    def group(self, paths: SandboxPaths) -> ProcessGroup:
        return ProcessGroup(f"sandbox-{self.instance}", paths.logs, self.processes())


def masked_url(url: str) -> str:
    from procops.config import _mask_url

    return _mask_url(url)


# --------------------------------------------------------------------------- pure helpers


def replica_ports(port: int, replicas: int) -> list[int]:
    return [port + 1 + i for i in range(replicas)]


def connect_host(bind_address: str) -> str:
    """The address to connect to a service listening on ``bind_address`` (a wildcard: loopback)."""
    return "127.0.0.1" if bind_address in ("", "0.0.0.0", "::") else bind_address


def haproxy_config(
    port: int,
    ports: list[int],
    socket_path: Path,
    weights: list[int] | None = None,
    bind_address: str = "127.0.0.1",
    state_file: Path | None = None,
    pilot_map: Path | None = None,
) -> str:
    """The HAProxy config of the sandbox: one frontend, replicas r1..rN with health checks. With
    ``state_file`` a reload keeps the runtime weights and drain/maint states (``server-state-file``,
    written with ``show servers state`` just before the reload). With ``pilot_map`` the requests of
    the purchasing units listed there (cookie ``procops_unit`` or header ``X-Purchasing-Unit`` ->
    server name; edited live over the runtime API by a gray release) go to that server, marked
    ``X-Procops-Pilot: true`` (a client's own header of that name, and ``X-Procops-Probe``, is removed
    at the front end)."""
    weights = weights or [100] * len(ports)
    host = connect_host(bind_address)
    state_global = f"\n    server-state-file {state_file}" if state_file else ""
    state_defaults = "\n    load-server-state-from-file global" if state_file else ""
    servers = "\n".join(
        f"    server r{i + 1} {host}:{p} check weight {w}" for i, (p, w) in enumerate(zip(ports, weights))
    )
    pilots = ""
    if pilot_map is not None:
        pilots = (
            f"    http-request set-var(txn.pilot) req.cook(procops_unit),map({pilot_map})\n"
            f"    http-request set-var(txn.pilot) req.hdr(X-Purchasing-Unit),map({pilot_map}) "
            "unless { var(txn.pilot) -m found }\n"
            # the platform labels these requests' metrics traffic="pilot" (the gates judge them apart)
            "    http-request set-header X-Procops-Pilot true if { var(txn.pilot) -m found }\n"
            + "".join(f"    use-server r{i + 1} if {{ var(txn.pilot) -m str r{i + 1} }}\n" for i in range(len(ports)))
        )
    return f"""# generated by procops sandbox up; do not edit
global
    maxconn 4096
    stats socket {socket_path} mode 600 level admin
    stats timeout 30s{state_global}

defaults
    mode http{state_defaults}
    option http-keep-alive
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 30s
    retries 2
    option redispatch

frontend platform
    bind {bind_address}:{port}
    option forwardfor
    # The admin path is refused however it is spelled: decoded twice, in lower case,
    # anywhere in the path (//_admin, /%5Fadmin, /_ADMIN, /x/..%2f_admin ...).
    acl admin_path path,url_dec,url_dec,lower -m sub _admin
    acl admin_path path,url_dec,url_dec,lower -m reg (^|[/;\\\\x5c])admin([/;.\\\\x5c]|$)
    http-request deny deny_status 403 if admin_path
    # only the load balancer says which requests are a pilot unit's; a probe never comes this way
    http-request del-header X-Procops-Pilot
    http-request del-header X-Procops-Probe
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
{pilots}{servers}
"""


def data_key_file() -> Path:
    """The key of the platform's encrypted fields (credit codes), one for every instance of this
    state home: a standby restored from main's backup reads main's ciphertexts. Created 0600 on
    first use by the seed or a replica; on real hosts it is a secret of the platform, kept with
    its other secrets (the standby host needs the same file)."""
    from procops.home import area_dir

    return area_dir("secrets") / "sandbox-data.key"


def replica_env(
    paths: SandboxPaths, database_url: str, version: str, max_upload: int, replica: str, token_file: Path
) -> dict[str, str]:
    """What a replica is told beyond the runner's exact environment (no inherited PROCOPS_SANDBOX_*)."""
    env = {k: os.environ[k] for k in ("PROCOPS_HOME", "PROCOPS_LANG") if k in os.environ}
    env.update(
        {
            "PROCOPS_SANDBOX_DATA_KEY_FILE": str(data_key_file()),
            "PROCOPS_SANDBOX_DB_URL": database_url,
            "PROCOPS_SANDBOX_DOCS_DIR": str(paths.documents),
            "PROCOPS_SANDBOX_VERSION": version,
            "PROCOPS_SANDBOX_MAX_UPLOAD": str(max_upload),
            "PROCOPS_SANDBOX_ADMIN_TOKEN_FILE": str(token_file),
            "PROCOPS_SANDBOX_REPLICA": replica,
        }
    )
    return env


def replica_argv(port: int, bind_address: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "procops.sandbox.app:create_app",
        "--factory",
        "--host",
        bind_address,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "5",
    ]


# --------------------------------------------------------------------------- state


def load_state(paths: SandboxPaths) -> SandboxState | None:
    try:
        return SandboxState.from_dict(json.loads(paths.state_file.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, KeyError) as e:
        raise EnvironmentFailure(
            _("sandbox state {state_file} is unreadable: {e}").format(state_file=paths.state_file, e=e)
        ) from None


def save_state(paths: SandboxPaths, state: SandboxState) -> None:
    atomic_write(paths.state_file, json.dumps(state.as_dict(), indent=2))


def admin_token() -> str:
    return read_secret(generated_secret(ADMIN_TOKEN_SECRET))


def ensure_database(url: str) -> None:
    """Create the database of a PostgreSQL or MariaDB URL when it does not exist yet."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite" or not u.database:
        return
    # the server's maintenance database (MySQL/MariaDB: none); URL.set(database=None) would keep the name
    admin_url = u._replace(database="postgres" if backend == "postgresql" else None)
    try:
        eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            if backend == "postgresql":
                exists = c.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": u.database}).first()
                if not exists:
                    c.execute(text(f'CREATE DATABASE "{u.database}"'))
            else:
                c.execute(text(f"CREATE DATABASE IF NOT EXISTS `{u.database}`"))
        eng.dispose()
    except SQLAlchemyError as e:
        raise EnvironmentFailure(
            _("database server of {masked_url} is unreachable or refused: {value}").format(
                masked_url=masked_url(url), value=str(e.orig if hasattr(e, "orig") else e).splitlines()[0]
            )
        ) from None


# --------------------------------------------------------------------------- API


@dataclass
class UpOptions:
    port: int
    replicas: int
    version: str
    database_url: str | None
    max_upload_size: int
    seed_announcements: int
    seed_suppliers: int
    seed_documents: int
    document_size: int
    seed: int
    bind_address: str = "127.0.0.1"

    @classmethod
    def from_config(cls, sandbox_cfg: SandboxConfig, **overrides: Any) -> UpOptions:
        s = sandbox_cfg
        opts = cls(
            port=s.port,
            replicas=s.replicas,
            version=s.version,
            database_url=s.database_url,
            max_upload_size=s.max_upload_size,
            seed_announcements=s.seed.announcements,
            seed_suppliers=s.seed.suppliers,
            seed_documents=s.seed.documents,
            document_size=s.seed.document_size,
            seed=s.seed.seed,
            bind_address=s.bind_address,
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(opts, k, v)
        return opts


VERSIONS = ("1.0.0", "1.1.0", "1.1.1-bad")


def up(opts: UpOptions, instance: str = "main", *, journal: bool = True) -> tuple[SandboxState, bool]:
    """Start the platform; returns (state, started). ``started`` is False when it was already up."""
    if opts.version not in VERSIONS:
        raise BadInput(
            _("unknown platform version {version!r}: use one of {versions}").format(
                version=opts.version, versions=", ".join(VERSIONS)
            )
        )
    if opts.replicas < 1:
        raise BadInput("--replicas must be at least 1")
    paths = SandboxPaths.of(instance)
    with exclusive_lock(f"sandbox-{instance}", wait=True):
        current = load_state(paths)
        if current is not None:
            if all(p.alive() for p in current.processes()):
                ok, _unused = _http_ok(current.url + "/healthz")
                if ok:
                    return current, False
            # half-dead: clean it up before starting anew
            current.group(paths).stop()
            paths.state_file.unlink(missing_ok=True)

        ports = [opts.port, *replica_ports(opts.port, opts.replicas)]
        for p in ports:
            if not port_free(p, opts.bind_address):
                raise EnvironmentFailure(
                    _(
                        "port {p} on {bind_address} is already in use; choose another with --port or stop what uses it"
                    ).format(p=p, bind_address=opts.bind_address)
                )
        database_url = opts.database_url or paths.sqlite_url()
        token_file = generated_secret(ADMIN_TOKEN_SECRET)
        paths.documents.mkdir(parents=True, exist_ok=True)
        seeded = prepare_data(paths, database_url, opts)

        state = SandboxState(
            instance=instance,
            port=opts.port,
            url=f"http://{connect_host(opts.bind_address)}:{opts.port}",
            database_url=database_url,
            documents_dir=str(paths.documents),
            started_at=iso(utcnow()),
            bind_address=opts.bind_address,
            max_upload_size=opts.max_upload_size,
        )
        group = ProcessGroup(f"sandbox-{instance}", paths.logs)
        with group.starting(cleanup=lambda: paths.state_file.unlink(missing_ok=True)):
            for i, p in enumerate(ports[1:], start=1):
                name = f"r{i}"
                env = replica_env(paths, database_url, opts.version, opts.max_upload_size, name, token_file)
                state.replicas.append(
                    group.spawn(
                        execute.UVICORN, replica_argv(p, opts.bind_address), name, env=env, port=p, version=opts.version
                    )
                )
                save_state(paths, state)
            cfg = haproxy_config(
                opts.port,
                ports[1:],
                paths.haproxy_socket,
                bind_address=opts.bind_address,
                state_file=paths.haproxy_state,
                pilot_map=paths.pilot_map,
            )
            if not paths.pilot_map.exists():
                atomic_write(paths.pilot_map, "")
            atomic_write(paths.haproxy_cfg, cfg)
            check = execute.run(execute.HAPROXY, ["haproxy", "-c", "-q", "-f", str(paths.haproxy_cfg)], check=False)
            if check.rc != 0:
                raise EnvironmentFailure(
                    _("haproxy rejected {haproxy_cfg}: {strip}").format(
                        haproxy_cfg=paths.haproxy_cfg, strip=check.stderr.strip()
                    )
                )
            state.haproxy = group.spawn(
                execute.HAPROXY, ["haproxy", "-db", "-f", str(paths.haproxy_cfg)], "haproxy", port=opts.port
            )
            save_state(paths, state)
            _wait_healthy(state, paths)
    if journal:
        from procops.events import Kind, SandboxUp
        from procops.journal import record

        record(
            Kind.SANDBOX_UP,
            instance,
            SandboxUp(
                url=state.url,
                replicas=len(state.replicas),
                version=opts.version,
                database=masked_url(database_url),
                seeded=seeded,
            ),
        )
    return state, True


def prepare_data(paths: SandboxPaths, database_url: str, opts: UpOptions) -> dict:
    """Create the schema and seed the data (once: an already seeded database is kept)."""
    from procops.sandbox.db import make_engine
    from procops.sandbox.models import create_schema
    from procops.sandbox.seed import seed

    ensure_database(database_url)
    engine = make_engine(database_url)
    try:
        create_schema(engine)
        return seed(
            engine,
            paths.documents,
            announcements=opts.seed_announcements,
            suppliers=opts.seed_suppliers,
            documents=opts.seed_documents,
            document_size=opts.document_size,
            seed=opts.seed,
            key_file=data_key_file(),
        )
    except Exception as e:  # noqa: BLE001 - the database's own error is the message
        if isinstance(e, (BadInput, EnvironmentFailure)):
            raise
        raise EnvironmentFailure(
            _("cannot prepare the sandbox database {masked_url}: {value}").format(
                masked_url=masked_url(database_url), value=str(e).splitlines()[0]
            )
        ) from None
    finally:
        engine.dispose()


def _wait_healthy(state: SandboxState, paths: SandboxPaths) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    pending = {r.name: r for r in state.replicas}
    while time.monotonic() < deadline:
        for name, r in list(pending.items()):
            if not r.alive():
                raise EnvironmentFailure(
                    _("sandbox replica {name} exited during start:\n").format(name=name)
                    + _log_tail(paths.logs / f"{name}.log")
                )
            if _http_ok(f"http://{state.host}:{r.port}/healthz")[0]:
                del pending[name]
        if state.haproxy and not state.haproxy.alive():
            raise EnvironmentFailure(_("haproxy exited during start:\n") + _log_tail(paths.logs / "haproxy.log"))
        if not pending and _haproxy_all_up(paths) and _http_ok(state.url + "/healthz")[0]:
            return
        time.sleep(0.2)
    raise EnvironmentFailure(
        _(
            "the sandbox did not become healthy within {health_timeout:.0f}s (still waiting for: {value}); logs in {logs}"
        ).format(health_timeout=HEALTH_TIMEOUT, value=", ".join(pending) or "haproxy", logs=paths.logs)
    )


def _haproxy_all_up(paths: SandboxPaths) -> bool:
    """True when HAProxy's own health checks see every replica UP (not only the first)."""
    from procops.haproxy import RuntimeAPI

    try:
        servers = RuntimeAPI(paths.haproxy_socket).servers("replicas")
    except EnvironmentFailure:
        return False
    return bool(servers) and all(s.up for s in servers)


def down(instance: str = "main", *, journal: bool = True) -> list[str]:
    """Stop the processes this instance started. Returns their names (empty: nothing was running)."""
    paths = SandboxPaths.of(instance)
    with exclusive_lock(f"sandbox-{instance}", wait=True):
        state = load_state(paths)
        if state is None:
            return []
        stopped = state.group(paths).stop()
        paths.state_file.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            paths.haproxy_socket.unlink()
    if journal:
        from procops.events import Kind, SandboxDown
        from procops.journal import record

        record(Kind.SANDBOX_DOWN, instance, SandboxDown(stopped=stopped))
    return stopped


def status(instance: str = "main") -> dict:
    paths = SandboxPaths.of(instance)
    state = load_state(paths)
    base = {
        "instance": instance,
        "running": False,
        "database": None,
        "documents_dir": str(paths.documents),
        "logs": str(paths.logs),
    }
    if state is None:
        return base
    replicas = []
    for r in state.replicas:
        ok, body = _http_ok(f"http://{state.host}:{r.port}/healthz") if r.alive() else (False, None)
        replicas.append(
            {
                "name": r.name,
                "pid": r.pid,
                "port": r.port,
                "alive": r.alive(),
                "healthy": ok,
                "version": (body or {}).get("version", r.version),
            }
        )
    fe_ok, _unused = _http_ok(state.url + "/healthz") if state.haproxy and state.haproxy.alive() else (False, None)
    base.update(
        {
            "running": True,
            "url": state.url,
            "healthy": fe_ok and all(r["healthy"] for r in replicas),
            "started_at": state.started_at,
            "database": masked_url(state.database_url),
            "documents_dir": state.documents_dir,
            "haproxy": {
                "pid": state.haproxy.pid if state.haproxy else None,
                "alive": bool(state.haproxy and state.haproxy.alive()),
                "config": str(paths.haproxy_cfg),
                "runtime_api": str(paths.haproxy_socket),
            },
            "replicas": replicas,
        }
    )
    return base


def switch_version(replica: str, version: str, instance: str = "main") -> dict:
    """Restart one replica on another platform version (what a deploy does on a real host): stop it,
    start it on the same port with ``version``, record it in ``state.json``, wait until it answers
    /healthz with that version. The caller drains it in HAProxy first. Idempotent: a live replica
    already on ``version`` is left alone."""
    if version not in VERSIONS:
        raise BadInput(
            _("unknown platform version {version!r}: use one of {versions}").format(
                version=version, versions=", ".join(VERSIONS)
            )
        )
    paths = SandboxPaths.of(instance)
    with exclusive_lock(f"sandbox-{instance}", wait=True):
        state = running_state(instance)
        idx = next((i for i, r in enumerate(state.replicas) if r.name == replica), None)
        if idx is None:
            raise BadInput(
                _("sandbox '{instance}' has no replica {replica!r} (it has: {names})").format(
                    instance=instance, replica=replica, names=", ".join(r.name for r in state.replicas)
                )
            )
        old = state.replicas[idx]
        url = f"http://{state.host}:{old.port}/healthz"
        if old.alive() and old.version == version:
            ok, body = _http_ok(url)
            if ok and (body or {}).get("version") == version:
                return {"replica": replica, "version": version, "changed": False, "pid": old.pid}
        execute.terminate([old], timeout=15)
        deadline = time.monotonic() + 15
        while old.port and not port_free(old.port, state.bind_address) and time.monotonic() < deadline:
            time.sleep(0.1)
        from procops.config import SandboxConfig

        max_upload = state.max_upload_size or SandboxConfig().max_upload_size
        env = replica_env(paths, state.database_url, version, max_upload, replica, generated_secret(ADMIN_TOKEN_SECRET))
        group = ProcessGroup(f"sandbox-{instance}", paths.logs)
        assert old.port is not None
        new = group.spawn(
            execute.UVICORN,
            replica_argv(old.port, state.bind_address),
            replica,
            env=env,
            port=old.port,
            version=version,
        )
        state.replicas[idx] = new
        save_state(paths, state)
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while time.monotonic() < deadline:
            if not new.alive():
                raise EnvironmentFailure(
                    _("sandbox replica {name} exited during start:\n").format(name=replica)
                    + _log_tail(paths.logs / f"{replica}.log")
                )
            ok, body = _http_ok(url)
            if ok and (body or {}).get("version") == version:
                return {"replica": replica, "version": version, "changed": True, "pid": new.pid}
            time.sleep(0.2)
    raise EnvironmentFailure(
        _("sandbox replica {name} did not answer /healthz on version {version} within {timeout:.0f}s").format(
            name=replica, version=version, timeout=HEALTH_TIMEOUT
        )
    )


def reload_haproxy(instance: str = "main") -> dict:
    """Reload HAProxy the way an operator does after a config change, keeping the runtime state:
    ``show servers state`` into the server-state-file, then a new HAProxy takes over with ``-sf``
    (the old one finishes its connections and exits). Returns the servers' weights and states after."""
    from procops.haproxy import RuntimeAPI

    paths = SandboxPaths.of(instance)
    with exclusive_lock(f"sandbox-{instance}", wait=True):
        state = running_state(instance)
        old = state.haproxy
        if old is None or not old.alive():
            raise EnvironmentFailure(_("the sandbox's HAProxy is not running"))
        api = RuntimeAPI(paths.haproxy_socket)
        atomic_write(paths.haproxy_state, api.command("show servers state"))
        if "server-state-file" not in paths.haproxy_cfg.read_text():
            raise EnvironmentFailure(
                _("{cfg} has no server-state-file: restart the sandbox (procops sandbox down, up) to get it").format(
                    cfg=paths.haproxy_cfg
                )
            )
        group = ProcessGroup(f"sandbox-{instance}", paths.logs)
        new = group.spawn(
            execute.HAPROXY,
            ["haproxy", "-db", "-f", str(paths.haproxy_cfg), "-sf", str(old.pid)],
            "haproxy",
            port=old.port,
        )
        state.haproxy = new
        save_state(paths, state)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not old.alive():  # the old process has handed over and gone
                try:
                    servers = RuntimeAPI(paths.haproxy_socket).servers("replicas")
                    return {
                        "pid": new.pid,
                        "servers": {s.server: {"weight": s.weight, "status": s.status} for s in servers},
                    }
                except EnvironmentFailure:
                    pass
            time.sleep(0.2)
        if not new.alive():
            raise EnvironmentFailure(_("haproxy exited during start:\n") + _log_tail(paths.logs / "haproxy.log"))
        raise EnvironmentFailure(_("the reloaded HAProxy did not take over within 20s"))


def running_state(instance: str = "main") -> SandboxState:
    state = load_state(SandboxPaths.of(instance))
    if state is None:
        raise EnvironmentFailure(
            _("the sandbox '{instance}' is not running (start it with: procops sandbox up)").format(instance=instance)
        )
    return state


def set_fault(specs: list[str], endpoint: str | None, instance: str = "main") -> dict:
    """Apply a fault on every replica through its loopback admin endpoint."""
    from procops.sandbox.faults import ENDPOINTS, parse_fault_specs

    try:
        fault = parse_fault_specs(specs)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise BadInput(
            _("unknown endpoint {endpoint!r}; known: {endpoints}").format(
                endpoint=endpoint, endpoints=", ".join(sorted(ENDPOINTS))
            )
        )
    fault["endpoint"] = endpoint
    return _admin_fault("PUT", fault, instance)


def clear_fault(instance: str = "main") -> dict:
    return _admin_fault("DELETE", None, instance)


def _admin_fault(method: str, body: dict | None, instance: str) -> dict:
    import httpx

    state = running_state(instance)
    headers = {"X-Admin-Token": admin_token()}
    results = {}
    for r in state.replicas:
        try:
            resp = httpx.request(
                method, f"http://127.0.0.1:{r.port}/_admin/fault", json=body, headers=headers, timeout=5
            )
        except httpx.HTTPError as e:
            raise EnvironmentFailure(
                _("replica {name} (port {port}) is unreachable: {e}").format(name=r.name, port=r.port, e=e)
            ) from None
        if resp.status_code >= 300:
            raise EnvironmentFailure(
                _("replica {name} refused the fault change: {status_code} {text}").format(
                    name=r.name, status_code=resp.status_code, text=resp.text
                )
            )
        results[r.name] = resp.json()
    from procops.events import Kind, SandboxFault
    from procops.journal import record

    record(Kind.SANDBOX_FAULT, instance, SandboxFault(action="set" if method == "PUT" else "clear", fault=body))
    return results
