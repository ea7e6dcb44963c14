//! The node's configuration and key wiring, shared by the `ledger-node` daemon and the
//! `ledger` CLI (which signs with the node's keys when given `--home`).

#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit_log;
pub mod config;
pub mod error;
pub mod fsutil;
pub mod gateway_auth;
pub mod keys;
pub mod sealed;
