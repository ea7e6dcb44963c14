//! `ledger-node init`: a new node home with its keys, configuration and a
//! single-organisation genesis file.

use std::time::{SystemTime, UNIX_EPOCH};

use ledger_core::genesis::{self, GenesisFile, GenesisMember};
use ledger_core::NodeError;
use ledger_crypto::Signer;
use ledger_home::config::{self, KeyBackend, KeysConfig, NodeConfig, CONFIG_FILE, GENESIS_FILE};
use ledger_home::gateway_auth::GatewayClients;
use ledger_home::{keys, out};
use ledger_hsm::ProviderSigner;
use ledger_types::{ChainId, OrgId, Role};

use crate::cli::InitArgs;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Creates the node home `a.home`.
pub fn init(a: InitArgs) -> Result<(), NodeError> {
    if a.home.join(CONFIG_FILE).exists() || a.home.join(GENESIS_FILE).exists() {
        return Err(NodeError::Fatal(format!(
            "{} already holds a node; choose another --home or remove it",
            a.home.display()
        )));
    }
    let org = OrgId::new(a.org.clone()).map_err(|e| NodeError::Fatal(e.to_string()))?;
    let chain_id = ChainId::new(a.chain_id.clone()).map_err(|e| NodeError::Fatal(e.to_string()))?;
    let roles = a
        .roles
        .iter()
        .map(|r| {
            Role::from_name(r.trim()).ok_or_else(|| {
                NodeError::Fatal(format!(
                    "unknown role {r:?}; roles are validator, member, regulator, operator, corporate, carrier"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let circuit_keys = match (&a.circuit_keys, a.development) {
        (Some(k), false) if k == "dev" => {
            return Err(NodeError::Fatal(
                "--circuit-keys dev pins the public development keys, whose trapdoor anyone can recompute to forge invoice checks and financing proofs: only a development chain may use them (add --development for tests and demos; a real chain takes the verifying keys of its consortium's setup, --circuit-keys DIR)".into(),
            ))
        }
        (Some(k), _) => k.clone(),
        (None, true) => "dev".to_string(),
        (None, false) => {
            return Err(NodeError::Fatal(
                "give --circuit-keys DIR (the verifying keys of the consortium's circuit setup, e.g. from `ledger-node circuit-setup`), or --development for a test or demo chain on the public development keys".into(),
            ))
        }
    };
    let suite = a.crypto_suite.suite();
    suite
        .select("--crypto-suite")
        .map_err(|e| NodeError::Fatal(e.to_string()))?;
    let mut keys_config = KeysConfig::for_org(org.as_str());
    keys_config.backend = a.key_backend;
    keys_config.crypto_suite = a.crypto_suite;
    if a.passphrase_file.is_some() {
        keys_config.software.passphrase_env = None;
        keys_config.software.passphrase_file = a.passphrase_file.clone();
    } else {
        keys_config.software.passphrase_env = Some(a.passphrase_env.clone());
    }
    if a.key_backend == KeyBackend::Pkcs11 {
        let token = a.pkcs11_token.clone().ok_or_else(|| {
            NodeError::Fatal("--key-backend pkcs11 needs --pkcs11-token LABEL".into())
        })?;
        keys_config.pkcs11 = Some(config::Pkcs11Keys {
            module: a.pkcs11_module.clone(),
            token,
            pin_env: a.pin_file.is_none().then(|| a.pin_env.clone()),
            pin_file: a.pin_file.clone(),
            signing_algorithm: a.signing_algorithm,
            sm2: a.pkcs11_sm2_sign.clone().map(|sign| config::Pkcs11Sm2 {
                sign,
                sign_input: "message".into(),
                key_pair_gen: "CKM_EC_KEY_PAIR_GEN".into(),
                derive: "CKM_ECDH1_DERIVE".into(),
            }),
        });
    }
    let config = NodeConfig {
        org: org.to_string(),
        grpc: config::GrpcConfig {
            listen: a.grpc_listen,
            tls: a.tls.unwrap_or(if a.grpc_listen.ip().is_loopback() {
                config::TlsMode::Off
            } else {
                config::TlsMode::Mutual
            }),
            ..Default::default()
        },
        storage: Default::default(),
        keys: keys_config,
        block: Default::default(),
        mempool: Default::default(),
        log: Default::default(),
        gateway: config::GatewayConfig {
            listen: Some(a.gateway_listen),
            ..Default::default()
        },
        sync: config::SyncConfig {
            upstream: a.upstream.clone(),
        },
        audit: Default::default(),
        consensus: config::ConsensusSection {
            listen: a
                .p2p_listen
                .clone()
                .unwrap_or_else(|| config::ConsensusSection::default().listen),
            ..Default::default()
        },
        metrics: config::MetricsConfig {
            listen: a.metrics_listen,
        },
        explorer: config::ExplorerConfig {
            listen: a.explorer_listen,
        },
    };
    std::fs::create_dir_all(&a.home).map_err(|e| NodeError::Io {
        what: format!("creating {}", a.home.display()),
        reason: e.to_string(),
    })?;
    let provider = keys::open_provider(&a.home, &config.keys)?;
    let hsm = |e: ledger_hsm::HsmError| NodeError::Fatal(e.to_string());
    provider
        .generate_signing_key(&config.keys.signing_label)
        .map_err(hsm)?;
    let encryption_key = provider
        .generate_agreement_key(&config.keys.agreement_label)
        .map_err(hsm)?;
    provider
        .generate_sealing_key(&config.keys.sealing_label)
        .map_err(hsm)?;
    let key = ProviderSigner::new(provider.clone(), &config.keys.signing_label).map_err(hsm)?;
    // The software secrets the roles call for (a regulator's audit key, a member's ring
    // key), sealed by the key provider.
    let audit_key = ledger_home::sealed::create_for_roles::<ledger_proofs::AuditSecret>(
        &roles,
        &a.home,
        provider.as_ref(),
        &config.keys.sealing_label,
        chain_id.as_str(),
        org.as_str(),
    )?;
    let ring_key = ledger_home::sealed::create_for_roles::<ledger_crypto::ring::RingSecret>(
        &roles,
        &a.home,
        provider.as_ref(),
        &config.keys.sealing_label,
        chain_id.as_str(),
        org.as_str(),
    )?;
    let analytics = if a.analytics_authority {
        if !roles.contains(&Role::Regulator) {
            return Err(NodeError::Fatal(
                "--analytics-authority is for a regulator (add --roles regulator)".into(),
            ));
        }
        let profile = ledger_fhe::Profile::parse(&a.analytics_profile)
            .map_err(|e| NodeError::Fatal(e.to_string()))?;
        let secret = ledger_home::analytics::create(
            &a.home,
            provider.as_ref(),
            &config.keys.sealing_label,
            chain_id.as_str(),
            org.as_str(),
        )?;
        let keys = ledger_fhe::PublicKeys::generate(&secret, profile)
            .map_err(|e| NodeError::Fatal(format!("generating the analytics keys: {e}")))?;
        drop(secret);
        ledger_home::fsutil::write_file(
            &a.home.join(ledger_home::analytics::KEYS_FILE),
            &keys
                .to_bytes()
                .map_err(|e| NodeError::Fatal(format!("serialising the analytics keys: {e}")))?,
            0o644,
        )?;
        Some(genesis::GenesisAnalytics {
            authority: org.to_string(),
            profile: profile.name().to_string(),
            keys_sha256: hex::encode(keys.id()),
        })
    } else {
        None
    };
    let circuits = genesis::circuits_from(&circuit_keys)?;
    let genesis = GenesisFile {
        analytics: analytics.clone(),
        circuits,
        development: a.development,
        chain_id: chain_id.to_string(),
        hash_suite: suite.hash().name().to_string(),
        crypto_suite: suite.name().to_string(),
        timestamp_ms: now_ms(),
        members: vec![GenesisMember::signed(
            &chain_id,
            &org,
            &roles,
            encryption_key,
            audit_key.clone(),
            ring_key,
            &key,
        )?],
    };
    let genesis_path = a.home.join(GENESIS_FILE);
    let genesis_hash = if roles.contains(&Role::Validator) {
        Some(genesis.build(&genesis_path)?.block.hash())
    } else {
        None
    };
    genesis.save(&genesis_path)?;
    config.save(&a.home)?;
    let mut clients = GatewayClients::default();
    let token = clients.add("cli")?;
    clients.save(&a.home.join(&config.gateway.clients_file))?;
    ledger_home::fsutil::write_file(
        &a.home.join(config::CLI_TOKEN_FILE),
        format!("{}\n", token.as_str()).as_bytes(),
        0o600,
    )?;
    out!("initialised node home {}", a.home.display());
    out!("  organisation  {org}");
    out!("  chain id      {chain_id}");
    match genesis_hash {
        Some(h) => out!("  genesis hash  {h}"),
        None => out!(
            "  genesis       this organisation's registration only: merge it with the validators' (ledger-node genesis-merge) and install the result as genesis.json"
        ),
    }
    out!("  crypto suite  {} ({})", suite.name(), suite.describe());
    out!("  keys          {}", provider.describe());
    out!("  signing key   {}", key.public_key());
    if circuit_keys == "dev" {
        out!("  circuits      development keys (public setup seed: a development chain, for tests and demos only)");
    } else {
        out!("  circuits      verifying keys from {circuit_keys}");
    }
    if a.development {
        out!("  chain         DEVELOPMENT (fixed in genesis; never for real value)");
    }
    if !audit_key.is_empty() {
        out!(
            "  audit key     {} (secret sealed by the key provider in {})",
            hex::encode(&audit_key),
            <ledger_proofs::AuditSecret as ledger_home::sealed::SealedKey>::FILE
        );
    }
    if let Some(an) = &analytics {
        out!(
            "  analytics     authority, {} profile; public keys {} in {} (copy it beside genesis.json in every home); secret sealed in {}",
            an.profile,
            an.keys_sha256,
            ledger_home::analytics::KEYS_FILE,
            ledger_home::analytics::SECRET_FILE
        );
    }
    out!("  gRPC API      {}", config.grpc.listen);
    out!(
        "  gateway       {} (client \"cli\": token in {})",
        a.gateway_listen,
        config::CLI_TOKEN_FILE
    );
    if let Some(m) = a.metrics_listen {
        out!("  metrics       http://{m}/metrics");
    }
    if let Some(e) = a.explorer_listen {
        out!("  explorer      http://{e}/");
    }
    if let Some(out) = &a.join {
        crate::admin::join_request(&a.home, out)?;
        out!("next: hand {} to a governor of {chain_id} (`ledger propose --admit FILE`); once admitted, put the consortium's genesis.json in {}, set [sync] upstream in config.toml to a validator's API, and start", out.display(), a.home.display());
    }
    Ok(())
}
