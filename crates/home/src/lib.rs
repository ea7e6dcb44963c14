//! A node's home: the folder `ledger-node init` creates and every later command reads.
//!
//! It holds `config.toml`, `genesis.json`, the key provider's configuration (a
//! passphrase-sealed software store or a PKCS#11 token), the software secrets sealed by
//! that provider (a member's ring key, a regulator's audit key), the gateway's client
//! credentials and the regulator's hash-chained audit log. The daemon and the `ledger`
//! CLI both use this crate; it knows nothing of blocks, consensus or gRPC, and it never
//! writes a secret in clear to disk or to a log.

pub mod analytics;
pub mod audit_log;
pub mod config;
pub mod error;
pub mod fsutil;
pub mod gateway_auth;
pub mod keys;
pub mod print;
pub mod rotation;
pub mod sealed;

pub use error::HomeError;
