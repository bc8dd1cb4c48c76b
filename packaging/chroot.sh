#!/bin/sh
# A minimal Debian 12 root (debootstrap --variant=minbase) for the packaging tests: the layer's
# static binary runs in a copy of it, the .deb is installed in another copy. Made once.
# Usage: chroot.sh DIR
set -eu
dir=$(realpath -m "$1")
[ -f "$dir/.vigil-ok" ] && exit 0
rm -rf "$dir" && mkdir -p "$(dirname "$dir")"
echo "  CHROOT  $dir (debootstrap minbase bookworm: about two minutes, once)"
# The machine's own Debian mirror, read from its apt configuration (none is named here).
mirror=$("$(dirname "$0")/debian-mirror.sh")
debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 ||
	{ tail -n 20 "$dir.log"; exit 1; }
touch "$dir/.vigil-ok"
