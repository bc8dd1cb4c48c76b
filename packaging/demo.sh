#!/bin/sh
# make demo: vigil host runs the Python greeting function on the embedded defaults, with vigil
# itself as its extension; a cold start, a warm invoke, an error and a timeout; then where
# to look: Lambda's lines, vigil's summary and EMF lines, and both metrics endpoints.
set -eu
VIGIL=${1:-build/vigil}
DOOR=127.0.0.1:8080
METRICS=127.0.0.1:9464
EXT_METRICS=127.0.0.1:9465
OUT=$(mktemp)
ERR=$(mktemp)
EXT_DIR=build/demo/extensions
LOGS=build/demo/logs
rm -rf "$LOGS"
mkdir -p "$EXT_DIR"
ln -sf "$(realpath "$VIGIL")" "$EXT_DIR/vigil"

# vigil host keeps the log segments here (the extension's own copy is off: one is enough).
# --freeze no: the demo reads the extension's own /metrics between invocations, which a
# frozen environment (Lambda's way, and vigil host's default) answers only at the next one.
VIGIL_LOG_DIR=$LOGS "$VIGIL" host --function examples/python-greeting \
	--handler lambda_function.lambda_handler --timeout 2 --extensions "$EXT_DIR" --freeze no \
	--env VIGIL_TELEMETRY_LISTEN=127.0.0.1:0 --env VIGIL_METRICS_LISTEN=$EXT_METRICS \
	--env VIGIL_REPORT_LINES=1 --env VIGIL_LOGS_ENABLED=false >"$OUT" 2>"$ERR" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$OUT" "$ERR"' EXIT INT TERM
for _ in $(seq 100); do
	curl -fs "http://$METRICS/healthz" >/dev/null 2>&1 && break
	if ! kill -0 $pid 2>/dev/null; then
		cat "$ERR" >&2
		echo "demo: vigil host did not start (are $DOOR, $METRICS and $EXT_METRICS free?)" >&2
		exit 1
	fi
	sleep 0.05
done

say() { printf '\n== %s\n' "$*"; }
indent() { cut -c1-220 | sed 's/^/   /'; }
say "cold start:  curl '$DOOR/?name=Bob'"
curl -s "http://$DOOR/?name=Bob"; echo
say "warm:        curl -d '{\"name\":\"Ada\"}' $DOOR/2015-03-31/functions/function/invocations"
curl -s -d '{"name":"Ada"}' "http://$DOOR/2015-03-31/functions/function/invocations"; echo
say "an error:    curl '$DOOR/?name=error'"
curl -s -w '  (HTTP %{http_code})' "http://$DOOR/?name=error"; echo
say "a timeout:   curl '$DOOR/?name=Slow&sleep=5'   (the timeout is 2 s)"
curl -s -w '  (HTTP %{http_code})' "http://$DOOR/?name=Slow&sleep=5"; echo
say "after the timeout, a new environment (another cold start)"
curl -s "http://$DOOR/?name=again"; echo
sleep 0.5

say "Lambda's lines on vigil host's stdout (REPORT: Duration, Billed Duration, memory):"
grep -E '^(INIT_START|START|END|REPORT|EXTENSION|TELEMETRY|INIT_REPORT)|Task timed out' "$OUT" | indent
say "vigil host's eBPF probes: what the function's processes did (PROBES lines; root only)"
if grep -q '^PROBES' "$OUT"; then
	grep -E '^PROBES' "$OUT" | indent
else
	grep -m1 'probes: off' "$ERR" | indent
fi
say "vigil as the extension: one summary line per invocation (VIGIL_REPORT_LINES=1)"
grep '^VIGIL_REPORT' "$OUT" | indent
say "vigil as the extension: CloudWatch EMF documents on stdout ($(grep -c '^{"_aws"' "$OUT") so far; the first:)"
grep -m1 '^{"_aws"' "$OUT" | indent
say "vigil host's metrics: curl $METRICS/metrics | grep -E '^vigil_(invocations|errors|cold_starts)_total'"
curl -s "http://$METRICS/metrics" | grep -E '^vigil_(invocations|errors|cold_starts)_total' | indent
say "the extension's metrics: curl $EXT_METRICS/metrics | grep -E '^vigil_(invocations|errors)_total'"
curl -s -m 5 "http://$EXT_METRICS/metrics" | grep -E '^vigil_(invocations|errors)_total' | indent
sleep 1.2
say "the failed request's whole story from the log segments: vigil logs --dir $LOGS --request-id ID cat"
FAILED_ID=$(grep -m1 'Error Type: ValueError' "$OUT" | sed 's/.*RequestId: \([^\t]*\).*/\1/')
"$VIGIL" logs --dir "$LOGS" --request-id "$FAILED_ID" cat | indent
say "vigil logs --dir $LOGS stats"
"$VIGIL" logs --dir "$LOGS" stats | indent
printf '\nRun it yourself:\n   build/vigil host --function examples/python-greeting --handler lambda_function.lambda_handler\n'
