#!/bin/sh
# The two libraries a static vigil cannot take from Debian's binary packages, built from Debian's
# own source packages:
#  - libmicrohttpd: Debian's .a is built with HTTPS, so it pulls gnutls, which needs p11-kit,
#    which has no static library. Built here with --disable-https.
#  - http-parser: libhttp-parser-dev is not Multi-Arch, so its amd64 and arm64 copies cannot be
#    installed side by side. It is one C file, compiled here with the target's compiler.
#  - zstd: Debian's libzstd.a (-O3, legacy formats, both Huffman decoders) weighs 660 KB in the
#    binary. Here: no legacy formats, one decoder of each kind, and the code of the levels vigil
#    never writes with (lazy, optimal, long-distance matching: it writes level 3, the fast and
#    double-fast finders) and of the dictionary trainer compiled for size (-Os, no forced
#    inlining). The level-3 path keeps -O2 and its speed (307 against 308 MB/s measured on the
#    log corpus); the whole library shrinks to ~210 KB, which keeps the layer binary under 2 MB
#    with TLS and snappy in it.
# Usage: static-deps.sh OUTDIR [HOST_TRIPLE]   (CC names the target's compiler)
# OUTDIR gets include/ and lib/. Sources come through apt, from the Debian mirror the machine's own
# apt configuration names (packaging/debian-mirror.sh), into build/src, without touching the
# system's apt sources; nothing of it is committed.
set -eu
out=$(realpath -m "$1")
host=${2:-}
cc=${CC:-cc}
# Built once per version of this script (the stamp holds its checksum).
stamp=$(cksum <"$0")
[ -f "$out/lib/libmicrohttpd.a" ] && [ -f "$out/lib/libhttp_parser.a" ] &&
	[ -f "$out/lib/libzstd.a" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] && exit 0
rm -rf "$out/lib" "$out/include" "$out/.stamp"

top=$(cd "$(dirname "$0")/.." && pwd)
src=$top/build/src
mkdir -p "$src/lists/partial" "$out/include" "$out/lib"
apt="-o Dir::Etc::sourcelist=$src/sources.list -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$src/lists"
fetch() { # PACKAGE: its .dsc path, downloaded once
	if ! ls "$src/$1"_*.dsc >/dev/null 2>&1; then
		mirror=$("$top/packaging/debian-mirror.sh")
		echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
			>"$src/sources.list"
		# shellcheck disable=SC2086
		ls "$src"/lists/*Sources* >/dev/null 2>&1 || apt-get -qq $apt update
		# shellcheck disable=SC2086
		(cd "$src" && apt-get -qq $apt source --download-only "$1" 2>&1) |
			grep -v '^W: Download is performed unsandboxed' || true
	fi
	ls "$src/$1"_*.dsc | head -n 1
}
unpack() { # DSC DIR: Debian's patches applied (apt checked the Release file's signature)
	rm -rf "$2" && dpkg-source --no-check -x "$1" "$2" >/dev/null
}

work=$out/work
mkdir -p "$work"

dsc=$(fetch http-parser)
echo "  DEP     http-parser $(basename "$dsc" .dsc | cut -d_ -f2)${host:+ for $host}"
unpack "$dsc" "$work/hp"
$cc -Os -ffunction-sections -fdata-sections -DHTTP_PARSER_STRICT=0 -c "$work/hp/http_parser.c" \
	-o "$work/http_parser.o"
${AR:-ar} rcs "$out/lib/libhttp_parser.a" "$work/http_parser.o"
cp "$work/hp/http_parser.h" "$out/include/"

dsc=$(fetch libzstd)
echo "  DEP     zstd $(basename "$dsc" .dsc | cut -d_ -f2), no legacy formats${host:+, for $host}"
unpack "$dsc" "$work/zstd"
# (zstd's Makefile adds its feature flags to CFLAGS, which a command-line CFLAGS overrides:
# they are spelled out here.)
zflags="-ffunction-sections -fdata-sections -DHUF_FORCE_DECOMPRESS_X1 \
	-DZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT -DZSTD_LEGACY_SUPPORT=0"
make -s -C "$work/zstd/lib" -j2 libzstd.a CC="$cc" AR="${AR:-ar}" ZSTD_LEGACY_SUPPORT=0 \
	CFLAGS="-O2 $zflags" >"$out/zstd.log" 2>&1 || { tail -n 30 "$out/zstd.log"; exit 1; }
for f in compress/zstd_lazy.c compress/zstd_opt.c compress/zstd_ldm.c dictBuilder/cover.c \
	dictBuilder/fastcover.c dictBuilder/divsufsort.c dictBuilder/zdict.c; do
	# shellcheck disable=SC2086
	$cc -Os -DZSTD_NO_INLINE $zflags -DXXH_NAMESPACE=ZSTD_ -DDEBUGLEVEL=0 \
		-c "$work/zstd/lib/$f" -o "$work/$(basename "$f" .c).o"
	${AR:-ar} r "$work/zstd/lib/libzstd.a" "$work/$(basename "$f" .c).o"
done
cp "$work/zstd/lib/libzstd.a" "$out/lib/"
cp "$work/zstd/lib/zstd.h" "$work/zstd/lib/zdict.h" "$work/zstd/lib/zstd_errors.h" "$out/include/"

dsc=$(fetch libmicrohttpd)
echo "  DEP     libmicrohttpd $(basename "$dsc" .dsc | cut -d_ -f2), no HTTPS${host:+, for $host}"
unpack "$dsc" "$work/mhd"
cd "$work/mhd"
./configure -q ${host:+--host=$host} --prefix="$out" CC="$cc" \
	--enable-static --disable-shared --disable-https --without-gnutls \
	--disable-doc --disable-examples --disable-curl --disable-nls \
	--disable-dauth --disable-bauth --disable-postprocessor --disable-httpupgrade \
	--disable-sendfile --enable-messages CFLAGS="-Os -ffunction-sections -fdata-sections" \
	>"$out/configure.log" 2>&1 || { tail -n 30 "$out/configure.log"; exit 1; }
make -s -C src/microhttpd -j2 install >"$out/make.log" 2>&1 || { tail -n 30 "$out/make.log"; exit 1; }
make -s -C src/include install >>"$out/make.log" 2>&1
cd "$top" && rm -rf "$work"
echo "$stamp" >"$out/.stamp"
