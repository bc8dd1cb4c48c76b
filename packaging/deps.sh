#!/bin/sh
# Install every build and test dependency of vigil from Debian 12, idempotently.
# Fast path: when every package is present already, this does nothing (one dpkg-query).
set -eu

PKGS="build-essential pkg-config ca-certificates curl
libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler libzstd-dev
libbpf-dev bpftool clang llvm libclang-rt-14-dev libelf-dev zlib1g-dev
libjansson-dev libhttp-parser-dev libcmocka-dev zstd gzip libsnappy-dev libbearssl-dev libnghttp2-dev
python3 python3-pytest python3-h2 prometheus prometheus-node-exporter wrk procps
autoconf automake libtool cmake g++ make
debootstrap lintian dpkg-dev man-db systemd zip unzip qemu-user-static chromium fonts-dejavu-core
gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross libstdc++-12-dev-arm64-cross"
# arm64 libraries for the cross-built layer (make layer). Not libhttp-parser-dev: it is not
# Multi-Arch, and its arm64 copy would replace the native one (packaging/static-deps.sh
# builds it from source instead).
ARM64_PKGS="libzstd-dev:arm64 libjansson-dev:arm64 libprotobuf-c-dev:arm64 libbearssl-dev:arm64
libsnappy-dev:arm64 zlib1g-dev:arm64 libnghttp2-dev:arm64"
# From bookworm-backports (enabled here when missing, on the mirror apt already uses): the
# official OTLP .proto files (OTLP 1.5.0; the unit tests check vigil's encoder against them) and
# their Python bindings (the e2e tests' OTLP receiver decodes with them, not with vigil's code).
BACKPORTS_PKGS="opentelemetry-proto python3-opentelemetry-proto"
# Node.js and npm for aws-lambda-ric: the machine's own when present (Debian's otherwise).
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing="" missing_bpo=""
for p in $BACKPORTS_PKGS; do
	dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed ||
		missing_bpo="$missing_bpo $p"
done
for p in $PKGS $ARM64_PKGS; do
	# A package installed for two architectures prints two lines.
	dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed ||
		missing="$missing $p"
done
need_arch=""
dpkg --print-foreign-architectures | grep -qx arm64 || need_arch=arm64

[ -z "$missing" ] && [ -z "$missing_bpo" ] && [ -z "$need_arch" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing$missing_bpo (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing$missing$missing_bpo" >&2
export DEBIAN_FRONTEND=noninteractive
[ -n "$need_arch" ] && dpkg --add-architecture arm64
if [ -n "$missing_bpo" ] && ! sh "$(dirname "$0")/debian-mirror.sh" bookworm-backports \
	>/dev/null 2>&1; then
	mirror=$(sh "$(dirname "$0")/debian-mirror.sh")
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' \
		"$mirror" /usr/share/keyrings/debian-archive-keyring.gpg \
		>/etc/apt/sources.list.d/vigil-backports.sources
fi
apt-get update -qq
# --no-install-recommends keeps prometheus from pulling a web UI stack.
# shellcheck disable=SC2086
[ -z "$missing" ] || apt-get install -y -qq --no-install-recommends $missing >/dev/null
# shellcheck disable=SC2086
[ -z "$missing_bpo" ] ||
	apt-get install -y -qq --no-install-recommends -t bookworm-backports $missing_bpo >/dev/null
# Debian starts these daemons on install; vigil's tests start their own.
for svc in prometheus prometheus-node-exporter; do
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	fi
done
