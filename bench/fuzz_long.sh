#!/bin/sh
# The long run of every libFuzzer harness (ASan + UBSan): RUNS executions each (default ten
# million), one after another, from the seed corpus and the corpus `make fuzz` keeps. Prints a
# line per harness: executions, seconds, executions per second, and the result.
#   make build/fuzz/fuzz_http … (or make fuzz FUZZ_SECONDS=1), then
#   bench/fuzz_long.sh [RUNS [HARNESS...]]     (default: every harness built)
set -u
RUNS=${1:-10000000}
[ $# -gt 0 ] && shift
B=${BUILD:-build}
if [ $# -eq 0 ]; then set -- $(cd "$B/fuzz" && ls -d fuzz_* | grep -v corpus); fi
for n in "$@"; do
	f="$B/fuzz/$n"
	[ -x "$f" ] || continue
	mkdir -p "$B/fuzz/corpus-$n"
	start=$(date +%s)
	out=$("$f" -runs="$RUNS" -print_final_stats=1 -rss_limit_mb=4096 \
		"$B/fuzz/corpus-$n" "tests/fuzz/seeds/$n" 2>&1)
	rc=$?
	secs=$(( $(date +%s) - start ))
	execs=$(printf '%s\n' "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
	rate=$(printf '%s\n' "$out" | sed -n 's/^stat::average_exec_per_sec: *//p')
	if [ "$rc" -eq 0 ]; then result=clean; else
		result="FAILED: $(printf '%s\n' "$out" | grep -m1 -E 'ERROR|runtime error|SUMMARY')"; fi
	printf '%-20s %12s execs %6s s %8s/s  %s\n' "$n" "${execs:-?}" "$secs" "${rate:-?}" "$result"
done
