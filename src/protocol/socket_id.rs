//! Socket ids: `"{a}.{b}"`, `a` a random non-zero u32, `b` a per-shard counter interleaved with
//! the shard number, so `b % shards` names the shard that owns the connection.

use std::fmt;
use std::str::FromStr;

/// A connection's id, unique across the server for its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketId {
    /// Random part.
    pub nonce: u32,
    /// Serial part: `counter * shards + shard`.
    pub serial: u64,
}

impl SocketId {
    /// The id of the `counter`-th connection of `shard` (of `shards`).
    pub fn new(nonce: u32, counter: u64, shard: usize, shards: usize) -> Self {
        SocketId {
            nonce: nonce.max(1),
            serial: counter * shards as u64 + shard as u64,
        }
    }

    /// The shard that owns this connection.
    pub fn shard(&self, shards: usize) -> usize {
        (self.serial % shards as u64) as usize
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.nonce, self.serial)
    }
}

/// A string that is not `^\d+\.\d+$` within range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid socket_id: expected two integers joined by '.'")]
pub struct BadSocketId;

impl FromStr for SocketId {
    type Err = BadSocketId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = s.split_once('.').ok_or(BadSocketId)?;
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return Err(BadSocketId);
        }
        Ok(SocketId {
            nonce: a.parse().map_err(|_| BadSocketId)?,
            serial: b.parse().map_err(|_| BadSocketId)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_its_shard() {
        let id = SocketId::new(264774, 7, 1, 2);
        let text = id.to_string();
        assert_eq!(text, "264774.15");
        let back: SocketId = text.parse().unwrap();
        assert_eq!(back, id);
        assert_eq!(back.shard(2), 1);
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in [
            "",
            "1",
            "1.",
            ".1",
            "a.1",
            "1.2.3",
            "-1.2",
            "1 .2",
            "99999999999.1",
        ] {
            assert!(bad.parse::<SocketId>().is_err(), "{bad}");
        }
    }
}
