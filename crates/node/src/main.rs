//! `ledger-node`: the confidential-ledger node daemon (see the `ledger_node` library).

fn main() {
    ledger_node::main_with(ledger_node::Hooks::default());
}
