use thiserror::Error;

/// Why a key provider operation failed. Messages name what was looked for and never
/// contain a PIN or key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum HsmError {
    /// The PKCS#11 module could not be loaded.
    #[error("cannot load the PKCS#11 module {module}: {reason}")]
    ModuleLoad {
        /// The module path.
        module: String,
        /// The loader's reason.
        reason: String,
    },
    /// No slot holds a token with this label.
    #[error("no token labelled {token:?} in module {module} (tokens present: {available})")]
    TokenNotFound {
        /// The label looked for.
        token: String,
        /// The module.
        module: String,
        /// The labels that exist.
        available: String,
    },
    /// The token refused the PIN. Not retried: repeated wrong PINs can lock a token.
    #[error("token {token:?} refused the PIN; not retrying (repeated wrong PINs can lock the token). Check the PIN source and try once more")]
    WrongPin {
        /// The token.
        token: String,
    },
    /// The token is locked.
    #[error("the user PIN of token {token:?} is locked; the security officer must reset it")]
    PinLocked {
        /// The token.
        token: String,
    },
    /// The software key store's passphrase does not open a key (or the file was altered).
    #[error("software key store {store}: {reason}")]
    WrongPassphrase {
        /// The store folder.
        store: String,
        /// What failed.
        reason: String,
    },
    /// No key with this label and purpose.
    #[error("no {purpose} key labelled {label:?} in {provider}")]
    KeyNotFound {
        /// The label.
        label: String,
        /// The purpose looked for.
        purpose: &'static str,
        /// The provider.
        provider: String,
    },
    /// A key with this label and purpose exists already.
    #[error("a {purpose} key labelled {label:?} already exists in {provider}")]
    KeyExists {
        /// The label.
        label: String,
        /// The purpose.
        purpose: &'static str,
        /// The provider.
        provider: String,
    },
    /// Sealed data failed to open (changed, wrong key or wrong associated data).
    #[error("sealed data under {label:?} does not open: it was altered, or sealed under another key or context")]
    UnsealFailed {
        /// The sealing key.
        label: String,
    },
    /// The token does not offer a mechanism the node needs.
    #[error("token {token:?} does not offer {mechanism}, which the node needs for {purpose}")]
    MechanismMissing {
        /// The token.
        token: String,
        /// The mechanism.
        mechanism: &'static str,
        /// What it is needed for.
        purpose: &'static str,
    },
    /// A configured vendor mechanism is not offered by the token.
    #[error("token {token:?} does not offer {mechanism}, configured for {purpose} (check [keys.pkcs11.sm2] against the vendor's PKCS#11 manual)")]
    VendorMechanismMissing {
        /// The token.
        token: String,
        /// The mechanism, named and numbered.
        mechanism: String,
        /// What it is needed for.
        purpose: &'static str,
    },
    /// The SM suite on a PKCS#11 token without its SM2 mechanisms configured.
    #[error("token {token:?}: the SM crypto suite needs the token's SM2 mechanisms, which PKCS#11 does not standardise; set [keys.pkcs11.sm2] sign = \"NAME=CKM_VENDOR_DEFINED+n\" (and key_pair_gen, derive if not the standard EC ones) from the vendor's manual. SoftHSM has none: use the software backend for SM keys (docs/hsm.md)")]
    SmNotConfigured {
        /// The token.
        token: String,
    },
    /// Signing this consensus message would equivocate.
    #[error("refusing to sign {requested}: {reason}")]
    Equivocation {
        /// The step asked for.
        requested: String,
        /// Why it is refused.
        reason: String,
    },
    /// The equivocation guard's file could not be read or written.
    #[error("equivocation guard {path}: {reason}")]
    GuardStorage {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Any other PKCS#11 failure.
    #[error("PKCS#11 {operation} failed: {reason}")]
    Pkcs11 {
        /// The operation.
        operation: &'static str,
        /// The module's reason.
        reason: String,
    },
    /// The token returned something malformed.
    #[error("token returned a malformed {what}")]
    Malformed {
        /// What.
        what: &'static str,
    },
}
