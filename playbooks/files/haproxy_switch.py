#!/usr/bin/env python3
"""Switch an HAProxy backend to the standby through the runtime API socket (stdlib only, no socat).

    haproxy_switch.py --socket /run/haproxy/admin.sock --backend replicas \
        --target 10.0.0.12:18181 --target 10.0.0.12:18182 [--servers r1,r2] [--timeout 30]

The backend's servers (or --servers, in that order) are paired with the targets:
each paired server gets `set server B/S addr IP port PORT` and `state ready`; every
other server of the backend gets `state maint`. Then `show stat` is read until the
paired servers are UP at their new address and the others in MAINT (or --timeout).
Prints one JSON object; exit 0 switched and verified, 1 not verified, 2 bad input,
3 the socket is unreachable or refused a command.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import socket
import sys
import time


def runtime(sock_path: str, command: str, timeout: float = 5.0) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace").strip()


def parse_stat(text: str, backend: str) -> list[dict]:
    """The server rows of ``backend`` in `show stat` CSV output, in config order."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"unexpected 'show stat' answer: {text[:200]!r}")
    rows = csv.DictReader(io.StringIO("\n".join([lines[0][2:]] + lines[1:])))
    return [r for r in rows if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")]


def plan(servers: list[str], targets: list[tuple[str, int]], backend: str) -> tuple[list[str], dict, list[str]]:
    """(commands, {server: "ip:port"} switched, servers put in maintenance)."""
    switched = {s: f"{ip}:{port}" for s, (ip, port) in zip(servers, targets)}
    maint = [s for s in servers if s not in switched]
    cmds = []
    for s, (ip, port) in zip(servers, targets):
        cmds.append(f"set server {backend}/{s} addr {ip} port {port}")
        cmds.append(f"set server {backend}/{s} state ready")
    cmds += [f"set server {backend}/{s} state maint" for s in maint]
    return cmds, switched, maint


def verified(rows: list[dict], switched: dict, maint: list[str]) -> list[str]:
    """What is not (yet) as wanted; empty: verified."""
    by = {r["svname"]: r for r in rows}
    problems = []
    for s, addr in switched.items():
        r = by.get(s)
        if r is None:
            problems.append(f"{s}: missing from show stat")
            continue
        if r.get("addr") and r["addr"] != addr:
            problems.append(f"{s}: addr {r['addr']} (want {addr})")
        if not r.get("status", "").startswith("UP"):
            problems.append(f"{s}: {r.get('status')} (want UP)")
    for s in maint:
        st = by.get(s, {}).get("status", "")
        if "MAINT" not in st:
            problems.append(f"{s}: {st} (want MAINT)")
    return problems


def target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"not IP:PORT: {text!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--backend", required=True)
    ap.add_argument("--target", type=target, action="append", required=True, help="IP:PORT of a standby server")
    ap.add_argument("--servers", default="", help="comma-separated server names to re-point (default: all)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the health checks")
    a = ap.parse_args(argv)
    out: dict = {"backend": a.backend, "changed": False}
    try:
        rows = parse_stat(runtime(a.socket, "show stat"), a.backend)
        names = [r["svname"] for r in rows]
        if not names:
            print(json.dumps({**out, "error": f"backend {a.backend!r} has no servers"}))
            return 2
        wanted = [s.strip() for s in a.servers.split(",") if s.strip()] or names
        unknown = [s for s in wanted if s not in names]
        if unknown:
            print(json.dumps({**out, "error": f"no such server(s) in {a.backend}: {', '.join(unknown)}"}))
            return 2
        cmds, switched, maint = plan(wanted, a.target, a.backend)
        others = [s for s in names if s not in wanted]
        maint += others
        cmds += [f"set server {a.backend}/{s} state maint" for s in others]
        if not verified(rows, switched, maint):
            print(json.dumps({**out, "switched": switched, "maint": maint, "verified": True}))
            return 0
        answers = []
        for c in cmds:
            ans = runtime(a.socket, c)
            answers.append({"command": c, "answer": ans})
            low = ans.lower()
            if ans and not ("changed" in low or "no need" in low):
                print(json.dumps({**out, "changed": True, "answers": answers, "error": f"{c}: {ans}"}))
                return 3
        out.update(changed=True, switched=switched, maint=maint, answers=answers)
        deadline = time.monotonic() + a.timeout
        while True:
            rows = parse_stat(runtime(a.socket, "show stat"), a.backend)
            problems = verified(rows, switched, maint)
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        out["stat"] = [{"server": r["svname"], "addr": r.get("addr"), "status": r.get("status")} for r in rows]
        out["verified"] = not problems
        if problems:
            out["error"] = "; ".join(problems)
        print(json.dumps(out))
        return 0 if not problems else 1
    except OSError as e:
        print(json.dumps({**out, "error": f"runtime API {a.socket}: {e}"}))
        return 3
    except ValueError as e:
        print(json.dumps({**out, "error": str(e)}))
        return 3


if __name__ == "__main__":
    sys.exit(main())
