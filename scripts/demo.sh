#!/usr/bin/env bash
# The main job: builds the node, initialises a node home, starts the node, puts a record
# and a new version of it through the CLI, reads them back, follows blocks, restarts the
# node to show everything persisted, and stops it cleanly.
#
#   scripts/demo.sh                 run the scenario and stop
#   scripts/demo.sh --keep-running  leave the node running in the foreground afterwards
source "$(dirname "$0")/lib.sh"
KEEP=0
[ "${1:-}" = "--keep-running" ] && KEEP=1
setup
build_workspace
BIN="$CARGO_TARGET_DIR/debug"
DEMO="$ROOT/.ledger-demo"
HOME_DIR="$DEMO/bank-a"
PORT="${LEDGER_DEMO_PORT:-7100}"
export LEDGER_NODE="http://127.0.0.1:$PORT"
# The demo node keeps its keys in a private SoftHSM2 token made by hsm/softhsm-token.sh
# (its own configuration under .ledger-demo/, never the system one). The PINs come from
# the environment; these defaults are for the demo only.
export HSM_SO_PIN="${HSM_SO_PIN:-demo-so-pin}"
export LEDGER_HSM_PIN="${LEDGER_HSM_PIN:-demo-user-pin}"
rm -rf "$DEMO"
mkdir -p "$DEMO"

NODE_PID=""
stop_node() {
    if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
        kill -TERM "$NODE_PID"
        wait "$NODE_PID" || true
    fi
    NODE_PID=""
}
trap stop_node EXIT

start_node() {
    "$BIN/ledger-node" start --home "$HOME_DIR" >>"$DEMO/node.log" 2>&1 &
    NODE_PID=$!
    for _ in $(seq 1 200); do
        "$BIN/ledger" status >/dev/null 2>&1 && return 0
        kill -0 "$NODE_PID" 2>/dev/null || { cat "$DEMO/node.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "error: the node did not answer; log follows" >&2
    cat "$DEMO/node.log" >&2
    exit 1
}

say "creating a SoftHSM token for bank-a"
eval "$(HSM_USER_PIN="$LEDGER_HSM_PIN" "$ROOT/hsm/softhsm-token.sh" "$DEMO/softhsm" bank-a-token)"

say "initialising a node home for bank-a in $HOME_DIR, keys generated inside the token"
"$BIN/ledger-node" init --home "$HOME_DIR" --org bank-a --chain-id demo-ledger-1 --grpc-listen "127.0.0.1:$PORT" \
    --key-backend pkcs11 --pkcs11-token bank-a-token
"$BIN/ledger-node" keys --home "$HOME_DIR"

say "starting the node (log: $DEMO/node.log)"
start_node
"$BIN/ledger" status

say "registering the invoice schema (typed fields; field encryption against it comes next)"
"$BIN/ledger" register-schema --home "$HOME_DIR" --schema invoice \
    --field seller:identifier:required --field buyer:identifier:required \
    --field 'total:amount:required' --field 'currency:enum=EUR|USD:required'
"$BIN/ledger" get-schema --schema invoice

say "putting invoice INV-2026-001 (field blobs are opaque to the ledger; field encryption comes next)"
"$BIN/ledger" put-record --home "$HOME_DIR" --record INV-2026-001 \
    --field seller=acme-exports --field buyer=globex-imports --field total=125000.00 --field currency=EUR
say "putting version 2 of the invoice"
"$BIN/ledger" put-record --home "$HOME_DIR" --record INV-2026-001 \
    --field seller=acme-exports --field buyer=globex-imports --field total=118500.00 --field currency=EUR

say "reading the invoice back (latest, then version 1)"
"$BIN/ledger" get-record --record INV-2026-001
"$BIN/ledger" get-record --record INV-2026-001 --version 1

say "following the next 3 blocks"
"$BIN/ledger" follow --count 3

say "restarting the node: it re-checks the hash chain and state root, then serves the same data"
stop_node
start_node
grep -h "stored chain verified" "$DEMO/node.log" | tail -1 || true
"$BIN/ledger" get-record --record INV-2026-001
"$BIN/ledger" status

if [ "$KEEP" = 1 ]; then
    say "the node keeps running at $LEDGER_NODE; press Ctrl-C to stop it"
    wait "$NODE_PID" || true
else
    stop_node
    say "done. Run it yourself:"
    echo "  export SOFTHSM2_CONF=$SOFTHSM2_CONF LEDGER_HSM_PIN=...   # the token and its PIN"
    echo "  $BIN/ledger-node start --home $HOME_DIR"
    echo "  $BIN/ledger --node $LEDGER_NODE status"
fi
