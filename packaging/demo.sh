#!/bin/sh
# make demo: run `vigil serve` on the embedded defaults, scrape it, check it with promtool.
set -eu
VIGIL=${1:-build/vigil}
LISTEN=127.0.0.1:9464
LOG=$(mktemp)

"$VIGIL" serve 2>"$LOG" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$LOG"' EXIT INT TERM
for _ in $(seq 100); do
	curl -fs "http://$LISTEN/healthz" >/dev/null 2>&1 && break
	if ! kill -0 $pid 2>/dev/null; then
		cat "$LOG" >&2
		echo "demo: vigil did not start (is $LISTEN taken? set VIGIL_METRICS_LISTEN)" >&2
		exit 1
	fi
	sleep 0.05
done

echo "== vigil serve is running (pid $pid); its log:"
sed 's/^/   /' "$LOG"
echo
echo "== curl http://$LISTEN/metrics (first lines):"
curl -fs "http://$LISTEN/metrics" | head -n 12 | sed 's/^/   /'
echo
printf '== promtool check metrics: '
if curl -fs "http://$LISTEN/metrics" | promtool check metrics; then echo clean; fi
echo
echo "== OpenMetrics, as Prometheus asks for it:"
curl -fs -H 'Accept: application/openmetrics-text;version=1.0.0' "http://$LISTEN/metrics" |
	grep -E '^# (TYPE|UNIT) vigil_agent_cpu|^vigil_agent_cpu|^# EOF' | sed 's/^/   /'
echo
echo "Run it yourself: build/vigil serve   (settings: build/vigil config print)"
