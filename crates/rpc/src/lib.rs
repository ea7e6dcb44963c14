//! The node's gRPC layer over `ledger-core`: the public ledger service ([`service`]), the
//! organisation-private gateway ([`gateway`]), the one mapping of domain errors to gRPC
//! statuses ([`status`]), the clients through which the core reaches other nodes
//! ([`clients`]), the servers' set-up ([`server`]) and the ledger as mutual TLS's
//! directory ([`tls`]). Protobuf <-> domain conversions of
//! the ledger's types live in `ledger_api::convert`; this crate adds those of the state's
//! views. Domain logic stays below: a handler authenticates, converts, calls the core or
//! the gateway's plans, and converts back.

pub mod clients;
pub mod explorer;
pub mod gateway;
pub mod metrics;
pub mod server;
pub mod service;
pub mod status;
pub mod tls;
