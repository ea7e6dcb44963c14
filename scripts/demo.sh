#!/usr/bin/env bash
# The main job: a local consortium of four bank validators running Malachite BFT consensus
# and one regulator observer, each node with its keys in its own SoftHSM token, on its own
# loopback address. bank-a registers an invoice schema audited by reg-eu, puts an invoice
# whose fields are encrypted one by one, grants two fields to bank-b (the financing bank);
# then each organisation reads it through its own node: bank-a all, bank-b what it was
# granted, bank-c nothing, reg-eu everything its audit policy covers (logged in its audit
# log). The circuit keys come from a Groth16 ceremony among the four banks (each adds a
# secret; the keys are sound if any one bank destroyed its own). Two corporates with their
# own keys and nodes trade: globex-imports orders and
# confirms the delivery, acme-exports invoices, proves each invoice against both documents
# in zero knowledge, and assigns the receivable to bank-b; assigning the same goods again
# through a rewritten invoice to bank-c is refused, naming the first financing, and bank-c
# cannot assign it itself. Two banks endorse an alert anonymously (a third attempt by one
# of them is refused, and every validator refuses a forged ring signature).
# A fifth bank, bank-e, joins by vote: its join request, bank-a's proposal, the votes of
# bank-b and bank-c; it follows bank-a, catches up, and puts and reads its own invoice.
# bank-a revokes bank-b's access to the total; every node restarts and serves the
# same answers; the blocks and their commit certificates are the same on every node.
#
# Every public API takes mutual TLS with certificates bound to the members' HSM keys:
# bank-e's node is refused by bank-a's until the consortium admits it.
#
# LEDGER_CRYPTO_SUITE=sm runs the same story on a chain of the SM suite (SM3, SM2, SM4-GCM;
# keys in the software backend, as SoftHSM has no SM2).
#
#   scripts/demo.sh                 run the scenario and stop the network
#   scripts/demo.sh --keep-running  leave the network running (scripts/network.sh stop)
source "$(dirname "$0")/lib.sh"
KEEP=0
[ "${1:-}" = "--keep-running" ] && KEEP=1
export LEDGER_NET="${LEDGER_NET:-$ROOT/.ledger-demo}"
export VALIDATORS="bank-a bank-b bank-c bank-d" OBSERVERS="reg-eu" CORPORATES="acme-exports globex-imports"
# The four banks make the circuit keys in a multi-party ceremony (LEDGER_CEREMONY=0: the
# public development keys, faster).
export LEDGER_CEREMONY="${LEDGER_CEREMONY:-1}"
# The transcript outlives the demo's network folder: a later run verifies it again and
# reuses it (delete the folder for a new ceremony).
export LEDGER_CEREMONY_DIR="${LEDGER_CEREMONY_DIR:-$ROOT/.ledger-ceremony}"
# PINs come from the environment; these defaults are for the demo only.
export HSM_SO_PIN="${HSM_SO_PIN:-demo-so-pin}"
export LEDGER_HSM_PIN="${LEDGER_HSM_PIN:-demo-user-pin}"
NET="$LEDGER_NET"
BIN="$CARGO_TARGET_DIR/debug"
declare -A IP=([bank-a]=127.0.0.11 [bank-b]=127.0.0.12 [bank-c]=127.0.0.13 [bank-d]=127.0.0.14 [reg-eu]=127.0.0.15
    [acme-exports]=127.0.0.16 [globex-imports]=127.0.0.17 [bank-e]=127.0.0.18)
as() { # as ORG ledger-args...: the CLI against ORG's own node (mutual TLS, its certificate
    # bound by ORG's HSM key) and gateway
    local org="$1"
    shift
    SOFTHSM2_CONF="$NET/softhsm/$org/softhsm2.conf" "$BIN/ledger" --node "https://${IP[$org]}:7100" \
        --tls-home "$(home "$org")" "$@"
}
home() { echo "$NET/$1"; }
stop_all() { "$ROOT/scripts/network.sh" stop 2>/dev/null || true; }

"$ROOT/scripts/network.sh" init
trap stop_all EXIT
say "starting 4 validators, the regulator's observer and two corporates' nodes (logs: $NET/<node>.log)"
"$ROOT/scripts/network.sh" start
sleep 1
"$ROOT/scripts/network.sh" status

say "bank-a registers the invoice schema; reg-eu's audit policy covers every invoice"
as bank-a register-schema --home "$(home bank-a)" --schema invoice \
    --field seller:identifier:required --field buyer:identifier:required \
    --field total:amount:required:committed --field 'currency:enum=EUR|USD:required' \
    --field due:date --field note:text --auditor reg-eu

say "bank-a puts invoice INV-2026-001 through its gateway: each field sealed under its own key"
as bank-a put-record --home "$(home bank-a)" --record INV-2026-001 --schema invoice \
    --field seller=acme-exports --field buyer=globex-imports --field total=12500000 \
    --field currency=EUR --field due=2026-12-31 --field "note=confidential discount terms"
say "what every node stores (here bank-c's): ciphertext, and who holds a key to each field"
as bank-c get-record --record INV-2026-001

say "bank-c puts its own invoice INV-2026-002; the totals are committed (Pedersen + range proof)"
as bank-c put-record --home "$(home bank-c)" --record INV-2026-002 --schema invoice \
    --field seller=initech --field buyer=globex-imports --field total=4000000 --field currency=EUR

say "bank-a grants the total and the currency to bank-b, the financing bank"
as bank-a grant --home "$(home bank-a)" --record INV-2026-001 --org bank-b --field total --field currency
sleep 1

say "bank-b records its financing request and proves, without revealing either amount, that it is at most the invoice total"
as bank-b register-schema --home "$(home bank-b)" --schema financing \
    --field invoice:identifier:required --field amount:amount:required:committed --auditor reg-eu
as bank-b put-record --home "$(home bank-b)" --record FIN-2026-001 --schema financing \
    --field invoice=INV-2026-001 --field amount=10000000
as bank-b cross-check --home "$(home bank-b)" --relation at-most \
    --operand FIN-2026-001:amount --operand INV-2026-001@1:total
say "every node holds the check (and validated its proof); bank-c sees it without seeing any amount"
as bank-c get-record --record FIN-2026-001 | grep -i -A2 check || true

for org in bank-a bank-b bank-c reg-eu; do
    say "$org reads INV-2026-001 through its own node"
    as "$org" read-record --home "$(home "$org")" --record INV-2026-001
done

say "bank-a revokes bank-b's access to the total: version 2 re-seals it under a new key"
as bank-a revoke --home "$(home bank-a)" --record INV-2026-001 --org bank-b --field total
sleep 1
as bank-b read-record --home "$(home bank-b)" --record INV-2026-001
as bank-d grants --record INV-2026-001

say "bank-a registers document schemas: each record carries a Poseidon commitment to its document"
as bank-a register-schema --home "$(home bank-a)" --schema po --document purchase-order
as bank-a register-schema --home "$(home bank-a)" --schema dn --document delivery-note
as bank-a register-schema --home "$(home bank-a)" --schema trade-invoice --document invoice --auditor reg-eu
sleep 1
doc() { # org record schema number reference date lines... (readers from READERS)
    local org="$1" record="$2" schema="$3" number="$4" reference="$5" date="$6"
    shift 6
    local args=()
    for l in "$@"; do args+=(--line "$l"); done
    for r in ${READERS:-}; do args+=(--reader "$r"); done
    as "$org" put-document --home "$(home "$org")" --record "$record" --schema "$schema" \
        --seller acme-exports --buyer globex-imports --number "$number" \
        --reference "$reference" --date "$date" "${args[@]}"
}
say "the trade's parties are members with their own HSM keys and nodes: globex-imports (buyer) orders and confirms the delivery, for acme-exports (seller) to read"
READERS=acme-exports doc globex-imports PO-77 po PO-77 "" 2026-11-02 125000x40 990000x3
READERS=acme-exports doc globex-imports DN-77 dn DN-77 PO-77 2026-11-15 0x40 0x3
say "acme-exports cannot write the buyer's order itself"
doc acme-exports PO-78 po PO-78 "" 2026-11-02 125000x40 2>&1 | sed -n 1p || true
sleep 1
say "acme-exports invoices the goods and proves in zero knowledge (Groth16) that INV-77 bills the ordered prices and the delivered quantities, each document written by its party"
doc acme-exports INV-77 trade-invoice INV-2026-077 PO-77 2026-11-20 125000x40 990000x3
as acme-exports prove-invoice --home "$(home acme-exports)" --invoice INV-77 --order PO-77 --delivery DN-77
say "acme-exports bills the same goods again as INV-77-B, the number rewritten and dated a day later; it adds up too"
doc acme-exports INV-77-B trade-invoice "inv 2026/077" PO-77 2026-11-21 125000x40 990000x3
as acme-exports prove-invoice --home "$(home acme-exports)" --invoice INV-77-B --order PO-77 --delivery DN-77
say "INV-77 goes to bank-b, INV-77-B to bank-c: neither bank can tell they bill the same goods"
as acme-exports grant --home "$(home acme-exports)" --record INV-77 --org bank-b --field document
as acme-exports grant --home "$(home acme-exports)" --record INV-77-B --org bank-c --field document
sleep 1
say "bank-c reads INV-77-B but cannot assign its receivable: only the seller does"
if as bank-c request-financing --home "$(home bank-c)" --invoice INV-77-B --bank bank-c; then
    echo "unexpected: a bank assigned a receivable that is not its own" >&2
    exit 1
fi
say "acme-exports assigns INV-77 to bank-b: the nullifier of the delivered goods, proved from the buyer's delivery note"
as acme-exports request-financing --home "$(home acme-exports)" --invoice INV-77 --bank bank-b
say "acme-exports assigns INV-77-B to bank-c: the same goods, refused by every validator, naming the first financing"
if as acme-exports request-financing --home "$(home acme-exports)" --invoice INV-77-B --bank bank-c; then
    echo "unexpected: the second financing was accepted" >&2
    exit 1
fi

say "bank-c asks, before lending to globex-imports, whether its financing across every bank is above 5,000,000: the amounts stay encrypted (tfhe), every validator computes on ciphertexts and attests the result, reg-eu decrypts only the yes or no"
as bank-c exposure-query --home "$(home bank-c)" --buyer globex-imports --limit 5000000
say "and above 10,000,000? (the financed total is 7,970,000)"
as bank-c exposure-query --home "$(home bank-c)" --buyer globex-imports --limit 10000000
say "reg-eu's audit log holds each decrypted answer, and nothing else"
SOFTHSM2_CONF="$NET/softhsm/reg-eu/softhsm2.conf" "$BIN/ledger-node" audit-log --home "$(home reg-eu)" | grep analytics

say "bank-c raises an anonymous alert: 'one of the member banks' says INV-2026-077 was offered twice"
as bank-c endorse --home "$(home bank-c)" --topic alert.INV-2026-077 --statement "offered for financing twice"
say "bank-d signs the same endorsement without submitting it, and bank-a's node submits the bytes: bank-d's own traffic says nothing"
as bank-d endorse --home "$(home bank-d)" --topic alert.INV-2026-077 --statement "offered for financing twice" --sign-only |
    as bank-a submit-tx -
say "bank-c endorsing the same alert again is refused: one endorsement per member per topic"
if as bank-c endorse --home "$(home bank-c)" --topic alert.INV-2026-077 --statement "offered for financing twice"; then
    echo "unexpected: a second endorsement by the same bank was accepted" >&2
    exit 1
fi
say "a forged endorsement (one byte of a ring signature changed) is refused by every validator"
signed=$(as bank-c endorse --home "$(home bank-c)" --topic alert.INV-2026-078 --statement "forged" --sign-only 2>/dev/null)
# The ring signature ends 25 bytes before the transaction does (signer, nonce, empty
# signature follow it): change a byte of its last response scalar.
i=$((${#signed} - 80))
forged="${signed:0:$i}$(printf '%x' $((0x${signed:$i:1} ^ 1)))${signed:$((i + 1))}"
for org in bank-a bank-b bank-c bank-d; do
    printf '%-8s ' "$org"
    if as "$org" submit-tx "$forged" 2>&1; then
        echo "unexpected: $org accepted a forged ring signature" >&2
        exit 1
    fi
done
say "every node counts two endorsements, and no node knows whose"
as reg-eu endorsements --topic alert.INV-2026-077 --statement "offered for financing twice"

say "bank-e, a fifth bank, asks to join: its own keys, and a join request signed by its key"
mapfile -t key_backend < <(node_keys "$NET" bank-e)
keys_args=(--development)
[ -d "$NET/circuit-keys" ] && keys_args=(--circuit-keys "$NET/circuit-keys")
SOFTHSM2_CONF="$NET/softhsm/bank-e/softhsm2.conf" "$BIN/ledger-node" init "${keys_args[@]}" --home "$(home bank-e)" \
    --org bank-e --roles member --chain-id "${LEDGER_CHAIN_ID:-local-consortium-1}" \
    --grpc-listen "${IP[bank-e]}:7100" --gateway-listen "${IP[bank-e]}:7200" --metrics-listen "${IP[bank-e]}:9100" --explorer-listen "${IP[bank-e]}:8080" \
    "${key_backend[@]}" --tls mutual --join "$NET/bank-e.join" | grep -E '^(join request|next:)' 
cp "$NET/genesis.json" "$(home bank-e)/genesis.json"
cp "$(home reg-eu)/analytics-keys.bin" "$(home bank-e)/analytics-keys.bin"
BANK_A_KEY=$(as bank-a member bank-a | awk '/^signing key/ {print $3}')
say "bank-e is not a member yet: bank-a's node refuses its TLS certificate (bank-a's key pinned)"
if SOFTHSM2_CONF="$NET/softhsm/bank-e/softhsm2.conf" "$BIN/ledger" --node "https://${IP[bank-a]}:7100" \
    --tls-home "$(home bank-e)" --server-key "$BANK_A_KEY" status 2>&1 | sed -n '1p'; then :; fi
grep -m1 "refused a TLS peer" "$NET/bank-a.log" | sed 's/^.*reason/bank-a.log: reason/' || true
say "bank-a proposes to admit bank-e; bank-b and bank-c vote yes (three of four validators govern it)"
as bank-a propose --home "$(home bank-a)" --admit "$NET/bank-e.join"
as bank-b vote --home "$(home bank-b)" --proposal 1 --yes
as bank-c vote --home "$(home bank-c)" --proposal 1 --yes
for _ in $(seq 1 100); do # bank-e will follow bank-a's node: wait until it holds the vote's block
    as bank-a proposals | grep -q '#1 *passed' && break
    sleep 0.1
done
as bank-a proposals
say "bank-e takes the consortium's genesis, follows bank-a's node, catches up, and writes"
sed -i "/^\[sync\]/a upstream = \"https://${IP[bank-a]}:7100\"" "$(home bank-e)/config.toml"
echo "bank-e ${IP[bank-e]} observer" >>"$NET/nodes"
"$ROOT/scripts/network.sh" start
target=$(as bank-a status | awk '/^height/ {print $2}')
for _ in $(seq 1 300); do
    [ "$(as bank-e status 2>/dev/null | awk '/^height/ {print $2}')" -ge "$target" ] 2>/dev/null && break
    sleep 0.2
done
as bank-e status | awk '/^height/ {print "bank-e caught up to height " $2}'
as bank-e put-record --home "$(home bank-e)" --record INV-2026-101 --schema invoice \
    --field seller=hooli-trading --field buyer=globex-imports --field total=800000 --field currency=USD
as bank-e read-record --home "$(home bank-e)" --record INV-2026-101

say "restarting every node: each re-checks its chain; the validators resume consensus"
"$ROOT/scripts/network.sh" stop
"$ROOT/scripts/network.sh" start
sleep 2
as bank-b read-record --home "$(home bank-b)" --record INV-2026-001 --version 2
as reg-eu read-record --home "$(home reg-eu)" --record INV-2026-001 --field total
say "reg-eu adds the committed totals of both banks' invoices and decrypts only the sum"
as reg-eu audit-sum --home "$(home reg-eu)" --field total --record INV-2026-001 --record INV-2026-002
"$ROOT/scripts/network.sh" status
say "the same block at the same height on every node, with its commit certificate"
h=$(as bank-a status | awk '/^height/ {print $2}')
h=$((h > 3 ? h - 3 : h))
for org in bank-a bank-b bank-c bank-d reg-eu bank-e; do
    printf '%-8s ' "$org"
    as "$org" get-block --height "$h" 2>/dev/null | awk 'NR == 1 {print substr($0, 1, 120)}'
done

say "what operators watch: bank-a's Prometheus metrics (height, validators signing, proofs, HSM)"
curl -s "http://${IP[bank-a]}:9100/metrics" | grep -E '^ledger_(height|validators|validator_signed|transactions_committed_total|hsm_operation_seconds_count|proof_verification_seconds_count)' | head -20
say "and the block explorer (open it in a browser): http://${IP[bank-a]}:8080/ ; its JSON, for the invoice"
curl -s "http://${IP[bank-a]}:8080/api/record/INV-2026-001" | head -c 600; echo

if [ "$KEEP" = 1 ]; then
    trap - EXIT
    say "the network keeps running; stop it with: scripts/network.sh stop (LEDGER_NET=$NET)"
else
    stop_all
    trap - EXIT
    say "reg-eu's audit log (hash-chained, sealed by its HSM) records each audit read"
    SOFTHSM2_CONF="$NET/softhsm/reg-eu/softhsm2.conf" "$BIN/ledger-node" audit-log --home "$(home reg-eu)"
    say "done. The homes, tokens and logs are in $NET"
fi
