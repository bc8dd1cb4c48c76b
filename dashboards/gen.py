#!/usr/bin/env python3
"""The Grafana dashboards of dashboards/, written by this script (`python3 dashboards/gen.py`;
`--check` fails when a committed file differs from what it writes). One place for the panels'
conventions: a title, a description and a unit on every panel; datasources as template
variables (${DS_PROMETHEUS}, ${DS_CLOUDWATCH}) so a dashboard imports without edits."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RATE = "$__rate_interval"
PROM = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
CW = {"type": "cloudwatch", "uid": "${DS_CLOUDWATCH}"}


class Board:
    def __init__(self, uid, title, description, tags, variables=(), cloudwatch=False):
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.variables, self.cloudwatch = list(variables), cloudwatch
        self.panels, self.x, self.y, self.row_h = [], 0, 0, 0

    def panel(self, title, description, unit, targets, kind="timeseries", w=12, h=8,
              extra=None):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        ds = CW if self.cloudwatch else PROM
        p = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": ds,
            "gridPos": {"x": self.x, "y": self.y, "w": w, "h": h},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": [],
        }
        for i, t in enumerate(targets):
            ref = chr(ord("A") + i)
            if self.cloudwatch:
                p["targets"].append(dict(t, refId=ref, datasource=ds))
            else:
                expr, legend = t
                p["targets"].append({"refId": ref, "datasource": ds, "expr": expr,
                                     "legendFormat": legend, "range": True})
        if kind == "heatmap":
            p["options"] = {"calculate": False, "yAxis": {"unit": unit}}
            for t in p["targets"]:
                t["format"] = "heatmap"
        if extra:
            p.update(extra)
        self.panels.append(p)
        self.x += w
        self.row_h = max(self.row_h, h)

    def json(self):
        inputs = [{"name": "DS_CLOUDWATCH" if self.cloudwatch else "DS_PROMETHEUS",
                   "label": "CloudWatch" if self.cloudwatch else "Prometheus",
                   "type": "datasource",
                   "pluginId": "cloudwatch" if self.cloudwatch else "prometheus",
                   "pluginName": "CloudWatch" if self.cloudwatch else "Prometheus",
                   "description": ""}]
        ds_var = {"name": "DS_CLOUDWATCH" if self.cloudwatch else "DS_PROMETHEUS",
                  "label": "Data source", "type": "datasource",
                  "query": "cloudwatch" if self.cloudwatch else "prometheus",
                  "hide": 0, "refresh": 1, "options": []}
        return {
            "__inputs": inputs,
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["vigil"] + self.tags,
            "editable": True,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "timezone": "browser",
            "templating": {"list": [ds_var] + self.variables},
            "annotations": {"list": []},
            "links": [],
            "panels": self.panels,
        }


def variable(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": PROM,
            "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "refresh": 2, "includeAll": multi, "multi": multi,
            "options": [], "hide": 0, "sort": 1}


def function_variable(multi=True):
    """$function: every function vigil has counted an invocation of."""
    return variable("function", "Function", "label_values(vigil_invocations_total, function)",
                    multi)


def q(p, metric, by="function"):
    """histogram_quantile of a vigil histogram, by function."""
    return (f"histogram_quantile({p}, sum by (le, {by}) "
            f"(rate({metric}_bucket{{function=~\"$function\"}}[{RATE}])))")


FN = '{function=~"$function"}'
FNV = '{function=~"$function", version=~"$version"}'


def overview():
    b = Board("vigil-overview", "vigil — overview",
              "Every function vigil watches: traffic, errors, latency, cold starts, memory "
              "and cost.", ["overview"],
              [function_variable()])
    b.panel("Invocations", "Invocations per second, by function.", "reqps",
            [(f"sum by (function) (rate(vigil_invocations_total{FN}[{RATE}]))", "{{function}}")])
    b.panel("Errors by type", "Failed invocations per second, by function and error type "
            "(Lambda's, or the function's own).", "reqps",
            [(f"sum by (function, error_type) (rate(vigil_errors_total{FN}[{RATE}]))",
              "{{function}} {{error_type}}")])
    b.panel("Error rate", "Share of invocations that did not succeed.", "percentunit",
            [(f"sum by (function) (rate(vigil_invocations_total{{function=~\"$function\", "
              f"status!=\"success\"}}[{RATE}])) / sum by (function) "
              f"(rate(vigil_invocations_total{FN}[{RATE}]))", "{{function}}")], w=8)
    b.panel("Timeouts", "Invocations that ran out of time, in the interval.", "short",
            [(f"sum by (function) (increase(vigil_timeouts_total{FN}[{RATE}]))",
              "{{function}}")], w=8)
    b.panel("Out of memory", "Invocations that ran out of memory (Runtime.OutOfMemory, max "
            "used reaching the size, or the runtime's own line), in the interval.", "short",
            [(f"sum by (function) (increase(vigil_out_of_memory_total{FN}[{RATE}]))",
              "{{function}}")], w=8)
    b.panel("Duration p50 / p95 / p99", "Invocation duration as Lambda reports it.", "s",
            [(q(0.5, "vigil_invocation_duration_seconds"), "p50 {{function}}"),
             (q(0.95, "vigil_invocation_duration_seconds"), "p95 {{function}}"),
             (q(0.99, "vigil_invocation_duration_seconds"), "p99 {{function}}")])
    b.panel("Cold-start rate", "Share of invocations that started an environment.",
            "percentunit",
            [(f"sum by (function) (rate(vigil_cold_starts_total{FN}[{RATE}])) / "
              f"sum by (function) (rate(vigil_invocations_total{FN}[{RATE}]))",
              "{{function}}")])
    b.panel("Init duration p95", "Init duration of cold starts, 95th percentile.", "s",
            [(q(0.95, "vigil_init_duration_seconds"), "{{function}}")], w=8)
    b.panel("Memory utilization p95", "Max memory used over the memory size.", "percentunit",
            [(q(0.95, "vigil_memory_utilization_ratio"), "{{function}}")], w=8)
    b.panel("Estimated cost per hour", "Billed GB-seconds and requests at the configured "
            "prices (price_* settings), as USD per hour at the current rate.", "currencyUSD",
            [(f"sum by (function) (rate(vigil_estimated_cost_usd_total{FN}[{RATE}])) * 3600",
              "{{function}}")], w=8)
    return b


def function():
    b = Board("vigil-function", "vigil — function",
              "One function: what it is billed against what it runs, its extensions' "
              "share, latency, CPU, network and logs.", ["function"],
              [function_variable(multi=False),
               variable("version", "Version",
                        'label_values(vigil_invocations_total{function="$function"}, version)')])
    b.panel("Billed vs actual duration (p95)", "Lambda bills whole milliseconds, and on cold "
            "starts the init too: the gap is paid and not used.", "s",
            [(q(0.95, "vigil_billed_duration_seconds"), "billed"),
             (q(0.95, "vigil_invocation_duration_seconds"), "actual")])
    b.panel("Post-runtime time (p95)", "Time the extensions kept the invocation open after "
            "the runtime answered (part of the billed duration).", "s",
            [(q(0.95, "vigil_post_runtime_duration_seconds"), "p95")])
    b.panel("Response latency (p50, p95)", "Invoke to the runtime's first response byte.",
            "s", [(q(0.5, "vigil_response_latency_seconds"), "p50"),
                  (q(0.95, "vigil_response_latency_seconds"), "p95")], w=8)
    b.panel("CPU", "CPU time of the function's processes per second, by mode.", "percentunit",
            [(f"sum by (mode) (rate(vigil_cpu_seconds_total{FNV}[{RATE}]))", "{{mode}}")],
            w=8)
    b.panel("Network", "Bytes per second through the environment's interfaces (not lo).",
            "Bps", [(f"sum by (direction) (rate(vigil_network_bytes_total{FNV}[{RATE}]))",
                     "{{direction}}")], w=8)
    b.panel("Log volume by level", "Log records of the function per second, by level.",
            "short", [(f"sum by (level) (rate(vigil_log_records_total{FNV}[{RATE}]))",
                       "{{level}}")])
    b.panel("Dropped log lines", "Lines the log pipeline dropped (queue full) or cut (over "
            "256 KiB), per second.", "short",
            [(f"sum by (reason) (rate(vigil_logs_dropped_total[{RATE}]))", "{{reason}}")])
    return b


# Cold starts seen by the instances that run the probes (vigil host): the per-cold-start
# panels divide by these, so that an extension scraped beside its host is not counted twice.
PROBED_COLD = (f"sum by (function) (increase(vigil_cold_starts_total{FN}[{RATE}]) "
               f"and on (instance) vigil_process_cpu_seconds_total)")


def cold_starts():
    b = Board("vigil-cold-starts", "vigil — cold starts",
              "When environments start, how long init takes, who takes it, and what the "
              "processes do meanwhile (eBPF probes, self-hosted).", ["cold-starts"],
              [function_variable()])
    b.panel("Cold starts", "Invocations that started an environment, in the interval.", "short",
            [(f"sum by (function) (increase(vigil_cold_starts_total{FN}[{RATE}]))",
              "{{function}}")])
    b.panel("Init duration", "Distribution of init durations over time.", "s",
            [(f"sum by (le) (increase(vigil_init_duration_seconds_bucket{FN}[{RATE}]))",
              "{{le}}")], kind="heatmap")
    b.panel("Init split: runtime vs extensions (p95)", "vigil host: the environment's whole "
            "init against each extension's own (exec to its first event/next).", "s",
            [(q(0.95, "vigil_init_duration_seconds"), "environment"),
             (q(0.95, "vigil_host_extension_init_duration_seconds", "function, extension"),
              "extension {{extension}}")])
    b.panel("Files opened during init", "Files the function's processes opened during init "
            "(probes), per cold start.", "short",
            [(f"sum by (function) (increase(vigil_init_files_opened_total{FN}[{RATE}])) / "
              + PROBED_COLD, "{{function}}")], w=8)
    b.panel("Bytes read during init", "Bytes the function's processes read during init "
            "(probes), per cold start.", "bytes",
            [(f"sum by (function) (increase(vigil_init_read_bytes_total{FN}[{RATE}])) / "
              + PROBED_COLD, "{{function}}")], w=8)
    b.panel("CPU during init", "On-CPU time of the function's processes during init "
            "(probes), per cold start.", "s",
            [(f"sum by (function) (increase(vigil_process_cpu_seconds_total{{function=~"
              f"\"$function\", phase=\"init\"}}[{RATE}])) / " + PROBED_COLD, "{{function}}")],
            w=8)
    return b


def agent():
    b = Board("vigil-agent", "vigil — agent health",
              "vigil itself: memory, CPU, its exporters' latency, queues and what it "
              "dropped.", ["agent"])
    b.panel("Resident memory", "vigil's own RSS.", "bytes",
            [("vigil_agent_resident_memory_bytes", "{{instance}}")], w=8)
    b.panel("CPU", "vigil's own CPU time per second.", "percentunit",
            [(f"sum by (instance) (rate(vigil_agent_cpu_seconds_total[{RATE}]))",
              "{{instance}}")], w=8)
    b.panel("Scrape latency (p99)", "Time to render /metrics for a scrape.", "s",
            [(f"histogram_quantile(0.99, sum by (le, instance) "
              f"(rate(vigil_exporter_scrape_duration_seconds_bucket[{RATE}])))",
              "{{instance}}")], w=8)
    b.panel("Push latency (p99)", "remote_write: time of each POST.", "s",
            [(f"histogram_quantile(0.99, sum by (le, job) "
              f"(rate(vigil_remote_write_duration_seconds_bucket[{RATE}])))", "{{job}}")],
            w=8)
    b.panel("Push queue", "remote_write pushes asked for and not yet taken.", "short",
            [("vigil_remote_write_queue", "{{job}}")], w=8)
    b.panel("Pushes by result", "remote_write pushes per second: sent, retried, rejected, "
            "failed, dropped.", "reqps",
            [(f"sum by (result) (rate(vigil_remote_write_requests_total[{RATE}]))",
              "{{result}}")], w=8)
    b.panel("Dropped series", "Series refused by the cardinality cap, per second (0 while "
            "nothing was refused: the counter appears with the first refusal).", "short",
            [(f"sum by (metric) (rate(vigil_metric_series_refused_total[{RATE}])) "
              "or vector(0)", "{{metric}}")], w=8)
    b.panel("Dropped log records", "Log lines dropped or cut, per second.", "short",
            [(f"sum by (reason) (rate(vigil_logs_dropped_total[{RATE}]))", "{{reason}}")],
            w=8)
    b.panel("Lost probe events", "Probe events dropped because the ring buffer was full, "
            "per second.", "short",
            [(f"sum (rate(vigil_probe_events_lost_total[{RATE}]))", "lost")], w=8)
    return b


def cloudwatch():
    ns = "vigil"

    def cw(metric, stat, label):
        return {"namespace": ns, "metricName": metric, "statistic": stat,
                "dimensions": {"function_name": "$function"}, "region": "default",
                "matchExact": False, "metricQueryType": 0, "metricEditorMode": 0,
                "queryMode": "Metrics", "id": "", "expression": "", "period": "",
                "label": label}
    b = Board("vigil-overview-cloudwatch", "vigil — overview (CloudWatch)",
              "The overview from vigil's EMF metrics in CloudWatch, for functions that only "
              "emit EMF (namespace vigil, dimension function_name).", ["overview",
                                                                      "cloudwatch"],
              [{"name": "function", "label": "Function", "type": "custom",
                "query": "*", "options": [], "hide": 0}], cloudwatch=True)
    b.panel("Invocations", "Invocations per period.", "short",
            [cw("Invocations", "Sum", "invocations")])
    b.panel("Errors", "Failed invocations per period.", "short",
            [cw("Errors", "Sum", "errors")])
    b.panel("Duration p50 / p99", "Invocation duration.", "ms",
            [cw("Duration", "p50", "p50"), cw("Duration", "p99", "p99")], w=8)
    b.panel("Cold starts", "Invocations that started an environment.", "short",
            [cw("ColdStart", "Sum", "cold starts")], w=8)
    b.panel("Init duration p95", "Init duration of cold starts.", "ms",
            [cw("InitDuration", "p95", "p95")], w=8)
    b.panel("Timeouts and out of memory", "Invocations that timed out or ran out of memory.",
            "short", [cw("Timeouts", "Sum", "timeouts"), cw("OutOfMemory", "Sum", "OOM")],
            w=12)
    b.panel("Memory utilization (max)", "Max memory used over the memory size.", "percent",
            [cw("MemoryUtilization", "Maximum", "max")], w=12)
    return b


BOARDS = {"vigil-overview.json": overview, "vigil-function.json": function,
          "vigil-cold-starts.json": cold_starts, "vigil-agent.json": agent,
          "vigil-overview-cloudwatch.json": cloudwatch}


def render():
    return {name: json.dumps(make().json(), indent=2) + "\n" for name, make in BOARDS.items()}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, text in render().items():
        path = os.path.join(HERE, name)
        if check:
            try:
                with open(path) as f:
                    if f.read() != text:
                        stale.append(name)
            except OSError:
                stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        print("stale dashboards (run python3 dashboards/gen.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
