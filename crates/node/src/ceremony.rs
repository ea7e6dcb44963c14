//! `ledger-node ceremony`: the consortium's multi-party setup of the circuit keys, kept as
//! a public transcript in a folder:
//!
//! ```text
//! DIR/ceremony.txt          the domain size and the circuits
//! DIR/powers/NNN.bin        phase 1: contribution NNN (from 001): its proofs, then the new powers
//! DIR/<circuit>/000.bin     phase 2 start: the circuit's keys from the final powers (prepare)
//! DIR/<circuit>/NNN.bin     phase 2: contribution NNN: its proof, then the new keys
//! ```
//!
//! A contribution file is the contribution's bytes after their length (8 bytes, big
//! endian), then the state it produced. The cryptography is in
//! `ledger_circuits::ceremony`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ledger_circuits::ceremony::{
    domain_size, update_bytes, update_from_bytes, verify_circuit, verify_powers, CircuitState,
    DeltaUpdate, Powers, PowersUpdate,
};
use ledger_circuits::CircuitId;
use ledger_core::NodeError;
use ledger_home::out;

use crate::cli::CeremonyCommand;

/// Runs one step.
pub fn run(command: CeremonyCommand) -> Result<(), NodeError> {
    match command {
        CeremonyCommand::New { dir } => new(&dir),
        CeremonyCommand::Contribute { dir, org } => contribute(&dir, &org),
        CeremonyCommand::Prepare { dir } => prepare(&dir),
        CeremonyCommand::Verify { dir } => verify(&dir).map(|_| ()),
        CeremonyCommand::Finish { dir, out } => finish(&dir, &out),
    }
}

fn fatal(e: impl std::fmt::Display) -> NodeError {
    NodeError::Fatal(e.to_string())
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> NodeError {
    move |e| NodeError::Io {
        what,
        reason: e.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, NodeError> {
    std::fs::read(path).map_err(io(format!("reading {}", path.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(format!("creating {}", parent.display())))?;
    }
    ledger_home::fsutil::write_file(path, bytes, 0o644)?;
    Ok(())
}

/// The domain the transcript's powers serve.
fn domain_of(dir: &Path) -> Result<usize, NodeError> {
    let path = dir.join("ceremony.txt");
    let text = String::from_utf8(read(&path)?).map_err(fatal)?;
    text.lines()
        .find_map(|l| l.strip_prefix("domain "))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| fatal(format!("{} names no domain", path.display())))
}

/// The numbered contribution files of `sub`, in order (000 excluded).
fn contributions(dir: &Path, sub: &str) -> Result<Vec<PathBuf>, NodeError> {
    let folder = dir.join(sub);
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&folder) {
        for e in entries {
            let p = e
                .map_err(io(format!("listing {}", folder.display())))?
                .path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.len() == 7 && name.ends_with(".bin") && name != "000.bin" {
                files.push(p);
            }
        }
    }
    files.sort();
    for (i, f) in files.iter().enumerate() {
        let expected = format!("{:03}.bin", i + 1);
        if f.file_name().and_then(|n| n.to_str()) != Some(expected.as_str()) {
            return Err(fatal(format!(
                "{}: contributions must be numbered from 001 without gaps; expected {expected}",
                folder.display()
            )));
        }
    }
    Ok(files)
}

fn split(path: &Path) -> Result<(Vec<u8>, Vec<u8>), NodeError> {
    let bytes = read(path)?;
    let bad = || fatal(format!("{} is not a contribution file", path.display()));
    let len = bytes
        .get(..8)
        .map(|b| u64::from_be_bytes(b.try_into().unwrap_or_default()) as usize)
        .ok_or_else(bad)?;
    if bytes.len() < 8 + len {
        return Err(bad());
    }
    Ok((bytes[8..8 + len].to_vec(), bytes[8 + len..].to_vec()))
}

fn framed(update: &[u8], state: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + update.len() + state.len());
    out.extend_from_slice(&(update.len() as u64).to_be_bytes());
    out.extend_from_slice(update);
    out.extend_from_slice(state);
    out
}

/// Phase 1 as written: every state from the initial one, and the contributions.
fn load_powers(dir: &Path) -> Result<(Vec<Powers>, Vec<PowersUpdate>), NodeError> {
    let mut states = vec![Powers::initial(domain_of(dir)?)];
    let mut updates = Vec::new();
    for f in contributions(dir, "powers")? {
        let (u, s) = split(&f)?;
        updates.push(update_from_bytes::<PowersUpdate>(&u).map_err(fatal)?);
        states.push(Powers::from_bytes(&s).map_err(fatal)?);
    }
    Ok((states, updates))
}

/// A circuit's phase 2 as written.
fn load_circuit(
    dir: &Path,
    id: CircuitId,
) -> Result<(Vec<CircuitState>, Vec<DeltaUpdate>), NodeError> {
    let start = dir.join(id.name()).join("000.bin");
    let mut states = vec![CircuitState::from_bytes(id, &read(&start)?).map_err(fatal)?];
    let mut updates = Vec::new();
    for f in contributions(dir, id.name())? {
        let (u, s) = split(&f)?;
        updates.push(update_from_bytes::<DeltaUpdate>(&u).map_err(fatal)?);
        states.push(CircuitState::from_bytes(id, &s).map_err(fatal)?);
    }
    Ok((states, updates))
}

fn prepared(dir: &Path) -> bool {
    CircuitId::ALL
        .iter()
        .all(|id| dir.join(id.name()).join("000.bin").exists())
}

fn new(dir: &Path) -> Result<(), NodeError> {
    if dir.join("ceremony.txt").exists() {
        return Err(fatal(format!("{} already holds a ceremony", dir.display())));
    }
    let mut domain = 0;
    for id in CircuitId::ALL {
        let n = domain_size(id).map_err(fatal)?;
        out!("{:<15} needs a domain of {n}", id.name());
        domain = domain.max(n);
    }
    let names: Vec<&str> = CircuitId::ALL.iter().map(|c| c.name()).collect();
    write(
        &dir.join("ceremony.txt"),
        format!("domain {domain}\ncircuits {}\n", names.join(",")).as_bytes(),
    )?;
    out!(
        "ceremony started in {} (powers of tau for a domain of {domain}); next: each bank runs `ledger-node ceremony contribute --dir {} --org ORG`",
        dir.display(),
        dir.display()
    );
    Ok(())
}

fn contribute(dir: &Path, org: &str) -> Result<(), NodeError> {
    ledger_types::OrgId::new(org).map_err(fatal)?;
    let mut rng = rand::rngs::OsRng;
    if !prepared(dir) {
        let (states, updates) = load_powers(dir)?;
        let i = updates.len();
        if let Some(u) = updates.last() {
            states[i - 1].verify_update(&states[i], u).map_err(|r| {
                fatal(format!(
                    "contribution {i} by {} does not verify: {r}",
                    u.who
                ))
            })?;
        }
        let started = Instant::now();
        let (next, update) = states[i].contribute(org, &mut rng);
        let took = started.elapsed().as_secs_f64();
        let path = dir.join("powers").join(format!("{:03}.bin", i + 1));
        write(&path, &framed(&update_bytes(&update), &next.to_bytes()))?;
        out!(
            "phase 1: contribution {} by {org} to the powers of tau ({took:.1} s), written to {}",
            i + 1,
            path.display()
        );
        return Ok(());
    }
    for id in CircuitId::ALL {
        let (states, updates) = load_circuit(dir, id)?;
        let i = updates.len();
        if let Some(u) = updates.last() {
            states[i - 1].verify_update(&states[i], u).map_err(|r| {
                fatal(format!(
                    "{}: contribution {i} by {} does not verify: {r}",
                    id.name(),
                    u.who
                ))
            })?;
        }
        let started = Instant::now();
        let (next, update) = states[i].contribute(org, &mut rng);
        let took = started.elapsed().as_secs_f64();
        let path = dir.join(id.name()).join(format!("{:03}.bin", i + 1));
        write(&path, &framed(&update_bytes(&update), &next.to_bytes()))?;
        out!(
            "phase 2: contribution {} by {org} to {} ({took:.1} s)",
            i + 1,
            id.name()
        );
    }
    Ok(())
}

fn prepare(dir: &Path) -> Result<(), NodeError> {
    if prepared(dir) {
        return Err(fatal("phase 2 has already started"));
    }
    let (states, updates) = load_powers(dir)?;
    if updates.is_empty() {
        return Err(fatal("no contribution to the powers of tau yet"));
    }
    verify_powers(&states, &updates).map_err(fatal)?;
    let last = &states[states.len() - 1];
    for id in CircuitId::ALL {
        let started = Instant::now();
        let keys = last.circuit_keys(id).map_err(fatal)?;
        write(&dir.join(id.name()).join("000.bin"), &keys.to_bytes())?;
        out!(
            "{:<15} starting keys from the final powers ({:.1} s)",
            id.name(),
            started.elapsed().as_secs_f64()
        );
    }
    out!(
        "phase 1 closed after {} contributions; next: each bank contributes again (phase 2)",
        updates.len()
    );
    Ok(())
}

/// Checks everything; returns each circuit's final keys.
fn verify(dir: &Path) -> Result<Vec<CircuitState>, NodeError> {
    let (states, updates) = load_powers(dir)?;
    verify_powers(&states, &updates).map_err(fatal)?;
    for (i, u) in updates.iter().enumerate() {
        out!("phase 1  contribution {:>2}  {:<16} verified", i + 1, u.who);
    }
    if !prepared(dir) {
        return Err(fatal("phase 2 has not started (run `ceremony prepare`)"));
    }
    let last = &states[states.len() - 1];
    let mut finals = Vec::new();
    for id in CircuitId::ALL {
        let (cstates, cupdates) = load_circuit(dir, id)?;
        verify_circuit(last, id, &cstates, &cupdates).map_err(fatal)?;
        for (i, u) in cupdates.iter().enumerate() {
            out!(
                "phase 2  contribution {:>2}  {:<16} verified ({})",
                i + 1,
                u.who,
                id.name()
            );
        }
        if cupdates.is_empty() {
            return Err(fatal(format!("{}: no phase-2 contribution yet", id.name())));
        }
        let keys = cstates
            .into_iter()
            .next_back()
            .ok_or_else(|| fatal("no keys"))?;
        let (_, vk) = keys.keys().map_err(fatal)?;
        out!("{:<15} verifying key {}", id.name(), vk.fingerprint());
        finals.push(keys);
    }
    Ok(finals)
}

fn finish(dir: &Path, out_dir: &Path) -> Result<(), NodeError> {
    let finals = verify(dir)?;
    for keys in finals {
        let (pk, vk) = keys.keys().map_err(fatal)?;
        let name = keys.id().name();
        write(
            &out_dir.join(format!("{name}.pk")),
            &pk.to_bytes().map_err(fatal)?,
        )?;
        write(
            &out_dir.join(format!("{name}.vk")),
            format!("{}\n", hex::encode(vk.to_bytes())).as_bytes(),
        )?;
    }
    out!(
        "keys written to {}: give `init --circuit-keys {}` to every founding organisation and copy the .pk files to <home>/circuits of every node that proves",
        out_dir.display(),
        out_dir.display()
    );
    Ok(())
}
