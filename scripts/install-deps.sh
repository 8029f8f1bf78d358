#!/bin/sh
# install-deps.sh: install every build and test dependency of apigw on Debian
# bookworm with apt-get. Idempotent and quiet: when everything is present it
# only runs dpkg-query and exits. Must run as root (or under sudo).
#
# clang-14, libfuzzer-14-dev and libclang-rt-14-dev (the sanitizer and
# libFuzzer runtimes clang links, only recommended by clang-14) build the
# fuzz harnesses that `make check` runs (tests/fuzz/, docs/fuzzing.md).
#
# chromium (and node + npm, Debian's nodejs and npm unless the machine has
# its own): the dashboard's browser test (tests/integration/
# test_dashboard.py; scripts/test.sh installs its npm package,
# playwright-core, into tests/browser/node_modules).
#
# debhelper, lintian and man-db: `make deb` and the packaging tests
# (tests/packaging/test_deb.sh, tests/integration/test_man.py).
#
# libraft-dev comes from bookworm-backports (0.22.x, the maintained
# canonical/raft line); bookworm's own 0.15.0 has Raft safety bugs.
set -eu

PKGS="build-essential autoconf automake libtool pkg-config clang-format
libuv1-dev liblmdb-dev lmdb-utils libcjson-dev libssl-dev libnghttp2-dev
libprotobuf-c-dev protobuf-c-compiler libpcre2-dev libcmocka-dev libhttp-parser-dev libc-ares-dev
libyaml-dev libsystemd-dev
curl etcd-client etcd-server nginx-light haproxy wrk iproute2 procps nftables
nghttp2-client testssl.sh
e2fsprogs
clang-14 libfuzzer-14-dev libclang-rt-14-dev
debhelper lintian man-db
chromium
python3 ca-certificates"
BPO_PKGS="libraft-dev"
BPO_FILE=/etc/apt/sources.list.d/bookworm-backports.sources

missing=""
for p in $PKGS $BPO_PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing="$missing nodejs npm"
fi
raft_ok=0
if v=$(dpkg-query -W -f='${Version}' libraft-dev 2>/dev/null); then
	dpkg --compare-versions "$v" ge 0.22 && raft_ok=1
fi
if [ -z "$missing" ] && [ "$raft_ok" = 1 ]; then
	exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi

# Add bookworm-backports with the same mirror and keyring as the machine's
# existing bookworm source.
if [ ! -f "$BPO_FILE" ]; then
	uri=http://deb.debian.org/debian
	key=/usr/share/keyrings/debian-archive-keyring.gpg
	src=$(grep -ls '^Suites:.*bookworm' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 || true)
	if [ -n "$src" ]; then
		u=$(awk '/^URIs:/{print $2; exit}' "$src")
		k=$(awk '/^Signed-By:/{print $2; exit}' "$src")
		[ -n "$u" ] && uri=$u
		[ -n "$k" ] && key=$k
	elif [ -f /etc/apt/sources.list ]; then
		u=$(awk '$1=="deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list)
		[ -n "$u" ] && uri=$u
	fi
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
		"$uri" "$key" | $SUDO tee "$BPO_FILE" >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
# Do not let package installs start system services (nginx, haproxy, etcd).
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
	$SUDO chmod 755 /usr/sbin/policy-rc.d
fi
$SUDO apt-get -qq update
# shellcheck disable=SC2086
$SUDO apt-get -qq install -y --no-install-recommends $PKGS >/dev/null
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	$SUDO apt-get -qq install -y --no-install-recommends nodejs npm >/dev/null
fi
$SUDO apt-get -qq install -y --no-install-recommends -t bookworm-backports $BPO_PKGS >/dev/null
v=$(dpkg-query -W -f='${Version}' libraft-dev)
if ! dpkg --compare-versions "$v" ge 0.22; then
	echo "install-deps: libraft-dev $v is older than 0.22" >&2
	exit 1
fi
