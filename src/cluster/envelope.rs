//! Bus envelopes on `P:b`, pure: encoding the records shards hand to the link, packing them
//! into envelopes `{"v":1,"n":"<nk>","s":<seq>,"r":[…]}` of at most [`MAX_ENVELOPE_BYTES`],
//! and decoding received envelopes back into records. Unknown record kinds and fields are
//! ignored; a record that cannot be read is skipped and counted, never the whole envelope.

use std::borrow::Cow;

use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use thiserror::Error;

use super::ask::{
    decode_answer, decode_question, Counts, IncomingAnswer, IncomingQuestion, Question,
};
use crate::protocol::raw::INTERNAL_PREFIX;
use crate::protocol::SocketId;
use crate::ws::frame::opcode;

/// Envelope format version this node speaks.
pub const VERSION: u64 = 1;

/// An envelope is closed before it would grow past this many bytes (a single larger record
/// still travels, alone).
pub const MAX_ENVELOPE_BYTES: usize = 512 * 1024;

/// A publish a shard hands to the link: the exact frame its local subscribers got.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// App index.
    pub app: u32,
    /// Channel name (raw channels by their internal `#raw:` name).
    pub channel: Box<str>,
    /// The unmasked server frame (text or binary).
    pub frame: Bytes,
    /// Connection that must not receive it.
    pub except: Option<SocketId>,
    /// Whether the channel is a cache channel (receivers keep it as the last event).
    pub cached: bool,
}

/// A record from a shard to the link. Later phases add kinds here.
#[derive(Debug, Clone)]
pub enum Record {
    /// `e`: deliver to local subscribers of a channel.
    Event(EventRecord),
    /// `q`: ask every other node for its share of a count.
    Ask(AskRecord),
    /// `ans`: this node's share of another node's question.
    Answer(AnswerRecord),
}

/// A question of one shard to the other nodes.
#[derive(Debug, Clone)]
pub struct AskRecord {
    /// The asking shard.
    pub shard: usize,
    /// The shard's token for the question (comes back in the answer).
    pub token: u64,
    /// App index.
    pub app: u32,
    /// What is asked.
    pub question: Question,
}

/// This node's share of a question from node `to`.
#[derive(Debug, Clone)]
pub struct AnswerRecord {
    /// The asker's node key.
    pub to: Box<str>,
    /// The question's id.
    pub id: Box<str>,
    /// This node's counts.
    pub counts: Counts,
}

/// Why a record cannot be encoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EncodeError {
    /// The frame is not one whole unmasked text or binary frame.
    #[error("not a whole unmasked text or binary frame")]
    BadFrame,
    /// A text payload is not UTF-8.
    #[error("text payload is not UTF-8")]
    NotUtf8,
    /// The app index is not in the apps table.
    #[error("unknown app index {0}")]
    UnknownApp(u32),
    /// Not an `e` record (questions and answers travel their own way).
    #[error("not an event record")]
    NotEvent,
}

/// Opcode and payload of one whole unmasked server frame.
pub fn frame_payload(frame: &[u8]) -> Option<(u8, &[u8])> {
    let (&b0, rest) = frame.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    if b0 & 0x80 == 0 || b1 & 0x80 != 0 {
        return None;
    }
    let (len, rest) = match b1 & 0x7F {
        126 => {
            let (len, rest) = rest.split_first_chunk::<2>()?;
            (u16::from_be_bytes(*len) as usize, rest)
        }
        127 => {
            let (len, rest) = rest.split_first_chunk::<8>()?;
            (usize::try_from(u64::from_be_bytes(*len)).ok()?, rest)
        }
        n => (n as usize, rest),
    };
    (rest.len() == len).then_some((b0 & 0x0F, rest))
}

/// Appends record `r` as JSON to `out`. `app_id` names app indexes.
pub fn encode_record<'a>(
    r: &Record,
    app_id: impl Fn(u32) -> Option<&'a str>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let Record::Event(e) = r else {
        return Err(EncodeError::NotEvent);
    };
    let app = app_id(e.app).ok_or(EncodeError::UnknownApp(e.app))?;
    let (op, payload) = frame_payload(&e.frame).ok_or(EncodeError::BadFrame)?;
    let text = || std::str::from_utf8(payload).map_err(|_| EncodeError::NotUtf8);
    let start = out.len();
    out.extend_from_slice(br#"{"k":"e","a":"#);
    json_string(out, app);
    out.extend_from_slice(br#","c":"#);
    json_string(out, &e.channel);
    let body = match op {
        opcode::TEXT if e.channel.starts_with(INTERNAL_PREFIX) => text().map(|t| {
            out.extend_from_slice(br#","p":"#);
            json_string(out, t);
        }),
        opcode::TEXT => text().map(|t| {
            out.extend_from_slice(br#","d":"#);
            out.extend_from_slice(t.as_bytes());
        }),
        opcode::BINARY => {
            out.extend_from_slice(br#","b":""#);
            let b64 = base64::engine::general_purpose::STANDARD.encode(payload);
            out.extend_from_slice(b64.as_bytes());
            out.push(b'"');
            Ok(())
        }
        _ => Err(EncodeError::BadFrame),
    };
    if let Err(err) = body {
        out.truncate(start);
        return Err(err);
    }
    if let Some(x) = e.except {
        out.extend_from_slice(br#","x":""#);
        out.extend_from_slice(x.to_string().as_bytes());
        out.push(b'"');
    }
    if e.cached {
        out.extend_from_slice(br#","ca":1"#);
    }
    out.push(b'}');
    Ok(())
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// One sealed envelope, ready to `PUBLISH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Its sequence number `s`.
    pub seq: u64,
    /// Number of records inside.
    pub records: usize,
    /// The JSON text.
    pub bytes: Vec<u8>,
}

/// Packs encoded records into envelopes of one node key, numbering them.
#[derive(Debug)]
pub struct Packer {
    node: String,
    next_seq: u64,
    max_bytes: usize,
}

impl Packer {
    /// A packer for node key `node`; the first envelope gets `s` = 1.
    pub fn new(node: &str, max_bytes: usize) -> Self {
        Packer {
            node: node.to_string(),
            next_seq: 1,
            max_bytes,
        }
    }

    /// Packs `records` (each one encoded record) in order: as few envelopes as fit.
    pub fn pack<'r>(&mut self, records: impl IntoIterator<Item = &'r [u8]>) -> Vec<Envelope> {
        let mut out = Vec::new();
        let mut current: Option<Envelope> = None;
        for r in records {
            if let Some(env) = &current {
                if env.bytes.len() + 1 + r.len() + 2 > self.max_bytes {
                    out.extend(current.take().map(close));
                }
            }
            let env = current.get_or_insert_with(|| self.open());
            if env.records > 0 {
                env.bytes.push(b',');
            }
            env.bytes.extend_from_slice(r);
            env.records += 1;
        }
        out.extend(current.map(close));
        out
    }

    fn open(&mut self) -> Envelope {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(br#"{"v":1,"n":"#);
        json_string(&mut bytes, &self.node);
        bytes.extend_from_slice(format!(r#","s":{seq},"r":["#).as_bytes());
        Envelope {
            seq,
            records: 0,
            bytes,
        }
    }
}

fn close(mut env: Envelope) -> Envelope {
    env.bytes.extend_from_slice(b"]}");
    env
}

/// Why a received envelope is dropped whole.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// Not an envelope.
    #[error("not an envelope: {0}")]
    Json(#[from] serde_json::Error),
    /// A format version this node does not speak.
    #[error("envelope version {0}")]
    Version(u64),
}

/// A received envelope.
#[derive(Debug)]
pub struct Received<'a> {
    /// Sender's node key (empty for envelopes published by scripts).
    pub node: Cow<'a, str>,
    /// Sender's sequence number.
    pub seq: Option<u64>,
    /// Records this node understands, in order.
    pub records: Vec<Incoming<'a>>,
    /// Records skipped because they could not be read.
    pub invalid: usize,
}

/// A received record.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `e`.
    Event(IncomingEvent<'a>),
    /// `q`.
    Question(IncomingQuestion<'a>),
    /// `ans`.
    Answer(IncomingAnswer<'a>),
    /// A kind this node does not know (ignored).
    Unknown,
}

/// A received `e` record.
#[derive(Debug, PartialEq, Eq)]
pub struct IncomingEvent<'a> {
    /// App id.
    pub app: Cow<'a, str>,
    /// Channel name.
    pub channel: Cow<'a, str>,
    /// What subscribers get.
    pub body: Body<'a>,
    /// Connection that must not receive it.
    pub except: Option<SocketId>,
    /// Cache channel: keep as the last event.
    pub cached: bool,
}

/// The payload of an `e` record.
#[derive(Debug, PartialEq, Eq)]
pub enum Body<'a> {
    /// `d`: the event JSON, sent as a text frame.
    Event(&'a str),
    /// `p`: raw-endpoint text, sent as a text frame.
    Text(Cow<'a, str>),
    /// `b`: raw-endpoint binary message (base64 on the bus), sent as a binary frame.
    Binary(Vec<u8>),
}

#[derive(Deserialize)]
struct WireEnvelope<'a> {
    v: u64,
    #[serde(borrow, default)]
    n: Cow<'a, str>,
    #[serde(default)]
    s: Option<u64>,
    #[serde(borrow, default)]
    r: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireKind<'a> {
    #[serde(borrow)]
    k: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(borrow)]
    a: Cow<'a, str>,
    #[serde(borrow)]
    c: Cow<'a, str>,
    #[serde(borrow, default)]
    d: Option<&'a RawValue>,
    #[serde(borrow, default)]
    p: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    b: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    x: Option<Cow<'a, str>>,
    #[serde(default)]
    ca: Option<u8>,
}

/// Decodes one envelope.
pub fn decode(payload: &[u8]) -> Result<Received<'_>, DecodeError> {
    let wire: WireEnvelope<'_> = serde_json::from_slice(payload)?;
    if wire.v != VERSION {
        return Err(DecodeError::Version(wire.v));
    }
    let raw: Vec<&RawValue> = match wire.r {
        Some(r) => serde_json::from_str(r.get())?,
        None => Vec::new(),
    };
    let mut records = Vec::with_capacity(raw.len());
    let mut invalid = 0;
    for r in raw {
        match decode_record(r.get()) {
            Some(rec) => records.push(rec),
            None => invalid += 1,
        }
    }
    Ok(Received {
        node: wire.n,
        seq: wire.s,
        records,
        invalid,
    })
}

fn decode_record(text: &str) -> Option<Incoming<'_>> {
    let kind: WireKind<'_> = serde_json::from_str(text).ok()?;
    match &*kind.k {
        "e" => {}
        "q" => return decode_question(text).map(Incoming::Question),
        "ans" => return decode_answer(text).map(Incoming::Answer),
        _ => return Some(Incoming::Unknown),
    }
    let e: WireEvent<'_> = serde_json::from_str(text).ok()?;
    let body = match (e.d, e.p, e.b) {
        (Some(d), None, None) if d.get().starts_with('{') => Body::Event(d.get()),
        (None, Some(p), None) => Body::Text(p),
        (None, None, Some(b)) => {
            Body::Binary(base64::engine::general_purpose::STANDARD.decode(&*b).ok()?)
        }
        _ => return None,
    };
    let except = match e.x {
        Some(x) => Some(x.parse().ok()?),
        None => None,
    };
    Some(Incoming::Event(IncomingEvent {
        app: e.a,
        channel: e.c,
        body,
        except,
        cached: e.ca == Some(1),
    }))
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
