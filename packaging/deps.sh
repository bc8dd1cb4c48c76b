#!/bin/sh
# Install every build and test dependency of vigil from Debian 12, idempotently.
# Fast path: when every package is present already, this does nothing (one dpkg-query).
set -eu

PKGS="build-essential pkg-config ca-certificates curl
libmicrohttpd-dev libprotobuf-c-dev protobuf-c-compiler libzstd-dev
libbpf-dev bpftool clang llvm libclang-rt-14-dev libelf-dev zlib1g-dev
libjansson-dev libhttp-parser-dev libcmocka-dev zstd gzip
python3 python3-pytest prometheus prometheus-node-exporter wrk procps
autoconf automake libtool cmake g++ make"
# Node.js and npm for aws-lambda-ric: the machine's own when present (Debian's otherwise).
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
	case "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" in
	installed) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps prometheus from pulling a web UI stack.
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian starts these daemons on install; vigil's tests start their own.
for svc in prometheus prometheus-node-exporter; do
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	fi
done
