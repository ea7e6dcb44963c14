//! Wire and WAL encodings of every consensus message, in the ledger's canonical codec
//! (length-prefixed, big-endian, strict decoding).

use std::ops::RangeInclusive;

use bytes::Bytes;
use ledger_types::codec::{Decoder, Encoder};
use ledger_types::{CodecError, Hash, OrgId};
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamContent;
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, NilOrVal, PolkaCertificate, PolkaSignature,
    Round, RoundCertificate, RoundCertificateType, RoundSignature, SignedMessage, ValidatorProof,
    Validity, VoteType,
};
use malachitebft_app_channel::app::types::streaming::{StreamId, StreamMessage};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_app_channel::app::types::{PeerId, ProposedValue, SignedConsensusMsg};
use malachitebft_codec::{Codec, HasEncodedLen};
use malachitebft_sync::{ValueRequest, ValueResponse};

use crate::context::{
    Address, BlockId, ConsensusSignature, Height, LedgerContext, Proposal, ProposalPart, Vote,
};

type Ctx = LedgerContext;

/// Most bytes of one proposal part (a transaction batch).
pub const MAX_PART_BYTES: usize = 8 * 1024 * 1024;
/// Most signatures in a certificate.
const MAX_SIGS: usize = 1024;
/// Most values in one sync response.
const MAX_SYNC_VALUES: usize = 1024;

/// The one codec for the network, the WAL and sync.
#[derive(Clone, Copy, Debug, Default)]
pub struct LedgerCodec;

fn bad(what: &'static str, reason: impl Into<String>) -> CodecError {
    CodecError::NotCanonical {
        what,
        reason: reason.into(),
    }
}

fn round(e: &mut Encoder, r: Round) {
    match r.as_u32() {
        None => {
            e.u8(0);
        }
        Some(v) => {
            e.u8(1).u32(v);
        }
    }
}

fn get_round(d: &mut Decoder<'_>) -> Result<Round, CodecError> {
    match d.u8("round")? {
        0 => Ok(Round::Nil),
        1 => Ok(Round::new(d.u32("round")?)),
        t => Err(CodecError::UnknownTag {
            what: "round",
            tag: t.into(),
        }),
    }
}

fn addr(e: &mut Encoder, a: &Address) {
    a.0.encode(e);
}

fn get_addr(d: &mut Decoder<'_>) -> Result<Address, CodecError> {
    Ok(Address(OrgId::decode(d)?))
}

fn sig(e: &mut Encoder, s: &ConsensusSignature) {
    e.bytes(&s.0);
}

fn get_sig(d: &mut Decoder<'_>) -> Result<ConsensusSignature, CodecError> {
    Ok(ConsensusSignature(
        d.bytes("signature", ledger_types::Signature::MAX_LEN)?,
    ))
}

fn id(e: &mut Encoder, v: &BlockId) {
    e.fixed(&v.0 .0);
}

fn get_id(d: &mut Decoder<'_>) -> Result<BlockId, CodecError> {
    Ok(BlockId(Hash(d.array("block id")?)))
}

fn nil_or_id(e: &mut Encoder, v: &NilOrVal<BlockId>) {
    match v {
        NilOrVal::Nil => {
            e.u8(0);
        }
        NilOrVal::Val(x) => {
            e.u8(1);
            id(e, x);
        }
    }
}

fn get_nil_or_id(d: &mut Decoder<'_>) -> Result<NilOrVal<BlockId>, CodecError> {
    match d.u8("nil or value")? {
        0 => Ok(NilOrVal::Nil),
        1 => Ok(NilOrVal::Val(get_id(d)?)),
        t => Err(CodecError::UnknownTag {
            what: "nil or value",
            tag: t.into(),
        }),
    }
}

fn vote_type(e: &mut Encoder, t: VoteType) {
    e.u8(match t {
        VoteType::Prevote => 1,
        VoteType::Precommit => 2,
    });
}

fn get_vote_type(d: &mut Decoder<'_>) -> Result<VoteType, CodecError> {
    match d.u8("vote type")? {
        1 => Ok(VoteType::Prevote),
        2 => Ok(VoteType::Precommit),
        t => Err(CodecError::UnknownTag {
            what: "vote type",
            tag: t.into(),
        }),
    }
}

fn signed_vote(e: &mut Encoder, v: &SignedMessage<Ctx, Vote>) {
    vote_type(e, v.message.vote_type);
    e.u64(v.message.height.0);
    round(e, v.message.round);
    nil_or_id(e, &v.message.value);
    addr(e, &v.message.validator);
    sig(e, &v.signature);
}

fn get_signed_vote(d: &mut Decoder<'_>) -> Result<SignedMessage<Ctx, Vote>, CodecError> {
    let vote = Vote {
        vote_type: get_vote_type(d)?,
        height: Height(d.u64("height")?),
        round: get_round(d)?,
        value: get_nil_or_id(d)?,
        validator: get_addr(d)?,
        extension: None,
    };
    Ok(SignedMessage::new(vote, get_sig(d)?))
}

fn signed_proposal(e: &mut Encoder, p: &SignedMessage<Ctx, Proposal>) {
    e.u64(p.message.height.0);
    round(e, p.message.round);
    id(e, &p.message.value);
    round(e, p.message.pol_round);
    addr(e, &p.message.proposer);
    sig(e, &p.signature);
}

fn get_signed_proposal(d: &mut Decoder<'_>) -> Result<SignedMessage<Ctx, Proposal>, CodecError> {
    let p = Proposal {
        height: Height(d.u64("height")?),
        round: get_round(d)?,
        value: get_id(d)?,
        pol_round: get_round(d)?,
        proposer: get_addr(d)?,
    };
    Ok(SignedMessage::new(p, get_sig(d)?))
}

fn part(e: &mut Encoder, p: &ProposalPart) {
    match p {
        ProposalPart::Header {
            height,
            round: r,
            pol_round,
            proposer,
            header,
            signature,
        } => {
            e.u8(1).u64(height.0).u32(*r);
            round(e, *pol_round);
            addr(e, proposer);
            e.bytes(header);
            e.bytes(signature);
        }
        ProposalPart::Txs(txs) => {
            e.u8(2).count(txs.len());
            for t in txs {
                e.bytes(t);
            }
        }
        ProposalPart::End { tx_count } => {
            e.u8(3).u32(*tx_count);
        }
    }
}

fn get_part(d: &mut Decoder<'_>) -> Result<ProposalPart, CodecError> {
    Ok(match d.u8("proposal part")? {
        1 => ProposalPart::Header {
            height: Height(d.u64("height")?),
            round: d.u32("round")?,
            pol_round: get_round(d)?,
            proposer: get_addr(d)?,
            header: d.bytes("block header", 4096)?,
            signature: d.bytes("header part signature", ledger_types::Signature::MAX_LEN)?,
        },
        2 => {
            let n = d.count("transactions", 1_000_000, 4)?;
            let mut txs = Vec::with_capacity(n);
            for _ in 0..n {
                txs.push(d.bytes("transaction", ledger_types::tx::TX_HARD_MAX_BYTES)?);
            }
            ProposalPart::Txs(txs)
        }
        3 => ProposalPart::End {
            tx_count: d.u32("transaction count")?,
        },
        t => {
            return Err(CodecError::UnknownTag {
                what: "proposal part",
                tag: t.into(),
            })
        }
    })
}

fn polka(e: &mut Encoder, c: &PolkaCertificate<Ctx>) {
    e.u64(c.height.0);
    round(e, c.round);
    id(e, &c.value_id);
    e.count(c.polka_signatures.len());
    for s in &c.polka_signatures {
        addr(e, &s.address);
        sig(e, &s.signature);
    }
}

fn get_polka(d: &mut Decoder<'_>) -> Result<PolkaCertificate<Ctx>, CodecError> {
    let height = Height(d.u64("height")?);
    let r = get_round(d)?;
    let value_id = get_id(d)?;
    let n = d.count("polka signatures", MAX_SIGS, 6)?;
    let mut polka_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        polka_signatures.push(PolkaSignature::new(get_addr(d)?, get_sig(d)?));
    }
    Ok(PolkaCertificate {
        height,
        round: r,
        value_id,
        polka_signatures,
    })
}

fn round_cert(e: &mut Encoder, c: &RoundCertificate<Ctx>) {
    e.u64(c.height.0);
    round(e, c.round);
    e.u8(match c.cert_type {
        RoundCertificateType::Skip => 1,
        RoundCertificateType::Precommit => 2,
    });
    e.count(c.round_signatures.len());
    for s in &c.round_signatures {
        vote_type(e, s.vote_type);
        nil_or_id(e, &s.value_id);
        addr(e, &s.address);
        sig(e, &s.signature);
    }
}

fn get_round_cert(d: &mut Decoder<'_>) -> Result<RoundCertificate<Ctx>, CodecError> {
    let height = Height(d.u64("height")?);
    let r = get_round(d)?;
    let cert_type = match d.u8("round certificate type")? {
        1 => RoundCertificateType::Skip,
        2 => RoundCertificateType::Precommit,
        t => {
            return Err(CodecError::UnknownTag {
                what: "round certificate type",
                tag: t.into(),
            })
        }
    };
    let n = d.count("round signatures", MAX_SIGS, 8)?;
    let mut round_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        round_signatures.push(RoundSignature {
            vote_type: get_vote_type(d)?,
            value_id: get_nil_or_id(d)?,
            address: get_addr(d)?,
            signature: get_sig(d)?,
        });
    }
    Ok(RoundCertificate {
        height,
        round: r,
        cert_type,
        round_signatures,
    })
}

fn ext_cert(e: &mut Encoder, c: &ExtendedCommitCertificate<Ctx>) {
    e.u64(c.height.0);
    round(e, c.round);
    id(e, &c.value_id);
    e.count(c.commit_signatures.len());
    for s in &c.commit_signatures {
        addr(e, &s.address);
        sig(e, &s.signature);
    }
}

fn get_ext_cert(d: &mut Decoder<'_>) -> Result<ExtendedCommitCertificate<Ctx>, CodecError> {
    let height = Height(d.u64("height")?);
    let r = get_round(d)?;
    let value_id = get_id(d)?;
    let n = d.count("commit signatures", MAX_SIGS, 6)?;
    let mut commit_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        commit_signatures.push(ExtendedCommitSignature {
            address: get_addr(d)?,
            signature: get_sig(d)?,
            extension: None,
        });
    }
    Ok(ExtendedCommitCertificate {
        height,
        round: r,
        value_id,
        commit_signatures,
    })
}

fn peer(e: &mut Encoder, p: &PeerId) {
    e.bytes(&p.to_bytes());
}

fn get_peer(d: &mut Decoder<'_>) -> Result<PeerId, CodecError> {
    let b = d.bytes("peer id", 128)?;
    PeerId::from_bytes(&b).map_err(|e| bad("peer id", e.to_string()))
}

/// Runs `f` over a decoder of `bytes` and insists every byte is used.
fn decode_all<T>(
    bytes: &[u8],
    what: &'static str,
    f: impl FnOnce(&mut Decoder<'_>) -> Result<T, CodecError>,
) -> Result<T, CodecError> {
    let mut d = Decoder::new(bytes);
    let v = f(&mut d)?;
    d.finish(what)?;
    Ok(v)
}

fn encode_with(f: impl FnOnce(&mut Encoder)) -> Bytes {
    let mut e = Encoder::new();
    f(&mut e);
    Bytes::from(e.finish())
}

macro_rules! codec {
    ($t:ty, $what:literal, |$e:ident, $v:ident| $enc:block, |$d:ident| $dec:block) => {
        impl Codec<$t> for LedgerCodec {
            type Error = CodecError;

            fn decode(&self, bytes: Bytes) -> Result<$t, CodecError> {
                decode_all(&bytes, $what, |$d| $dec)
            }

            fn encode(&self, $v: &$t) -> Result<Bytes, CodecError> {
                Ok(encode_with(|$e| $enc))
            }
        }
    };
}

codec!(ProposalPart, "proposal part", |e, v| { part(e, v) }, |d| {
    get_part(d)
});

codec!(
    SignedConsensusMsg<Ctx>,
    "consensus message",
    |e, v| {
        match v {
            SignedConsensusMsg::Vote(x) => {
                e.u8(1);
                signed_vote(e, x);
            }
            SignedConsensusMsg::Proposal(x) => {
                e.u8(2);
                signed_proposal(e, x);
            }
        }
    },
    |d| {
        match d.u8("consensus message")? {
            1 => Ok(SignedConsensusMsg::Vote(get_signed_vote(d)?)),
            2 => Ok(SignedConsensusMsg::Proposal(get_signed_proposal(d)?)),
            t => Err(CodecError::UnknownTag {
                what: "consensus message",
                tag: t.into(),
            }),
        }
    }
);

codec!(
    LivenessMsg<Ctx>,
    "liveness message",
    |e, v| {
        match v {
            LivenessMsg::Vote(x) => {
                e.u8(1);
                signed_vote(e, x);
            }
            LivenessMsg::PolkaCertificate(c) => {
                e.u8(2);
                polka(e, c);
            }
            LivenessMsg::SkipRoundCertificate(c) => {
                e.u8(3);
                round_cert(e, c);
            }
        }
    },
    |d| {
        match d.u8("liveness message")? {
            1 => Ok(LivenessMsg::Vote(get_signed_vote(d)?)),
            2 => Ok(LivenessMsg::PolkaCertificate(get_polka(d)?)),
            3 => Ok(LivenessMsg::SkipRoundCertificate(get_round_cert(d)?)),
            t => Err(CodecError::UnknownTag {
                what: "liveness message",
                tag: t.into(),
            }),
        }
    }
);

codec!(
    StreamMessage<ProposalPart>,
    "stream message",
    |e, v| {
        e.bytes(&v.stream_id.to_bytes());
        e.u64(v.sequence);
        match &v.content {
            StreamContent::Data(p) => {
                e.u8(1);
                part(e, p);
            }
            StreamContent::Fin => {
                e.u8(2);
            }
        }
    },
    |d| {
        let stream_id = StreamId::new(Bytes::from(d.bytes("stream id", 64)?));
        let sequence = d.u64("sequence")?;
        let content = match d.u8("stream content")? {
            1 => StreamContent::Data(get_part(d)?),
            2 => StreamContent::Fin,
            t => {
                return Err(CodecError::UnknownTag {
                    what: "stream content",
                    tag: t.into(),
                })
            }
        };
        Ok(StreamMessage::new(stream_id, sequence, content))
    }
);

codec!(
    ValidatorProof<Ctx>,
    "validator proof",
    |e, v| {
        e.bytes(&v.public_key);
        e.bytes(&v.peer_id);
        sig(e, &v.signature);
    },
    |d| {
        Ok(ValidatorProof::new(
            d.bytes("public key", 1024)?,
            d.bytes("peer id", 128)?,
            get_sig(d)?,
        ))
    }
);

codec!(
    ProposedValue<Ctx>,
    "proposed value",
    |e, v| {
        e.u64(v.height.0);
        round(e, v.round);
        round(e, v.valid_round);
        addr(e, &v.proposer);
        id(e, &v.value);
        e.u8(u8::from(v.validity.is_valid()));
    },
    |d| {
        Ok(ProposedValue {
            height: Height(d.u64("height")?),
            round: get_round(d)?,
            valid_round: get_round(d)?,
            proposer: get_addr(d)?,
            value: get_id(d)?,
            validity: match d.u8("validity")? {
                0 => Validity::Invalid,
                1 => Validity::Valid,
                t => {
                    return Err(CodecError::UnknownTag {
                        what: "validity",
                        tag: t.into(),
                    })
                }
            },
        })
    }
);

codec!(
    PolkaCertificate<Ctx>,
    "polka certificate",
    |e, v| { polka(e, v) },
    |d| { get_polka(d) }
);

codec!(
    Status<Ctx>,
    "sync status",
    |e, v| {
        peer(e, &v.peer_id);
        e.u64(v.tip_height.0);
        e.u64(v.history_min_height.0);
    },
    |d| {
        Ok(Status {
            peer_id: get_peer(d)?,
            tip_height: Height(d.u64("tip height")?),
            history_min_height: Height(d.u64("history min height")?),
        })
    }
);

codec!(
    Request<Ctx>,
    "sync request",
    |e, v| {
        let Request::ValueRequest(r) = v;
        e.u8(1).u64(r.range.start().0).u64(r.range.end().0);
    },
    |d| {
        match d.u8("sync request")? {
            1 => {
                let start = Height(d.u64("range start")?);
                let end = Height(d.u64("range end")?);
                let range: RangeInclusive<Height> = start..=end;
                Ok(Request::ValueRequest(ValueRequest::new(range)))
            }
            t => Err(CodecError::UnknownTag {
                what: "sync request",
                tag: t.into(),
            }),
        }
    }
);

fn response(e: &mut Encoder, v: &Response<Ctx>) {
    let Response::ValueResponse(r) = v;
    e.u8(1).u64(r.start_height.0);
    e.count(r.values.len());
    for raw in &r.values {
        e.bytes(&raw.value_bytes);
        ext_cert(e, &raw.certificate);
    }
}

codec!(
    Response<Ctx>,
    "sync response",
    |e, v| { response(e, v) },
    |d| {
        match d.u8("sync response")? {
            1 => {
                let start_height = Height(d.u64("start height")?);
                let n = d.count("synced values", MAX_SYNC_VALUES, 8)?;
                let mut values = Vec::with_capacity(n);
                for _ in 0..n {
                    let bytes = d.bytes("block", 256 * 1024 * 1024)?;
                    values.push(RawDecidedValue::new(Bytes::from(bytes), get_ext_cert(d)?));
                }
                Ok(Response::ValueResponse(ValueResponse::new(
                    start_height,
                    values,
                )))
            }
            t => Err(CodecError::UnknownTag {
                what: "sync response",
                tag: t.into(),
            }),
        }
    }
);

impl HasEncodedLen<Response<Ctx>> for LedgerCodec {
    fn encoded_len(&self, msg: &Response<Ctx>) -> Result<usize, CodecError> {
        let mut e = Encoder::new();
        response(&mut e, msg);
        Ok(e.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_and_parts_round_trip() {
        let c = LedgerCodec;
        let vote = SignedMessage::new(
            Vote {
                vote_type: VoteType::Precommit,
                height: Height(9),
                round: Round::new(2),
                value: NilOrVal::Val(BlockId(Hash([3; 32]))),
                validator: Address(OrgId::new("bank-a").unwrap()),
                extension: None,
            },
            ConsensusSignature(vec![7; 64]),
        );
        let msg = SignedConsensusMsg::<Ctx>::Vote(vote);
        let bytes = Codec::<SignedConsensusMsg<Ctx>>::encode(&c, &msg).unwrap();
        let back: SignedConsensusMsg<Ctx> = c.decode(bytes.clone()).unwrap();
        assert_eq!(back, msg);
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(Codec::<SignedConsensusMsg<Ctx>>::decode(&c, Bytes::from(longer)).is_err());
        let part = StreamMessage::new(
            StreamId::new(Bytes::from_static(b"h9r2")),
            1,
            StreamContent::Data(ProposalPart::Txs(vec![vec![1, 2, 3], vec![]])),
        );
        let b = Codec::<StreamMessage<ProposalPart>>::encode(&c, &part).unwrap();
        let back: StreamMessage<ProposalPart> = c.decode(b).unwrap();
        assert_eq!(back, part);
    }
}
