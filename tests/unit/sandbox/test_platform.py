from pathlib import Path

from procops.sandbox.platform import UpOptions, haproxy_config, replica_argv, replica_ports


def test_replica_ports_follow_the_frontend():
    assert replica_ports(18080, 3) == [18081, 18082, 18083]


def test_haproxy_config_has_health_checks_admin_deny_and_socket():
    cfg = haproxy_config(18080, [18081, 18082], Path("/run/x/haproxy.sock"), weights=[100, 0])
    assert "bind 127.0.0.1:18080" in cfg
    assert "server r1 127.0.0.1:18081 check weight 100" in cfg
    assert "server r2 127.0.0.1:18082 check weight 0" in cfg
    assert "option httpchk GET /healthz" in cfg
    assert "stats socket /run/x/haproxy.sock mode 600 level admin" in cfg
    assert "option forwardfor" in cfg
    assert "acl admin_path path,url_dec,url_dec,lower -m sub _admin" in cfg
    assert "http-request deny deny_status 403 if admin_path" in cfg


def test_replica_argv_is_loopback_and_factory():
    argv = replica_argv(18081)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "procops.sandbox.app:create_app" in argv and "--factory" in argv


def test_up_options_overrides_only_given_values():
    from procops.config import SandboxConfig

    o = UpOptions.from_config(SandboxConfig(), replicas=3, version=None, seed_documents=0)
    assert (o.replicas, o.version, o.seed_documents, o.port) == (3, "1.0.0", 0, 18080)


def test_long_state_home_gets_a_short_socket_path(tmp_path, monkeypatch):
    from procops.sandbox.platform import MAX_SOCKET_PATH, SandboxPaths

    deep = tmp_path / ("x" * 60) / ("y" * 60)
    monkeypatch.setenv("PROCOPS_HOME", str(deep))
    sock = SandboxPaths.of("standby").haproxy_socket
    assert len(str(sock)) <= MAX_SOCKET_PATH
    assert sock.parent.stat().st_mode & 0o077 == 0
    assert SandboxPaths.of("standby").haproxy_socket == sock  # stable
    monkeypatch.setenv("PROCOPS_HOME", "/tmp/h")
    assert SandboxPaths.of().haproxy_socket == SandboxPaths.of().run / "haproxy.sock"


def test_bind_address_defaults_to_loopback():
    from procops.config import SandboxConfig

    assert SandboxConfig().bind_address == "127.0.0.1"
    assert UpOptions.from_config(SandboxConfig()).bind_address == "127.0.0.1"


def test_a_standby_for_another_host_binds_that_address():
    from procops.config import SandboxConfig

    o = UpOptions.from_config(SandboxConfig(bind_address="10.0.0.12"), bind_address=None)
    assert o.bind_address == "10.0.0.12"
    argv = replica_argv(18081, "10.0.0.12")
    assert argv[argv.index("--host") + 1] == "10.0.0.12"
    cfg = haproxy_config(18080, [18081], Path("/run/x/haproxy.sock"), bind_address="10.0.0.12")
    assert "bind 10.0.0.12:18080" in cfg
    assert "server r1 10.0.0.12:18081 check" in cfg


def test_a_wildcard_bind_is_reached_on_loopback():
    from procops.sandbox.platform import connect_host

    cfg = haproxy_config(18080, [18081], Path("/run/x/haproxy.sock"), bind_address="0.0.0.0")
    assert "bind 0.0.0.0:18080" in cfg and "server r1 127.0.0.1:18081" in cfg
    assert connect_host("0.0.0.0") == "127.0.0.1" and connect_host("10.0.0.12") == "10.0.0.12"


def test_the_haproxy_config_keeps_runtime_state_across_a_reload_when_given_a_state_file():
    cfg = haproxy_config(18080, [18081], Path("/run/x/haproxy.sock"), state_file=Path("/run/x/haproxy.state"))
    assert "    server-state-file /run/x/haproxy.state\n" in cfg
    assert "    load-server-state-from-file global\n" in cfg
    assert "server-state-file" not in haproxy_config(18080, [18081], Path("/run/x/haproxy.sock"))


def test_only_the_load_balancer_marks_the_pilot_units_requests():
    cfg = haproxy_config(18080, [18081, 18082], Path("/run/x/haproxy.sock"), pilot_map=Path("/run/x/pilot.map"))
    front, back = cfg.split("backend replicas", 1)
    assert "http-request del-header X-Procops-Pilot" in front  # a client's own header never counts
    assert "http-request del-header X-Procops-Probe" in front  # nor does a client pass for the probe
    assert "http-request set-header X-Procops-Pilot true if { var(txn.pilot) -m found }" in back
    assert back.index("set-header X-Procops-Pilot") < back.index("use-server r1")
