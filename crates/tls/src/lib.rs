//! Mutual TLS between the ledger's members, with the ledger as the only authority.
//!
//! Every party (a node serving its public API, a node relaying to or following another, a
//! member's CLI) presents a certificate **bound to its organisation's ledger signing key**:
//!
//! - the certificate's own key is a fresh Ed25519 key made in memory when the process
//!   first needs it (never written anywhere), so the long-term key stays in the HSM;
//! - an extension carries the organisation's id, its signing public key and that key's
//!   signature (made by the HSM) over a domain-separated digest of the chain id, the
//!   organisation and the certificate's key ([`binding_digest`]).
//!
//! A peer accepts a certificate only when the organisation is a member in good standing
//! *now* and the binding verifies under the signing key the ledger holds for it *now*
//! (a [`Directory`] answers both from committed state). There is no certificate authority
//! to run, to trust or to revoke through: suspending or removing a member, or rotating
//! its signing key, is what revokes its connections, from the block that does it. The
//! certificate's key proves itself in the handshake (TLS 1.3 `CertificateVerify`, only
//! Ed25519 accepted); the X.509 validity dates and names are not used.
//!
//! The ledger signs 32-byte digests only, and a binding is one of them (its own domain),
//! so the signing key never signs TLS transcripts: those are signed by the certificate's
//! key.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::Verifier as _;
use ledger_crypto::Signer;
use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{ChainId, Hash, HashSuite, OrgId, PublicKey, Signature};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    ServerConfig, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint};
use zeroize::Zeroizing;

pub use tokio_rustls;

/// The domain of the digest an organisation's signing key signs to bind a TLS key.
pub const BINDING_DOMAIN: &str = "cl/tls-binding/v1";

/// The certificate extension that carries the binding. The arc 1.3.6.1.4.1.32473 is
/// IANA's enterprise number for documentation (RFC 5612); a consortium that wants its own
/// registers one and changes it here (every member must agree).
pub const BINDING_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 32473, 7, 1];

/// The server name clients send: certificates are checked against the ledger, not
/// against names, so the name is a fixed, unresolvable one.
pub const SERVER_NAME: &str = "ledger-node.invalid";

/// Longest time a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const ED25519_OID: &str = "1.3.101.112";
const MAX_SIGNATURE_BYTES: usize = 128;

/// The digest `org`'s signing key signs to vouch for the TLS key `tls_key` on `chain`.
pub fn binding_digest(chain: &ChainId, org: &OrgId, tls_key: &[u8; 32]) -> Hash {
    let mut e = Encoder::new();
    chain.encode(&mut e);
    org.encode(&mut e);
    e.fixed(tls_key);
    HashSuite::current().digest(BINDING_DOMAIN, &[&e.finish()])
}

/// What a certificate says about who holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Binding {
    /// The organisation.
    pub org: OrgId,
    /// The organisation's ledger signing key that vouched for the certificate's key.
    pub member_key: PublicKey,
    /// The certificate's own (Ed25519) key.
    pub tls_key: [u8; 32],
    /// `member_key`'s signature over [`binding_digest`].
    pub signature: Signature,
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binding")
            .field("org", &self.org)
            .field("member_key", &self.member_key)
            .finish_non_exhaustive()
    }
}

impl Binding {
    fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.org.encode(&mut e);
        self.member_key.encode(&mut e);
        e.bytes(&self.signature.0);
        e.finish()
    }

    /// Reads the binding out of a certificate (DER). Checks the form only: that the
    /// certificate's key is Ed25519 and that it carries one binding extension; whether
    /// the binding holds is [`MemberVerifier`]'s question.
    pub fn from_certificate(der: &[u8]) -> Result<Self, String> {
        let (rest, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("the certificate is not X.509 DER: {e}"))?;
        if !rest.is_empty() {
            return Err("the certificate has trailing bytes".into());
        }
        let spki = cert.public_key();
        if spki.algorithm.algorithm.to_id_string() != ED25519_OID {
            return Err(format!(
                "the certificate's key is not Ed25519 (algorithm {})",
                spki.algorithm.algorithm.to_id_string()
            ));
        }
        let tls_key: [u8; 32] = spki
            .subject_public_key
            .data
            .as_ref()
            .try_into()
            .map_err(|_| "the certificate's Ed25519 key is not 32 bytes".to_string())?;
        let oid = oid_text(BINDING_OID);
        let mut found = cert
            .extensions()
            .iter()
            .filter(|x| x.oid.to_id_string() == oid);
        let ext = found
            .next()
            .ok_or_else(|| format!("the certificate carries no ledger binding (extension {oid}); is the peer a ledger node or CLI?"))?;
        if found.next().is_some() {
            return Err("the certificate carries two ledger bindings".into());
        }
        let inner = der_octet_string(ext.value)
            .ok_or_else(|| "the ledger binding is not a DER octet string".to_string())?;
        let mut d = Decoder::new(inner);
        let bad = |e: ledger_types::CodecError| format!("the ledger binding is malformed: {e}");
        let org = OrgId::decode(&mut d).map_err(bad)?;
        let member_key = PublicKey::decode(&mut d).map_err(bad)?;
        let signature = Signature(
            d.bytes("binding signature", MAX_SIGNATURE_BYTES)
                .map_err(bad)?,
        );
        d.finish("ledger binding").map_err(bad)?;
        Ok(Self {
            org,
            member_key,
            tls_key,
            signature,
        })
    }
}

fn oid_text(arcs: &[u64]) -> String {
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// DER for an OCTET STRING holding `v`.
fn octet_string(v: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04];
    match v.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n <= 0xff => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(v);
    out
}

/// The contents of a DER OCTET STRING that is the whole of `v`.
fn der_octet_string(v: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = v.split_first()?;
    if tag != 0x04 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        n if n < 0x80 => (n as usize, rest),
        0x81 => {
            let (&n, rest) = rest.split_first()?;
            (n as usize, rest)
        }
        0x82 => {
            let (hi, rest) = rest.split_first()?;
            let (lo, rest) = rest.split_first()?;
            ((*hi as usize) << 8 | *lo as usize, rest)
        }
        _ => return None,
    };
    (rest.len() == len).then_some(rest)
}

/// Answers, from the ledger's committed state, whether an organisation may connect now,
/// and with which signing key.
pub trait Directory: Send + Sync + 'static {
    /// The signing key the ledger holds for `org` now, if `org` is a member in good
    /// standing; otherwise why it may not connect.
    fn admit(&self, org: &OrgId) -> Result<PublicKey, String>;
}

/// Trusts exactly one organisation's key: the directory of a client that knows which
/// node it talks to (a member's CLI talking to its own organisation's node, or a node
/// whose key the operator pinned).
pub struct Pinned {
    /// The organisation (absent: whichever the certificate names).
    pub org: Option<OrgId>,
    /// Its signing key.
    pub key: PublicKey,
}

impl Directory for Pinned {
    fn admit(&self, org: &OrgId) -> Result<PublicKey, String> {
        match &self.org {
            Some(o) if o != org => Err(format!(
                "the node presents organisation {org}'s certificate where {o}'s was expected"
            )),
            _ => Ok(self.key.clone()),
        }
    }
}

/// Where a [`LocalIdentity`] takes the current signer from (a node's signer is replaced
/// when its organisation rotates its signing key).
pub type SignerSource = Arc<dyn Fn() -> Arc<dyn Signer> + Send + Sync>;

/// This party's certificate: a fresh TLS key bound by the organisation's signing key,
/// made again when the signing key changes.
pub struct LocalIdentity {
    chain: ChainId,
    org: OrgId,
    signer: SignerSource,
    current: Mutex<Option<(PublicKey, Arc<CertifiedKey>)>>,
}

impl fmt::Debug for LocalIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalIdentity")
            .field("chain", &self.chain)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl LocalIdentity {
    /// `org`'s identity on `chain`, signed for by whatever `signer` returns.
    pub fn new(chain: ChainId, org: OrgId, signer: SignerSource) -> Self {
        Self {
            chain,
            org,
            signer,
            current: Mutex::new(None),
        }
    }

    /// The certificate and key to present, issued again if the signing key changed.
    pub fn certified(&self) -> Result<Arc<CertifiedKey>, String> {
        let signer = (self.signer)();
        let key = signer.public_key();
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((k, c)) = current.as_ref() {
            if *k == key {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(issue(&self.chain, &self.org, signer.as_ref())?);
        *current = Some((key, c.clone()));
        Ok(c)
    }
}

/// A fresh TLS key and its certificate, bound by `signer`.
fn issue(chain: &ChainId, org: &OrgId, signer: &dyn Signer) -> Result<CertifiedKey, String> {
    let secret = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let tls_key = secret.verifying_key().to_bytes();
    // PKCS#8 v1 for an Ed25519 private key (RFC 8410): a fixed prefix, then the seed.
    let mut pkcs8 = Zeroizing::new(vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ]);
    pkcs8.extend_from_slice(secret.as_bytes());
    let signature = signer
        .sign_digest(&binding_digest(chain, org, &tls_key))
        .map_err(|e| format!("signing the TLS binding: {e}"))?;
    let binding = Binding {
        org: org.clone(),
        member_key: signer.public_key(),
        tls_key,
        signature,
    };
    let failed = |e: rcgen::Error| format!("making the TLS certificate: {e}");
    let pair = rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, org.to_string());
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            BINDING_OID,
            octet_string(&binding.encode()),
        ));
    let cert = params.self_signed(&pair).map_err(failed)?;
    let key =
        rustls::crypto::ring::sign::any_eddsa_type(&PrivatePkcs8KeyDer::from(pkcs8.as_slice()))
            .map_err(|e| format!("loading the TLS key: {e}"))?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], key))
}

#[derive(Debug)]
struct Resolver(Arc<LocalIdentity>);

impl Resolver {
    fn resolve_now(&self) -> Option<Arc<CertifiedKey>> {
        match self.0.certified() {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "no TLS certificate to present");
                None
            }
        }
    }
}

impl rustls::server::ResolvesServerCert for Resolver {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.resolve_now()
    }
}

impl rustls::client::ResolvesClientCert for Resolver {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.resolve_now()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Why a certificate was refused (carried through rustls to the log and the client).
#[derive(Debug)]
pub struct Refused(pub String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refused(reason: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Refused(
        reason,
    )))))
}

/// Accepts certificates whose binding holds for a member in good standing, checked
/// against a [`Directory`] at every handshake (and, on a server, after every commit while
/// the connection is used: [`MemberVerifier::still_admitted`]).
pub struct MemberVerifier {
    chain: ChainId,
    directory: Arc<dyn Directory>,
    expect: Option<OrgId>,
    refusals: LogBudget,
}

/// At most [`LogBudget::PER_WINDOW`] log lines per ten seconds: a flood of bad
/// certificates must not flood the log (the rest are counted and reported once).
#[derive(Default)]
struct LogBudget(Mutex<(Option<std::time::Instant>, u32)>);

impl LogBudget {
    const PER_WINDOW: u32 = 20;

    fn should_log(&self) -> bool {
        let mut w = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        match w.0 {
            Some(start) if now.duration_since(start) < Duration::from_secs(10) => {
                w.1 += 1;
                w.1 <= Self::PER_WINDOW
            }
            _ => {
                if w.1 > Self::PER_WINDOW {
                    tracing::info!(
                        suppressed = w.1 - Self::PER_WINDOW,
                        "more TLS peers were refused in the last window than were logged"
                    );
                }
                *w = (Some(now), 1);
                true
            }
        }
    }
}

impl fmt::Debug for MemberVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberVerifier")
            .field("chain", &self.chain)
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

impl MemberVerifier {
    /// Checks certificates against `directory` for `chain`.
    pub fn new(chain: ChainId, directory: Arc<dyn Directory>) -> Self {
        Self {
            chain,
            directory,
            expect: None,
            refusals: LogBudget::default(),
        }
    }

    /// Accepts only `org`'s certificate (a node dialling a known validator).
    pub fn expecting(mut self, org: OrgId) -> Self {
        self.expect = Some(org);
        self
    }

    /// The binding of the certificate `der`, if it holds now.
    pub fn check(&self, der: &[u8]) -> Result<Binding, String> {
        let b = Binding::from_certificate(der)?;
        if let Some(e) = &self.expect {
            if &b.org != e {
                return Err(format!(
                    "the peer presents organisation {}'s certificate where {e}'s was expected",
                    b.org
                ));
            }
        }
        self.still_admitted(&b.org, &b.member_key)?;
        ledger_crypto::verify_digest(
            &b.member_key,
            &binding_digest(&self.chain, &b.org, &b.tls_key),
            &b.signature,
        )
        .map_err(|e| {
            format!(
                "{}'s certificate is not bound by its signing key on chain {}: {e}",
                b.org, self.chain
            )
        })?;
        Ok(b)
    }

    /// Whether `org` may still connect with a certificate its key `member_key` bound
    /// (a suspension, removal or signing-key rotation since refuses it).
    pub fn still_admitted(&self, org: &OrgId, member_key: &PublicKey) -> Result<(), String> {
        let now = self.directory.admit(org)?;
        if &now != member_key {
            return Err(format!(
                "{org}'s certificate is bound by the signing key {member_key}, which the ledger no longer holds for it (now {now})"
            ));
        }
        Ok(())
    }

    /// [`MemberVerifier::check`] as rustls asks for it, from either end.
    fn checked(
        &self,
        der: &[u8],
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(refused("a member presents exactly one certificate".into()));
        }
        self.check(der).map(|_| ()).map_err(|e| {
            if self.refusals.should_log() {
                tracing::info!(reason = %e, "refused a TLS peer");
            }
            refused(e)
        })
    }
}

/// Only TLS 1.3 is offered and accepted, so a TLS 1.2 signature never reaches a
/// verifier; refuse it if one does.
fn tls12_refused() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::General("TLS 1.2 is not accepted".into()))
}

/// Checks a TLS 1.3 handshake signature: Ed25519 by the certificate's own key.
fn verify_handshake(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    if dss.scheme != SignatureScheme::ED25519 {
        return Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::NoSignatureSchemesInCommon,
        ));
    }
    let b = Binding::from_certificate(cert).map_err(refused)?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&b.tls_key).map_err(|e| {
        refused(format!(
            "the certificate's key is not a valid Ed25519 key: {e}"
        ))
    })?;
    let sig = ed25519_dalek::Signature::from_slice(dss.signature())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature))?;
    key.verify(message, &sig)
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadSignature))?;
    Ok(HandshakeSignatureValid::assertion())
}

impl ClientCertVerifier for MemberVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.checked(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_handshake(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ServerCertVerifier for MemberVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.checked(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls12_refused()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_handshake(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A node's side of mutual TLS on its public API.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl ServerTls {
    /// Presents `identity` and accepts clients `verifier` accepts (TLS 1.3 only, HTTP/2).
    pub fn new(
        identity: Arc<LocalIdentity>,
        verifier: Arc<MemberVerifier>,
    ) -> Result<Self, String> {
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| format!("TLS server settings: {e}"))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(Resolver(identity)));
        config.alpn_protocols = vec![b"h2".to_vec()];
        // No session resumption: a resumed session skips the certificate check, so a
        // member suspended since its first connection could reconnect on its ticket.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Completes the handshake on `io` within [`HANDSHAKE_TIMEOUT`]; the client's
    /// binding (already checked by the verifier) comes with the stream.
    pub async fn accept<IO: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: IO,
    ) -> Result<(tokio_rustls::server::TlsStream<IO>, Binding), String> {
        let stream = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(io))
            .await
            .map_err(|_| "the TLS handshake took too long".to_string())?
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let cert = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| "the client presented no certificate".to_string())?;
        let binding = Binding::from_certificate(cert)?;
        Ok((stream, binding))
    }
}

/// A client's side of mutual TLS: dials `https://` addresses.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    /// Presents `identity` and accepts servers `verifier` accepts.
    pub fn new(
        identity: Arc<LocalIdentity>,
        verifier: Arc<MemberVerifier>,
    ) -> Result<Self, String> {
        // "dangerous" is rustls's name for any verifier other than its WebPKI one: ours
        // checks the certificate against the ledger (see the module documentation).
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| format!("TLS client settings: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(Arc::new(Resolver(identity)));
        config.alpn_protocols = vec![b"h2".to_vec()];
        // Every connection makes a full handshake, checked against the ledger (see the
        // server's settings).
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// Presents a certificate bound by `signer` (which does not change) for `org` on
    /// `chain`, and accepts servers that `directory` admits.
    pub fn for_signer(
        chain: ChainId,
        org: OrgId,
        signer: Arc<dyn Signer>,
        directory: Arc<dyn Directory>,
    ) -> Result<Self, String> {
        let identity = Arc::new(LocalIdentity::new(
            chain.clone(),
            org,
            Arc::new(move || signer.clone()),
        ));
        Self::new(identity, Arc::new(MemberVerifier::new(chain, directory)))
    }

    fn connector(
        &self,
    ) -> impl tower::Service<
        http::Uri,
        Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
        Error = std::io::Error,
        Future = impl Send,
    > + Send
           + Clone
           + 'static {
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        tower::service_fn(move |uri: http::Uri| {
            let connector = connector.clone();
            async move {
                let host = uri.host().unwrap_or_default().to_string();
                let port = uri.port_u16().unwrap_or(443);
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                let name = ServerName::try_from(SERVER_NAME)
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                let tls = connector.connect(name, tcp).await?;
                Ok(hyper_util::rt::TokioIo::new(tls))
            }
        })
    }
}

/// Whether `url` asks for mutual TLS (`https://`).
pub fn is_tls(url: &str) -> bool {
    url.starts_with("https://")
}

/// An endpoint for `url`, with `https://` turned into `http://` when TLS is done by our
/// own connector (tonic's own TLS is not built in).
fn endpoint(url: &str) -> Result<Endpoint, String> {
    let plain = match url.strip_prefix("https://") {
        Some(rest) => format!("http://{rest}"),
        None => url.to_string(),
    };
    Endpoint::from_shared(plain).map_err(|e| format!("{url:?} is not a node address: {e}"))
}

fn needs_identity(url: &str) -> String {
    format!("{url} asks for mutual TLS (https://) but no identity to present was given")
}

/// A channel to `url` that connects at its first call: plain for `http://`, mutual TLS
/// through `tls` for `https://`.
pub fn channel_lazy(url: &str, tls: Option<&ClientTls>) -> Result<Channel, String> {
    let ep = endpoint(url)?;
    if is_tls(url) {
        let tls = tls.ok_or_else(|| needs_identity(url))?;
        Ok(ep.connect_with_connector_lazy(tls.connector()))
    } else {
        Ok(ep.connect_lazy())
    }
}

/// A channel to `url`, connected now.
pub async fn channel(url: &str, tls: Option<&ClientTls>) -> Result<Channel, String> {
    let ep = endpoint(url)?;
    let r = if is_tls(url) {
        let tls = tls.ok_or_else(|| needs_identity(url))?;
        ep.connect_with_connector(tls.connector()).await
    } else {
        ep.connect().await
    };
    r.map_err(|e| with_causes(&e))
}

/// `e` and each error that caused it, joined by ": " (the TLS layer's reason sits several
/// levels below the transport error).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut reason = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        reason = format!("{reason}: {s}");
        source = s.source();
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_crypto::Ed25519SoftwareKey;

    fn chain() -> ChainId {
        ChainId::new("tls-test").unwrap()
    }

    fn org(s: &str) -> OrgId {
        OrgId::new(s).unwrap()
    }

    struct Table(Mutex<Vec<(OrgId, Result<PublicKey, String>)>>);

    impl Directory for Table {
        fn admit(&self, o: &OrgId) -> Result<PublicKey, String> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .find(|(x, _)| x == o)
                .map(|(_, r)| r.clone())
                .unwrap_or_else(|| Err(format!("{o} is not a member")))
        }
    }

    fn identity(o: &str, key: Arc<dyn Signer>) -> LocalIdentity {
        LocalIdentity::new(chain(), org(o), Arc::new(move || key.clone()))
    }

    fn cert(id: &LocalIdentity) -> Vec<u8> {
        id.certified().unwrap().cert[0].to_vec()
    }

    #[test]
    fn a_binding_round_trips_and_verifies_for_a_member_in_good_standing() {
        let key: Arc<dyn Signer> = Arc::new(Ed25519SoftwareKey::generate());
        let id = identity("bank-a", key.clone());
        let der = cert(&id);
        let b = Binding::from_certificate(&der).unwrap();
        assert_eq!(b.org, org("bank-a"));
        assert_eq!(b.member_key, key.public_key());
        let dir = Arc::new(Table(Mutex::new(vec![(
            org("bank-a"),
            Ok(key.public_key()),
        )])));
        let v = MemberVerifier::new(chain(), dir.clone());
        assert_eq!(v.check(&der).unwrap(), b);
        // The same certificate while the key is unchanged; a new one after a rotation.
        assert_eq!(cert(&id), der);
    }

    #[test]
    fn suspended_unknown_rotated_and_foreign_chain_certificates_are_refused() {
        let key: Arc<dyn Signer> = Arc::new(Ed25519SoftwareKey::generate());
        let der = cert(&identity("bank-a", key.clone()));
        let dir = Arc::new(Table(Mutex::new(vec![(
            org("bank-a"),
            Err("bank-a is suspended".to_string()),
        )])));
        let v = MemberVerifier::new(chain(), dir.clone());
        assert!(v.check(&der).unwrap_err().contains("suspended"));
        // Unknown organisation.
        let other = cert(&identity("bank-z", key.clone()));
        assert!(v.check(&other).unwrap_err().contains("not a member"));
        // Rotated: the ledger holds another key now.
        let newer = Ed25519SoftwareKey::generate().public_key();
        *dir.0.lock().unwrap() = vec![(org("bank-a"), Ok(newer))];
        assert!(v.check(&der).unwrap_err().contains("no longer holds"));
        // Bound for another chain.
        *dir.0.lock().unwrap() = vec![(org("bank-a"), Ok(key.public_key()))];
        let foreign = LocalIdentity::new(
            ChainId::new("other-chain").unwrap(),
            org("bank-a"),
            Arc::new({
                let k = key.clone();
                move || k.clone()
            }),
        );
        assert!(v
            .check(&cert(&foreign))
            .unwrap_err()
            .contains("not bound by its signing key"));
        // Expecting another organisation.
        let v = MemberVerifier::new(chain(), dir).expecting(org("bank-b"));
        assert!(v.check(&der).unwrap_err().contains("was expected"));
    }

    #[test]
    fn a_binding_signed_by_another_key_is_refused() {
        // bank-a's certificate, its binding signed by a key that is not bank-a's.
        let real: Arc<dyn Signer> = Arc::new(Ed25519SoftwareKey::generate());
        let thief: Arc<dyn Signer> = Arc::new(Ed25519SoftwareKey::generate());
        struct Claims(Arc<dyn Signer>, PublicKey);
        impl Signer for Claims {
            fn public_key(&self) -> PublicKey {
                self.1.clone()
            }
            fn sign_digest(&self, d: &Hash) -> Result<Signature, ledger_crypto::CryptoError> {
                self.0.sign_digest(d)
            }
        }
        let forged: Arc<dyn Signer> = Arc::new(Claims(thief, real.public_key()));
        let der = cert(&identity("bank-a", forged));
        let dir = Arc::new(Table(Mutex::new(vec![(
            org("bank-a"),
            Ok(real.public_key()),
        )])));
        let err = MemberVerifier::new(chain(), dir).check(&der).unwrap_err();
        assert!(err.contains("not bound"), "{err}");
    }

    #[test]
    fn a_flood_of_refusals_logs_a_bounded_number_of_lines() {
        let b = LogBudget::default();
        let logged = (0..100).filter(|_| b.should_log()).count();
        assert_eq!(logged, LogBudget::PER_WINDOW as usize);
    }

    #[test]
    fn der_octet_strings_of_every_length_form_round_trip() {
        for n in [0usize, 1, 127, 128, 255, 256, 1000] {
            let v = vec![7u8; n];
            assert_eq!(der_octet_string(&octet_string(&v)), Some(v.as_slice()));
        }
        assert_eq!(der_octet_string(&[0x04, 0x02, 1]), None);
        assert_eq!(der_octet_string(&[0x03, 0x01, 1]), None);
    }
}
