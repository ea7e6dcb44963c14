//! Software secrets kept at rest sealed by the node's sealing key inside its key provider
//! (AES-256-GCM in the HSM), bound by associated data to what they are, the chain and the
//! organisation; unsealed only when used, wiped after.
//!
//! Two exist, because no PKCS#11 mechanism does Ristretto arithmetic: a member's ring key
//! (anonymous endorsements, `ledger_crypto::ring`) and a regulator's twisted-ElGamal audit
//! key (sums of committed amounts, `ledger_proofs`).
//! `init` creates them, `start` checks them against genesis, the node loads them for the
//! one operation that needs them.

use std::path::{Path, PathBuf};

use ledger_crypto::ring::RingSecret;
use ledger_hsm::KeyProvider;
use ledger_proofs::AuditSecret;
use ledger_types::{RegisterMember, Role};
use zeroize::Zeroizing;

use crate::error::HomeError;

/// A secret kept sealed in a file of the node home.
pub trait SealedKey: Sized {
    /// The file in the node home.
    const FILE: &'static str;
    /// The label of its associated data.
    const KIND: &'static str;
    /// Its name in messages.
    const WHAT: &'static str;
    /// The role whose holders have one.
    const ROLE: Role;
    /// The public key a registration holds (empty: none).
    fn registered(m: &RegisterMember) -> &[u8];
    /// A fresh secret.
    fn generate() -> Self;
    /// The secret's 32 bytes.
    fn secret_bytes(&self) -> Zeroizing<[u8; 32]>;
    /// Reads [`SealedKey::secret_bytes`].
    fn from_secret_bytes(b: &[u8]) -> Result<Self, String>;
    /// The public key registered in genesis.
    fn public_bytes(&self) -> [u8; 32];
    /// The kind named in its proof of possession's context.
    const PROOF_KIND: &'static str;
    /// A proof of possession bound to `context` (`ledger_crypto::possession::context`).
    fn prove_possession(&self, context: &[u8]) -> [u8; 64];
}

/// The proof of possession of the sealed `K` of `org` on `chain_id` (empty when the
/// registration holds no such key).
pub fn prove_possession<K: SealedKey>(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    m: &RegisterMember,
) -> Result<Vec<u8>, HomeError> {
    if K::registered(m).is_empty() {
        return Ok(Vec::new());
    }
    check::<K>(
        home,
        provider,
        sealing_label,
        chain_id,
        m.org.as_str(),
        K::registered(m),
    )?;
    let secret = load::<K>(home, provider, sealing_label, chain_id, m.org.as_str())?;
    let context = ledger_crypto::possession::context(chain_id, m.org.as_str(), K::PROOF_KIND);
    Ok(secret.prove_possession(&context).to_vec())
}

impl SealedKey for AuditSecret {
    const FILE: &'static str = "audit-elgamal.sealed";
    const KIND: &'static str = "cl/audit-elgamal/v1";
    const WHAT: &'static str = "audit key";
    const ROLE: Role = Role::Regulator;
    fn registered(m: &RegisterMember) -> &[u8] {
        &m.audit_key
    }
    fn generate() -> Self {
        AuditSecret::generate()
    }
    fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.to_bytes())
    }
    fn from_secret_bytes(b: &[u8]) -> Result<Self, String> {
        AuditSecret::from_bytes(b).map_err(|e| e.to_string())
    }
    fn public_bytes(&self) -> [u8; 32] {
        self.public().to_bytes()
    }
    const PROOF_KIND: &'static str = "audit";
    fn prove_possession(&self, context: &[u8]) -> [u8; 64] {
        AuditSecret::prove_possession(self, context)
    }
}

impl SealedKey for RingSecret {
    const FILE: &'static str = "ring-key.sealed";
    const KIND: &'static str = "cl/ring-key/v1";
    const WHAT: &'static str = "ring key";
    const ROLE: Role = Role::Member;
    fn registered(m: &RegisterMember) -> &[u8] {
        &m.ring_key
    }
    fn generate() -> Self {
        RingSecret::generate()
    }
    fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.to_bytes())
    }
    fn from_secret_bytes(b: &[u8]) -> Result<Self, String> {
        RingSecret::from_bytes(b).map_err(|e| e.to_string())
    }
    fn public_bytes(&self) -> [u8; 32] {
        self.public()
    }
    const PROOF_KIND: &'static str = "ring";
    fn prove_possession(&self, context: &[u8]) -> [u8; 64] {
        RingSecret::prove_possession(self, context)
    }
}

/// Where `K` lives in `home`.
pub fn path<K: SealedKey>(home: &Path) -> PathBuf {
    home.join(K::FILE)
}

fn aad<K: SealedKey>(chain_id: &str, org: &str) -> Vec<u8> {
    format!("{}\0{chain_id}\0{org}", K::KIND).into_bytes()
}

/// Generates a `K`, seals it with `sealing_label` and writes it to the home (hex, mode
/// 0600); refuses to overwrite an existing one. Returns the secret, for its public key.
pub fn create<K: SealedKey>(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<K, HomeError> {
    let p = path::<K>(home);
    if p.exists() {
        return Err(HomeError::Sealed(format!(
            "{} already exists; the {} is generated once",
            p.display(),
            K::WHAT
        )));
    }
    seal_new::<K>(&p, provider, sealing_label, chain_id, org)
}

/// Generates a `K`, seals it with `sealing_label` (bound to what it is, the chain and the
/// organisation) and writes it to `p` (hex, mode 0600).
fn seal_new<K: SealedKey>(
    p: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<K, HomeError> {
    let secret = K::generate();
    write_sealed(
        p,
        provider,
        sealing_label,
        secret.secret_bytes().as_slice(),
        &aad::<K>(chain_id, org),
        K::WHAT,
    )?;
    Ok(secret)
}

/// Seals `plaintext` (bound to `aad`) with `sealing_label` and writes it to `p` (hex, mode
/// 0600); `what` names it in errors.
pub(crate) fn write_sealed(
    p: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    plaintext: &[u8],
    aad: &[u8],
    what: &str,
) -> Result<(), HomeError> {
    let sealed = provider
        .seal(sealing_label, plaintext, aad)
        .map_err(|e| HomeError::Sealed(format!("sealing the {what}: {e}")))?;
    crate::fsutil::write_file(p, hex::encode(sealed).as_bytes(), 0o600)
}

/// Reads and unseals what [`write_sealed`] wrote (wiped when dropped), with a clear error if
/// the file is missing, altered, or sealed by another key or for other associated data.
pub(crate) fn read_sealed(
    p: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    aad: &[u8],
    what: &str,
) -> Result<Zeroizing<Vec<u8>>, HomeError> {
    let text = std::fs::read_to_string(p).map_err(|e| HomeError::Io {
        what: format!("reading the sealed {what} {}", p.display()),
        reason: e.to_string(),
    })?;
    let sealed = hex::decode(text.trim()).map_err(|_| {
        HomeError::Sealed(format!("{} is not hex: the file is damaged", p.display()))
    })?;
    provider.unseal(sealing_label, &sealed, aad).map_err(|e| {
        HomeError::Sealed(format!(
            "unsealing the {what} {}: {e} (altered, or sealed by another key, chain or organisation)",
            p.display()
        ))
    })
}

/// [`create`] for an organisation with `roles`: the public key to register, or nothing if
/// its roles do not call for a `K`.
pub fn create_for_roles<K: SealedKey>(
    roles: &[Role],
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<Vec<u8>, HomeError> {
    if !roles.contains(&K::ROLE) {
        return Ok(vec![]);
    }
    let secret = create::<K>(home, provider, sealing_label, chain_id, org)?;
    Ok(secret.public_bytes().to_vec())
}

/// Unseals `K` (wiped when dropped). Fails with a clear error if the file is missing,
/// altered, or sealed by another key, chain or organisation.
pub fn load<K: SealedKey>(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<K, HomeError> {
    load_path::<K>(&path::<K>(home), provider, sealing_label, chain_id, org)
}

/// Where a `K` generated for a rotation waits until the ledger holds its public key.
pub fn staged_path<K: SealedKey>(home: &Path) -> PathBuf {
    home.join(format!("{}.next", K::FILE))
}

/// Where the `K`s a rotation replaced are kept (a regulator reads the amounts of its
/// former audit epochs with them).
pub fn former_dir(home: &Path) -> PathBuf {
    home.join("former-keys")
}

/// The `K` staged for a rotation: the one staged before if any (a rotation retried
/// proposes the same key), else a new one, sealed to [`staged_path`].
pub fn stage<K: SealedKey>(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<K, HomeError> {
    let p = staged_path::<K>(home);
    if p.exists() {
        return load_path::<K>(&p, provider, sealing_label, chain_id, org);
    }
    seal_new::<K>(&p, provider, sealing_label, chain_id, org)
}

/// Makes the staged `K` the current one once `registered` (the member directory's key)
/// is its public key: the current file moves to [`former_dir`], named by its public key.
/// Returns whether it did (false: nothing staged, or the ledger holds another key).
pub fn promote<K: SealedKey>(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
    registered: &[u8],
) -> Result<bool, HomeError> {
    let staged = staged_path::<K>(home);
    if !staged.exists() {
        return Ok(false);
    }
    let next = load_path::<K>(&staged, provider, sealing_label, chain_id, org)?;
    if next.public_bytes().as_slice() != registered {
        return Ok(false);
    }
    let io = |what: String, e: std::io::Error| HomeError::Io {
        what,
        reason: e.to_string(),
    };
    let current = path::<K>(home);
    if current.exists() {
        let old = load_path::<K>(&current, provider, sealing_label, chain_id, org)?;
        let dir = former_dir(home);
        std::fs::create_dir_all(&dir).map_err(|e| io(format!("creating {}", dir.display()), e))?;
        let kept = dir.join(format!("{}.{}", K::FILE, hex::encode(old.public_bytes())));
        std::fs::rename(&current, &kept).map_err(|e| {
            io(
                format!("moving {} to {}", current.display(), kept.display()),
                e,
            )
        })?;
    }
    std::fs::rename(&staged, &current).map_err(|e| {
        io(
            format!("moving {} to {}", staged.display(), current.display()),
            e,
        )
    })?;
    Ok(true)
}

/// The `K`s former rotations replaced (none if it never rotated).
pub fn load_former<K: SealedKey>(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<Vec<K>, HomeError> {
    let dir = former_dir(home);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}.", K::FILE);
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| load_path::<K>(p, provider, sealing_label, chain_id, org))
        .collect()
}

fn load_path<K: SealedKey>(
    p: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
) -> Result<K, HomeError> {
    let plain = read_sealed(
        p,
        provider,
        sealing_label,
        &aad::<K>(chain_id, org),
        K::WHAT,
    )?;
    K::from_secret_bytes(&plain)
        .map_err(|e| HomeError::Sealed(format!("the unsealed {} is unusable: {e}", K::WHAT)))
}

/// Checks the sealed `K` against `m`'s registration, if it registered one.
pub fn check_registered<K: SealedKey>(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    m: &RegisterMember,
) -> Result<(), HomeError> {
    match K::registered(m) {
        [] => Ok(()),
        key => check::<K>(home, provider, sealing_label, chain_id, m.org.as_str(), key),
    }
}

/// Checks that the sealed `K` matches the public key registered on the chain.
pub fn check<K: SealedKey>(
    home: &Path,
    provider: &dyn KeyProvider,
    sealing_label: &str,
    chain_id: &str,
    org: &str,
    registered: &[u8],
) -> Result<(), HomeError> {
    let secret = load::<K>(home, provider, sealing_label, chain_id, org)?;
    if secret.public_bytes().as_slice() != registered {
        return Err(HomeError::Sealed(format!(
            "the {} sealed in {} is not the {} registered for {org}",
            K::WHAT,
            path::<K>(home).display(),
            K::WHAT
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use ledger_hsm::{KdfCost, SoftwareProvider};

    fn sealed_bound_and_checked<K: SealedKey>() {
        let dir = tempfile::tempdir().unwrap();
        let p = SoftwareProvider::open(
            &dir.path().join("keys"),
            zeroize::Zeroizing::new("test passphrase".to_string()),
            KdfCost::DEFAULT,
        )
        .unwrap();
        p.generate_sealing_key("org-seal").unwrap();
        let home = dir.path();
        let public = create::<K>(home, &p, "org-seal", "chain", "org-a")
            .unwrap()
            .public_bytes();
        // Never in clear on disk.
        let text = std::fs::read_to_string(path::<K>(home)).unwrap();
        let secret = load::<K>(home, &p, "org-seal", "chain", "org-a").unwrap();
        assert_eq!(secret.public_bytes(), public);
        assert!(!text.contains(&hex::encode(secret.secret_bytes().as_slice())));
        check::<K>(home, &p, "org-seal", "chain", "org-a", &public).unwrap();
        // Another chain or organisation, a wrong registration, an altered file: refused.
        assert!(load::<K>(home, &p, "org-seal", "other-chain", "org-a").is_err());
        assert!(load::<K>(home, &p, "org-seal", "chain", "org-b").is_err());
        assert!(check::<K>(home, &p, "org-seal", "chain", "org-a", &[1; 32]).is_err());
        let mut bytes = hex::decode(text.trim()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(path::<K>(home), hex::encode(bytes)).unwrap();
        assert!(load::<K>(home, &p, "org-seal", "chain", "org-a").is_err());
        // Created once.
        assert!(create::<K>(home, &p, "org-seal", "chain", "org-a").is_err());
    }

    #[test]
    fn a_staged_key_is_kept_until_the_ledger_holds_it_and_the_old_one_is_kept_after() {
        let dir = tempfile::tempdir().unwrap();
        let p = SoftwareProvider::open(
            &dir.path().join("keys"),
            zeroize::Zeroizing::new("test passphrase".to_string()),
            KdfCost::DEFAULT,
        )
        .unwrap();
        p.generate_sealing_key("org-seal").unwrap();
        let home = dir.path();
        let args = (home, &p, "org-seal", "chain", "org-a");
        let first = create::<AuditSecret>(args.0, args.1, args.2, args.3, args.4).unwrap();
        let next = stage::<AuditSecret>(args.0, args.1, args.2, args.3, args.4).unwrap();
        // Staging again proposes the same key.
        let again = stage::<AuditSecret>(args.0, args.1, args.2, args.3, args.4).unwrap();
        assert_eq!(next.public_bytes(), again.public_bytes());
        // The ledger still holds the first key: nothing moves.
        assert!(!promote::<AuditSecret>(
            args.0,
            args.1,
            args.2,
            args.3,
            args.4,
            &first.public_bytes()
        )
        .unwrap());
        assert!(
            load_former::<AuditSecret>(args.0, args.1, args.2, args.3, args.4)
                .unwrap()
                .is_empty()
        );
        // It holds the new one: the new one is current, the first is a former key.
        assert!(promote::<AuditSecret>(
            args.0,
            args.1,
            args.2,
            args.3,
            args.4,
            &next.public_bytes()
        )
        .unwrap());
        let current = load::<AuditSecret>(args.0, args.1, args.2, args.3, args.4).unwrap();
        assert_eq!(current.public_bytes(), next.public_bytes());
        let former = load_former::<AuditSecret>(args.0, args.1, args.2, args.3, args.4).unwrap();
        assert_eq!(former.len(), 1);
        assert_eq!(former[0].public_bytes(), first.public_bytes());
        assert!(!staged_path::<AuditSecret>(home).exists());
    }

    #[test]
    fn the_audit_key_is_sealed_bound_and_checked() {
        sealed_bound_and_checked::<AuditSecret>();
    }

    #[test]
    fn the_ring_key_is_sealed_bound_and_checked() {
        sealed_bound_and_checked::<RingSecret>();
    }

    #[test]
    fn audit_and_ring_keys_are_sealed_apart() {
        // Same home, same sealing key: a file sealed as one kind does not open as the other.
        let dir = tempfile::tempdir().unwrap();
        let p = SoftwareProvider::open(
            &dir.path().join("keys"),
            zeroize::Zeroizing::new("test passphrase".to_string()),
            KdfCost::DEFAULT,
        )
        .unwrap();
        p.generate_sealing_key("org-seal").unwrap();
        create::<RingSecret>(dir.path(), &p, "org-seal", "chain", "org-a").unwrap();
        std::fs::copy(
            path::<RingSecret>(dir.path()),
            path::<AuditSecret>(dir.path()),
        )
        .unwrap();
        assert!(load::<AuditSecret>(dir.path(), &p, "org-seal", "chain", "org-a").is_err());
    }
}
