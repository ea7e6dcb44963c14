#!/usr/bin/env bash
# A local consensus network: validators running Malachite BFT and observers following them,
# one node home and one SoftHSM token per node, each node on its own loopback address
# (127.0.0.11, .12, ...; public API :7100, gateway :7200, consensus :26600), persistent
# peers only.
#
#   scripts/network.sh init [N] [M]   create N validators (default 4) and M observers (1)
#   scripts/network.sh start          start every node (logs in the network folder)
#   scripts/network.sh stop           stop every node cleanly (SIGTERM)
#   scripts/network.sh status         one line per node
#
# Names: VALIDATORS="bank-a bank-b ..." and OBSERVERS="reg-eu ..." override the defaults
# (bank-a, bank-b, ... and regulator-1, ...); CORPORATES="acme-exports ..." adds corporate
# members (buyers and sellers writing their own trade documents) with observer nodes after
# them (none by default). The folder is LEDGER_NET (default
# .ledger-net in the repository). PINs come from HSM_SO_PIN and LEDGER_HSM_PIN (demo
# defaults below). LEDGER_CEREMONY=1 makes the circuit keys in a two-phase multi-party
# Groth16 ceremony among the validators (in LEDGER_CEREMONY_DIR, default $NET/ceremony; a
# few minutes; a finished transcript there is verified again and reused) and starts a
# chain that is not a development chain on them; otherwise the chain is a development chain on the
# public development keys. Every public API takes mutual TLS (certificates bound to the members'
# HSM keys; clients dial https:// with --tls-home); LEDGER_TLS=off makes them plain.
source "$(dirname "$0")/lib.sh"
NET="${LEDGER_NET:-$ROOT/.ledger-net}"
BIN="$CARGO_TARGET_DIR/debug"
export HSM_SO_PIN="${HSM_SO_PIN:-demo-so-pin}"
export LEDGER_HSM_PIN="${LEDGER_HSM_PIN:-demo-user-pin}"

nodes() { cat "$NET/nodes" 2>/dev/null; } # lines: name ip role

# The CLI as organisation NAME against its own node at IP: over mutual TLS (its
# certificate bound by its HSM key) when the node takes it.
cli_as() { # name ip ledger-args...
    local name="$1" ip="$2" scheme=http
    shift 2
    grep -q '^tls = "mutual"' "$NET/$name/config.toml" 2>/dev/null && scheme=https
    SOFTHSM2_CONF="$NET/softhsm/$name/softhsm2.conf" "$BIN/ledger" --node "$scheme://$ip:7100" \
        --tls-home "$NET/$name" "$@"
}

node_start() { # name ip
    local name="$1" ip="$2"
    SOFTHSM2_CONF="$NET/softhsm/$name/softhsm2.conf" "$BIN/ledger-node" start --home "$NET/$name" \
        >>"$NET/$name.log" 2>&1 &
    echo $! >"$NET/$name.pid"
}

wait_up() { # name ip
    local name="$1" ip="$2"
    for _ in $(seq 1 300); do
        cli_as "$name" "$ip" status >/dev/null 2>&1 && return 0
        kill -0 "$(cat "$NET/$name.pid")" 2>/dev/null || { tail -20 "$NET/$name.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "error: $name did not answer; see $NET/$name.log" >&2
    exit 1
}

case "${1:-}" in
init)
    n="${2:-4}"
    m="${3:-1}"
    letters=(a b c d e f g h i j k l m n o p q r s t u v w x y z)
    read -r -a vals <<<"${VALIDATORS:-$(for i in $(seq 0 $((n - 1))); do printf 'bank-%s ' "${letters[$i]}"; done)}"
    read -r -a obs <<<"${OBSERVERS:-$(for i in $(seq 1 "$m"); do printf 'regulator-%s ' "$i"; done)}"
    read -r -a corps <<<"${CORPORATES:-}"
    setup
    build_workspace
    [ -d "$NET" ] && { "$0" stop 2>/dev/null || true; rm -rf "$NET"; }
    mkdir -p "$NET"
    : >"$NET/nodes"
    keys_args=(--development)
    if [ "${LEDGER_CEREMONY:-0}" = 1 ]; then
        C="${LEDGER_CEREMONY_DIR:-$NET/ceremony}"
        if [ -f "$C/finance/001.bin" ] && "$BIN/ledger-node" ceremony finish --dir "$C" --out "$NET/circuit-keys" >"$NET/ceremony-verify.log" 2>&1; then
            say "the circuit keys: the Groth16 ceremony transcript in $C, every contribution verified again (delete it for a new ceremony)"
            grep -E 'verified|verifying key' "$NET/ceremony-verify.log"
        else
            say "the circuit keys: a Groth16 ceremony among ${vals[*]} (each adds a secret; sound if any one is destroyed)"
            rm -rf "$C"
            "$BIN/ledger-node" ceremony new --dir "$C" | tail -1
            for v in "${vals[@]}"; do "$BIN/ledger-node" ceremony contribute --dir "$C" --org "$v"; done
            "$BIN/ledger-node" ceremony prepare --dir "$C"
            for v in "${vals[@]}"; do "$BIN/ledger-node" ceremony contribute --dir "$C" --org "$v"; done
            "$BIN/ledger-node" ceremony finish --dir "$C" --out "$NET/circuit-keys"
        fi
        keys_args=(--circuit-keys "$NET/circuit-keys")
    fi
    i=11
    connect=()
    homes=()
    for name in "${vals[@]}" "${obs[@]}" "${corps[@]}"; do
        role=validator
        roles=validator,member
        for o in "${obs[@]}"; do [ "$o" = "$name" ] && role=observer && roles=regulator; done
        for o in "${corps[@]}"; do [ "$o" = "$name" ] && role=observer && roles=corporate; done
        ip="127.0.0.$i"
        i=$((i + 1))
        extra=()
        # The first observer (a regulator) is the chain's analytics authority: it makes the
        # tfhe key, keeps its secret sealed by its HSM and publishes the public keys
        # (LEDGER_ANALYTICS=0: a chain without encrypted analytics).
        if [ "${LEDGER_ANALYTICS:-1}" = 1 ] && [ "$name" = "${obs[0]:-}" ]; then
            extra=(--analytics-authority --analytics-profile "${LEDGER_ANALYTICS_PROFILE:-standard}")
            say "$name is the analytics authority: generating the tfhe analytics key (${LEDGER_ANALYTICS_PROFILE:-standard} profile)"
        fi
        say "$name ($role) on $ip: $([ "$LEDGER_CRYPTO_SUITE" = sm ] && echo "SM keys (software backend)" || echo "SoftHSM token") and node home"
        mapfile -t key_backend < <(node_keys "$NET" "$name")
        SOFTHSM2_CONF="$NET/softhsm/$name/softhsm2.conf" "$BIN/ledger-node" init "${keys_args[@]}" --home "$NET/$name" \
            --org "$name" --roles "$roles" --chain-id "${LEDGER_CHAIN_ID:-local-consortium-1}" \
            --grpc-listen "$ip:7100" --gateway-listen "$ip:7200" --metrics-listen "$ip:9100" --explorer-listen "$ip:8080" --p2p-listen "/ip4/$ip/tcp/26600" \
            "${key_backend[@]}" --tls "${LEDGER_TLS:-mutual}" "${extra[@]}" >/dev/null
        if [ -d "$NET/circuit-keys" ]; then
            mkdir -p "$NET/$name/circuits" && cp "$NET/circuit-keys/"*.pk "$NET/$name/circuits/"
        fi
        echo "$name $ip $role" >>"$NET/nodes"
        homes+=("$NET/$name")
        if [ "$role" = validator ]; then connect+=(--validator "$NET/$name"); else connect+=(--observer "$NET/$name"); fi
    done
    say "genesis with the validator set, installed in every home"
    "$BIN/ledger-node" genesis-merge --out "$NET/genesis.json" "${homes[@]}" | head -1
    for h in "${homes[@]}"; do cp "$NET/genesis.json" "$h/genesis.json"; done
    for h in "${homes[@]}"; do
        if [ -f "$h/analytics-keys.bin" ]; then
            say "the public analytics keys of $(basename "$h"), installed beside genesis.json in every home"
            for g in "${homes[@]}"; do [ "$g" = "$h" ] || cp "$h/analytics-keys.bin" "$g/analytics-keys.bin"; done
            break
        fi
    done
    say "wiring consensus peers (persistent peers only) and observers' upstreams"
    "$BIN/ledger-node" connect "${connect[@]}"
    ;;
start)
    [ -f "$NET/nodes" ] || { echo "error: no network in $NET; run '$0 init' first" >&2; exit 1; }
    while read -r name ip role; do
        if [ -f "$NET/$name.pid" ] && kill -0 "$(cat "$NET/$name.pid")" 2>/dev/null; then continue; fi
        node_start "$name" "$ip"
    done < <(nodes)
    while read -r name ip role; do wait_up "$name" "$ip"; done < <(nodes)
    say "network running; logs in $NET/<node>.log; explorer on http://<node ip>:8080/, metrics on :9100/metrics"
    ;;
stop)
    while read -r name ip role; do
        [ -f "$NET/$name.pid" ] && kill -TERM "$(cat "$NET/$name.pid")" 2>/dev/null || true
    done < <(nodes)
    while read -r name ip role; do
        pid="$(cat "$NET/$name.pid" 2>/dev/null || true)"
        [ -n "$pid" ] && while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        rm -f "$NET/$name.pid"
    done < <(nodes)
    ;;
status)
    while read -r name ip role; do
        printf '%-14s %-10s %s\n' "$name" "$role" \
            "$(cli_as "$name" "$ip" status 2>/dev/null | awk '/^height/ {h=$2} /^last commit/ {c=$0} END {print "height " h "  " c}')"
    done < <(nodes)
    ;;
*)
    sed -n '2,18p' "$0"
    exit 2
    ;;
esac
