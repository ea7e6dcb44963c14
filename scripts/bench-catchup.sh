#!/usr/bin/env bash
# How fast a joining node catches up: a single validator makes N empty blocks (one every
# millisecond), then makes no more; a new node holding only the genesis follows it and
# verifies every block (height, parent, re-execution, state root, commit signature) as a
# joining bank's node does. Prints the blocks per minute of the catch-up and the progress
# lines the follower logged on the way.
#
#   scripts/bench-catchup.sh [N]      N empty blocks (default 20000)
#
# Software keys on loopback ports 7791/7792 (gateways 7891/7892); everything lives in a
# temporary folder removed at the end.
source "$(dirname "$0")/lib.sh"
N="${1:-20000}"
BIN="$CARGO_TARGET_DIR/debug"
setup
build_workspace
DIR="$(mktemp -d)"
export LEDGER_KEY_PASSPHRASE="bench catch-up passphrase"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

height() { "$BIN/ledger" --node "$1" status 2>/dev/null | awk '/^height/ {print $2; exit}'; }
wait_up() {
    for _ in $(seq 1 600); do
        [ -n "$(height "$1")" ] && return 0
        sleep 0.1
    done
    echo "error: no node at $1; log:" >&2
    tail -20 "$2" >&2
    exit 1
}

say "a validator making $N empty blocks, and a member bank's new node"
"$BIN/ledger-node" init --development --home "$DIR/val" --org val-1 --chain-id catch-up-bench \
    --roles validator,member --grpc-listen 127.0.0.1:7791 --gateway-listen 127.0.0.1:7891 >/dev/null
"$BIN/ledger-node" init --development --home "$DIR/new" --org bank-n --chain-id catch-up-bench \
    --roles member --grpc-listen 127.0.0.1:7792 --gateway-listen 127.0.0.1:7892 >/dev/null
"$BIN/ledger-node" genesis-merge --out "$DIR/genesis.json" "$DIR/val" "$DIR/new" >/dev/null
cp "$DIR/genesis.json" "$DIR/val/genesis.json"
cp "$DIR/genesis.json" "$DIR/new/genesis.json"
"$BIN/ledger-node" start --home "$DIR/val" --block-interval-ms 1 >"$DIR/val.log" 2>&1 &
pids+=($!)
wait_up http://127.0.0.1:7791 "$DIR/val.log"
while [ "$(height http://127.0.0.1:7791)" -lt "$N" ]; do sleep 1; done
kill "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
# The same chain, served without new blocks while the new node catches up.
"$BIN/ledger-node" start --home "$DIR/val" --block-interval-ms 0 >>"$DIR/val.log" 2>&1 &
pids+=($!)
wait_up http://127.0.0.1:7791 "$DIR/val.log"
tip="$(height http://127.0.0.1:7791)"

say "bank-n's node catching up from genesis to height $tip"
start_ns=$(date +%s%N)
"$BIN/ledger-node" start --home "$DIR/new" --upstream http://127.0.0.1:7791 >"$DIR/new.log" 2>&1 &
pids+=($!)
wait_up http://127.0.0.1:7792 "$DIR/new.log"
while [ "$(height http://127.0.0.1:7792)" -lt "$tip" ]; do sleep 0.2; done
end_ns=$(date +%s%N)
secs=$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
per_min=$(awk -v n="$tip" -v s="$secs" 'BEGIN { printf "%d", n * 60 / s }')
grep -h "catching up with the upstream node\|caught up with the upstream node" "$DIR/new.log" |
    sed 's/\x1b\[[0-9;]*m//g' | cut -c1-200 | tail -5
echo "caught up $tip empty blocks in $secs s (process start included): $per_min blocks/min"
