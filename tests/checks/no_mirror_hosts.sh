#!/bin/sh
# Fails when a tracked file names a package registry's or mirror's host: machines reach their
# registries through their own configuration (packaging/debian-mirror.sh reads apt's), and a
# mirror can change. The patterns are written so that this file names no host either.
# Usage: no_mirror_hosts.sh [REPO_DIR]   Exit 0: none; 1: each hit printed as file:line.
set -eu
dir=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
debian='(deb|ftp[0-9]*([.][a-z]{2})?|security|snapshot|httpredir|archive|cdn-fastly|mirrors?|incoming)[.]debian[.](org|net)'
npm='registry[.](npmjs[.]org|yarnpkg[.]com|npmmirror[.]com)|(www[.])?npmjs[.]com'
node='(deb|rpm)[.]nodesource[.]com'
if hits=$(git -C "$dir" grep -n -I -i -E "$debian|$npm|$node" -- . 2>/dev/null); then
	printf '%s\n' "$hits" | sed 's/^/mirror host named: /' >&2
	echo "no_mirror_hosts: name no registry or mirror host; read it from the machine's" \
		"configuration (packaging/debian-mirror.sh)" >&2
	exit 1
fi
exit 0
