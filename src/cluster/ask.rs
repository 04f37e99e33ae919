//! Cross-node channel counts, pure: the `q` record a node publishes on `P:b` to ask every
//! other node for its share of a REST count, the `ans` record a node publishes on the asker's
//! inbox `P:n:<nk>`, and [`Gather`], the asker's table of questions in flight: which node keys
//! still owe an answer, the sums so far, and the deadline after which the answer goes out
//! without the late nodes' shares.
//!
//! Guarantees: an answer is counted once per node key and only from a node that was expected
//! (live when the question started); an answer after the question finished is ignored; every
//! question finishes exactly once, either complete or at its deadline naming the missing keys.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde::Deserialize;

/// What a node is asked for (`q` of a `q` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// `channels`: occupied channels with their subscription counts, optionally by prefix.
    Channels {
        /// `filter_by_prefix`.
        prefix: Option<String>,
    },
    /// `channel`: the subscription count of one channel.
    Channel {
        /// The channel name.
        name: String,
    },
}

/// A node's share: `(channel, subscriptions)` pairs (one pair for [`Question::Channel`]).
pub type Counts = Vec<(String, usize)>;

/// Appends a `q` record to `out`.
pub fn encode_question(id: &str, app: &str, question: &Question, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"k":"q","id":"#);
    json_string(out, id);
    out.extend_from_slice(br#","a":"#);
    json_string(out, app);
    match question {
        Question::Channels { prefix } => {
            out.extend_from_slice(br#","q":"channels""#);
            if let Some(p) = prefix {
                out.extend_from_slice(br#","prefix":"#);
                json_string(out, p);
            }
        }
        Question::Channel { name } => {
            out.extend_from_slice(br#","q":"channel","c":"#);
            json_string(out, name);
        }
    }
    out.push(b'}');
}

/// The whole `ans` envelope of node `node` answering question `id` with `counts`.
pub fn encode_answer(node: &str, id: &str, counts: &[(String, usize)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + counts.len() * 24);
    out.extend_from_slice(br#"{"v":1,"n":"#);
    json_string(&mut out, node);
    out.extend_from_slice(br#","r":[{"k":"ans","id":"#);
    json_string(&mut out, id);
    out.extend_from_slice(br#","ch":["#);
    for (i, (name, n)) in counts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        json_string(&mut out, name);
        out.extend_from_slice(format!(",{n}]").as_bytes());
    }
    out.extend_from_slice(b"]}]}");
    out
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A received `q` record.
#[derive(Debug, PartialEq, Eq)]
pub struct IncomingQuestion<'a> {
    /// `"<asker's node key>/<n>"`.
    pub id: Cow<'a, str>,
    /// App id.
    pub app: Cow<'a, str>,
    /// What is asked.
    pub question: Question,
}

impl IncomingQuestion<'_> {
    /// The asker's node key (the part of `id` before the last `/`), whose inbox gets the answer.
    pub fn asker(&self) -> Option<&str> {
        self.id
            .rsplit_once('/')
            .map(|(nk, _)| nk)
            .filter(|nk| !nk.is_empty())
    }
}

/// A received `ans` record.
#[derive(Debug, PartialEq, Eq)]
pub struct IncomingAnswer<'a> {
    /// The question's id.
    pub id: Cow<'a, str>,
    /// The responder's share.
    pub counts: Counts,
}

#[derive(Deserialize)]
struct WireQuestion<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    a: Cow<'a, str>,
    #[serde(borrow)]
    q: Cow<'a, str>,
    #[serde(default)]
    c: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
}

#[derive(Deserialize)]
struct WireAnswer<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default)]
    ch: Counts,
}

/// Reads a `q` record; `None` when it cannot be read or asks for something unknown.
pub fn decode_question(text: &str) -> Option<IncomingQuestion<'_>> {
    let w: WireQuestion<'_> = serde_json::from_str(text).ok()?;
    let question = match (&*w.q, w.c) {
        ("channels", _) => Question::Channels { prefix: w.prefix },
        ("channel", Some(name)) => Question::Channel { name },
        _ => return None,
    };
    Some(IncomingQuestion {
        id: w.id,
        app: w.a,
        question,
    })
}

/// Reads an `ans` record.
pub fn decode_answer(text: &str) -> Option<IncomingAnswer<'_>> {
    let w: WireAnswer<'_> = serde_json::from_str(text).ok()?;
    Some(IncomingAnswer {
        id: w.id,
        counts: w.ch,
    })
}

/// Which shares a finished question lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Every expected node answered.
    None,
    /// These node keys did not answer in time (sorted).
    Nodes(Vec<String>),
    /// Redis could not be reached: only this node's share.
    Unavailable,
}

impl Missing {
    /// The `X-Corecast-Partial` header value (`None` for a complete answer).
    pub fn header(&self) -> Option<String> {
        match self {
            Missing::None => None,
            Missing::Nodes(keys) => Some(keys.join(",")),
            Missing::Unavailable => Some("unavailable".into()),
        }
    }
}

/// The other nodes' summed shares of one question, as handed back to the asking shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gathered {
    /// The asking shard's token for the question.
    pub token: u64,
    /// Summed subscriptions by channel, over the nodes that answered.
    pub counts: HashMap<String, usize>,
    /// Whose share is not in `counts`.
    pub missing: Missing,
}

/// Who asked a question in flight, and where it stands.
#[derive(Debug)]
struct InFlight {
    shard: usize,
    token: u64,
    expected: BTreeSet<String>,
    counts: HashMap<String, usize>,
    deadline: Instant,
}

/// A finished question: the shard to hand it to, and the result.
pub type Finished = (usize, Gathered);

/// The asker's questions in flight, by id.
#[derive(Debug, Default)]
pub struct Gather {
    in_flight: HashMap<String, InFlight>,
}

impl Gather {
    /// Starts question `id` of shard `shard` (token `token`) expecting an answer from each of
    /// `expected`; finished at once when nobody is expected.
    pub fn start(
        &mut self,
        id: String,
        shard: usize,
        token: u64,
        expected: BTreeSet<String>,
        deadline: Instant,
    ) -> Option<Finished> {
        let q = InFlight {
            shard,
            token,
            expected,
            counts: HashMap::new(),
            deadline,
        };
        if q.expected.is_empty() {
            return Some(finish(q, Missing::None));
        }
        self.in_flight.insert(id, q);
        None
    }

    /// Adds node `from`'s answer to question `id`; returns the question once it is complete.
    pub fn answer(&mut self, id: &str, from: &str, counts: Counts) -> Option<Finished> {
        let q = self.in_flight.get_mut(id)?;
        if !q.expected.remove(from) {
            return None;
        }
        for (name, n) in counts {
            *q.counts.entry(name).or_default() += n;
        }
        if !q.expected.is_empty() {
            return None;
        }
        let q = self.in_flight.remove(id)?;
        Some(finish(q, Missing::None))
    }

    /// The earliest deadline of the questions in flight.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.in_flight.values().map(|q| q.deadline).min()
    }

    /// Finishes every question whose deadline is at or before `now`, naming the nodes that
    /// did not answer.
    pub fn expire(&mut self, now: Instant) -> Vec<Finished> {
        let due: Vec<String> = (self.in_flight.iter())
            .filter(|(_, q)| q.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        due.into_iter()
            .filter_map(|id| self.in_flight.remove(&id))
            .map(|q| {
                let missing = Missing::Nodes(q.expected.iter().cloned().collect());
                finish(q, missing)
            })
            .collect()
    }

    /// Finishes every question in flight as [`Missing::Unavailable`] (Redis was lost).
    pub fn abandon(&mut self) -> Vec<Finished> {
        (self.in_flight.drain())
            .map(|(_, q)| finish(q, Missing::Unavailable))
            .collect()
    }
}

fn finish(q: InFlight, missing: Missing) -> Finished {
    let gathered = Gathered {
        token: q.token,
        counts: q.counts,
        missing,
    };
    (q.shard, gathered)
}

#[cfg(test)]
#[path = "ask_tests.rs"]
mod tests;
