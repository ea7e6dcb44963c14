#!/usr/bin/env bash
# What a validator-set change costs in latency: four validators (software keys, loopback,
# BLOCK_TIME_MS per block, default 200) and a fifth bank following them; the fifth is added
# by vote, later val-4 is removed by vote. Prints the interval between consecutive blocks
# around each change (a change passed at height P takes effect at P+2) against the median
# interval of the run.
#
#   scripts/bench-validator-change.sh
#
# Ports 7811-7815 (API), 7821-7825 (gateways), 26711-26715 (consensus). Everything lives in
# a temporary folder removed at the end.
source "$(dirname "$0")/lib.sh"
BT="${BLOCK_TIME_MS:-200}"
BIN="$CARGO_TARGET_DIR/debug"
setup
build_workspace
DIR="$(mktemp -d)"
export LEDGER_KEY_PASSPHRASE="bench validator change"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $DIR" >&2 && return 0
    rm -rf "$DIR"
}
trap cleanup EXIT

api() { echo "http://127.0.0.1:781$1"; }
height() { "$BIN/ledger" --node "$(api "$1")" status 2>/dev/null | awk '/^height/ {print $2; exit}' || true; }
block_time() { "$BIN/ledger" --node "$(api 1)" get-block --height "$1" | awk '/^block/ {for (i = 1; i < NF; i++) if ($i == "time") print $(i + 1)}'; }
wait_height() { # node height
    for _ in $(seq 1 600); do
        h="$(height "$1")"
        [ -n "$h" ] && [ "$h" -ge "$2" ] && return 0
        sleep 0.1
    done
    echo "error: node $1 did not reach height $2" >&2
    exit 1
}
gw() { # node: the gateway flags of that node's CLI
    echo --node "$(api "$1")" "$2" --gateway "http://127.0.0.1:782$1" --token-file "$DIR/n$1/gateway-cli.token"
}
committed_height() { sed -n 's/.*committed at height \([0-9]*\).*/\1/p'; }
vote() { # node proposal: retried until the node holds the proposal's block
    for _ in $(seq 1 50); do
        out="$("$BIN/ledger" $(gw "$1" vote) --proposal "$2" --yes 2>&1)" && { echo "$out"; return 0; }
        sleep 0.2
    done
    echo "error: node $1 could not vote on proposal $2: $out" >&2
    exit 1
}

say "four validators and a fifth bank, $BT ms blocks"
for i in 1 2 3 4 5; do
    roles=validator,member
    name="val-$i"
    [ "$i" = 5 ] && roles=member && name=bank-e
    "$BIN/ledger-node" init --development --home "$DIR/n$i" --org "$name" --chain-id change-bench --roles "$roles" \
        --grpc-listen "127.0.0.1:781$i" --gateway-listen "127.0.0.1:782$i" \
        --p2p-listen "/ip4/127.0.0.1/tcp/2671$i" >/dev/null
done
"$BIN/ledger-node" genesis-merge --out "$DIR/genesis.json" "$DIR"/n{1,2,3,4,5} >/dev/null
for i in 1 2 3 4 5; do cp "$DIR/genesis.json" "$DIR/n$i/genesis.json"; done
"$BIN/ledger-node" connect --validator "$DIR/n1" --validator "$DIR/n2" --validator "$DIR/n3" \
    --validator "$DIR/n4" >/dev/null
joining="$("$BIN/ledger-node" connect --validator "$DIR/n1" --validator "$DIR/n2" \
    --validator "$DIR/n3" --validator "$DIR/n4" --joining "$DIR/n5")"
p2p="$(echo "$joining" | awk '{for (i = 1; i < NF; i++) if ($i == "--p2p") print $(i + 1)}')"
for i in 1 2 3 4 5; do
    "$BIN/ledger-node" start --home "$DIR/n$i" --block-time-ms "$BT" >"$DIR/n$i.log" 2>&1 &
    pids+=($!)
done
wait_height 5 20

say "adding bank-e"
"$BIN/ledger" $(gw 1 propose) --add-validator bank-e --p2p "$p2p" --api "$(api 5)" >/dev/null
vote 2 1 >/dev/null
added="$(vote 3 1 | committed_height)"
wait_height 1 $((added + 25))
say "removing val-4"
"$BIN/ledger" $(gw 1 propose) --remove-validator val-4 >/dev/null
vote 2 2 >/dev/null
vote 3 2 >/dev/null
removed="$(vote 5 2 | committed_height)"
wait_height 1 $((removed + 25))

first=$((added - 15))
last=$((removed + 25))
declare -A t
for h in $(seq "$first" "$last"); do t[$h]="$(block_time "$h")"; done
intervals=()
for h in $(seq $((first + 1)) "$last"); do intervals+=($((t[$h] - t[$((h - 1))]))); done
median="$(printf '%s\n' "${intervals[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')"
echo "median interval over heights $first..$last: $median ms"
for change in "add bank-e:$added" "remove val-4:$removed"; do
    name="${change%%:*}"
    p="${change##*:}"
    row=""
    for h in $((p - 1)) "$p" $((p + 1)) $((p + 2)) $((p + 3)) $((p + 4)); do
        row+="  $h:$((t[$h] - t[$((h - 1))]))"
    done
    echo "$name passed at $p, in force from $((p + 2)); intervals ms:$row"
done
