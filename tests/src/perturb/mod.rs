//! The perturbation suite: a runner driven by a manifest (nodes, load, faults and when),
//! nodes as separate hosts in network namespaces (or on loopback where namespaces are not
//! permitted), and checkers run after every run. `ledger-perturb` is its command; the
//! default suite runs `tests/perturb/short.toml`. See docs/reliability.md.

pub mod manifest;
pub mod net;
pub mod run;

pub use manifest::{Kind, Manifest, Perturbation, Placement};
pub use run::{run, Options, Report};
