#!/bin/sh
# Print the Debian mirror this machine's apt already uses for bookworm (its base URL, e.g.
# what a deb822 entry's URIs: says), so that no mirror host is ever written in this repository.
# Read from /etc/apt/sources.list.d/*.sources (deb822: the first URIs of an enabled deb entry
# whose Suites has bookworm), then the one-line forms in /etc/apt/sources.list and *.list.
# APT_ETC overrides /etc/apt (tests). Exit 1, with the reason on stderr, when none is found.
set -eu
etc=${APT_ETC:-/etc/apt}
suite=${1:-bookworm}

deb822() { # FILE...: deb822 stanzas, the first matching URI
	awk -v suite="$suite" '
	function flush() {
		if (uri != "" && types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" suite "( |$)") &&
		    enabled != "no" && !found) { print uri; found = 1 }
		uri = ""; types = ""; suites = ""; enabled = ""
	}
	/^[ \t]*#/ { next }
	/^[ \t]*$/ { flush(); next }
	{ key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "") }
	key == "types" { types = $0 }
	key == "suites" { suites = $0 }
	key == "enabled" { enabled = tolower($0) }
	key == "uris" { split($0, u, " "); uri = u[1] }
	END { flush() }' "$@"
}

oneline() { # FILE...: "deb [opts] URI SUITE COMPONENTS..."
	awk -v suite="$suite" '
	$1 != "deb" { next }
	{ i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ } }
	$(i + 1) == suite && !found { print $i; found = 1 }' "$@"
}

uri=""
for f in "$etc"/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	uri=$(deb822 "$f" | head -n 1)
	[ -n "$uri" ] && break
done
if [ -z "$uri" ]; then
	for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(oneline "$f" | head -n 1)
		[ -n "$uri" ] && break
	done
fi
if [ -z "$uri" ]; then
	echo "debian-mirror: no enabled 'deb' entry for $suite in $etc/sources.list or" \
		"$etc/sources.list.d/ — add the machine's Debian mirror to apt's sources first" >&2
	exit 1
fi
printf '%s\n' "${uri%/}"
