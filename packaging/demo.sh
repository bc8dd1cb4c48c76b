#!/bin/sh
# make demo: vigil host runs the Python greeting function on the embedded defaults; a cold
# start, a warm invoke, an error and a timeout; then where to look.
set -eu
VIGIL=${1:-build/vigil}
DOOR=127.0.0.1:8080
METRICS=127.0.0.1:9464
OUT=$(mktemp)
ERR=$(mktemp)

"$VIGIL" host --function examples/python-greeting --handler lambda_function.lambda_handler \
	--timeout 2 >"$OUT" 2>"$ERR" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$OUT" "$ERR"' EXIT INT TERM
for _ in $(seq 100); do
	curl -fs "http://$METRICS/healthz" >/dev/null 2>&1 && break
	if ! kill -0 $pid 2>/dev/null; then
		cat "$ERR" >&2
		echo "demo: vigil host did not start (are $DOOR and $METRICS free?)" >&2
		exit 1
	fi
	sleep 0.05
done

say() { printf '\n== %s\n' "$*"; }
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
sleep 0.3

say "Lambda's lines on vigil host's stdout (REPORT has Duration, Billed Duration, memory):"
sed 's/^/   /' "$OUT"
say "vigil's metrics: curl $METRICS/metrics | grep vigil_host_"
curl -s "http://$METRICS/metrics" | grep -E '^vigil_host_(invocations|errors|cold_starts)_total' |
	sed 's/^/   /'
printf '\nRun it yourself:\n   build/vigil host --function examples/python-greeting --handler lambda_function.lambda_handler\n'
