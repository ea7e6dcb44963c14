//! The node's other commands: the consortium's set-up (circuit keys, the merged genesis,
//! the consensus wiring), gateway credentials, the audit log and the key listing.

use std::path::{Path, PathBuf};

use ledger_core::genesis::GenesisFile;
use ledger_core::{consensus, NodeError};
use ledger_home::config::{NodeConfig, GENESIS_FILE};
use ledger_home::gateway_auth::GatewayClients;
use ledger_home::{keys, out};

use crate::cli::GatewayClientCommand;

/// Runs the Groth16 setup of every circuit into `out`.
pub fn circuit_setup(out: &Path, dev: bool) -> Result<(), NodeError> {
    use ledger_circuits::CircuitId;
    std::fs::create_dir_all(out).map_err(|e| NodeError::Io {
        what: format!("creating {}", out.display()),
        reason: e.to_string(),
    })?;
    let fatal = |e: ledger_circuits::CircuitError| NodeError::Fatal(e.to_string());
    for id in CircuitId::ALL {
        let started = std::time::Instant::now();
        let (pk, vk) = if dev {
            ledger_circuits::dev_keys(id).map_err(fatal)?
        } else {
            ledger_circuits::setup(id, &mut rand::rngs::OsRng).map_err(fatal)?
        };
        let pk_path = out.join(format!("{}.pk", id.name()));
        ledger_home::fsutil::write_file(&pk_path, &pk.to_bytes().map_err(fatal)?, 0o644)?;
        let vk_path = out.join(format!("{}.vk", id.name()));
        ledger_home::fsutil::write_file(
            &vk_path,
            format!("{}\n", hex::encode(vk.to_bytes())).as_bytes(),
            0o644,
        )?;
        out!(
            "{:<15} {} constraints, {} public inputs, verifying key {} ({:.1} s)",
            id.name(),
            ledger_circuits::constraint_count(id).map_err(fatal)?,
            id.public_inputs(),
            vk.fingerprint(),
            started.elapsed().as_secs_f64()
        );
    }
    if dev {
        out!("development keys: anyone can derive them; never use them for a real chain");
    } else {
        out!("the setup randomness was drawn from the operating system and is gone with this process; copy the .pk files to <home>/circuits of every node that proves, and give `init --circuit-keys {}` to every founding organisation", out.display());
    }
    Ok(())
}

/// Merges founding organisations' genesis files into `out`.
pub fn genesis_merge(out: &Path, inputs: &[PathBuf]) -> Result<(), NodeError> {
    let mut merged: Option<GenesisFile> = None;
    for input in inputs {
        let path = if input.is_dir() {
            input.join(GENESIS_FILE)
        } else {
            input.clone()
        };
        let g = GenesisFile::load(&path)?;
        match &mut merged {
            None => merged = Some(g),
            Some(m) => {
                if m.chain_id != g.chain_id
                    || m.hash_suite != g.hash_suite
                    || m.crypto_suite != g.crypto_suite
                {
                    return Err(NodeError::Genesis {
                        path: path.display().to_string(),
                        reason: format!(
                            "chain {} (suite {}) does not match chain {} (suite {}) of the other inputs",
                            g.chain_id, g.crypto_suite, m.chain_id, m.crypto_suite
                        ),
                    });
                }
                if m.development != g.development {
                    return Err(NodeError::Genesis {
                        path: path.display().to_string(),
                        reason: format!(
                            "development is {} here and {} in the other inputs: every founding organisation must init with or without --development alike",
                            g.development, m.development
                        ),
                    });
                }
                if m.circuits != g.circuits {
                    return Err(NodeError::Genesis {
                        path: path.display().to_string(),
                        reason: "its circuit verifying keys differ from the other inputs' (every founding organisation must init with the same --circuit-keys)".into(),
                    });
                }
                match (&m.analytics, g.analytics) {
                    (_, None) => {}
                    (None, Some(a)) => m.analytics = Some(a),
                    (Some(x), Some(a)) if *x == a => {}
                    (Some(x), Some(a)) => {
                        return Err(NodeError::Genesis {
                            path: path.display().to_string(),
                            reason: format!(
                                "it names {} as the analytics authority and another input names {}: a chain has one",
                                a.authority, x.authority
                            ),
                        })
                    }
                }
                m.timestamp_ms = m.timestamp_ms.max(g.timestamp_ms);
                for member in g.members {
                    if let Some(existing) = m.members.iter().find(|x| x.org == member.org) {
                        if existing.signing_key != member.signing_key {
                            return Err(NodeError::Genesis {
                                path: path.display().to_string(),
                                reason: format!(
                                    "organisation {} appears twice with different keys",
                                    member.org
                                ),
                            });
                        }
                        continue;
                    }
                    m.members.push(member);
                }
            }
        }
    }
    let mut merged = merged.ok_or_else(|| NodeError::Fatal("no genesis files given".into()))?;
    merged.members.sort_by(|a, b| a.org.cmp(&b.org));
    let built = merged.build(out)?;
    merged.save(out)?;
    out!(
        "wrote {} with {} members; genesis hash {}",
        out.display(),
        merged.members.len(),
        built.block.hash()
    );
    out!("copy it to every node home as {GENESIS_FILE} before the first start");
    Ok(())
}

/// Wires validator and observer homes into a consensus network.
pub fn connect(
    validators: &[PathBuf],
    observers: &[PathBuf],
    joining: &[PathBuf],
) -> Result<(), NodeError> {
    let mut configs = Vec::new();
    for home in validators {
        let config = NodeConfig::load(home)?;
        let addr = consensus_address(home, &config)?;
        let api = format!("{}://{}", config.grpc.tls.scheme(), config.grpc.listen);
        configs.push((home.clone(), config, addr, api));
    }
    if !joining.is_empty() {
        for (i, home) in joining.iter().enumerate() {
            let mut config = NodeConfig::load(home)?;
            config.consensus.enabled = true;
            config.consensus.persistent_peers = configs.iter().map(|c| c.2.clone()).collect();
            config.consensus.relay = configs.iter().map(|c| c.3.clone()).collect();
            let upstream = configs[i % configs.len()].3.clone();
            config.sync.upstream = Some(upstream.clone());
            config.save(home)?;
            out!(
                "{} follows {upstream} until it validates; propose it with:",
                config.org
            );
            out!(
                "  ledger propose --add-validator {} --p2p {} --api {}://{}",
                config.org,
                consensus_address(home, &config)?,
                config.grpc.tls.scheme(),
                config.grpc.listen
            );
        }
        return Ok(());
    }
    for (i, (home, config, _, _)) in configs.iter().enumerate() {
        let mut config = config.clone();
        config.consensus.enabled = true;
        config.sync.upstream = None;
        config.consensus.persistent_peers = configs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, c)| c.2.clone())
            .collect();
        config.consensus.relay = configs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, c)| c.3.clone())
            .collect();
        config.save(home)?;
        out!(
            "validator {} at {} with {} peers",
            config.org,
            config.consensus.listen,
            config.consensus.persistent_peers.len()
        );
    }
    for (i, home) in observers.iter().enumerate() {
        let mut config = NodeConfig::load(home)?;
        let upstream = configs[i % configs.len()].3.clone();
        config.consensus.enabled = false;
        config.sync.upstream = Some(upstream.clone());
        config.save(home)?;
        out!("observer {} follows {upstream}", config.org);
    }
    Ok(())
}

/// A node's consensus address: its libp2p listen address and peer id.
fn consensus_address(home: &Path, config: &NodeConfig) -> Result<String, NodeError> {
    let peer = consensus::peer_id(&NodeConfig::resolve(home, &config.consensus.p2p_key))?;
    Ok(format!("{}/p2p/{peer}", config.consensus.listen))
}

/// Prints the node's consensus address.
pub fn peer_address(home: &Path) -> Result<(), NodeError> {
    let config = NodeConfig::load(home)?;
    out!("{}", consensus_address(home, &config)?);
    Ok(())
}

/// Adds or lists gateway clients.
pub fn gateway_client(command: GatewayClientCommand) -> Result<(), NodeError> {
    match command {
        GatewayClientCommand::Add {
            home,
            name,
            token_file,
        } => {
            let config = NodeConfig::load(&home)?;
            let path = NodeConfig::resolve(&home, &config.gateway.clients_file);
            let mut clients = GatewayClients::load(&path)?;
            let token = clients.add(&name)?;
            clients.save(&path)?;
            match token_file {
                Some(f) => {
                    ledger_home::fsutil::write_file(
                        &f,
                        format!("{}\n", token.as_str()).as_bytes(),
                        0o600,
                    )?;
                    out!("client {name} added; its token is in {}", f.display());
                }
                None => {
                    out!("client {name} added; its token (shown once, keep it secret):");
                    out!("{}", token.as_str());
                }
            }
            out!("a running node reads new clients at its next start");
            Ok(())
        }
        GatewayClientCommand::List { home } => {
            let config = NodeConfig::load(&home)?;
            let path = NodeConfig::resolve(&home, &config.gateway.clients_file);
            for c in GatewayClients::load(&path)?.clients {
                out!("{}", c.name);
            }
            Ok(())
        }
    }
}

/// Verifies the audit log and prints its entries.
pub fn audit_log(home: &Path, verify_only: bool) -> Result<(), NodeError> {
    let config = NodeConfig::load(home)?;
    let path = NodeConfig::resolve(home, &config.audit.log);
    if !path.exists() {
        out!("no audit log at {} (no audit reads yet)", path.display());
        return Ok(());
    }
    let provider = keys::open_provider(home, &config.keys)?;
    let v = ledger_home::audit_log::verify(&path, provider.as_ref(), &config.keys.sealing_label)?;
    out!(
        "audit log {} intact: {} entries, hash chain and seals verified",
        path.display(),
        v.entries
    );
    if v.torn_bytes > 0 {
        out!(
            "the last {} bytes are an entry cut short by a crash while it was written (its read never returned); the node sets them aside at its next start",
            v.torn_bytes
        );
    }
    if !verify_only {
        let text = std::fs::read_to_string(&path).map_err(|e| NodeError::Io {
            what: format!("reading {}", path.display()),
            reason: e.to_string(),
        })?;
        for line in text.lines() {
            if let Ok(e) = serde_json::from_str::<ledger_home::audit_log::AuditEntry>(line) {
                out!(
                    "{:>6}  {}  {} read {} v{} field {} (owner {}) via {}",
                    e.seq,
                    e.read.time_ms,
                    e.read.org,
                    e.read.record,
                    e.read.version,
                    e.read.field,
                    e.read.owner,
                    e.read.client
                );
            }
        }
    }
    Ok(())
}

/// Writes the home's join request: the registration of its organisation that `init` put in
/// the home's own genesis file (signed there by the key it registers), as hex.
pub fn join_request(home: &Path, out: &Path) -> Result<(), NodeError> {
    let config = NodeConfig::load(home)?;
    let path = home.join(ledger_home::config::GENESIS_FILE);
    let (chain_id, txs) = ledger_core::genesis::GenesisFile::load(&path)?.registrations(&path)?;
    let tx = txs
        .iter()
        .find(|t| t.body().signer.as_str() == config.org)
        .ok_or_else(|| {
            NodeError::Fatal(format!(
                "{} holds no registration of {}: run `ledger-node init` for this organisation first",
                path.display(),
                config.org
            ))
        })?;
    let ledger_types::Payload::RegisterMember(m) = &tx.body().payload else {
        return Err(NodeError::Fatal(format!(
            "{} holds a {} for {}, not a registration",
            path.display(),
            tx.kind().name(),
            config.org
        )));
    };
    // Proofs of possession of the ring and audit keys it registers, from their sealed
    // secrets (unsealed by the key provider, wiped after).
    let provider = keys::open_provider(home, &config.keys)?;
    let label = &config.keys.sealing_label;
    let chain = chain_id.as_str();
    use ledger_home::sealed::prove_possession;
    let request = ledger_types::governance::JoinRequest {
        registration: tx.bytes().to_vec(),
        ring_proof: prove_possession::<ledger_crypto::ring::RingSecret>(
            home,
            provider.as_ref(),
            label,
            chain,
            m,
        )?,
        audit_proof: prove_possession::<ledger_proofs::AuditSecret>(
            home,
            provider.as_ref(),
            label,
            chain,
            m,
        )?,
    };
    ledger_home::fsutil::write_file(out, hex::encode(request.encode()).as_bytes(), 0o644)?;
    out!(
        "join request of {} for chain {} written to {} (tx {})",
        config.org,
        chain_id,
        out.display(),
        tx.hash()
    );
    Ok(())
}

/// Stages a new `kind` key in the home and writes the rotation request for governance.
pub fn rotation_request(home: &Path, kind: &str, out: &Path) -> Result<(), NodeError> {
    let kind = ledger_types::KeyKind::from_name(kind).ok_or_else(|| {
        NodeError::Fatal(format!(
            "{kind:?} is not a key kind (signing, encryption, audit, ring)"
        ))
    })?;
    let mut config = NodeConfig::load(home)?;
    let path = home.join(ledger_home::config::GENESIS_FILE);
    let (chain_id, _) = ledger_core::genesis::GenesisFile::load(&path)?.registrations(&path)?;
    let provider = keys::open_provider(home, &config.keys)?;
    let rotation = ledger_home::rotation::stage(
        home,
        &mut config,
        provider.as_ref(),
        chain_id.as_str(),
        kind,
    )?;
    let org = ledger_types::OrgId::new(config.org.clone())
        .map_err(|e| NodeError::Fatal(e.to_string()))?;
    let request = ledger_types::RotationRequest { org, rotation };
    ledger_home::fsutil::write_file(out, hex::encode(request.encode()).as_bytes(), 0o644)?;
    out!(
        "new {} key of {} staged; rotation request written to {} (a governor proposes it with `ledger propose --rotate-key {}`; once it passes, the node adopts the key at start)",
        kind.name(),
        config.org,
        out.display(),
        out.display()
    );
    Ok(())
}

/// Lists the keys in the node's key provider.
pub fn list_keys(home: &Path) -> Result<(), NodeError> {
    let config = NodeConfig::load(home)?;
    let provider = keys::open_provider(home, &config.keys)?;
    out!(
        "{} keys of {} in {}",
        config.keys.backend_name(),
        config.org,
        provider.describe()
    );
    for k in provider
        .list_keys()
        .map_err(|e| NodeError::Fatal(e.to_string()))?
    {
        out!(
            "  {:<28} {:<10} {}",
            k.label,
            format!("{:?}", k.purpose).to_lowercase(),
            k.public.unwrap_or_default()
        );
    }
    Ok(())
}
