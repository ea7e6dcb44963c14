//! The genesis file: the chain id, the hash suite, the genesis time, and the founding
//! members, each with a registration signed by the key it registers.
//!
//! The genesis block is computed from this file the same way on every node: height 0, a
//! zero parent hash, proposer `genesis`, the members' `RegisterMember` transactions (nonce
//! 0), and the state root they produce. Its hash identifies the chain's beginning.

use std::path::Path;

use ledger_crypto::Signer;
use ledger_state::genesis::{genesis_block_full, registration_body, registration_with_keys};
use ledger_state::Execution;
use ledger_types::{
    Block, ChainId, CryptoSuite, HashSuite, OrgId, Payload, PublicKey, RegisterMember, Role,
    Signature, Transaction,
};
use serde::{Deserialize, Serialize};

use crate::error::NodeError;

/// The genesis file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisFile {
    /// The chain id.
    pub chain_id: String,
    /// The hash suite: `sha256` (default crypto suite) or `sm3` (SM suite).
    pub hash_suite: String,
    /// The crypto suite (docs/crypto-suites.md): `default` or `sm`. Fixed for the chain's
    /// life: no transaction changes it, and every hash of the chain (the genesis block's
    /// first) is computed with it. Absent in files written before suites existed: `default`.
    #[serde(default = "GenesisFile::default_suite")]
    pub crypto_suite: String,
    /// The genesis block's timestamp, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The founding members.
    pub members: Vec<GenesisMember>,
    /// The circuits' Groth16 verifying keys every validator checks proofs with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub circuits: Vec<GenesisCircuit>,
    /// A development chain (`init --development`): it may pin the public development
    /// circuit keys, with which anyone can forge proofs. Fixed in the genesis state, so
    /// part of the genesis hash. A node refuses to start on the development keys
    /// otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub development: bool,
    /// The chain's encrypted analytics (docs/fhe.md), if it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<GenesisAnalytics>,
}

/// The chain's encrypted analytics: the authority that decrypts answers, the integer
/// profile, and the SHA-256 of the public key file every node needs beside genesis.json
/// (`analytics-keys.bin`, written by the authority's `init --analytics-authority`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisAnalytics {
    /// The analytics authority (a founding regulator).
    pub authority: String,
    /// `standard` (48-bit amounts) or `small` (8-bit amounts: tests and demos).
    pub profile: String,
    /// `ledger_fhe::PublicKeys::id` of the key file, hex.
    pub keys_sha256: String,
}

impl GenesisAnalytics {
    /// The configuration genesis fixes in state.
    pub fn config(&self) -> Result<ledger_state::AnalyticsConfig, String> {
        let authority = OrgId::new(self.authority.clone()).map_err(|e| e.to_string())?;
        ledger_fhe::Profile::parse(&self.profile).map_err(|e| e.to_string())?;
        let keys_id: [u8; 32] = hex::decode(&self.keys_sha256)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("keys_sha256 is not 32 bytes of hex")?;
        Ok(ledger_state::AnalyticsConfig {
            authority,
            profile: self.profile.clone(),
            keys_id,
        })
    }
}

/// A circuit's verifying key, pinned by its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisCircuit {
    /// The circuit (`invoice`, `invoice-linked`, `finance`).
    pub name: String,
    /// SHA-256 fingerprint of the key (see `ledger_circuits::fingerprint`), hex.
    pub fingerprint: String,
    /// The compressed verifying key, hex.
    pub verifying_key: String,
}

/// The circuit keys to put in a new genesis: `dev` for the development keys, or a folder
/// written by `ledger-node circuit-setup` (`<name>.vk`, hex).
pub fn circuits_from(source: &str) -> Result<Vec<GenesisCircuit>, NodeError> {
    let mut out = Vec::new();
    for id in ledger_circuits::CircuitId::ALL {
        let vk = if source == "dev" {
            ledger_circuits::dev_verifying_key(id).map_err(|e| NodeError::Fatal(e.to_string()))?
        } else {
            let path = Path::new(source).join(format!("{}.vk", id.name()));
            let text = std::fs::read_to_string(&path).map_err(|e| NodeError::Io {
                what: format!("reading the verifying key {}", path.display()),
                reason: e.to_string(),
            })?;
            let bytes = hex::decode(text.trim())
                .map_err(|_| NodeError::Fatal(format!("{} is not hex", path.display())))?;
            ledger_circuits::VerifyingKey::from_bytes(id, &bytes)
                .map_err(|e| NodeError::Fatal(format!("{}: {e}", path.display())))?
        };
        out.push(GenesisCircuit {
            name: id.name().to_string(),
            fingerprint: vk.fingerprint(),
            verifying_key: hex::encode(vk.to_bytes()),
        });
    }
    Ok(out)
}

/// Whether `circuits` pin one of the public development keys.
pub fn pins_development_keys(circuits: &[GenesisCircuit]) -> bool {
    ledger_circuits::CircuitId::ALL.iter().any(|id| {
        ledger_circuits::dev_verifying_key(*id).is_ok_and(|dev| {
            circuits
                .iter()
                .any(|c| c.name == id.name() && c.fingerprint == dev.fingerprint())
        })
    })
}

/// A founding member.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisMember {
    /// The organisation id.
    pub org: String,
    /// Its signing key, `scheme:hex`.
    pub signing_key: String,
    /// Its encryption public key, hex (may be empty until field encryption).
    #[serde(default)]
    pub encryption_key: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its audit key (regulators: twisted ElGamal over Ristretto), hex; empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub audit_key: String,
    /// Its ring public key (anonymous endorsements), hex; empty if none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ring_key: String,
    /// Its signature over its own registration transaction (hex).
    pub registration_signature: String,
}

/// A genesis file turned into the genesis block.
pub struct Genesis {
    /// The chain id.
    pub chain_id: ChainId,
    /// The genesis block.
    pub block: Block,
    /// Its execution on the empty state.
    pub execution: Execution,
}

impl GenesisMember {
    /// A founding member entry, signed by `signer` (the key being registered).
    pub fn signed(
        chain_id: &ChainId,
        org: &OrgId,
        roles: &[Role],
        encryption_key: Vec<u8>,
        audit_key: Vec<u8>,
        ring_key: Vec<u8>,
        signer: &dyn Signer,
    ) -> Result<Self, NodeError> {
        let tx = registration_with_keys(
            signer,
            chain_id,
            org,
            roles,
            encryption_key.clone(),
            audit_key.clone(),
            ring_key.clone(),
        )?;
        let Payload::RegisterMember(m) = &tx.body().payload else {
            return Err(NodeError::Fatal(
                "a registration is a RegisterMember".into(),
            ));
        };
        Ok(GenesisMember {
            org: org.to_string(),
            signing_key: signer.public_key().to_text(),
            encryption_key: hex::encode(&encryption_key),
            roles: m.roles.iter().map(|r| r.name().to_string()).collect(),
            audit_key: hex::encode(&audit_key),
            ring_key: hex::encode(&ring_key),
            registration_signature: hex::encode(&tx.signature().0),
        })
    }
}

impl GenesisFile {
    fn default_suite() -> String {
        CryptoSuite::Default.name().to_string()
    }

    /// Reads a genesis file and fixes this process's crypto suite to the chain's (refused if
    /// the process already uses the other one, for example a node whose keys were made for
    /// it).
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path).map_err(|e| NodeError::Io {
            what: format!("reading {}", path.display()),
            reason: e.to_string(),
        })?;
        let file: GenesisFile = serde_json::from_str(&text).map_err(|e| NodeError::Genesis {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        file.select_suite(path)?;
        Ok(file)
    }

    /// The chain's crypto suite, checked against its hash suite.
    pub fn suite(&self, path: &Path) -> Result<CryptoSuite, NodeError> {
        let bad = |reason: String| NodeError::Genesis {
            path: path.display().to_string(),
            reason,
        };
        let suite = CryptoSuite::from_name(&self.crypto_suite).ok_or_else(|| {
            bad(format!(
                "crypto suite {:?} is not one this node knows (default, sm)",
                self.crypto_suite
            ))
        })?;
        if HashSuite::from_name(&self.hash_suite) != Some(suite.hash()) {
            return Err(bad(format!(
                "hash suite {:?} does not belong to crypto suite {:?}, whose hash is {:?}",
                self.hash_suite,
                suite.name(),
                suite.hash().name()
            )));
        }
        Ok(suite)
    }

    /// Fixes this process's suite to the chain's.
    pub fn select_suite(&self, path: &Path) -> Result<CryptoSuite, NodeError> {
        let suite = self.suite(path)?;
        suite
            .select(&path.display().to_string())
            .map_err(|e| NodeError::Genesis {
                path: path.display().to_string(),
                reason: format!(
                    "this chain's crypto suite is {}, but this process already uses {} (a node \
                 fixes its suite from [keys] crypto_suite in config.toml, set by `init \
                 --crypto-suite`): a node runs only the suite its keys were made for",
                    e.wanted, e.active
                ),
            })?;
        Ok(suite)
    }

    /// Writes the genesis file.
    pub fn save(&self, path: &Path) -> Result<(), NodeError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| NodeError::Genesis {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        text.push('\n');
        Ok(ledger_home::fsutil::write_file(
            path,
            text.as_bytes(),
            0o644,
        )?)
    }

    /// Checks the file and computes the genesis block.
    /// The members' signed registrations, as the genesis block holds them (read from
    /// `path`, named in errors), without executing them.
    pub fn registrations(&self, path: &Path) -> Result<(ChainId, Vec<Transaction>), NodeError> {
        let bad = |reason: String| NodeError::Genesis {
            path: path.display().to_string(),
            reason,
        };
        self.select_suite(path)?;
        let chain_id = ChainId::new(self.chain_id.clone()).map_err(|e| bad(e.to_string()))?;
        let mut txs: Vec<Transaction> = Vec::with_capacity(self.members.len());
        for (i, m) in self.members.iter().enumerate() {
            let at = |e: String| bad(format!("member {i} ({}): {e}", m.org));
            let org = OrgId::new(m.org.clone()).map_err(|e| at(e.to_string()))?;
            let signing_key =
                PublicKey::from_text(&m.signing_key).map_err(|e| at(e.to_string()))?;
            let encryption_key = hex::decode(&m.encryption_key)
                .map_err(|_| at("encryption_key is not hex".into()))?;
            let audit_key =
                hex::decode(&m.audit_key).map_err(|_| at("audit_key is not hex".into()))?;
            let ring_key =
                hex::decode(&m.ring_key).map_err(|_| at("ring_key is not hex".into()))?;
            let mut roles = m
                .roles
                .iter()
                .map(|r| Role::from_name(r).ok_or_else(|| at(format!("unknown role {r:?}"))))
                .collect::<Result<Vec<_>, _>>()?;
            roles.sort();
            roles.dedup();
            let sig = hex::decode(&m.registration_signature)
                .map_err(|_| at("registration_signature is not hex".into()))?;
            let body = registration_body(
                &chain_id,
                RegisterMember {
                    org,
                    signing_key,
                    encryption_key,
                    roles,
                    audit_key,
                    ring_key,
                },
            );
            let (unsigned, _) = body.signing_bytes();
            txs.push(Transaction::assemble(body, unsigned, Signature(sig)));
        }
        Ok((chain_id, txs))
    }

    /// The genesis block and its execution (read from `path`, named in errors).
    pub fn build(&self, path: &Path) -> Result<Genesis, NodeError> {
        let bad = |reason: String| NodeError::Genesis {
            path: path.display().to_string(),
            reason,
        };
        let (chain_id, txs) = self.registrations(path)?;
        let mut circuits = Vec::with_capacity(self.circuits.len());
        for c in &self.circuits {
            let at = |e: String| bad(format!("circuit {}: {e}", c.name));
            let id = ledger_circuits::CircuitId::from_name(&c.name)
                .ok_or_else(|| at("unknown circuit".into()))?;
            let bytes =
                hex::decode(&c.verifying_key).map_err(|_| at("verifying_key is not hex".into()))?;
            let fingerprint = ledger_circuits::fingerprint(id, &bytes);
            if fingerprint != c.fingerprint {
                return Err(at(format!(
                    "the verifying key's fingerprint is {fingerprint}, not the pinned {}",
                    c.fingerprint
                )));
            }
            circuits.push((c.name.clone(), bytes));
        }
        let analytics = self
            .analytics
            .as_ref()
            .map(|a| a.config().map_err(|e| bad(format!("analytics: {e}"))))
            .transpose()?;
        let (block, execution) = genesis_block_full(
            &chain_id,
            self.timestamp_ms,
            txs,
            &circuits,
            self.development,
            analytics.as_ref(),
        )
        .map_err(|e| bad(e.to_string()))?;
        Ok(Genesis {
            chain_id,
            block,
            execution,
        })
    }
}
