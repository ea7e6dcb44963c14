//! Losing the token login underneath the provider. A separate test binary (a separate
//! process): the logout affects every session of the process, so it must not run beside
//! the other token tests.

mod common;

use ledger_crypto::verify_digest;
use ledger_hsm::KeyProvider;
use ledger_types::Hash;

use common::*;

#[test]
fn signing_survives_losing_the_login_underneath() {
    let _serial = serial();
    let p = provider();
    let public = p.generate_signing_key("resilient-signing").unwrap();
    p.sign("resilient-signing", &Hash([1; 32])).unwrap();
    // Another part of the process logs the application out of the token (as a token
    // reset does): every session of ours loses its login.
    let other = raw_session("ledger-main");
    other.logout().unwrap();
    drop(other);
    let sig = p.sign("resilient-signing", &Hash([2; 32])).unwrap();
    verify_digest(&public, &Hash([2; 32]), &sig).unwrap();
}
