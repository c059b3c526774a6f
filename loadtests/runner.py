"""`procops loadtest peak|capacity|report`: the area's public API.

    run_peak(config, PeakOptions(...))         -> RunResult
    run_capacity(config, CapacityOptions(...)) -> RunResult
    load_summary(report_dir)                   -> dict (summary.json)

A run: check the arguments (exit 2) and the target (preflight: unreachable or
unhealthy is exit 3 within seconds), start Locust (one process, or a master and
W local workers) with the stages shape, sample the generator's CPU, then judge
the raw samples against the policy's SLOs and write the report folder::

    summary.json   verdict, SLO rows, per-endpoint requests/failures/p50/p95/p99,
                   users, rps, duration, generator CPU (and per-step rows for capacity)
    samples.tsv    every request (start, endpoint, ms, ok, status, bytes, node)
    stages.jsonl   when the test and each stage started
    locust-report.html, locust_stats.csv, locust_stats_history.csv, locust_failures.csv ...
    latency.png, rps.png (capacity.png)

The verdict is ``pass`` (exit 0), ``fail`` (exit 1) or ``invalid`` (exit 3: the
generator passed its CPU limit, so the measurement cannot be trusted either way).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterator

from procops.errors import BadInput, EnvironmentFailure, ExitCode
from procops.loadtests import abort
from procops.loadtests import locustproc as lp
from procops.loadtests import slo
from procops.operation import Interrupted
from procops.loadtests.recorder import SAMPLES_FILE, STAGES_FILE, WORKER_CPU_FILE
from procops.loadtests.scenario import (
    ENV_OUT,
    ENV_SCENARIO,
    ENV_STAGES,
    Scenario,
    Stage,
    capacity_multiples,
    capacity_stages,
    peak_stages,
    stages_to_json,
    total_duration,
)
from procops.timeutil import iso, utcnow

from procops.i18n import _

if TYPE_CHECKING:
    from procops.config import Config

PREFLIGHT_TIMEOUT = 3.0
SUMMARY = "summary.json"


@dataclass
class PeakOptions:
    users: int | None = None
    spawn_rate: float | None = None
    duration: float | None = None  # hold time after the ramp
    host: str | None = None
    workers: int | None = None
    report_dir: Path | None = None
    master_bind: str | None = None
    expect_workers: int | None = None  # local workers + remote ones (playbooks/loadgen.yml)
    scenario_name: str = "peak"
    locustfile: Path | None = None  # a custom locustfile instead of the procurement personas
    abort_on_fail: bool | None = None  # stop conditions (None: loadtest.abort_on_fail)
    progress: Callable[[dict], None] | None = None  # live stats while it runs (locustproc.live_stats)


@dataclass
class CapacityOptions:
    baseline_users: int | None = None
    multiple: float | None = None  # the multiple the verdict needs (policy.capacity_multiple)
    max_multiple: float | None = None
    step_duration: float | None = None
    spawn_rate: float | None = None
    host: str | None = None
    workers: int | None = None
    report_dir: Path | None = None
    master_bind: str | None = None
    expect_workers: int | None = None
    locustfile: Path | None = None
    abort_on_fail: bool | None = None  # stop conditions (None: loadtest.abort_on_fail)
    progress: Callable[[dict], None] | None = None  # live stats while it runs (locustproc.live_stats)


@dataclass
class RunResult:
    summary: dict
    report_dir: Path

    @property
    def verdict(self) -> str:
        return self.summary["verdict"]

    @property
    def exit_code(self) -> int:
        return {"pass": ExitCode.OK, "fail": ExitCode.VERDICT_FAILED}.get(self.verdict, ExitCode.ENVIRONMENT)

    def as_dict(self) -> dict:
        return self.summary


# --------------------------------------------------------------------------- target and preflight


def resolve_host(config: Config, host: str | None) -> str:
    url = host or config.platform.url
    if not url:
        from procops.sandbox import api as sandbox

        st = sandbox.frontend()  # main's HAProxy, or the standby's when main's is down after a failover
        if st is None:
            raise EnvironmentFailure(
                _("no platform URL is configured and the sandbox is not running"),
                hint=_("start it with 'procops sandbox up' or give --host URL"),
            )
        url = st.url
    return check_url(url)


def check_url(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(_("--host {url!r} is not an http(s) URL").format(url=url))
    try:
        _unused = parts.port
    except ValueError:
        raise BadInput(_("--host {url!r} has an invalid port").format(url=url)) from None
    return url.rstrip("/")


@dataclass
class Target:
    url: str
    version: str | None = None
    suppliers: int = 0
    announcements: int = 0
    search: bool = False
    notes: list[str] = field(default_factory=list)


def preflight(url: str, config: Config, timeout: float = PREFLIGHT_TIMEOUT) -> Target:
    """The target answers /healthz with 200 within seconds, or the run stops here (exit 3)."""
    import httpx

    try:
        with httpx.Client(base_url=url, timeout=timeout) as c:
            r = c.get("/healthz")
            if r.status_code != 200:
                raise EnvironmentFailure(
                    _(
                        "{url}/healthz answered HTTP {status_code}: the platform is not healthy, a load test would measure nothing useful"
                    ).format(url=url, status_code=r.status_code)
                )
            t = Target(url)
            try:
                t.version = r.json().get("version")
            except ValueError:
                pass
            seed = config.sandbox.seed
            t.suppliers, t.announcements = seed.suppliers, seed.announcements
            try:
                d = c.get("/api/dashboard")
                if d.status_code == 200:
                    body = d.json()
                    t.announcements = int(body.get("announcements", t.announcements))
                    t.suppliers = int(body.get("seeded_suppliers", body.get("suppliers", t.suppliers)))
                    t.version = body.get("version", t.version)
                else:
                    t.notes.append(f"/api/dashboard answered {d.status_code}: using the seed's counts")
            except (httpx.HTTPError, ValueError) as e:
                t.notes.append(f"/api/dashboard: {type(e).__name__}: using the seed's counts")
            t.suppliers = seeded_logins(lambda i: _login_ok(c, i), t.suppliers)
            if not t.suppliers:
                t.notes.append("no seeded supplier login works: suppliers register their own accounts")
            try:
                s = c.get("/api/announcements/search", params={"q": "采购", "size": 1})
                t.search = s.status_code == 200
            except httpx.HTTPError:
                t.search = False
            return t
    except httpx.HTTPError as e:
        raise EnvironmentFailure(
            _("{url} is unreachable: {name}: {e}").format(url=url, name=type(e).__name__, e=e),
            hint=_("check the URL, or start the sandbox with 'procops sandbox up'"),
        ) from None


def _login_ok(client: Any, i: int) -> bool:
    r = client.post("/api/suppliers/login", json={"email": f"supplier-{i}@example.test", "password": f"password-{i}"})
    return r.status_code == 200


def seeded_logins(login_ok: Any, upper: int) -> int:
    """The highest i in 1..upper whose seeded login works (seeded accounts are 1..k): a binary search."""
    if upper < 1 or not login_ok(1):
        return 0
    lo, hi = 1, upper  # login_ok(lo) holds
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if login_ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


# --------------------------------------------------------------------------- validation


def _positive(name: str, value: float | None, *, integer: bool = False) -> None:
    if value is None:
        return
    if (integer and (not isinstance(value, int) or value < 1)) or not value > 0 or math.isinf(value):
        raise BadInput(
            _("{name} must be {value}, got {value2}").format(
                name=name, value="a whole number >= 1" if integer else "a positive number", value2=value
            )
        )


def _workers(
    config: Config, workers: int | None, master_bind: str | None, expect: int | None
) -> tuple[int, tuple[str, int] | None, int]:
    w = config.loadtest.workers if workers is None else workers
    if w < 0 or w > 64:
        raise BadInput(_("--workers must be between 0 and 64, got {w}").format(w=w))
    bind = None
    if master_bind:
        try:
            bind = lp.parse_bind(master_bind)
        except ValueError as e:
            raise BadInput(_("--master-bind: {e}").format(e=e)) from None
    total = w if expect is None else expect
    if expect is not None and expect < w:
        raise BadInput(_("--expect-workers {expect} is fewer than the {w} local workers").format(expect=expect, w=w))
    if (bind or expect) and total < 1:
        raise BadInput("--master-bind/--expect-workers need at least one worker")
    if total > w and bind is None:
        raise BadInput(
            _(
                "--expect-workers {total} counts {value} remote workers: give --master-bind HOST:PORT for them to connect to"
            ).format(total=total, value=total - w)
        )
    return w, bind, total


def _locustfile(path: Path | None) -> Path | None:
    if path is None:
        return None
    p = Path(path).expanduser().resolve()
    if not p.is_file() or p.suffix != ".py":
        raise BadInput(_("--locustfile {path}: not a Python file").format(path=path))
    return p


# --------------------------------------------------------------------------- running


def default_report_dir(scenario: str) -> Path:
    from procops.home import area_dir

    return area_dir("reports") / f"loadtest-{scenario}-{utcnow().strftime('%Y%m%dT%H%M%SZ')}"


def _prepare_dir(report_dir: Path | None, scenario: str) -> Path:
    d = (Path(report_dir) if report_dir else default_report_dir(scenario)).expanduser().resolve()
    if d.exists() and any(d.iterdir()):
        raise BadInput(_("report folder {d} is not empty").format(d=d))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _execute(
    config: Config,
    scenario_name: str,
    url: str,
    target: Target,
    stages: list[Stage],
    report_dir: Path,
    workers: int,
    bind: tuple[str, int] | None,
    expect: int,
    locustfile: Path | None = None,
    rule: abort.Rule | None = None,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Run Locust with the stages; return the raw facts (samples, test start, CPU, exit code, what
    stop condition fired)."""
    lt = config.loadtest
    scenario = Scenario.from_config(
        lt, suppliers=target.suppliers, announcements=target.announcements, search=target.search
    )
    env = lp.child_env({ENV_SCENARIO: scenario.to_json(), ENV_STAGES: stages_to_json(stages), ENV_OUT: str(report_dir)})
    if rule is not None:
        env[abort.ENV_ABORT] = rule.to_json()
    from procops.home import atomic_write

    # what remote workers need (playbooks/loadgen.yml reads it)
    atomic_write(
        report_dir / "scenario.json",
        json.dumps(
            {"scenario": json.loads(scenario.to_json()), "stages": [s.as_dict() for s in stages]},
            indent=2,
            ensure_ascii=False,
        ),
    )
    files = (locustfile or lp.LOCUSTFILE, lp.PLUGINFILE, lp.SHAPEFILE)
    py = lp.python()
    if workers or expect:
        host, port = bind or ("127.0.0.1", lp.free_port())
        master = lp.Role("master", host, port, expect, wait=300 if expect > workers else 60)
        argvs = [("master", lp.locust_argv(py, master, host=url, report_dir=report_dir, locustfiles=files))]
        connect = "127.0.0.1" if host in ("0.0.0.0", "*", "::") else host
        for i in range(workers):
            argvs.append(
                (
                    f"worker-{i + 1}",
                    lp.locust_argv(
                        py,
                        lp.Role("worker", connect, port),
                        host=url,
                        report_dir=report_dir,
                        locustfiles=files,
                        index=i + 1,
                    ),
                )
            )
    else:
        argvs = [("local", lp.locust_argv(py, lp.Role("local"), host=url, report_dir=report_dir, locustfiles=files))]
    timeout = total_duration(stages) + 120 + (300 if expect > workers else 60 if expect else 0)
    group = lp.LocustGroup(argvs, env, report_dir, timeout)
    sampler = lp.CpuSampler(interval=1.0)
    started = utcnow()

    def tick() -> None:
        stats = lp.live_stats(report_dir)
        if stats is not None and progress is not None:
            progress(stats)

    code = group.run(sampler, on_tick=tick if progress is not None else None)
    ended = utcnow()
    if code != 0:
        log = report_dir / f"locust-{argvs[0][0]}.log"
        raise EnvironmentFailure(
            _("Locust exited with code {code}:\n{value}").format(
                code=code, value=lp.tail(log) or lp.tail(report_dir / (argvs[0][0] + ".out"))
            )
        )
    stage_rows = _read_stages(report_dir / STAGES_FILE)
    if not stage_rows:
        raise EnvironmentFailure(
            _("Locust ended without starting the test (see {report_dir}/locust-*.log):\n").format(report_dir=report_dir)
            + lp.tail(report_dir / f"{argvs[0][0]}.out")
        )
    test_start = stage_rows[0]["test_start"]
    end_rows = [r for r in stage_rows if r["event"] == "end"]
    fired = abort.read_fired(str(report_dir / abort.ABORT_FILE))
    test_end = end_rows[-1]["time"] if end_rows else fired.fired_at if fired else test_start + total_duration(stages)
    cpu = lp.generator_cpu(
        sampler.samples + lp.read_worker_cpu(report_dir / WORKER_CPU_FILE), test_start + 1.0, test_end
    )
    cpu["threshold"] = lt.max_generator_cpu
    if cpu["max_mean_wait_ratio"] > 0.2:
        target.notes.append(
            f"a load generator process waited for a CPU core {cpu['max_mean_wait_ratio']:.0%} "
            "of the time (other load on this machine): response times may read high"
        )
    cpu["ok"] = cpu["max_ratio"] <= lt.max_generator_cpu
    samples = slo.read_samples(report_dir / SAMPLES_FILE)
    return {
        "scenario": scenario,
        "samples": samples,
        "test_start": test_start,
        "test_end": test_end,
        "cpu": cpu,
        "started_at": iso(started),
        "ended_at": iso(ended),
        "workers": workers,
        "expect_workers": expect,
        "locust_requests": _locust_total(report_dir),
        "aborted": fired,
        "planned_s": total_duration(stages),
    }


def _read_stages(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]


def _locust_total(report_dir: Path) -> int | None:
    p = report_dir / f"{lp.CSV_PREFIX}_stats.csv"
    if not p.exists():
        return None
    with open(p, newline="") as f:
        for row in csv.DictReader(f):
            if row.get("Name") == "Aggregated":
                return int(row["Request Count"])
    return None


def _base_summary(
    scenario_name: str, url: str, target: Target, facts: dict, policy: slo.SloPolicy, report_dir: Path
) -> dict:
    samples: list[slo.Sample] = facts["samples"]
    duration = max(0.0, facts["test_end"] - facts["test_start"])
    stats = slo.endpoint_stats(samples, duration)
    per_node: dict[str, int] = {}
    for s in samples:
        per_node[s.node] = per_node.get(s.node, 0) + 1
    agg = stats["Aggregated"]
    return {
        "scenario": scenario_name,
        "target": url,
        "platform_version": target.version,
        "started_at": facts["started_at"],
        "ended_at": facts["ended_at"],
        "test_start": iso_from_epoch(facts["test_start"]),
        "duration_s": round(duration, 3),
        "requests": agg.requests,
        "failures": agg.failures,
        "rps": round(agg.rps, 3),
        "endpoints": {k: _round(v.as_dict()) for k, v in stats.items()},
        "generator_cpu": facts["cpu"],
        "workers": facts["workers"],
        "expect_workers": facts["expect_workers"],
        "requests_per_node": dict(sorted(per_node.items())),
        "locust_requests": facts["locust_requests"],
        # Locust writes its CSV when the test stops; a request in flight then is in the samples only
        "samples_complete": facts["locust_requests"] is None or facts["locust_requests"] <= agg.requests,
        "percentiles": "nearest-rank over every raw sample (exact)",
        "policy": {
            "page_load_p95_s": policy.page_p95_s,
            "page_endpoints": list(policy.page_endpoints),
            "upload_success_ratio": policy.upload_success_ratio,
            "max_server_errors": policy.max_server_errors,
        },
        "scenario_settings": json.loads(facts["scenario"].to_json()),
        "notes": list(target.notes),
        "report_dir": str(report_dir),
    }


def iso_from_epoch(t: float) -> str:
    import datetime as dt

    return iso(dt.datetime.fromtimestamp(t, dt.UTC))


def _round(d: dict) -> dict:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}


def _rule(config: Config, on: bool | None) -> abort.Rule | None:
    """The stop conditions of a run (None: off)."""
    return abort.Rule.from_config(config.loadtest) if (config.loadtest.abort_on_fail if on is None else on) else None


def _stop_condition(summary: dict, facts: dict, rule: abort.Rule | None) -> None:
    """An aborted run fails, naming the condition that fired and when (a failing SLO row first)."""
    summary["stop_conditions"] = (
        {
            "error_ratio": rule.error_ratio,
            "p95_s": rule.p95_s,
            "hold_s": rule.hold_s,
            "delay_s": rule.delay_s,
            "window_s": rule.window_s,
        }
        if rule
        else None
    )
    fired: abort.Fired | None = facts.get("aborted")
    if fired is None:
        summary["aborted"] = None
        return
    text = (
        f"{fired.describe()}; stopped {fired.fired_at - fired.test_start:.0f}s into a planned {facts['planned_s']:.0f}s"
    )
    summary["aborted"] = {**fired.as_dict(), "reason": text}
    row = slo.SloResult(
        f"stop condition: {fired.condition}",
        fired.condition,
        fired.limit,
        round(fired.value, 4),
        False,
        "ratio" if fired.condition == "error_ratio" else "s",
        detail=text,
    )
    summary["slos"] = [row.as_dict(), *summary.get("slos", [])]
    summary["verdict"] = "fail"
    summary["notes"].append(text)


def _finish(summary: dict, report_dir: Path, facts: dict, config: Config, windows: list[slo.Window]) -> RunResult:
    if not summary["generator_cpu"]["ok"]:
        summary["verdict"] = "invalid"
        summary["invalid_reason"] = (
            f"load generator process '{summary['generator_cpu']['busiest']}' reached "
            f"{summary['generator_cpu']['max_ratio']:.0%} CPU (limit "
            f"{summary['generator_cpu']['threshold']:.0%}): add --workers or hosts"
        )
    try:
        from procops.loadtests import charts

        summary["charts"] = charts.draw(
            report_dir, facts["samples"], facts["test_start"], facts["test_end"], summary, windows
        )
    except Exception as e:  # noqa: BLE001 - a chart never fails the verdict
        summary["charts"] = []
        summary["notes"].append(f"charts not drawn: {type(e).__name__}: {e}")
    summary["files"] = sorted(p.name for p in report_dir.iterdir() if p.is_file())
    if SUMMARY not in summary["files"]:
        summary["files"].append(SUMMARY)
    from procops.home import atomic_write

    atomic_write(report_dir / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False))
    _record(summary)
    return RunResult(summary, report_dir)


def _record(summary: dict) -> None:
    from procops.events import Kind, LoadtestRun, Status
    from procops.journal import record

    failed_rows = [r["name"] for r in summary.get("slos", []) if not r["ok"]]
    record(
        Kind.loadtest(summary["scenario"]),
        summary["target"],
        LoadtestRun(
            status={"pass": Status.OK, "fail": Status.FAILED}.get(summary["verdict"], Status.ERROR),  # invalid: error
            verdict=summary["verdict"],
            report_dir=summary["report_dir"],
            failed_slos=failed_rows,
            requests=summary["requests"],
            rps=summary["rps"],
            users=summary.get("users"),
            generator_cpu_max=summary["generator_cpu"]["max_ratio"],
            capacity_multiple=(summary.get("capacity") or {}).get("multiple"),
        ),
    )
    if summary["verdict"] == "pass":
        from prometheus_client import Gauge

        from procops.metrics import new_registry, write_textfile

        reg = new_registry()
        g = Gauge(
            "procops_loadtest_last_pass_timestamp_seconds",
            "When a load test scenario last passed its SLOs.",
            ["scenario"],
            registry=reg,
        )
        g.labels(scenario=summary["scenario"]).set_to_current_time()
        write_textfile(f"loadtest_{summary['scenario']}", reg)


@contextlib.contextmanager
def _journal_errors(scenario: str, url: str) -> Iterator[None]:
    """A run that could not give a verdict (target unreachable, Locust failed, lock held) is journaled too."""
    try:
        yield
    except EnvironmentFailure as e:
        from procops.events import Kind, LoadtestRun, Status
        from procops.journal import record

        record(Kind.loadtest(scenario), url, LoadtestRun(status=Status.ERROR, verdict="error", error=e.message))
        raise


@contextlib.contextmanager
def _interrupted_report(scenario: str, url: str, target: Target, report_dir: Path, *, users: int) -> Iterator[None]:
    """A run cut by SIGINT/SIGTERM while Locust ran leaves a ``summary.json`` that says so (never a
    half-written one, never one that reads as still running); Locust itself is stopped by the
    runner's group (and the operation's ``stop_children``)."""
    started = iso(utcnow())
    try:
        yield
    except (Interrupted, KeyboardInterrupt):
        from procops.home import atomic_write

        summary = {
            "scenario": scenario,
            "target": url,
            "platform_version": target.version,
            "started_at": started,
            "ended_at": iso(utcnow()),
            "users": users,
            "verdict": "interrupted",
            "interrupted": True,
            "slos": [],
            "notes": [*target.notes, "the run was interrupted (SIGINT/SIGTERM) before Locust finished: no verdict"],
            "report_dir": str(report_dir),
        }
        summary["files"] = sorted({*(p.name for p in report_dir.iterdir() if p.is_file()), SUMMARY})
        atomic_write(report_dir / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False))
        raise


def run_peak(config: Config, opts: PeakOptions) -> RunResult:
    lt = config.loadtest
    users = lt.normal_peak_users if opts.users is None else opts.users
    rate = lt.spawn_rate if opts.spawn_rate is None else opts.spawn_rate
    hold = lt.hold if opts.duration is None else opts.duration
    _positive("--users", users, integer=True)
    _positive("--spawn-rate", rate)
    _positive("--duration", hold)
    workers, bind, expect = _workers(config, opts.workers, opts.master_bind, opts.expect_workers)
    locustfile = _locustfile(opts.locustfile)
    url = resolve_host(config, opts.host)
    from procops.home import exclusive_lock

    with _journal_errors(opts.scenario_name, url), exclusive_lock("loadtest"):
        target = preflight(url, config)
        report_dir = _prepare_dir(opts.report_dir, opts.scenario_name)
        stages = peak_stages(users, rate, hold)
        with _interrupted_report(opts.scenario_name, url, target, report_dir, users=users):
            rule = _rule(config, opts.abort_on_fail)
            facts = _execute(
                config,
                opts.scenario_name,
                url,
                target,
                stages,
                report_dir,
                workers,
                bind,
                expect,
                locustfile,
                rule,
                opts.progress,
            )
        policy = slo.SloPolicy.from_config(
            config, uploads_expected=locustfile is None and facts["scenario"].uploads_expected()
        )
        summary = _base_summary(opts.scenario_name, url, target, facts, policy, report_dir)
        stats = slo.endpoint_stats(facts["samples"], summary["duration_s"])
        rows = slo.evaluate(stats, policy)
        summary.update(
            users=users,
            spawn_rate=rate,
            hold_s=hold,
            slos=[r.as_dict() for r in rows],
            verdict="fail" if slo.failed(rows) else "pass",
        )
        _stop_condition(summary, facts, rule)
        windows = slo.stage_windows(facts["test_start"], stages)
        return _finish(summary, report_dir, facts, config, windows)


def run_capacity(config: Config, opts: CapacityOptions) -> RunResult:
    lt = config.loadtest
    baseline = lt.normal_peak_users if opts.baseline_users is None else opts.baseline_users
    target_multiple = config.policy.capacity_multiple if opts.multiple is None else opts.multiple
    cap = opts.max_multiple if opts.max_multiple is not None else max(lt.max_multiple, target_multiple)
    step = lt.step_duration if opts.step_duration is None else opts.step_duration
    rate = lt.spawn_rate if opts.spawn_rate is None else opts.spawn_rate
    _positive("--baseline-users", baseline, integer=True)
    _positive("--multiple", target_multiple)
    _positive("--max-multiple", cap)
    _positive("--step-duration", step)
    _positive("--spawn-rate", rate)
    if target_multiple > cap:
        raise BadInput(
            _("--multiple {target_multiple:g} is above --max-multiple {cap:g}: no step could show it").format(
                target_multiple=target_multiple, cap=cap
            )
        )
    workers, bind, expect = _workers(config, opts.workers, opts.master_bind, opts.expect_workers)
    locustfile = _locustfile(opts.locustfile)
    url = resolve_host(config, opts.host)
    from procops.home import exclusive_lock

    with _journal_errors("capacity", url), exclusive_lock("loadtest"):
        target = preflight(url, config)
        report_dir = _prepare_dir(opts.report_dir, "capacity")
        stages = capacity_stages(baseline, capacity_multiples(target_multiple, cap), rate, step)
        with _interrupted_report("capacity", url, target, report_dir, users=baseline):
            rule = _rule(config, opts.abort_on_fail)
            facts = _execute(
                config,
                "capacity",
                url,
                target,
                stages,
                report_dir,
                workers,
                bind,
                expect,
                locustfile,
                rule,
                opts.progress,
            )
        policy = slo.SloPolicy.from_config(
            config, uploads_expected=locustfile is None and facts["scenario"].uploads_expected()
        )
        summary = _base_summary("capacity", url, target, facts, policy, report_dir)
        windows = slo.stage_windows(facts["test_start"], stages)
        steps = slo.evaluate_steps(facts["samples"], windows, policy)
        best = slo.highest_held(steps)
        held = best.multiple if best and best.multiple is not None else 0.0  # capacity stages all have one
        ok = best is not None and held + 1e-9 >= target_multiple
        first_bad = next((s for s in steps if not s.ok), None)
        capacity: dict[str, Any] = {
            "baseline_users": baseline,
            "target_multiple": target_multiple,
            "multiple": held,
            "users": best.users if best else 0,
            "rps": round(best.rps, 3) if best else 0.0,
            "baseline_rps": round(steps[0].rps, 3) if steps else 0.0,
            "first_failed_step": first_bad.label if first_bad else None,
            "first_failed_slos": [r.name for r in slo.failed(first_bad.slos)] if first_bad else [],
        }
        rows = [
            slo.SloResult(
                "capacity multiple",
                "multiple",
                target_multiple,
                held,
                ok,
                "x",
                detail=(
                    f"held {held:g}x = {capacity['users']} users, {capacity['rps']:g} req/s"
                    + (f"; {first_bad.label} broke {', '.join(capacity['first_failed_slos'])}" if first_bad else "")
                ),
            )
        ]
        if first_bad:
            for r in slo.failed(first_bad.slos):
                r.name = f"{first_bad.label}: {r.name}"
                rows.append(r)
        summary.update(
            users=steps[-1].users if steps else baseline,
            spawn_rate=rate,
            step_duration_s=step,
            steps=[s.as_dict() for s in steps],
            capacity=capacity,
            slos=[r.as_dict() for r in rows],
            verdict="pass" if ok else "fail",
        )
        _stop_condition(summary, facts, rule)
        return _finish(summary, report_dir, facts, config, windows)


def load_summary(report_dir: Path) -> dict:
    p = Path(report_dir) / SUMMARY
    if not p.is_file():
        raise BadInput(
            _("{report_dir} holds no {summary}: not a load-test report folder").format(
                report_dir=report_dir, summary=SUMMARY
            )
        )
    try:
        return json.loads(p.read_text())
    except ValueError as e:
        raise BadInput(_("{p} is not valid JSON: {e}").format(p=p, e=e)) from None
