//! Trade documents as the circuits see them, their canonical encoding (what travels
//! sealed inside a record's `document` field) and their Poseidon commitment.

use ark_ff::{PrimeField, UniformRand, Zero};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

use crate::poseidon::{hash, COMMITMENT_TAG, NULLIFIER_TAG};
use crate::{fr_from_bytes, fr_to_bytes, CircuitError, Fr};
use ledger_types::OrgId;

/// Most lines a document holds; shorter documents are padded with all-zero lines.
pub const MAX_LINES: usize = 16;

const ENCODING_VERSION: u8 = 2;
const MAX_TEXT: usize = 256;

/// What a document is: the ledger's document kinds (their tags are hashed into
/// commitments).
pub use ledger_types::DocumentKind;

/// One line: unit price (minor units), quantity and line total (minor units).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Line {
    /// Unit price.
    pub unit_price: u64,
    /// Quantity (ordered, delivered or invoiced).
    pub quantity: u64,
    /// Line total.
    pub total: u64,
}

impl Line {
    /// The three values packed in one field element: price + quantity·2^64 + total·2^128.
    /// Unique because each value is below 2^64 (the circuits prove it).
    pub fn packed(&self) -> Fr {
        let two64 = Fr::from(1u128 << 64);
        Fr::from(self.unit_price)
            + Fr::from(self.quantity) * two64
            + Fr::from(self.total) * two64 * two64
    }
}

/// A trade document with the blinding of its commitment. The blinding is wiped on drop and
/// never printed.
///
/// The parties are organisations of the member directory, named by their exact
/// organisation ids: the circuits compare them with the owners of the records that hold
/// the documents (a purchase order is the buyer's, an invoice the seller's, a delivery note
/// the carrier's or the buyer's).
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    /// Its kind.
    pub kind: DocumentKind,
    /// The seller's organisation id.
    pub seller: String,
    /// The buyer's organisation id.
    pub buyer: String,
    /// The carrier's organisation id (delivery notes; empty when the buyer confirms the
    /// delivery itself, and on orders and invoices).
    pub carrier: String,
    /// The document number.
    pub number: String,
    /// The purchase order it refers to (empty for an order).
    pub reference: String,
    /// Issue date, days since 1970-01-01.
    pub issue_date: u32,
    /// The lines, at most [`MAX_LINES`].
    pub lines: Vec<Line>,
    /// The document total (minor units).
    pub total: u64,
    /// The commitment's blinding.
    pub blinding: Fr,
}

impl Drop for Document {
    fn drop(&mut self) {
        self.blinding.zeroize();
    }
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The kind and the number of lines only: the parties, the number, the dates and
        // the amounts are what the document's owner seals.
        f.debug_struct("Document")
            .field("kind", &self.kind)
            .field("lines", &self.lines.len())
            .finish_non_exhaustive()
    }
}

/// An identifier's canonical form, the one that is hashed: its letters and digits only,
/// upper-cased (`INV-2026-009`, `inv 2026/009 ` and `INV2026009` are one identifier), so
/// spacing, case and punctuation cannot make a document, a party or a receivable new.
pub fn canonical_id(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// An identifier as a field element: the first 31 bytes of SHA-256 over a domain label and
/// the identifier's [`canonical_id`] (so below 2^248, no reduction); an identifier without
/// letters or digits is zero.
pub fn id_to_fr(s: &str) -> Fr {
    let canonical = canonical_id(s);
    if canonical.is_empty() {
        return Fr::zero();
    }
    let d = Sha256::new()
        .chain_update(b"cl/doc-id/v2\0")
        .chain_update(canonical.as_bytes())
        .finalize();
    Fr::from_le_bytes_mod_order(&d[..31])
}

/// An organisation id as a field element: the first 31 bytes of SHA-256 over a domain label
/// and the exact id (organisation ids are already canonical: the directory registers each
/// once); the empty id (no carrier) is zero. Validators compute it from a record's owner.
pub fn org_to_fr(org: &str) -> Fr {
    if org.is_empty() {
        return Fr::zero();
    }
    let d = Sha256::new()
        .chain_update(b"cl/org-id/v1\0")
        .chain_update(org.as_bytes())
        .finalize();
    Fr::from_le_bytes_mod_order(&d[..31])
}

/// `YYYY-MM-DD` as days since 1970-01-01 (proleptic Gregorian).
pub fn parse_date(s: &str) -> Result<u32, CircuitError> {
    ledger_types::Date::parse(s)
        .ok()
        .and_then(ledger_types::Date::days_since_epoch)
        .ok_or_else(|| CircuitError::Malformed {
            what: "date",
            reason: format!("{s:?} is not YYYY-MM-DD"),
        })
}

/// Days since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_date(days: u32) -> String {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl Document {
    /// A document with a fresh random blinding.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: DocumentKind,
        seller: &str,
        buyer: &str,
        carrier: &str,
        number: &str,
        reference: &str,
        issue_date: u32,
        lines: Vec<Line>,
        total: u64,
    ) -> Result<Self, CircuitError> {
        let d = Document {
            kind,
            seller: seller.into(),
            buyer: buyer.into(),
            carrier: carrier.into(),
            number: number.into(),
            reference: reference.into(),
            issue_date,
            lines,
            total,
            blinding: Fr::rand(&mut rand::rngs::OsRng),
        };
        d.check()?;
        Ok(d)
    }

    fn check(&self) -> Result<(), CircuitError> {
        let bad = |reason: String| CircuitError::Malformed {
            what: "document",
            reason,
        };
        if self.lines.len() > MAX_LINES {
            return Err(bad(format!(
                "{} lines; a document holds at most {MAX_LINES}",
                self.lines.len()
            )));
        }
        for (what, s) in [("number", &self.number), ("reference", &self.reference)] {
            if s.len() > MAX_TEXT {
                return Err(bad(format!("the {what} is longer than {MAX_TEXT} bytes")));
            }
        }
        if canonical_id(&self.number).is_empty() {
            return Err(bad(
                "the number is required and must hold a letter or a digit".into(),
            ));
        }
        for (what, s, required) in [
            ("seller", &self.seller, true),
            ("buyer", &self.buyer, true),
            ("carrier", &self.carrier, false),
        ] {
            if s.is_empty() && !required {
                continue;
            }
            if let Err(e) = OrgId::new(s.as_str()) {
                return Err(bad(format!(
                    "the {what} must be an organisation id of the member directory: {e}"
                )));
            }
        }
        if self.seller == self.buyer {
            return Err(bad("the seller and the buyer are one organisation".into()));
        }
        if self.kind != DocumentKind::DeliveryNote && !self.carrier.is_empty() {
            return Err(bad(format!(
                "only a delivery note names a carrier, not a {}",
                self.kind.name()
            )));
        }
        if self.kind == DocumentKind::DeliveryNote && self.carrier == self.seller {
            return Err(bad(
                "the seller cannot be the carrier of its own delivery: the buyer confirms it"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The lines padded with zero lines to [`MAX_LINES`].
    pub fn padded_lines(&self) -> [Line; MAX_LINES] {
        let mut out = [Line::default(); MAX_LINES];
        out[..self.lines.len()].copy_from_slice(&self.lines);
        out
    }

    /// What the commitment hashes, in order: the commitment tag, the kind, seller, buyer,
    /// carrier, number, reference, issue date, the [`MAX_LINES`] packed lines, the total
    /// and the blinding.
    pub fn commitment_inputs(&self) -> Vec<Fr> {
        let mut v = vec![
            Fr::from(COMMITMENT_TAG),
            Fr::from(u64::from(self.kind.tag())),
            org_to_fr(&self.seller),
            org_to_fr(&self.buyer),
            org_to_fr(&self.carrier),
            id_to_fr(&self.number),
            id_to_fr(&self.reference),
            Fr::from(u64::from(self.issue_date)),
        ];
        v.extend(self.padded_lines().iter().map(Line::packed));
        v.push(Fr::from(self.total));
        v.push(self.blinding);
        v
    }

    /// The receivable nullifier of a delivery note's goods: Poseidon over the nullifier tag
    /// and the note's blinding. The blinding is the note's secret (its readers know it),
    /// chosen by its issuer (the carrier or the buyer) and kept across the note's versions,
    /// so nothing on the invoice changes it, and nobody who cannot read the note can link
    /// the nullifier to it.
    pub fn goods_nullifier(&self) -> Fr {
        hash(&[Fr::from(NULLIFIER_TAG), self.blinding])
    }

    /// The Poseidon commitment.
    pub fn commit(&self) -> Fr {
        hash(&self.commitment_inputs())
    }

    /// The commitment as 32 bytes.
    pub fn commitment_bytes(&self) -> [u8; 32] {
        fr_to_bytes(&self.commit())
    }

    /// The canonical encoding (sealed inside the record's `document` field).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![ENCODING_VERSION, self.kind.tag()];
        for s in [
            &self.seller,
            &self.buyer,
            &self.carrier,
            &self.number,
            &self.reference,
        ] {
            out.extend_from_slice(&(s.len() as u16).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&self.issue_date.to_be_bytes());
        out.push(self.lines.len() as u8);
        for l in &self.lines {
            for v in [l.unit_price, l.quantity, l.total] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        out.extend_from_slice(&self.total.to_be_bytes());
        out.extend_from_slice(&fr_to_bytes(&self.blinding));
        out
    }

    /// Reads [`Document::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Self, CircuitError> {
        let mut r = Reader { b, pos: 0 };
        if r.take(1)?[0] != ENCODING_VERSION {
            return Err(malformed("unknown encoding version"));
        }
        let kind =
            DocumentKind::from_tag(r.take(1)?[0]).ok_or_else(|| malformed("unknown kind"))?;
        let seller = r.text()?;
        let buyer = r.text()?;
        let carrier = r.text()?;
        let number = r.text()?;
        let reference = r.text()?;
        let issue_date = u32::from_be_bytes(r.array()?);
        let n = r.take(1)?[0] as usize;
        if n > MAX_LINES {
            return Err(malformed("too many lines"));
        }
        let mut lines = Vec::with_capacity(n);
        for _ in 0..n {
            lines.push(Line {
                unit_price: u64::from_be_bytes(r.array()?),
                quantity: u64::from_be_bytes(r.array()?),
                total: u64::from_be_bytes(r.array()?),
            });
        }
        let total = u64::from_be_bytes(r.array()?);
        let blinding = fr_from_bytes(&r.array()?)?;
        if r.pos != b.len() {
            return Err(malformed("trailing bytes"));
        }
        let d = Document {
            kind,
            seller,
            buyer,
            carrier,
            number,
            reference,
            issue_date,
            lines,
            total,
            blinding,
        };
        d.check()?;
        Ok(d)
    }
}

fn malformed(reason: &str) -> CircuitError {
    CircuitError::Malformed {
        what: "document encoding",
        reason: reason.into(),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CircuitError> {
        let s = self
            .b
            .get(self.pos..self.pos + n)
            .ok_or_else(|| malformed("truncated"))?;
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CircuitError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn text(&mut self) -> Result<String, CircuitError> {
        let n = u16::from_be_bytes(self.array()?) as usize;
        if n > MAX_TEXT {
            return Err(malformed("text too long"));
        }
        std::str::from_utf8(self.take(n)?)
            .map(str::to_string)
            .map_err(|_| malformed("text is not UTF-8"))
    }
}
