#!/usr/bin/env bash
# side-by-side.sh runs gantry's whole-worker throughput (go run ./bench/queue
# -mode e2e: enqueue to runner start through the real jobs.Worker) and the
# asynq anchor (bench/anchor: enqueue to handler start) in alternation on
# the same Redis, and prints each round's two figures, their ratio
# gantry/asynq, and a summary.
#
#	bench/side-by-side.sh [-redis ADDR] [-jobs N] [-rounds N] [-check-interval D]
#
# -check-interval is asynq's TaskCheckInterval, how long its servers sleep
# when they find the queue empty: 5ms (the default here, in asynq's favour)
# or 1s (asynq's own default).
#
# Both sides: N jobs (default 20,000) enqueued by 8 concurrent clients
# while 2 consumers of 64 slots each run them with a handler that does
# nothing; the clock starts at the first enqueue and stops when the last
# job's handler starts. The order alternates from round to round. Both
# programs are built first, so that no round pays for a compile.
set -euo pipefail

redis=127.0.0.1:6379
jobs=20000
rounds=3
check=5ms
while [ $# -gt 0 ]; do
	case $1 in
	-redis) redis=$2; shift 2 ;;
	-jobs) jobs=$2; shift 2 ;;
	-rounds) rounds=$2; shift 2 ;;
	-check-interval) check=$2; shift 2 ;;
	*) echo "usage: $0 [-redis ADDR] [-jobs N] [-rounds N] [-check-interval D]" >&2; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
(cd "$root" && go build -o "$bin/queue" ./bench/queue)
(cd "$root/bench/anchor" && go build -o "$bin/anchor" .)

# rate runs one side and prints its jobs_per_s.
rate() {
	local out
	case $1 in
	gantry) out=$("$bin/queue" -redis "$redis" -mode e2e -jobs "$jobs" -clients 8 -workers 2 -concurrency 64) ;;
	asynq) out=$("$bin/anchor" -redis "$redis" -jobs "$jobs" -clients 8 -servers 2 -concurrency 64 -check-interval "$check") ;;
	esac
	echo "$out" | sed -n 's/^result .*jobs_per_s=\([0-9]*\).*/\1/p'
}

echo "same Redis ($redis), $jobs jobs a side, 8 enqueuers, 2 consumers x 64 slots, asynq TaskCheckInterval $check, $(nproc) CPUs"
printf '%-6s %14s %14s %8s\n' round gantry/s asynq/s ratio
g_all=() a_all=() r_all=()
for i in $(seq 1 "$rounds"); do
	if [ $((i % 2)) -eq 1 ]; then
		g=$(rate gantry); a=$(rate asynq)
	else
		a=$(rate asynq); g=$(rate gantry)
	fi
	r=$(awk -v g="$g" -v a="$a" 'BEGIN { printf "%.2f", g / a }')
	printf '%-6s %14s %14s %8s\n' "$i" "$g" "$a" "$r"
	g_all+=("$g") a_all+=("$a") r_all+=("$r")
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }
echo "median: gantry $(median "${g_all[@]}")/s, asynq $(median "${a_all[@]}")/s, ratio $(median "${r_all[@]}") (rounds: $(range "${r_all[@]}"))"
