"""Network namespaces for the fault suite (Python 3 stdlib, needs root).

One run owns a set of namespaces named "gwf<tag>-<host>", where the tag is
the test process's PID in hex plus random hex, so parallel runs never clash:

    gwf<tag>-hub   the clients' namespace: bridge br0 (10.213.0.254/24),
                   load generators, upstreams, etcdctl, haproxy
    gwf<tag>-n1..  one apigw node each: eth0 10.213.0.<i>/24, a veth pair
                   whose other end is a port of br0 in the hub

The test process itself enters the hub namespace (setns) right after
creating it, so every socket it opens and every child it spawns lives there;
nothing is added to the root namespace. Nodes run under `ip netns exec`.

Faults are real: cut() installs an nftables table inside a node's namespace
that drops every packet to and from its peers (the clients still reach it);
loss() drops a random share of peer packets (nft numgen); delay() uses
tc netem when the kernel has it. link_down() takes the veth down.

Cleanup always runs (atexit, SIGTERM/SIGINT, and cleanup_stale() for
namespaces left by a run whose PID is gone): every process this module
started is killed by its PID, every process still inside one of our
namespaces (`ip netns pids`) is killed by PID, every namespace is deleted
(which removes its veth ends and the bridge).
"""
import atexit
import ctypes
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys

PREFIX = "gwf"
SUBNET = "10.213.0"
HUB_IP = SUBNET + ".254"
CLONE_NEWNET = 0x40000000

_nets = []


def _ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


def available():
    """None when namespaces can be used here, else the reason why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return "%s is not installed (scripts/install-deps.sh)" % tool
    name = "%s%x_0-probe" % (PREFIX, os.getpid())  # cleanup_stale() knows this shape
    r = _ip("netns", "add", name, check=False)
    if r.returncode != 0:
        return "ip netns add failed: %s" % r.stderr.strip()
    try:
        r = subprocess.run(["ip", "netns", "exec", name, "nft", "add", "table", "inet", "t"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            return "nftables unusable: %s" % r.stderr.strip()
    finally:
        _ip("netns", "del", name, check=False)
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ns_list():
    r = _ip("netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def _kill_ns_pids(ns):
    r = _ip("netns", "pids", ns, check=False)
    for p in r.stdout.split():
        try:
            os.kill(int(p), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def cleanup_stale():
    """Remove namespaces of earlier runs of this suite whose process is gone."""
    for ns in _ns_list():
        m = re.match(r"^%s([0-9a-f]+)_[0-9a-f]+-" % PREFIX, ns)
        if m and not _pid_alive(int(m.group(1), 16)):
            _kill_ns_pids(ns)
            _ip("netns", "del", ns, check=False)


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


class Net:
    """The namespaces of one run. hosts maps a host name to its address."""

    def __init__(self):
        self.tag = "%s%x_%s" % (PREFIX, os.getpid(), secrets.token_hex(2))
        self.hub = self.tag + "-hub"
        self.hosts = {}          # name -> ip
        self.procs = []          # Popen objects started through popen()
        self.namespaces = []
        self.mounts = []         # tmpfs mounts made by mount_tmpfs()
        self.dirs = []           # removed at cleanup, after the mounts
        self.loops = []          # loop devices made by mount_ext4()
        self._root_ns = None
        self.netem = None        # whether tc netem works (probed lazily)
        _nets.append(self)

    def ns(self, host):
        return "%s-%s" % (self.tag, host)

    def setup(self):
        """Create the hub with its bridge and move this process into it."""
        cleanup_stale()
        _ip("netns", "add", self.hub)
        self.namespaces.append(self.hub)
        _ip("-n", self.hub, "link", "set", "lo", "up")
        _ip("-n", self.hub, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.hub, "addr", "add", HUB_IP + "/24", "dev", "br0")
        _ip("-n", self.hub, "link", "set", "br0", "up")
        self._root_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
        _setns("/run/netns/" + self.hub)
        return self

    def add_host(self, host):
        """A namespace with eth0 on the bridge; returns its address."""
        ip = "%s.%d" % (SUBNET, len(self.hosts) + 1)
        ns = self.ns(host)
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")
        port = "v" + host  # names only need to be unique inside our hub
        _ip("-n", self.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", ns)
        _ip("-n", self.hub, "link", "set", port, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        self.hosts[host] = ip
        return ip

    def popen(self, host, argv, **kw):
        """Start argv inside host's namespace (`ip netns exec` execs argv, so the
        PID is the program's own)."""
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + list(argv), **kw)
        self.procs.append(p)
        return p

    def run(self, host, argv, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 30)
        return subprocess.run(["ip", "netns", "exec", self.ns(host)] + list(argv), **kw)

    def spawn(self, argv, **kw):
        """Start argv in the hub (this process's namespace); killed at cleanup."""
        p = subprocess.Popen(list(argv), **kw)
        self.procs.append(p)
        return p

    def mount_tmpfs(self, path, size="64m"):  # noqa: D401
        """A tmpfs of its own at path (unmounted at cleanup)."""
        os.makedirs(path, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size,
                            "gwfault", path], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("mount tmpfs %s: %s" % (path, r.stderr.strip()))
        self.mounts.append(path)

    def mount_ext4(self, path, image, size="256M"):
        """An ext4 file system of its own at path (a sparse image on a loop
        device, errors=remount-ro); unmounted and detached at cleanup."""
        os.makedirs(path, exist_ok=True)
        for argv in (["truncate", "-s", size, image], ["mkfs.ext4", "-q", "-F", image]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError("%s: %s" % (argv[0], r.stderr.strip()))
        r = subprocess.run(["losetup", "-f", "--show", image], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError("losetup: %s" % r.stderr.strip())
        dev = r.stdout.strip()
        self.loops.append(dev)
        r = subprocess.run(["mount", "-o", "errors=remount-ro", dev, path],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("mount %s: %s" % (dev, r.stderr.strip()))
        self.mounts.append(path)
        return dev

    def make_read_only(self, dev):
        """The file system on dev turns read-only at once, open files and all
        (an ext4 error with errors=remount-ro, as after a failing disk)."""
        with open("/sys/fs/ext4/%s/trigger_fs_error" % os.path.basename(dev), "w") as f:
            f.write("apigw fault suite: data dir made read-only\n")

    def _nft(self, host, script):
        r = subprocess.run(["ip", "netns", "exec", self.ns(host), "nft", "-f", "-"],
                           input=script, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("nft in %s: %s\n%s" % (host, r.stderr.strip(), script))

    def _peer_set(self, host, peers):
        ips = [self.hosts[p] for p in (peers or self.hosts) if p != host]
        return "{ %s }" % ", ".join(ips)

    def cut(self, host, peers=None):
        """Drop every packet between host and its peers (default: every other
        node); the hub (clients) still reaches it."""
        self.heal(host)
        s = self._peer_set(host, peers)
        self._nft(host, """table inet gwfault {
  chain in { type filter hook input priority 0; ip saddr %s drop; }
  chain out { type filter hook output priority 0; ip daddr %s drop; }
}
""" % (s, s))

    def loss(self, host, percent, peers=None):
        """Drop percent% of the packets between host and its peers, at random,
        each way."""
        self.heal(host)
        s = self._peer_set(host, peers)
        self._nft(host, """table inet gwfault {
  chain in { type filter hook input priority 0; ip saddr %s numgen random mod 100 < %d drop; }
  chain out { type filter hook output priority 0; ip daddr %s numgen random mod 100 < %d drop; }
}
""" % (s, percent, s, percent))

    def has_netem(self, host):
        if self.netem is None:
            r = self.run(host, ["tc", "qdisc", "add", "dev", "lo", "root", "netem",
                                "delay", "1ms"])
            self.netem = r.returncode == 0
            if self.netem:
                self.run(host, ["tc", "qdisc", "del", "dev", "lo", "root"])
        return self.netem

    def delay(self, host, ms, jitter_ms=0):
        """tc netem delay on host's eth0 (every packet it sends). Returns False
        when the kernel has no netem."""
        if not self.has_netem(host):
            return False
        argv = ["tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay",
                "%dms" % ms]
        if jitter_ms:
            argv.append("%dms" % jitter_ms)
        r = self.run(host, argv)
        if r.returncode != 0:
            raise RuntimeError("tc netem: %s" % r.stderr)
        return True

    def heal(self, host):
        self.run(host, ["nft", "delete", "table", "inet", "gwfault"])
        if self.netem:
            self.run(host, ["tc", "qdisc", "del", "dev", "eth0", "root"])

    def link(self, host, up):
        _ip("-n", self.hub, "link", "set", "v" + host, "up" if up else "down")

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        for m in self.mounts:
            subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
        self.mounts = []
        for dev in self.loops:
            subprocess.run(["losetup", "-d", dev], capture_output=True, timeout=30)
        self.loops = []
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.dirs = []
        if self._root_ns is not None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.setns(self._root_ns, CLONE_NEWNET)
            finally:
                os.close(self._root_ns)
                self._root_ns = None
        for ns in self.namespaces + [n for n in _ns_list() if n.startswith(self.tag + "-")]:
            _kill_ns_pids(ns)
            _ip("netns", "del", ns, check=False)
        self.namespaces = []
        if self in _nets:
            _nets.remove(self)


def _cleanup_all():
    for n in list(_nets):
        try:
            n.cleanup()
        except Exception as e:  # noqa: BLE001 - keep cleaning the rest
            print("# netns cleanup: %s" % e, file=sys.stderr)


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    _cleanup_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)
