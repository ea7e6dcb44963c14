#!/usr/bin/env bash
# The main job: a local network of three banks and a regulator, each node with its keys in
# its own SoftHSM token. bank-a validates and produces blocks; bank-b, bank-c and the
# regulator reg-eu follow it and verify every block. bank-a registers an invoice schema
# audited by reg-eu, puts an invoice whose fields are encrypted one by one, grants two
# fields to bank-b (the financing bank), and then everyone reads it through its own node:
# bank-a reads all, bank-b what it was granted, bank-c nothing, reg-eu everything its
# audit policy covers (logged in its audit log). bank-a then revokes bank-b's access to
# the total, and every node restarts and serves the same answers.
#
#   scripts/demo.sh                 run the scenario and stop
#   scripts/demo.sh --keep-running  leave the network running afterwards (Ctrl-C stops it)
source "$(dirname "$0")/lib.sh"
KEEP=0
[ "${1:-}" = "--keep-running" ] && KEEP=1
setup
build_workspace
BIN="$CARGO_TARGET_DIR/debug"
DEMO="$ROOT/.ledger-demo"
BASE="${LEDGER_DEMO_PORT:-7100}"
ORGS=(bank-a bank-b bank-c reg-eu)
declare -A ROLES=([bank-a]=validator,member [bank-b]=member [bank-c]=member [reg-eu]=regulator)
declare -A PIDS=()
# PINs come from the environment; these defaults are for the demo only.
export HSM_SO_PIN="${HSM_SO_PIN:-demo-so-pin}"
export LEDGER_HSM_PIN="${LEDGER_HSM_PIN:-demo-user-pin}"
rm -rf "$DEMO"
mkdir -p "$DEMO"

port() { echo $((BASE + $1)); }        # public API of the node with index $1
gw_port() { echo $((BASE + 100 + $1)); } # its gateway
home() { echo "$DEMO/$1"; }
conf() { echo "$DEMO/softhsm/$1/softhsm2.conf"; }
as() { # as ORG ledger ARGS...: run the CLI against ORG's node and gateway
    local org="$1" i
    shift
    for i in "${!ORGS[@]}"; do [ "${ORGS[$i]}" = "$org" ] && break; done
    "$BIN/ledger" --node "http://127.0.0.1:$(port "$i")" "$@"
}

stop_all() {
    local org
    for org in "${!PIDS[@]}"; do
        kill -TERM "${PIDS[$org]}" 2>/dev/null || true
    done
    for org in "${!PIDS[@]}"; do
        wait "${PIDS[$org]}" 2>/dev/null || true
    done
    PIDS=()
}
trap stop_all EXIT

start_all() {
    local i org
    for i in "${!ORGS[@]}"; do
        org="${ORGS[$i]}"
        SOFTHSM2_CONF="$(conf "$org")" "$BIN/ledger-node" start --home "$(home "$org")" \
            >>"$DEMO/$org.log" 2>&1 &
        PIDS[$org]=$!
        for _ in $(seq 1 200); do
            "$BIN/ledger" --node "http://127.0.0.1:$(port "$i")" status >/dev/null 2>&1 && break
            kill -0 "${PIDS[$org]}" 2>/dev/null || { cat "$DEMO/$org.log" >&2; exit 1; }
            sleep 0.1
        done
    done
}

wait_synced() { # every node at bank-a's height
    local h i
    h=$(as bank-a status | awk '/^height/ {print $2}')
    for i in 1 2 3; do
        for _ in $(seq 1 200); do
            [ "$("$BIN/ledger" --node "http://127.0.0.1:$(port "$i")" status | awk '/^height/ {print $2}')" -ge "$h" ] && break
            sleep 0.05
        done
    done
}

say "creating one SoftHSM token per organisation and initialising its node (keys generated inside the token)"
for i in "${!ORGS[@]}"; do
    org="${ORGS[$i]}"
    HSM_USER_PIN="$LEDGER_HSM_PIN" "$ROOT/hsm/softhsm-token.sh" "$DEMO/softhsm/$org" "$org-token" >/dev/null
    upstream=()
    [ "$org" != bank-a ] && upstream=(--upstream "http://127.0.0.1:$(port 0)")
    SOFTHSM2_CONF="$(conf "$org")" "$BIN/ledger-node" init --home "$(home "$org")" --org "$org" \
        --roles "${ROLES[$org]}" --chain-id demo-ledger-1 \
        --grpc-listen "127.0.0.1:$(port "$i")" --gateway-listen "127.0.0.1:$(gw_port "$i")" \
        --key-backend pkcs11 --pkcs11-token "$org-token" "${upstream[@]}" | sed 's/^/    /'
done

say "merging the founding members into one genesis file and installing it in every home"
"$BIN/ledger-node" genesis-merge --out "$DEMO/genesis.json" "${ORGS[@]/#/$DEMO/}"
for org in "${ORGS[@]}"; do cp "$DEMO/genesis.json" "$(home "$org")/genesis.json"; done

say "starting four nodes (logs: $DEMO/<org>.log)"
start_all
for org in "${ORGS[@]}"; do as "$org" status | grep -E "^(node org|height)" | paste -sd' '; done

say "bank-a registers the invoice schema; reg-eu's audit policy covers every invoice"
as bank-a register-schema --home "$(home bank-a)" --schema invoice \
    --field seller:identifier:required --field buyer:identifier:required \
    --field total:amount:required --field 'currency:enum=EUR|USD:required' \
    --field due:date --field note:text --auditor reg-eu

say "bank-a puts invoice INV-2026-001 through its gateway: each field sealed under its own key"
as bank-a put-record --home "$(home bank-a)" --record INV-2026-001 --schema invoice \
    --field seller=acme-exports --field buyer=globex-imports --field total=12500000 \
    --field currency=EUR --field due=2026-12-31 --field "note=confidential discount terms"
say "what every node stores: ciphertext, and who holds a key to each field"
as bank-c get-record --record INV-2026-001

say "bank-a grants the total and the currency to bank-b, the financing bank"
as bank-a grant --home "$(home bank-a)" --record INV-2026-001 --org bank-b --field total --field currency
wait_synced

for org in bank-a bank-b bank-c reg-eu; do
    say "$org reads INV-2026-001 through its own node"
    as "$org" read-record --home "$(home "$org")" --record INV-2026-001
done

say "bank-a revokes bank-b's access to the total: version 2 re-seals it under a new key"
as bank-a revoke --home "$(home bank-a)" --record INV-2026-001 --org bank-b --field total
wait_synced
as bank-b read-record --home "$(home bank-b)" --record INV-2026-001
as bank-a grants --record INV-2026-001

say "restarting every node: each re-checks its chain, then serves the same answers"
stop_all
start_all
wait_synced
as bank-b read-record --home "$(home bank-b)" --record INV-2026-001 --version 2
as reg-eu read-record --home "$(home reg-eu)" --record INV-2026-001 --field total

if [ "$KEEP" = 1 ]; then
    say "the network keeps running (bank-a's API at http://127.0.0.1:$(port 0)); press Ctrl-C to stop it"
    wait
else
    stop_all
    say "reg-eu's audit log (hash-chained, sealed by its HSM) records each audit read"
    SOFTHSM2_CONF="$(conf reg-eu)" "$BIN/ledger-node" audit-log --home "$(home reg-eu)"
    say "done. The homes, tokens and logs are in $DEMO"
fi
