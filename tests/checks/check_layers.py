#!/usr/bin/env python3
"""make check-layers: every `#include "…"` of vigil's C sources follows the layering of
docs/ARCHITECTURE.md. Data flows one way, sources → core → exporters; only the wiring layer
(agent/cmd) knows both sides. The table below is the one place the allowed edges are written.

Usage: check_layers.py [REPO_DIR]. Prints each broken edge as file:line and exits 1; exits 0
when there is none. Includes that name no file of the repository (generated protobuf-c and
BPF skeleton headers, system headers) are not edges."""
import os
import re
import subprocess
import sys

# Layer: (its folders, the layers it may include besides itself).
LAYERS = {
    "util": (["agent/util"], []),
    "lib": (["agent/lib"], ["util"]),
    "core": (["agent/core"], ["util"]),
    # The eBPF programs and their loader: an instrument of the host's (as its cgroup code
    # is), with no way into the core of their own; what they see reaches the core only
    # through the host (host/probing.c) or `vigil probe`. Only those two include them.
    "probes": (["agent/probes"], ["util"]),
    # loaded into the function's runtime (LD_PRELOAD): nothing of vigil's
    "preload": (["agent/preload"], []),
    "extension": (["agent/extension"], ["core", "lib", "util"]),
    "host": (["agent/host"], ["core", "lib", "util", "probes"]),
    "proxy": (["agent/proxy"], ["core", "lib", "util"]),
    "receiver": (["agent/receiver"], ["core", "lib", "util"]),
    "emf": (["exporters/emf"], ["core", "lib", "util"]),
    "prometheus": (["exporters/prometheus"], ["core", "lib", "util"]),
    "remote_write": (["exporters/remote_write"], ["core", "lib", "util"]),
    "otlp": (["exporters/otlp"], ["core", "lib", "util"]),
    "lines": (["exporters/lines"], ["core", "lib", "util"]),
    "cmd": (["agent/cmd"], ["*"]),
}
CHECKED = ("agent/", "exporters/")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of(path):
    for name, (folders, _) in LAYERS.items():
        if any(path == f or path.startswith(f + "/") for f in folders):
            return name
    return None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    files = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others",
                            "--exclude-standard", "*.c", "*.h"],
                           capture_output=True, text=True, check=True).stdout.split()
    known = set(files)
    broken = []
    for f in files:
        if not f.startswith(CHECKED) or f.endswith(".bpf.c") or f.endswith(".body.h"):
            continue
        src = layer_of(f)
        if src is None:
            broken.append(f"{f}:1: in no layer (add its folder to tests/checks/check_layers.py)")
            continue
        allowed = LAYERS[src][1]
        with open(os.path.join(root, f), encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = os.path.normpath(os.path.join(os.path.dirname(f), m.group(1)))
                if target not in known:
                    continue
                dst = layer_of(target)
                if dst == src or "*" in allowed or dst in allowed:
                    continue
                broken.append(f"{f}:{n}: {src} may not include {dst or target} "
                              f"(\"{m.group(1)}\")")
    for b in broken:
        print(b)
    if broken:
        print(f"check-layers: {len(broken)} broken edge(s); the allowed edges are the table "
              "in tests/checks/check_layers.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
