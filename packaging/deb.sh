#!/bin/sh
# make deb: build/vigil_VERSION_ARCH.deb from a hardened dynamic build (BIN), with dpkg-deb:
# the binary, the cold-start recorder (/usr/lib/vigil/vigil-preload.so), the man page, /etc/vigil/vigil.conf (every key, commented), the systemd units
# and an example function file. Depends are computed by dpkg-shlibdeps; libmicrohttpd is added
# by hand, because vigil loads it on first use (dlopen) rather than linking it.
set -eu
BIN=$1
OUT=${2:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
version=$(sed -n 's/^#define VIGIL_VERSION "\(.*\)"/\1/p' agent/util/version.h)
arch=$(dpkg --print-architecture)
work=$OUT/deb
root=$work/root
rm -rf "$work" && mkdir -p "$root/DEBIAN"

install -D -m 0755 "$BIN" "$root/usr/bin/vigil"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/vigil"
# the cold-start recorder vigil host preloads with coldstart=preload
install -D -m 0644 "$(dirname "$BIN")/vigil-preload.so" "$root/usr/lib/vigil/vigil-preload.so"
strip --strip-unneeded --remove-section=.comment "$root/usr/lib/vigil/vigil-preload.so"
install -d -m 0755 "$root/etc/vigil/functions"
"$BIN" config sample >"$root/etc/vigil/vigil.conf"
chmod 0644 "$root/etc/vigil/vigil.conf"
install -D -m 0644 packaging/systemd/vigil.service "$root/lib/systemd/system/vigil.service"
install -D -m 0644 packaging/systemd/vigil-host@.service "$root/lib/systemd/system/vigil-host@.service"
install -D -m 0644 packaging/vigil.1 "$root/usr/share/man/man1/vigil.1"
gzip -9n "$root/usr/share/man/man1/vigil.1"
doc=$root/usr/share/doc/vigil
install -D -m 0644 packaging/debian/copyright "$doc/copyright"
install -D -m 0644 packaging/debian/changelog "$doc/changelog"
gzip -9n "$doc/changelog"
install -D -m 0644 packaging/debian/function.conf "$doc/examples/function.conf"
install -D -m 0644 README.md "$doc/README.md"
gzip -9n "$doc/README.md"
# Directories only root may write, whatever the umask of the build.
find "$root" -type d -exec chmod 0755 {} +

# dpkg-shlibdeps wants a debian/control next to it.
mkdir -p "$work/src/debian"
printf 'Source: vigil\n\nPackage: vigil\nArchitecture: any\n' >"$work/src/debian/control"
deps=$(cd "$work/src" && dpkg-shlibdeps -O -e"$top/$root/usr/bin/vigil" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
mhd=$(dpkg-query -W -f='${Version}' libmicrohttpd12 | sed 's/-[^-]*$//')

cat >"$root/DEBIAN/control" <<CTRL
Package: vigil
Version: $version
Architecture: $arch
Maintainer: vigil developers <vigil-dev@lists.example.org>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $deps, libmicrohttpd12 (>= $mhd)
Section: admin
Priority: optional
Homepage: https://example.org/vigil
Description: observability and log agent for Lambda-style serverless functions
 vigil wraps every invocation of a serverless function and reports its init
 duration, duration, billed duration, memory, CPU, errors (error type,
 timeout, crash, out of memory) and cost, and keeps the function's logs as
 structured records in compressed segments. It exports a Prometheus endpoint,
 CloudWatch Embedded Metric Format lines and summary lines.
 .
 This package runs functions locally with vigil host (a Lambda-compatible
 platform: Runtime, Extensions and Telemetry APIs and an HTTP front door), one
 systemd unit per function (vigil-host@.service), and the vigil.service
 sidecar.
CTRL
# The functions' user of vigil host run by hand as root (the units use a dynamic user).
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ] && ! getent passwd vigil >/dev/null; then
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "vigil host functions" vigil
fi
POSTINST
chmod 0755 "$root/DEBIAN/postinst"
echo /etc/vigil/vigil.conf >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort |
	xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

deb=$OUT/vigil_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "  DEB     $deb ($(du -k "$deb" | cut -f1) KB)"
