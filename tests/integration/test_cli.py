"""The apigw command line: flag validation, help, and the start/stop life
cycle of a real process (signals, readiness, port conflicts)."""
import resource
import signal
import socket

from harness import Node, Tap, free_port, run_cli, tempdir


def expect_usage_error(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2, (args, r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0], (needle, lines[0])
    assert lines[0].startswith("apigw: "), lines[0]


def test_help_lists_subcommands():
    r = run_cli("help")
    assert r.returncode == 0, r.stderr
    for sub in ("start", "join", "leave", "status", "version", "help"):
        assert "\n  %s " % sub in r.stdout, sub


def test_help_documents_every_flag_with_default():
    r = run_cli("help", "start")
    assert r.returncode == 0
    for flag, default in (("--proxy-listen", "0.0.0.0:9080"),
                          ("--admin-listen", "127.0.0.1:9180"),
                          ("--etcd-listen", "127.0.0.1:2379"),
                          ("--raft-listen", "127.0.0.1:2380"),
                          ("--status-listen", "127.0.0.1:7085"),
                          ("--metrics-listen", "127.0.0.1:9091"),
                          ("--write-timeout", "2s"), ("--voters", "3"),
                          ("--log-level", "info"), ("--peer-tls", "on")):
        line = [l for l in r.stdout.splitlines() if l.strip().startswith(flag + " ")]
        assert line, flag
        assert "(default %s)" % default in line[0], line[0]
    r = run_cli("help", "join")
    assert "--peer" in r.stdout and "(required)" in r.stdout
    r = run_cli("start", "--help")
    assert r.returncode == 0 and "--data-dir" in r.stdout


def test_help_unknown_topic():
    expect_usage_error(["help", "frobnicate"], "frobnicate")


def test_version():
    r = run_cli("version")
    assert r.returncode == 0 and r.stdout.startswith("apigw "), r.stdout


def test_unknown_subcommand():
    expect_usage_error(["frobnicate"], "unknown subcommand 'frobnicate'")


def test_unknown_flag():
    expect_usage_error(["start", "--bogus", "1"], "--bogus")


def test_missing_value():
    expect_usage_error(["start", "--workers"], "--workers")


def test_bad_ports():
    for bad in ("127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http", "127.0.0.1",
                "1.2.3:80", "::1:80", ""):
        expect_usage_error(["start", "--admin-listen", bad], "--admin-listen")
    expect_usage_error(["start", "--proxy-listen=[::1]:99999"], "--proxy-listen")


def test_bad_values():
    expect_usage_error(["start", "--workers", "-1"], "--workers")
    expect_usage_error(["start", "--voters", "2"], "--voters")
    expect_usage_error(["start", "--write-timeout", "soon"], "--write-timeout")
    expect_usage_error(["start", "--log-level", "loud"], "--log-level")
    expect_usage_error(["start", "--raft-listen", "[::1]:2380"], "--raft-listen")
    expect_usage_error(["start", "--name", "x", "--name", "y"], "--name")
    expect_usage_error(["start", "--peer-tls", "maybe"], "expected on or off")
    expect_usage_error(["start", "--peer-tls=yes"], "--peer-tls")
    expect_usage_error(["start", "stray"], "stray")
    expect_usage_error(["status", "--json=yes"], "--json")


def test_join_requires_peer_and_secret():
    expect_usage_error(["join", "--join-secret", "s"], "--peer")
    expect_usage_error(["join", "--peer", "127.0.0.1:2379"], "--join-secret")


def test_flags_belong_to_their_subcommand():
    expect_usage_error(["status", "--voters", "3"], "--voters")
    expect_usage_error(["start", "--peer", "127.0.0.1:1"], "--peer")


def test_start_ready_and_sigterm():
    n = Node("cli1").start()
    st, _, body = n.get("status", "/status")
    assert st == 200 and b'"ok"' in body
    st, _, _ = n.get("status", "/status/ready")
    assert st == 200
    st, _, _ = n.get("status", "/readyz")
    assert st == 200
    r = run_cli("status", "--endpoint", n.addr("status"))
    assert r.returncode == 0, r.stderr
    n.signal(signal.SIGTERM)
    assert n.wait(30) == 0, n.log()
    assert "shutting down" in n.log()


def test_sigint_clean_exit_and_restart_same_data_dir():
    n = Node("cli2").start()
    n.signal(signal.SIGINT)
    assert n.wait(30) == 0, n.log()
    n.start()
    assert n.stop() == 0, n.log()


def test_listener_in_use_fails_clearly():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port = free_port()
    s.bind(("127.0.0.1", port))
    s.listen(1)
    try:
        n = Node("cli3", extra_args=[])
        n.ports["status"] = port
        n.start(wait=False)
        rc = n.wait(30)
        assert rc == 1, rc
        assert "127.0.0.1:%d" % port in n.log(), n.log()
    finally:
        s.close()


def test_status_client_unreachable():
    r = run_cli("status", "--endpoint", "127.0.0.1:%d" % free_port())
    assert r.returncode == 1
    assert "cannot reach" in r.stderr


def test_data_dir_unusable():
    d = tempdir()
    blocker = d + "/file"
    open(blocker, "w").close()
    n = Node("cli4", data_dir=blocker + "/data")
    n.start(wait=False)
    assert n.wait(30) == 1
    assert "data dir" in n.log()


def test_config_file_and_check():
    d = tempdir()
    good, bad = d + "/good.json", d + "/bad.json"
    with open(good, "w") as f:
        f.write('{"workers": 2, "proxy-listen": ["127.0.0.1:19999"], "log-level": "warn"}')
    with open(bad, "w") as f:
        f.write('{"workers": 2, "proxy-listen": "127.0.0.1:0"}')
    r = run_cli("start", "--config", good, "--check")
    assert r.returncode == 0 and "configuration ok" in r.stdout, (r.stdout, r.stderr)
    expect_usage_error(["start", "--config", bad, "--check"], "--proxy-listen")
    # A node started from a config file uses its values (flags still win).
    n = Node("cli5", extra_args=["--config", good])
    n.start()
    assert n.stop() == 0


def test_raises_open_file_limit():
    # Start the node with a low soft limit (children inherit it): it raises
    # the soft limit to the hard one and says so.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = 256
    assert hard == resource.RLIM_INFINITY or hard > low, (soft, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        n = Node("cli6").start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with open("/proc/%d/limits" % n.proc.pid) as f:
        line = [l for l in f if l.startswith("Max open files")][0].split()
    assert line[3] == line[4], line  # soft == hard
    want = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    assert line[3] == want, (line, hard)
    assert "open file limit: %s descriptors" % line[3] in n.log(), n.log()
    assert n.stop() == 0


tap = Tap()
for t in (test_help_lists_subcommands, test_help_documents_every_flag_with_default,
          test_help_unknown_topic, test_version, test_unknown_subcommand,
          test_unknown_flag, test_missing_value, test_bad_ports, test_bad_values,
          test_join_requires_peer_and_secret, test_flags_belong_to_their_subcommand,
          test_start_ready_and_sigterm, test_sigint_clean_exit_and_restart_same_data_dir,
          test_listener_in_use_fails_clearly, test_status_client_unreachable,
          test_data_dir_unusable, test_config_file_and_check, test_raises_open_file_limit):
    tap.run(t)
tap.done()
