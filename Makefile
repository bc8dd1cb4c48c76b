# vigil — build, test, benchmark. `make V=1` shows the commands.
# Targets: all (default) demo test unit e2e asan fuzz bench docs clean

CC      ?= cc
CLANG   ?= clang
PYTHON  ?= /usr/bin/python3
BUILD   ?= build
SAN     ?=
OPT     ?= -O2
FUZZ_SECONDS ?= 15

CHROOT_BASE := build/chroot/base/.vigil-ok
REVISION := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

CFLAGS  := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE $(OPT) -g \
           -DVIGIL_REVISION='"$(REVISION)"' -I$(BUILD)/gen $(EXTRA_CFLAGS)
# BearSSL (remote_write's HTTPS) is linked statically in every build: it costs the start
# nothing (no constructor, no relocation of note) and no shared library is loaded for it.
LDLIBS  := -lhttp_parser -ljansson -lprotobuf-c -lzstd -lz -Wl,-Bstatic -lbearssl -lnghttp2 -Wl,-Bdynamic \
           -lpthread -lm -ldl
# STATIC=1: the layer binary. Fully static (glibc included); libmicrohttpd (without HTTPS) and
# http-parser built from Debian's source packages (packaging/static-deps.sh) and linked in;
# unused sections dropped. HOST_TRIPLE=aarch64-linux-gnu CC=aarch64-linux-gnu-gcc cross-builds.
ifneq ($(STATIC),)
DEPS_DIR := $(BUILD)/deps
CFLAGS  += -DVIGIL_STATIC -DVIGIL_MHD_STATIC -I$(DEPS_DIR)/include -ffunction-sections \
           -fdata-sections
LINK_STATIC := -static -Wl,--gc-sections
LDLIBS  := -L$(DEPS_DIR)/lib -lmicrohttpd -lhttp_parser -ljansson -lprotobuf-c -lzstd -lz -lbearssl -lnghttp2 \
           -lpthread -lm
endif
# eBPF probes (agent/probes): BPF objects built with clang for this machine's architecture,
# CO-RE against the vmlinux.h checked in for that architecture (agent/probes/vmlinux/ARCH/, as
# libbpf-tools keeps them: the build does not depend on the building machine's kernel; `make
# vmlinux` regenerates it), embedded as bpftool skeletons. libbpf and libelf are linked
# statically (two shared libraries fewer on the start path). The static layer build has no probes.
PROBE_NAMES := lifecycle usage initrace
BPF_ARCH    := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
ifeq ($(STATIC),)
PROBE_SRCS  := agent/probes/probes.c agent/probes/lifecycle.c agent/probes/usage.c agent/probes/initrace.c
PROBE_SKELS := $(PROBE_NAMES:%=$(BUILD)/gen/probes/%.skel.h)
LDLIBS      += -Wl,-Bstatic -lbpf -lelf -Wl,-Bdynamic -lz
else
PROBE_SRCS  := agent/probes/none.c
PROBE_SKELS :=
endif

ifneq ($(SAN),)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
else
Q := @
MAKEFLAGS += --no-print-directory
endif

# Sources by layer (docs/ARCHITECTURE.md): util, lib, core, sources, exporters, then the wiring
# (agent/cmd); main.c is linked into the binary only.
LIB_SRCS := agent/util/log.c agent/util/netaddr.c agent/util/buf.c agent/util/numfmt.c \
            agent/util/crc32c.c agent/util/ids.c agent/util/base64.c agent/util/json_str.c \
            agent/util/redact.c agent/util/snappy.c agent/util/tracectx.c agent/util/fields.c agent/util/lines.c agent/util/procfs.c agent/util/caps.c \
            agent/lib/loop.c agent/lib/http_server.c agent/lib/http_post.c agent/lib/mhd.c \
            agent/lib/tls.c agent/lib/resolve.c agent/lib/http_client.c \
            agent/core/metrics.c agent/core/self_metrics.c agent/core/lambda_lines.c \
            agent/core/tracker.c agent/core/tracker_families.c agent/core/log_level.c \
            agent/core/segment.c agent/core/segment_read.c agent/core/segment_tail.c agent/core/jscan.c agent/core/logparse.c \
            agent/core/logpipe.c agent/core/sink.c agent/core/custom.c agent/core/emf_in.c \
            agent/core/coldstart.c \
            agent/receiver/statsd.c agent/receiver/otlp_in.c agent/receiver/otlp_http.c \
            agent/receiver/otlp_json.c agent/receiver/otlp_grpc.c \
            agent/host/cgroup.c agent/host/apigw.c agent/host/environment.c agent/host/process.c \
            agent/host/api.c agent/host/listeners.c agent/host/privileges.c agent/host/sandbox.c \
            agent/host/runtime_api.c agent/host/extensions_api.c agent/host/telemetry.c \
            agent/host/frontdoor.c agent/host/host.c agent/host/probing.c agent/host/coldstart.c \
            agent/extension/resources.c agent/extension/batch.c agent/extension/extension.c \
            agent/proxy/proxy.c $(PROBE_SRCS) \
            exporters/emf/emf.c exporters/prometheus/render.c exporters/prometheus/server.c \
            exporters/remote_write/remote_write.c exporters/lines/lines.c \
            exporters/otlp/otlp_encode.c exporters/otlp/otlp.c agent/cmd/otlp_setup.c \
            agent/cmd/config.c agent/cmd/serve.c agent/cmd/extension.c agent/cmd/host.c \
            agent/cmd/proxy.c agent/cmd/logs.c agent/cmd/probe.c agent/cmd/coldstart.c
GEN_SRCS := $(BUILD)/gen/vigil/v1/log.pb-c.c $(BUILD)/gen/prometheus/remote.pb-c.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/log.pb-c.o \
            $(BUILD)/obj/gen/remote.pb-c.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: all demo test checks check-layers vmlinux unit e2e asan fuzz bench docs deps clean layer deb dashboard-pngs
.DEFAULT_GOAL := all

all: $(BUILD)/vigil $(BUILD)/vigil-preload.so

# The cold-start recorder a runtime preloads (agent/preload): libc and libdl only.
$(BUILD)/vigil-preload.so: agent/preload/preload.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=gnu11 -Wall -Wextra -Werror -O2 -g -fPIC -shared -o $@ $< \
		-Wl,--no-as-needed -l:libdl.so.2

# protobuf-c code is generated into build/, never committed.
$(BUILD)/gen/vigil/v1/log.pb-c.c $(BUILD)/gen/vigil/v1/log.pb-c.h: proto/vigil/v1/log.proto
	@mkdir -p $(BUILD)/gen
	@$(if $(Q),echo "  PROTOC  $<")
	$(Q)protoc-c --c_out=$(BUILD)/gen -Iproto $<

VMLINUX_H := agent/probes/vmlinux/$(BPF_ARCH)/vmlinux.h
ifeq ($(wildcard $(VMLINUX_H)),)
# No header checked in for this architecture: this machine's kernel's, as a stand-in.
VMLINUX_H := $(BUILD)/gen/vmlinux/$(BPF_ARCH)/vmlinux.h
$(VMLINUX_H):
	@mkdir -p $(dir $@)
	@echo "  BTF     $@ (no agent/probes/vmlinux/$(BPF_ARCH)/vmlinux.h: from this kernel)"
	$(Q)bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@
endif

# Regenerate the checked-in header of this machine's architecture from its kernel's BTF.
vmlinux:
	@mkdir -p agent/probes/vmlinux/$(BPF_ARCH)
	$(Q){ echo "/* vmlinux.h for $(BPF_ARCH) (BTF of Linux $$(uname -r)): regenerate with" \
		"'make vmlinux' (see agent/probes/vmlinux/README). */"; \
		bpftool btf dump file /sys/kernel/btf/vmlinux format c; } \
		> agent/probes/vmlinux/$(BPF_ARCH)/vmlinux.h.tmp && \
		mv agent/probes/vmlinux/$(BPF_ARCH)/vmlinux.h.tmp agent/probes/vmlinux/$(BPF_ARCH)/vmlinux.h

$(BUILD)/gen/probes/%.bpf.o: agent/probes/%.bpf.c $(wildcard agent/probes/*.body.h agent/probes/*.bpf.h) \
		agent/probes/probe_maps.h $(VMLINUX_H)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -I$(dir $(VMLINUX_H)) -Iagent/probes \
		-c $< -o $@ && llvm-strip -g $@

$(BUILD)/gen/probes/%.skel.h: $(BUILD)/gen/probes/%.bpf.o
	@$(if $(Q),echo "  SKEL    $@")
	$(Q)bpftool gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

$(PROBE_SRCS:%.c=$(BUILD)/obj/%.o): $(PROBE_SKELS)
.SECONDARY: $(PROBE_NAMES:%=$(BUILD)/gen/probes/%.bpf.o)

$(BUILD)/gen/prometheus/remote.pb-c.c $(BUILD)/gen/prometheus/remote.pb-c.h: proto/prometheus/remote.proto
	@mkdir -p $(BUILD)/gen
	@$(if $(Q),echo "  PROTOC  $<")
	$(Q)protoc-c --c_out=$(BUILD)/gen -Iproto $<

$(BUILD)/obj/gen/log.pb-c.o: $(BUILD)/gen/vigil/v1/log.pb-c.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(filter-out -Werror,$(CFLAGS)) -Wno-unused-parameter -c $< -o $@

$(BUILD)/obj/gen/remote.pb-c.o: $(BUILD)/gen/prometheus/remote.pb-c.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(filter-out -Werror,$(CFLAGS)) -Wno-unused-parameter -c $< -o $@

$(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/agent/cmd/main.o: $(BUILD)/gen/vigil/v1/log.pb-c.h \
	$(BUILD)/gen/prometheus/remote.pb-c.h

ifneq ($(STATIC),)
$(DEPS_DIR)/lib/libmicrohttpd.a: packaging/static-deps.sh
	$(Q)CC=$(CC) sh packaging/static-deps.sh $(DEPS_DIR) $(HOST_TRIPLE)
$(LIB_OBJS) $(BUILD)/obj/agent/cmd/main.o: | $(DEPS_DIR)/lib/libmicrohttpd.a
$(BUILD)/vigil: $(DEPS_DIR)/lib/libmicrohttpd.a
# (an object of its own, not in the archive: it must win over libc.a's gmtime_r)
$(BUILD)/vigil: $(BUILD)/obj/agent/util/static_libc.o
endif

# The log path's hot loop at -O3 (measured: ingest 153 → 164 MB per CPU-second); the rest of
# the binary stays -O2, for its size (the layer's static binary must fit 2 MB).
HOT_SRCS := agent/core/jscan.c agent/core/logparse.c agent/core/logpipe.c \
	    agent/core/segment.c agent/core/segment_read.c agent/core/segment_tail.c agent/util/buf.c \
	    agent/extension/batch.c
$(HOT_SRCS:%.c=$(BUILD)/obj/%.o): CFLAGS += $(if $(filter -O2,$(OPT)),-O3)
# The layer's static binary: everything else for size (-Os: 100 KB less, measured), the log
# path still at -O3.
ifneq ($(STATIC),)
CFLAGS := $(patsubst -O2,-Os,$(CFLAGS))
# …with link-time optimisation (29 KB less) and without unwind tables for vigil's own code
# (.eh_frame). Nothing of vigil's unwinds but pthread_cancel of a sender stuck past its stop
# deadline, which needs none: at the first frame without unwind data glibc jumps straight to
# the thread's start (no cleanup handlers are used).
CFLAGS += -flto=auto -fno-asynchronous-unwind-tables
LINK_STATIC += -flto=auto -fno-asynchronous-unwind-tables
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libvigil.a: $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/vigil: $(BUILD)/obj/agent/cmd/main.o $(BUILD)/libvigil.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) $(LINK_STATIC) -o $@ $(filter-out $(DEPS_DIR)/%,$^) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvigil.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libvigil.a $(LDLIBS) -lcmocka

# Install missing Debian packages (fast when everything is there).
deps:
	$(Q)sh packaging/deps.sh

# The official OTLP .proto files (Debian's opentelemetry-proto, OTLP 1.5.0) compiled by protoc-c
# for the unit test that decodes what vigil's hand-written encoder (exporters/otlp) writes.
# protoc-c 1.4 cannot take proto3's `optional` (metrics.proto's sum, min, max): it is dropped
# from a copy (the same wire format; such a field reads as 0 when absent).
OTLP_PROTO_DIR := /usr/include/opentelemetry/proto
OTLP_PROTOS := common/v1/common resource/v1/resource logs/v1/logs trace/v1/trace \
               metrics/v1/metrics collector/logs/v1/logs_service \
               collector/trace/v1/trace_service collector/metrics/v1/metrics_service
OTLP_GEN_C := $(OTLP_PROTOS:%=$(BUILD)/gen/otlp/opentelemetry/proto/%.pb-c.c)
$(BUILD)/gen/otlp/.stamp: | deps
	@mkdir -p $(BUILD)/gen/otlp-src/opentelemetry $(BUILD)/gen/otlp
	@$(if $(Q),echo "  PROTOC  $(OTLP_PROTO_DIR) (for the unit tests)")
	$(Q)cp -r $(OTLP_PROTO_DIR) $(BUILD)/gen/otlp-src/opentelemetry/ && \
		sed -i 's/^\([[:space:]]*\)optional /\1/' \
			$(BUILD)/gen/otlp-src/opentelemetry/proto/metrics/v1/metrics.proto && \
		for p in $(OTLP_PROTOS); do protoc-c --c_out=$(BUILD)/gen/otlp \
			-I$(BUILD)/gen/otlp-src $(BUILD)/gen/otlp-src/opentelemetry/proto/$$p.proto || exit 1; \
		done && touch $@
$(OTLP_GEN_C): $(BUILD)/gen/otlp/.stamp
$(BUILD)/tests/test_otlp: tests/unit/test_otlp.c $(BUILD)/libvigil.a $(BUILD)/gen/otlp/.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(filter-out -Werror,$(CFLAGS)) -Wno-unused-parameter -I$(BUILD)/gen/otlp $(LDFLAGS) \
		-o $@ $< $(OTLP_GEN_C) $(BUILD)/libvigil.a $(LDLIBS) -lcmocka
$(BUILD)/tests/test_otlp_in: tests/unit/test_otlp_in.c $(BUILD)/libvigil.a $(BUILD)/gen/otlp/.stamp
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(filter-out -Werror,$(CFLAGS)) -Wno-unused-parameter -I$(BUILD)/gen/otlp $(LDFLAGS) \
		-o $@ $< $(OTLP_GEN_C) $(BUILD)/libvigil.a $(LDLIBS) -lcmocka
# Our snappy checked with libsnappy's decoder.
$(BUILD)/tests/test_snappy: tests/unit/test_snappy.c $(BUILD)/libvigil.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libvigil.a $(LDLIBS) -lsnappy -lcmocka

unit: deps $(UNIT_BINS)
	$(Q)set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

$(BUILD)/test_runtime: tests/runtimes/test_runtime.c
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -o $@ $<

# AWS's Node.js runtime interface client, a real Lambda runtime for the tests. Its native
# part builds offline in about two minutes, so it is cached in build/ric across test runs.
RIC := build/ric/node_modules/.bin/aws-lambda-ric
$(RIC):
	@echo "  NPM     aws-lambda-ric@3 (builds its native client: about 2 minutes, once)"
	$(Q)mkdir -p build/ric && cd build/ric && \
		npm install --no-audit --no-fund --loglevel=error aws-lambda-ric@3 >npm.log 2>&1 || \
		{ tail -n 40 npm.log; exit 1; }

# aws-embedded-metrics, the reference EMF producer the EMF test compares with.
EMF_LIB := build/emf/node_modules/aws-embedded-metrics/package.json
$(EMF_LIB):
	@echo "  NPM     aws-embedded-metrics@4"
	$(Q)mkdir -p build/emf && cd build/emf && \
		npm install --no-audit --no-fund --loglevel=error aws-embedded-metrics@4 \
		>npm.log 2>&1 || { tail -n 40 npm.log; exit 1; }

# The libraries a function uses to hand vigil its own telemetry, for the receiver tests (each
# pinned to the version tested; npm does not serve all OpenTelemetry packages at one version).
FNLIBS := build/fnlibs/node_modules/.vigil-ok
FNLIBS_PKGS := @opentelemetry/api@1.9.1 @opentelemetry/api-logs@0.223.1 \
	@opentelemetry/sdk-trace-node@2.12.1 @opentelemetry/sdk-trace-base@2.12.1 \
	@opentelemetry/sdk-logs@0.223.1 @opentelemetry/sdk-metrics@2.12.1 \
	@opentelemetry/resources@2.12.1 @opentelemetry/exporter-trace-otlp-proto@0.223.1 \
	@opentelemetry/exporter-trace-otlp-grpc@0.223.1 \
	@opentelemetry/exporter-logs-otlp-proto@0.223.1 \
	@opentelemetry/exporter-metrics-otlp-proto@0.223.0 \
	@aws-lambda-powertools/metrics@2.36.0 hot-shots@18.0.0 aws-embedded-metrics@4.2.1
$(FNLIBS):
	@echo "  NPM     OpenTelemetry JS SDK, Powertools metrics, hot-shots (the receiver tests)"
	$(Q)mkdir -p build/fnlibs && cd build/fnlibs && \
		npm install --no-audit --no-fund --loglevel=error $(FNLIBS_PKGS) >npm.log 2>&1 || \
		{ tail -n 40 npm.log; exit 1; }
	$(Q)touch $@

# TypeScript and Grafana's own schema types: the dashboards are type-checked against them.
GRAFANA_TSC := build/grafana/node_modules/.bin/tsc
$(GRAFANA_TSC):
	@echo "  NPM     typescript@5 @grafana/schema@13.2.3"
	$(Q)mkdir -p build/grafana && cd build/grafana && \
		npm install --no-audit --no-fund --loglevel=error typescript@5 @grafana/schema@13.2.3 \
		>npm.log 2>&1 || { tail -n 40 npm.log; exit 1; }

$(BUILD)/log_writer: tests/runtimes/log_writer.c $(BUILD)/libvigil.a
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libvigil.a $(LDLIBS)

e2e: deps $(BUILD)/vigil $(BUILD)/vigil-preload.so $(BUILD)/test_runtime $(BUILD)/log_writer $(RIC) $(EMF_LIB) $(FNLIBS) \
		layer deb $(CHROOT_BASE) $(GRAFANA_TSC)
	$(Q)VIGIL=$(abspath $(BUILD)/vigil) RIC=$(abspath $(RIC)) SANITIZED=$(SAN) \
		$(PYTHON) -m pytest -q -p no:cacheprovider tests/e2e

# Checks over the repository's own files (fast; they run first).
checks: check-layers
	$(Q)sh tests/checks/no_mirror_hosts.sh

# Every #include follows the layering (the allowed edges: tests/checks/check_layers.py).
check-layers:
	$(Q)$(PYTHON) tests/checks/check_layers.py

test: checks unit e2e

# The whole suite with AddressSanitizer and UndefinedBehaviorSanitizer.
asan:
	$(Q)$(MAKE) BUILD=build/asan SAN=1 OPT=-O1 unit e2e

$(BUILD)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(GEN_SRCS) $(PROBE_SKELS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $<")
	$(Q)$(CLANG) -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
		-DVIGIL_REVISION='"fuzz"' -I$(BUILD)/gen -o $@ $< $(LIB_SRCS) $(GEN_SRCS) $(LDLIBS)

# A short run of every libFuzzer harness, each from its seed corpus.
fuzz: deps $(FUZZ_BINS)
	$(Q)set -e; for f in $(FUZZ_BINS); do \
		n=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		echo "== $$n ($(FUZZ_SECONDS) s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			$(BUILD)/fuzz/corpus-$$n tests/fuzz/seeds/$$n 2>&1 | tail -n 2; \
	done

$(BUILD)/bench/%: bench/%.c bench/synthetic.c $(BUILD)/libvigil.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -o $@ $< bench/synthetic.c $(BUILD)/libvigil.a $(LDLIBS)

$(BUILD)/bench/proc_loop: bench/proc_loop.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Werror -o $@ $<
$(BUILD)/bench/read_loop: bench/read_loop.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Werror -o $@ $<
$(BUILD)/bench/nop: bench/nop.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -static -o $@ $<
$(BUILD)/bench/start_server: bench/start_server.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Werror -o $@ $<
$(BUILD)/bench/bare_extension: bench/bare_extension.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O2 -Wall -Werror -static -o $@ $<

# Every benchmark, side by side with its peer; prints a Markdown report.
bench: deps $(BUILD)/vigil $(BUILD)/test_runtime $(RIC) $(FNLIBS) $(BUILD)/bench/render_bench $(BUILD)/bench/ingest_bench $(BUILD)/bench/otlp_bench \
		$(BUILD)/bench/bench_server $(BUILD)/bench/proc_loop $(BUILD)/bench/read_loop $(BUILD)/bench/nop \
		$(BUILD)/bench/start_server $(BUILD)/bench/bare_extension layer deb
	$(Q)$(PYTHON) bench/run.py --build $(BUILD) $(if $(ONLY),--only $(ONLY))

# --- packaging -------------------------------------------------------------------------
# make layer: static binaries for x86_64 and arm64 (cross-built) in Lambda layer zips.
LAYER_ZIPS := build/vigil-layer-x86_64.zip build/vigil-layer-arm64.zip
layer: deps $(LAYER_ZIPS)
# (SAN, OPT and EXTRA_CFLAGS are reset: `make asan` must not reach these builds.)
PKG_MAKE   := $(MAKE) SAN= OPT=-O2 EXTRA_CFLAGS=
STATIC_X86 := $(PKG_MAKE) BUILD=build/static-x86_64 STATIC=1
STATIC_ARM := $(PKG_MAKE) BUILD=build/static-arm64 STATIC=1 HOST_TRIPLE=aarch64-linux-gnu \
	CC=aarch64-linux-gnu-gcc AR=aarch64-linux-gnu-ar
build/vigil-layer-x86_64.zip: FORCE
	$(Q)$(STATIC_X86) build/static-x86_64/vigil build/static-x86_64/vigil-preload.so
	$(Q)sh packaging/layer.sh x86_64 build/static-x86_64/vigil strip build
build/vigil-layer-arm64.zip: FORCE
	$(Q)$(STATIC_ARM) build/static-arm64/vigil build/static-arm64/vigil-preload.so
	$(Q)sh packaging/layer.sh arm64 build/static-arm64/vigil aarch64-linux-gnu-strip build

# make deb: build/vigil_VERSION_ARCH.deb from a build with Debian's hardening flags.
DEB_FLAGS := EXTRA_CFLAGS="-fstack-protector-strong -Wformat -Werror=format-security \
	-D_FORTIFY_SOURCE=2 -ffile-prefix-map=$(CURDIR)=." LDFLAGS="-Wl,-z,relro -Wl,-z,now"
deb: deps FORCE
	$(Q)$(PKG_MAKE) BUILD=build/deb-bin $(DEB_FLAGS) build/deb-bin/vigil build/deb-bin/vigil-preload.so
	$(Q)sh packaging/deb.sh build/deb-bin/vigil build

FORCE:

# A minimal Debian root for the packaging tests (debootstrap, once).
$(CHROOT_BASE):
	$(Q)sh packaging/chroot.sh build/chroot/base

# The README's dashboard pictures (docs/img/): the dashboards e2e test's workload, drawn from a
# real Prometheus' answers and photographed by headless Chromium.
dashboard-pngs: deps $(BUILD)/vigil $(BUILD)/test_runtime $(GRAFANA_TSC)
	$(Q)python3 dashboards/gen.py
	$(Q)VIGIL=$(abspath $(BUILD)/vigil) DASHBOARD_PNG_DIR=$(CURDIR)/docs/img $(PYTHON) -m pytest \
		-q -p no:cacheprovider tests/e2e/test_dashboards.py -k promql
	$(Q)rm -f docs/img/*.html

docs: $(BUILD)/vigil
	$(Q)$(BUILD)/vigil config doc > docs/configuration.md

demo: deps $(BUILD)/vigil
	$(Q)sh packaging/demo.sh $(BUILD)/vigil

clean:
	$(Q)rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
