#!/bin/sh
# make layer: build/vigil-layer-ARCH.zip from a static binary. Lambda unpacks a layer into /opt:
#   /opt/extensions/vigil   the extension (Lambda starts every file in /opt/extensions)
#   /opt/vigil-wrapper      AWS_LAMBDA_EXEC_WRAPPER=/opt/vigil-wrapper puts the proxy in front
#   /opt/vigil/NOTICE       what the binary contains and under which licences
#   /opt/vigil/vigil-preload.so  the cold-start recorder vigil-wrapper preloads when
#                           VIGIL_COLDSTART=preload (nothing is preloaded otherwise)
# Usage: layer.sh ARCH BIN STRIP OUTDIR
set -eu
arch=$1 bin=$2 strip=$3 out=$4
top=$(cd "$(dirname "$0")/.." && pwd)
stage=$out/layer-$arch
rm -rf "$stage" && mkdir -p "$stage/extensions" "$stage/vigil"
$strip -o "$stage/extensions/vigil" "$bin"
chmod 0755 "$stage/extensions/vigil"
install -m 0755 "$top/packaging/vigil-wrapper" "$stage/vigil-wrapper"
install -m 0644 "$top/packaging/NOTICE" "$stage/vigil/NOTICE"
$strip -o "$stage/vigil/vigil-preload.so" "$(dirname "$bin")/vigil-preload.so"
chmod 0755 "$stage/vigil/vigil-preload.so"
zip=$(realpath -m "$out/vigil-layer-$arch.zip")
rm -f "$zip"
# -X: no extra attributes (uid/gid, times beyond DOS), so the zip depends on content only.
(cd "$stage" && touch -d @0 extensions/vigil vigil-wrapper vigil/NOTICE vigil/vigil-preload.so &&
	zip -q -9 -X -r "$zip" extensions vigil-wrapper vigil)
size=$(stat -c %s "$stage/extensions/vigil")
[ "$size" -le 2000000 ] || { echo "layer: $arch binary is $size bytes, over 2 MB" >&2; exit 1; }
echo "  LAYER   $zip (binary $size bytes stripped, zip $(stat -c %s "$zip") bytes)"
