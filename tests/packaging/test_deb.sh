#!/bin/bash
# test_deb.sh: the Debian package (debian/, `make deb`), TAP output.
#
# Builds apigw_<version>_amd64.deb with `make deb` (or takes APIGW_DEB=path
# to a built one), then:
#  1. dpkg-deb -I / -c: name, version, Depends (libraft from backports,
#     libsystemd0 ...), the files and conffiles;
#  2. systemd-analyze verify on the unit from the package;
#  3. lintian: no errors or warnings (no overrides);
#  4. install, reinstall (the upgrade path), remove and purge in a throwaway
#     root: an overlay over / in a mount and network namespace of its own
#     (unshare -m -n, chroot), so the machine is never touched: the apigw
#     user and /var/lib/apigw (0700 apigw) are created, the node starts with
#     the unit's command line as user apigw and answers /status/ready with
#     READY=1 on a NOTIFY_SOCKET, the data dir and a changed conffile survive
#     a reinstall and a remove, purge removes them.
# Needs root for 4 (skipped otherwise), dpkg-dev and debhelper for the
# build (skipped without them). The build is a second full compile, without
# sanitizers: about 3 minutes of the 2-core CI machine (docs/packaging.md);
# APIGW_DEB_SKIP_BUILD=1 skips the whole test when no APIGW_DEB is given.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
BUILD=${APIGW_BUILDDIR:-$(pwd)}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}
notok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	for l in "$@"; do echo "# $l"; done
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}
done_tap() {
	echo "1..$n"
	[ "$failed" -eq 0 ]
	exit $?
}

version=$(sed -n 's/^apigw (\([^)]*\)).*/\1/p;q' "$SRC/debian/changelog")
acver=$(sed -n 's/^AC_INIT(\[apigw\], \[\([^]]*\)\].*/\1/p' "$SRC/configure.ac")
if [ "$version" = "$acver" ]; then
	ok "debian/changelog version $version is configure.ac's"
else
	notok "debian/changelog version $version is configure.ac's" "configure.ac: $acver"
fi

deb=${APIGW_DEB:-}
if [ -z "$deb" ] && [ "${APIGW_DEB_SKIP_BUILD:-0}" = 1 ]; then
	skip "make deb" "APIGW_DEB_SKIP_BUILD=1"
	done_tap
fi
if [ -z "$deb" ]; then
	for t in dpkg-buildpackage dh; do
		if ! command -v $t >/dev/null; then
			skip "make deb" "$t missing (dpkg-dev, debhelper)"
			done_tap
		fi
	done
	start=$(date +%s)
	# a make of its own: not the jobserver or TESTS= of the `make check` around
	if (cd "$BUILD" && unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
		make deb) >"$BUILD/deb.log" 2>&1; then
		ok "make deb ($(($(date +%s) - start)) s)"
	else
		notok "make deb" "$(tail -n 30 "$BUILD/deb.log")"
		done_tap
	fi
	deb="$BUILD/deb/apigw_${version}_amd64.deb"
fi
if [ ! -f "$deb" ]; then
	notok "the package is $deb" "$(ls "$(dirname "$deb")")"
	done_tap
fi

# ---- 1. metadata and contents ------------------------------------------
info=$(dpkg-deb -f "$deb")
dep=$(dpkg-deb -f "$deb" Depends)
missing=""
for lib in libraft libsystemd0 libuv1 liblmdb0 libssl3 libnghttp2 libcjson libyaml; do
	echo "$dep" | grep -q "$lib" || missing="$missing $lib"
done
if [ "$(dpkg-deb -f "$deb" Package)" = apigw ] &&
	[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] && [ -z "$missing" ] &&
	echo "$dep" | grep -qE 'libraft[0-9a-z.-]* \(>= 0\.2[2-9]'; then
	ok "control: apigw $version, Depends from shlibs with libraft >= 0.22"
else
	notok "control: apigw $version, Depends from shlibs with libraft >= 0.22" \
		"missing:$missing" "$info"
fi

contents=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $NF}')
want="./usr/bin/apigw ./lib/systemd/system/apigw.service ./etc/apigw/apigw.json
./etc/logrotate.d/apigw ./usr/share/man/man1/apigw.1.gz ./usr/share/man/man5/apigw.json.5.gz
./usr/share/bash-completion/completions/apigw ./usr/lib/sysusers.d/apigw.conf
./usr/lib/tmpfiles.d/apigw.conf ./usr/share/doc/apigw/operations.md.gz"
absent=""
for f in $want; do
	echo "$contents" | grep -q " $f\$" || absent="$absent $f"
done
if [ -z "$absent" ]; then
	ok "contents: binary, unit, conffile, logrotate, man pages, completion, sysusers, tmpfiles"
else
	notok "contents" "absent:$absent" "$contents"
fi
ctl=$(mktemp -d)
dpkg-deb -e "$deb" "$ctl"
if grep -qx /etc/apigw/apigw.json "$ctl/conffiles" && grep -qx /etc/logrotate.d/apigw "$ctl/conffiles"; then
	ok "conffiles: /etc/apigw/apigw.json, /etc/logrotate.d/apigw"
else
	notok "conffiles" "$(cat "$ctl/conffiles" 2>/dev/null)"
fi

# ---- 2. the unit -------------------------------------------------------
root=$(mktemp -d)
dpkg-deb -x "$deb" "$root"
unit="$root/lib/systemd/system/apigw.service"
absent=""
for k in Type=notify WatchdogSec= ExecReload= NoNewPrivileges=yes ProtectSystem=strict \
	ReadWritePaths=/var/lib/apigw CapabilityBoundingSet=CAP_NET_BIND_SERVICE PrivateTmp=yes \
	ProtectHome=yes SystemCallFilter=@system-service; do
	grep -q "^$k" "$unit" || absent="$absent $k"
done
if [ -z "$absent" ]; then
	ok "unit: notify, watchdog, reload and hardening settings"
else
	notok "unit: notify, watchdog, reload and hardening settings" "absent:$absent"
fi
if command -v systemd-analyze >/dev/null; then
	# verify resolves ExecStart= on this machine: point it at the package's
	# binary through a copy of the unit
	vdir=$(mktemp -d)
	sed "s|/usr/bin/apigw|$root/usr/bin/apigw|g" "$unit" >"$vdir/apigw.service"
	out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$vdir/apigw.service" 2>&1 |
		grep -v -e "Failed to connect" -e "bus" -e "^$")
	if [ -z "$out" ]; then
		ok "systemd-analyze verify apigw.service"
	else
		notok "systemd-analyze verify apigw.service" "$out"
	fi
	rm -rf "$vdir"
else
	skip "systemd-analyze verify apigw.service" "systemd-analyze missing"
fi

# ---- 3. lintian --------------------------------------------------------
if command -v lintian >/dev/null; then
	out=$(lintian --fail-on error,warning "$deb" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		ok "lintian: no error or warning"
	else
		notok "lintian" "$out"
	fi
else
	skip "lintian" "lintian missing"
fi

# ---- 4. install, upgrade, remove, purge in a throwaway root -------------
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	skip "install, upgrade, remove, purge" "needs root and unshare"
	done_tap
fi
work=$(mktemp -d /tmp/apigw-debroot-XXXXXX)
cp "$deb" "$work/apigw.deb"
cat >"$work/inside.sh" <<'EOF'
#!/bin/bash
# Runs chrooted in the overlay root, in its own network namespace.
set -u
say() { echo "STEP $*"; }
ip link set lo up
export DEBIAN_FRONTEND=noninteractive
dpkg -i --no-triggers /tmp/t/apigw.deb >/tmp/t/dpkg.log 2>&1 || { say "install FAIL $(tail -5 /tmp/t/dpkg.log)"; exit 1; }
getent passwd apigw >/dev/null && say "user OK $(getent passwd apigw)" || say "user FAIL"
st=$(stat -c '%a %U %G' /var/lib/apigw 2>&1)
[ "$st" = "700 apigw apigw" ] && say "datadir OK $st" || say "datadir FAIL $st"
st=$(stat -c '%U' /var/log/apigw 2>&1)
[ "$st" = "apigw" ] && say "logdir OK" || say "logdir FAIL $st"
# the unit's command lines, as its user, with a NOTIFY_SOCKET
cmd=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/apigw.service)
pre=$(sed -n 's/^ExecStartPre=//p' /lib/systemd/system/apigw.service)
setpriv --reuid=apigw --regid=apigw --init-groups -- $pre >/tmp/t/check.log 2>&1 && say "check OK" || say "check FAIL $(cat /tmp/t/check.log)"
python3 - "$cmd" "$(id -u apigw)" <<'PY'
import os, socket, subprocess, sys, time, urllib.request
AS_APIGW = ["setpriv", "--reuid=apigw", "--regid=apigw", "--init-groups", "--"]
path = "/tmp/t/notify"
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
os.chmod("/tmp/t", 0o755)
s.settimeout(60)
env = dict(os.environ, NOTIFY_SOCKET=path)
p = subprocess.Popen(AS_APIGW + sys.argv[1].split(), env=env,
                     stdout=open("/tmp/t/node.log", "wb"), stderr=subprocess.STDOUT)
ready = None
try:
    while ready is None:
        m = s.recv(4096).decode()
        if "READY=1" in m:
            ready = m
    st = urllib.request.urlopen("http://127.0.0.1:7085/status/ready", timeout=5).status
    print("STEP ready %s %s" % ("OK" if st == 200 else "FAIL", ready.replace("\n", " ")))
except Exception as e:
    print("STEP ready FAIL %r %s" % (e, open("/tmp/t/node.log").read()[-2000:]))
uid = os.stat("/proc/%d" % p.pid).st_uid
print("STEP user-process %s uid=%d" % ("OK" if uid == int(sys.argv[2]) else "FAIL", uid))
p.terminate()
rc = p.wait(60)
print("STEP stop %s rc=%d" % ("OK" if rc == 0 else "FAIL", rc))
PY
owner=$(stat -c '%U' /var/lib/apigw/identity 2>&1)
[ "$owner" = apigw ] && say "state OK identity owned by apigw" || say "state FAIL $owner"
id0=$(cat /var/lib/apigw/identity)
echo '{"data-dir": "/var/lib/apigw", "log-level": "warn"}' >/etc/apigw/apigw.json
dpkg -i --no-triggers /tmp/t/apigw.deb >>/tmp/t/dpkg.log 2>&1 || say "reinstall FAIL $(tail -5 /tmp/t/dpkg.log)"
[ "$(cat /var/lib/apigw/identity 2>&1)" = "$id0" ] && say "upgrade-data OK" || say "upgrade-data FAIL"
grep -q warn /etc/apigw/apigw.json && say "upgrade-conffile OK" || say "upgrade-conffile FAIL"
dpkg -r --no-triggers apigw >>/tmp/t/dpkg.log 2>&1 || say "remove FAIL $(tail -5 /tmp/t/dpkg.log)"
[ ! -e /usr/bin/apigw ] && [ -f /var/lib/apigw/identity ] && [ -f /etc/apigw/apigw.json ] &&
	say "remove OK binary gone, data and conffile kept" || say "remove FAIL"
dpkg -P --no-triggers apigw >>/tmp/t/dpkg.log 2>&1 || say "purge FAIL $(tail -5 /tmp/t/dpkg.log)"
[ ! -e /var/lib/apigw ] && [ ! -e /etc/apigw ] && [ ! -e /var/log/apigw ] &&
	say "purge OK data, logs and conffile gone" || say "purge FAIL $(ls -a /var/lib/apigw /etc/apigw 2>&1)"
EOF
chmod +x "$work/inside.sh"
cat >"$work/outer.sh" <<'EOF'
#!/bin/bash
# Runs in private mount and network namespaces: an overlay over / with its
# writes in a tmpfs, chroot into it. $1: the work dir.
set -e
w=$1
r=$w/ovl/root
mount --make-rprivate /
mkdir -p "$w/ovl"
mount -t tmpfs tmpfs "$w/ovl"
mkdir -p "$w/ovl/up" "$w/ovl/work" "$r"
mount -t overlay overlay -o "lowerdir=/,upperdir=$w/ovl/up,workdir=$w/ovl/work" "$r"
mount -t proc proc "$r/proc"
mount --rbind /dev "$r/dev"
mount -t tmpfs tmpfs "$r/tmp"
mount -t tmpfs tmpfs "$r/run"
# the machine's own apigw state, if any (someone ran apigw as root with
# the default data dir), must not leak in: hidden in the overlay only
mountpoint -q "$r"
rm -rf "$r/var/lib/apigw" "$r/etc/apigw" "$r/var/log/apigw"
mkdir -p "$r/tmp/t"
cp "$w/apigw.deb" "$w/inside.sh" "$r/tmp/t/"
chroot "$r" /tmp/t/inside.sh
EOF
out=$(unshare -m -n bash "$work/outer.sh" "$work" 2>&1)
for step in user datadir logdir check ready user-process stop state upgrade-data upgrade-conffile remove purge; do
	line=$(echo "$out" | grep "^STEP $step " | head -n 1)
	case "$line" in
	"STEP $step OK"*) ok "throwaway root: $step${line#STEP $step OK}" ;;
	*) notok "throwaway root: $step" "${line:-no result}" "$(echo "$out" | tail -n 20)" ;;
	esac
done
rm -rf "$work" "$root" "$ctl"
done_tap
