#!/usr/bin/env bash
# replica-wake.sh: acks=all produce latency on a 3-node RF=3 cluster for two
# ringtail binaries in the same run (alternating, REPS runs each), and the
# replica fetcher goroutines and inter-broker connections of every node at
# two partition counts. See benchmarks/replica-wake.md.
#
# usage: benchmarks/replica-wake.sh BIN_A BIN_B [more BINs]
# env:   REPS (3), RATE records/s (1000), DUR (8s), SIZE bytes (1024),
#        PARTS (6), MANY (300: the second topic, for the counts),
#        FETCHERS (num.replica.fetchers, default 1), DATA (/var/tmp)
set -euo pipefail
reps=${REPS:-3} rate=${RATE:-1000} dur=${DUR:-8s} size=${SIZE:-1024}
parts=${PARTS:-6} many=${MANY:-300} fetchers=${FETCHERS:-1}
root=$(mktemp -d "${DATA:-/var/tmp}/replica-wake.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "${KEEP:-}" ] || rm -rf "$root"
}
trap cleanup EXIT

base=$((20000 + RANDOM % 10000)) # below the ephemeral port range
kport() { echo $((base + $1 * 10)); }
aport() { echo $((base + $1 * 10 + 2)); }

start_cluster() { # bin dir
	local bin=$1 dir=$2 voters=""
	pids=()
	for i in 1 2 3; do voters+="${voters:+,}$i@127.0.0.1:$((base + i * 10 + 1))"; done
	for i in 1 2 3; do
		mkdir -p "$dir/n$i"
		cat >"$dir/n$i.toml" <<-EOF
			node.id = $i
			process.roles = "broker,controller"
			listeners = "PLAINTEXT://127.0.0.1:$(kport $i),CONTROLLER://127.0.0.1:$((base + i * 10 + 1))"
			advertised.listeners = "PLAINTEXT://127.0.0.1:$(kport $i)"
			controller.listener.names = "CONTROLLER"
			controller.quorum.voters = "$voters"
			cluster.id = "MkU3OEVBNTcwNTJENDM2Qg"
			log.dirs = "$dir/n$i"
			EOF
		if [ "$fetchers" != 1 ]; then echo "num.replica.fetchers = $fetchers" >>"$dir/n$i.toml"; fi
		printf '\n[ringtail]\nadmin_listen = "127.0.0.1:%s"\n' "$(aport $i)" >>"$dir/n$i.toml"
		"$bin" serve --config "$dir/n$i.toml" >"$dir/n$i.log" 2>&1 &
		pids+=($!)
	done
}

boot() { echo "127.0.0.1:$(kport 1),127.0.0.1:$(kport 2),127.0.0.1:$(kport 3)"; }

create_topic() { # bin name partitions
	local t0=$SECONDS
	until "$1" topic create "$2" -p "$3" -r 3 -b "$(boot)" >/dev/null 2>&1; do
		if ((SECONDS - t0 > 60)); then echo "cannot create $2" >&2; return 1; fi
		sleep 0.5
	done
}

# counts prints, per node: replica fetcher goroutines and established
# connections to the other nodes' Kafka listeners.
counts() {
	for i in 1 2 3; do
		local g c=0 all total
		all=$(curl -s "http://127.0.0.1:$(aport $i)/debug/pprof/goroutine?debug=2")
		g=$(awk 'BEGIN{RS=""} /ReplicaFetcher\)\.Run|leaderFetcher\)\.run/{n++} END{print n+0}' <<<"$all")
		total=$(awk 'BEGIN{RS=""} /^goroutine /{n++} END{print n+0}' <<<"$all")
		for j in 1 2 3; do
			[ "$i" = "$j" ] && continue
			c=$((c + $(ss -tnpH state established "( dport = :$(kport $j) )" 2>/dev/null | grep -c "pid=${pids[$((i - 1))]}," || true)))
		done
		printf 'node %d: fetcher goroutines %d, connections to other brokers %d, goroutines in all %d\n' "$i" "$g" "$c" "$total"
	done
}

run=0
for rep in $(seq 1 "$reps"); do
	for bin in "$@"; do
		run=$((run + 1))
		dir="$root/r$run"
		start_cluster "$bin" "$dir"
		create_topic "$bin" lat "$parts"
		# Warm up (leaders elected, fetchers running, sessions open).
		"$bin" bench produce -b "$(boot)" -t lat --acks all --linger 0 --rate "$rate" -s "$size" -d 2s --output json >/dev/null
		res=$("$bin" bench produce -b "$(boot)" -t lat --acks all --linger 0 --rate "$rate" -s "$size" -d "$dur" --output json | tail -1)
		echo "rep $rep $(basename "$bin") produce: $res"
		if [ "$rep" = 1 ]; then
			echo "rep $rep $(basename "$bin") counts with $parts partitions:"
			counts
			create_topic "$bin" many "$many"
			"$bin" bench produce -b "$(boot)" -t many --acks all --linger 0 --rate 2000 -s 100 -d 3s --output json >/dev/null
			echo "rep $rep $(basename "$bin") counts with $((parts + many)) partitions:"
			counts
		fi
		for p in "${pids[@]}"; do kill "$p"; done
		for p in "${pids[@]}"; do wait "$p" || true; done
		pids=()
		rm -rf "$dir"
	done
done
