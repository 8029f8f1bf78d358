#!/usr/bin/env python3
"""tls_compare.py: TLS termination, apigw against nginx with the same
certificate (ECDSA P-256) and the same upstream, alternating in rounds so the
noise of a shared machine falls on both:

  * new handshakes per second: `openssl s_time -new` (TLS 1.3, no resumption);
  * keep-alive requests per second over TLS 1.3: `wrk` (20 connections).

Both proxies get one worker and proxy to one nginx upstream (`return 200`,
keep-alive). Every process is started here and stopped by its PID.

  APIGW_BIN=build-release/apigw bench/tls_compare.py [--seconds 5] [--rounds 3]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

KEY = "bench-admin-key-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("nothing listening on 127.0.0.1:%d" % port)


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        sys.exit("%s failed: %s" % (args[0], r.stderr[-500:]))
    return r.stdout


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def nginx_conf(d, body):
    return """worker_processes 1;
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path %s/b; proxy_temp_path %s/p; fastcgi_temp_path %s/f;
  uwsgi_temp_path %s/u; scgi_temp_path %s/s;
  keepalive_requests 1000000;
%s
}
""" % (d, d, d, d, d, d, d, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    apigw = os.environ.get("APIGW_BIN", "apigw")
    for b in ("nginx", "wrk", "openssl"):
        if shutil.which(b) is None:
            sys.exit("missing binary: " + b)
    tmp = tempfile.mkdtemp(prefix="tls-bench-")
    os.chmod(tmp, 0o755)
    procs = Procs()
    try:
        crt, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
            "-subj", "/CN=bench.test", "-addext", "subjectAltName=DNS:bench.test")
        os.chmod(key, 0o644)
        up_port, ng_port = free_port(), free_port()
        for name, body in (
                ("up", "server { listen 127.0.0.1:%d; location / { return 200 \"ok\\n\"; } }"
                 % up_port),
                ("ng", "upstream u { server 127.0.0.1:%d; keepalive 64; }\n"
                       "server { listen 127.0.0.1:%d ssl; ssl_certificate %s; "
                       "ssl_certificate_key %s; ssl_protocols TLSv1.2 TLSv1.3;\n"
                       "ssl_session_tickets on;\n"
                       "location / { proxy_pass http://u; proxy_http_version 1.1; "
                       "proxy_set_header Connection \"\"; } }" % (up_port, ng_port, crt, key))):
            d = os.path.join(tmp, name)
            os.mkdir(d)
            with open(os.path.join(d, "nginx.conf"), "w") as f:
                f.write(nginx_conf(d, body))
            procs.start(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf"), "-e",
                         os.path.join(d, "error.log"), "-g", "daemon off;"])
        wait_port(up_port)
        wait_port(ng_port)
        ports = {k: free_port() for k in ("proxy", "admin", "etcd", "raft", "status",
                                          "metrics", "tls")}
        procs.start([apigw, "start", "--data-dir", os.path.join(tmp, "gw"), "--workers", "1",
                     "--log-level", "warn", "--admin-key", KEY,
                     "--proxy-listen", "127.0.0.1:%d" % ports["proxy"],
                     "--proxy-tls-listen", "127.0.0.1:%d" % ports["tls"],
                     "--proxy-tls-fallback-sni", "bench.test",
                     "--admin-listen", "127.0.0.1:%d" % ports["admin"],
                     "--etcd-listen", "127.0.0.1:%d" % ports["etcd"],
                     "--raft-listen", "127.0.0.1:%d" % ports["raft"],
                     "--status-listen", "127.0.0.1:%d" % ports["status"],
                     "--metrics-listen", "127.0.0.1:%d" % ports["metrics"]])
        wait_port(ports["admin"])
        with open(crt) as f:
            cert_pem = f.read()
        with open(key) as f:
            key_pem = f.read()
        for path, obj in (("ssls/1", {"sni": "bench.test", "cert": cert_pem, "key": key_pem}),
                          ("routes/1", {"uri": "/*", "upstream": {
                              "type": "roundrobin", "nodes": {"127.0.0.1:%d" % up_port: 1}}})):
            for _ in range(100):
                try:
                    req = urllib.request.Request(
                        "http://127.0.0.1:%d/apisix/admin/%s" % (ports["admin"], path),
                        data=json.dumps(obj).encode(), method="PUT",
                        headers={"X-API-KEY": KEY})
                    urllib.request.urlopen(req, timeout=5).read()
                    break
                except OSError:
                    time.sleep(0.1)
        time.sleep(1)
        targets = {"nginx": ng_port, "apigw": ports["tls"]}
        res = {k: {"hs": [], "ka": []} for k in targets}
        for rnd in range(a.rounds):
            order = list(targets) if rnd % 2 == 0 else list(reversed(list(targets)))
            for name in order:
                port = targets[name]
                out = run("openssl", "s_time", "-connect", "127.0.0.1:%d" % port, "-new",
                          "-time", str(a.seconds))
                m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
                res[name]["hs"].append(int(m.group(1)) / float(m.group(2)) if m else 0.0)
                out = run("wrk", "-t1", "-c20", "-d%ds" % a.seconds,
                          "https://127.0.0.1:%d/" % port)
                m = re.search(r"Requests/sec:\s+([\d.]+)", out)
                res[name]["ka"].append(float(m.group(1)) if m else 0.0)
        print("%-8s %18s %22s" % ("", "handshakes/s", "keep-alive req/s"))
        for name in targets:
            print("%-8s %18.0f %22.0f" % (name, statistics.median(res[name]["hs"]),
                                          statistics.median(res[name]["ka"])))
        for m, label in (("hs", "handshakes"), ("ka", "keep-alive")):
            g, n = statistics.median(res["apigw"][m]), statistics.median(res["nginx"][m])
            print("apigw/nginx %s: %.2f" % (label, g / n if n else 0.0))
    finally:
        procs.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
