//! `MessageReader`: client bytes split at fuzzer-chosen points.
//!
//! Input byte 0, bit 0 picks the mode.
//!
//! * Raw (bit 0 clear): bytes 1–2 are the message limit (u16 LE, `0xFFFF` = unlimited), byte 3
//!   the number of cut points (mod 17), then one u16 LE per cut point (mod the stream length +
//!   1), then one byte "stop after k messages" (0 = never), then the byte stream itself.
//! * Round trip (bit 0 set): the rest drives a generator of valid client traffic (text and
//!   binary messages, fragmented, with control frames in between), framed with the crate's own
//!   encoders and masked with fuzzer-chosen keys; the reader must deliver exactly what was sent,
//!   or `MessageTooBig` exactly where the limit is crossed.
//!
//! Invariants: no panic; every message within the limit; text valid UTF-8; control payloads at
//! most 125 bytes; close codes valid, reasons UTF-8 and short enough; errors carry 1002, 1007 or
//! 1009; the outcome does not depend on how the stream is split; stopping early delivers a prefix
//! of the same messages.

#![no_main]

use corecast::ws::frame::{
    self, opcode, CloseInfo, Flow, FrameError, Incoming, MessageReader, MAX_CLOSE_REASON,
    MAX_CONTROL_PAYLOAD,
};
use libfuzzer_sys::arbitrary::{Result as ArbResult, Unstructured};
use libfuzzer_sys::fuzz_target;

/// An owned copy of an [`Incoming`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseInfo>),
}

/// What one run of the reader produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    result: Result<(), FrameError>,
    got: Vec<Got>,
    /// `is_idle()` at the end (meaningless after an error).
    idle: bool,
}

fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Checks one delivered message against the reader's guarantees and copies it.
fn own(max: usize, m: Incoming<'_>) -> Got {
    match m {
        Incoming::Text(p) => {
            assert!(p.len() <= max, "text message of {} > {max}", p.len());
            assert!(std::str::from_utf8(p).is_ok(), "text message not UTF-8");
            Got::Text(p.to_vec())
        }
        Incoming::Binary(p) => {
            assert!(p.len() <= max, "binary message of {} > {max}", p.len());
            Got::Binary(p.to_vec())
        }
        Incoming::Ping(p) => {
            assert!(p.len() <= MAX_CONTROL_PAYLOAD);
            Got::Ping(p.to_vec())
        }
        Incoming::Pong(p) => {
            assert!(p.len() <= MAX_CONTROL_PAYLOAD);
            Got::Pong(p.to_vec())
        }
        Incoming::Close(c) => {
            if let Some(info) = &c {
                assert!(valid_close_code(info.code), "close code {}", info.code);
                assert!(info.reason.len() <= MAX_CLOSE_REASON);
            }
            Got::Close(c)
        }
    }
}

/// Feeds `stream` cut at `cuts` (sorted) into a fresh reader; stops feeding after `stop_after`
/// messages when given.
fn run(max: usize, stream: &[u8], cuts: &[usize], stop_after: Option<usize>) -> Outcome {
    let mut reader = MessageReader::new(max);
    let mut got = Vec::new();
    let mut start = 0;
    let mut stopped = false;
    for end in cuts.iter().copied().chain([stream.len()]) {
        let mut chunk = stream[start..end].to_vec();
        start = end;
        let result = reader.feed(&mut chunk, &mut |m| {
            got.push(own(max, m));
            if Some(got.len()) == stop_after {
                stopped = true;
                Flow::Stop
            } else {
                Flow::Continue
            }
        });
        if let Err(e) = &result {
            assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
            return Outcome {
                result,
                got,
                idle: false,
            };
        }
        if stopped {
            break;
        }
    }
    Outcome {
        result: Ok(()),
        idle: reader.is_idle(),
        got,
    }
}

/// Runs `stream` whole, then split at `cuts`, then stopped early; all must agree.
fn check_split_invariance(max: usize, stream: &[u8], cuts: &[usize], stop: usize) -> Outcome {
    let whole = run(max, stream, &[], None);
    let split = run(max, stream, cuts, None);
    assert_eq!(whole, split, "outcome depends on how the input is split");
    if stop > 0 {
        let early = run(max, stream, cuts, Some(stop));
        let n = early.got.len();
        assert!(n <= stop);
        assert_eq!(
            early.got[..],
            whole.got[..n],
            "stopping changed the messages"
        );
        if n < stop {
            assert_eq!(early.result, whole.result);
        }
    }
    whole
}

fn raw_mode(data: &[u8]) {
    let [lo, hi, ncuts, rest @ ..] = data else {
        return;
    };
    let max = match u16::from_le_bytes([*lo, *hi]) {
        0xFFFF => usize::MAX,
        v => usize::from(v),
    };
    let ncuts = usize::from(*ncuts % 17);
    if rest.len() < 2 * ncuts + 1 {
        return;
    }
    let (cut_bytes, rest) = rest.split_at(2 * ncuts);
    let (stop, stream) = (usize::from(rest[0]), &rest[1..]);
    let mut cuts: Vec<usize> = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();
    check_split_invariance(max, stream, &cuts, stop);
}

/// One client frame of generated traffic and what completing it should deliver.
struct Frame {
    bytes: Vec<u8>,
    /// Payload length of a data frame (counts towards the message limit); `None` for control.
    data_len: Option<usize>,
    /// The message this frame completes, if any.
    delivers: Option<Got>,
}

/// Turns a server frame (as the crate encodes it) into the masked client frame, clearing FIN
/// when `fin` is false.
fn masked(server: &[u8], fin: bool, key: [u8; 4]) -> Vec<u8> {
    let ext = match server[1] & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mut out = Vec::with_capacity(server.len() + 4);
    out.push(if fin { server[0] } else { server[0] & 0x7F });
    out.push(server[1] | 0x80);
    out.extend_from_slice(&server[2..2 + ext]);
    out.extend_from_slice(&key);
    let payload = &server[2 + ext..];
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn small_bytes(u: &mut Unstructured<'_>) -> ArbResult<Vec<u8>> {
    let len = u.int_in_range(0..=200)?;
    Ok(u.bytes(len.min(u.len()))?.to_vec())
}

/// A control frame (ping, pong or close), encoded with the crate's encoders.
fn control(u: &mut Unstructured<'_>) -> ArbResult<Frame> {
    let key: [u8; 4] = u.arbitrary()?;
    let (server, got) = match u.int_in_range(0..=3)? {
        0 => {
            let p = small_bytes(u)?;
            let sent = p[..p.len().min(MAX_CONTROL_PAYLOAD)].to_vec();
            (frame::ping_frame(&p), Got::Ping(sent))
        }
        1 => {
            let p = small_bytes(u)?;
            let sent = p[..p.len().min(MAX_CONTROL_PAYLOAD)].to_vec();
            (frame::pong_frame(&p), Got::Pong(sent))
        }
        2 => {
            let code = if u.arbitrary()? {
                *u.choose(&[
                    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                ])?
            } else {
                u.int_in_range(3000..=4999)?
            };
            let reason: String = u.arbitrary()?;
            let mut end = reason.len().min(MAX_CLOSE_REASON);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            let info = CloseInfo {
                code,
                reason: reason[..end].to_owned(),
            };
            (frame::close_frame(code, &reason), Got::Close(Some(info)))
        }
        _ => {
            let mut out = Vec::new();
            frame::encode_frame(opcode::CLOSE, &[], &mut out);
            (out.into(), Got::Close(None))
        }
    };
    Ok(Frame {
        bytes: masked(&server, true, key),
        data_len: None,
        delivers: Some(got),
    })
}

/// A data message, fragmented, with control frames between its fragments.
fn message(u: &mut Unstructured<'_>, frames: &mut Vec<Frame>) -> ArbResult<()> {
    let text = u.arbitrary::<bool>()?;
    let payload: Vec<u8> = if text {
        u.arbitrary::<String>()?.into_bytes()
    } else if u.ratio(1, 16)? {
        // Long enough for the 16- and 64-bit length encodings.
        let fill: u8 = u.arbitrary()?;
        vec![fill; u.int_in_range(100..=70_000)?]
    } else {
        u.arbitrary()?
    };
    let pieces = u.int_in_range(1..=4)?;
    let mut cuts = Vec::with_capacity(pieces);
    for _ in 1..pieces {
        cuts.push(u.int_in_range(0..=payload.len())?);
    }
    cuts.sort_unstable();
    let mut start = 0;
    for (i, end) in cuts.iter().copied().chain([payload.len()]).enumerate() {
        if i > 0 {
            for _ in 0..u.int_in_range(0..=2)? {
                frames.push(control(u)?);
            }
        }
        let op = match (i, text) {
            (0, true) => opcode::TEXT,
            (0, false) => opcode::BINARY,
            _ => opcode::CONTINUATION,
        };
        let fin = end == payload.len() && i == cuts.len();
        let mut server = Vec::new();
        frame::encode_frame(op, &payload[start..end], &mut server);
        let delivers = fin.then(|| {
            if text {
                Got::Text(payload.clone())
            } else {
                Got::Binary(payload.clone())
            }
        });
        frames.push(Frame {
            bytes: masked(&server, fin, u.arbitrary()?),
            data_len: Some(end - start),
            delivers,
        });
        start = end;
    }
    Ok(())
}

fn round_trip_mode(data: &[u8]) -> ArbResult<()> {
    let mut u = Unstructured::new(data);
    let max = usize::from(u.arbitrary::<u16>()?) * 2;
    let mut frames = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        if u.arbitrary()? {
            frames.push(control(&mut u)?);
        } else {
            message(&mut u, &mut frames)?;
        }
    }
    // What the reader must report: every message up to the frame that crosses the limit.
    let mut expected = Outcome {
        result: Ok(()),
        got: Vec::new(),
        idle: true,
    };
    let mut buffered = 0usize;
    for f in &frames {
        if let Some(len) = f.data_len {
            if buffered + len > max {
                expected.result = Err(FrameError::MessageTooBig);
                expected.idle = false;
                break;
            }
            buffered += len;
        }
        if let Some(got) = &f.delivers {
            if f.data_len.is_some() {
                buffered = 0;
            }
            expected.got.push(got.clone());
        }
    }
    let stream: Vec<u8> = frames
        .iter()
        .flat_map(|f| f.bytes.iter().copied())
        .collect();
    let mut cuts = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        cuts.push(u.int_in_range(0..=stream.len())?);
    }
    cuts.sort_unstable();
    let stop = usize::from(u.arbitrary::<u8>()? % 8);
    let outcome = check_split_invariance(max, &stream, &cuts, stop);
    assert_eq!(outcome, expected, "encoded traffic did not parse back");
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => {
            let _ = round_trip_mode(rest);
        }
        Some((_, rest)) => raw_mode(rest),
        None => {}
    }
});
