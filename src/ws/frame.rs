//! WebSocket frames on the server side, IO-free (RFC 6455 §5).
//!
//! [`MessageReader`] turns the bytes a client sends into whole messages and control frames,
//! enforcing the protocol rules and reporting violations as [`FrameError`]s with their close
//! code. The encoder functions ([`encode_frame`], [`text_frame`], …) build the unmasked, final
//! frames a server sends.

mod reader;
#[cfg(test)]
mod tests;

pub use reader::MessageReader;

use bytes::Bytes;
use thiserror::Error;

/// Frame opcodes (RFC 6455 §5.2).
pub mod opcode {
    /// Continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// Text data frame.
    pub const TEXT: u8 = 0x1;
    /// Binary data frame.
    pub const BINARY: u8 = 0x2;
    /// Connection close control frame.
    pub const CLOSE: u8 = 0x8;
    /// Ping control frame.
    pub const PING: u8 = 0x9;
    /// Pong control frame.
    pub const PONG: u8 = 0xA;
}

/// Largest payload a control frame may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Largest close reason that fits a control frame next to the 2-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// A complete message or control frame received from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A whole text message; the bytes are valid UTF-8.
    Text(&'a [u8]),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// A ping; the server should answer with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame; `None` when it carried no status code.
    Close(Option<CloseInfo>),
}

/// Status code and reason of a received close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// Close status code (already validated).
    pub code: u16,
    /// Close reason (valid UTF-8, possibly empty).
    pub reason: String,
}

/// A violation of the protocol by the client; the connection must be closed with
/// [`FrameError::close_code`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// Malformed or out-of-sequence frame (close code 1002).
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    /// A text message or close reason that is not valid UTF-8 (close code 1007).
    #[error("invalid UTF-8 in text message or close reason")]
    InvalidUtf8,
    /// A message or frame larger than the configured maximum (close code 1009).
    #[error("message too big")]
    MessageTooBig,
}

impl FrameError {
    /// Close status code to send to the client for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::Protocol(_) => 1002,
            FrameError::InvalidUtf8 => 1007,
            FrameError::MessageTooBig => 1009,
        }
    }
}

/// What the message callback wants the reader to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep delivering messages.
    Continue,
    /// Stop processing the current input.
    Stop,
}

/// Length of the header of a server frame with a payload of `len` bytes.
fn server_header_len(len: usize) -> usize {
    match len {
        0..=125 => 2,
        126..=0xFFFF => 4,
        _ => 10,
    }
}

/// Appends one unmasked, final (FIN) server frame with `opcode` (see [`opcode`]) to `out`.
pub fn encode_frame(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    let len = payload.len();
    out.reserve(server_header_len(len) + len);
    out.push(0x80 | (opcode & 0x0F));
    match len {
        0..=125 => out.push(len as u8),
        126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// One frame in an exactly sized buffer.
fn frame_bytes(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(server_header_len(payload.len()) + payload.len());
    encode_frame(opcode, payload, &mut out);
    Bytes::from(out)
}

/// A text frame carrying a whole message (`payload` must be valid UTF-8).
pub fn text_frame(payload: &[u8]) -> Bytes {
    frame_bytes(opcode::TEXT, payload)
}

/// A binary frame carrying a whole message.
pub fn binary_frame(payload: &[u8]) -> Bytes {
    frame_bytes(opcode::BINARY, payload)
}

/// A ping frame; the payload is cut to [`MAX_CONTROL_PAYLOAD`] bytes.
pub fn ping_frame(payload: &[u8]) -> Bytes {
    frame_bytes(
        opcode::PING,
        &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
    )
}

/// A pong frame; the payload is cut to [`MAX_CONTROL_PAYLOAD`] bytes.
pub fn pong_frame(payload: &[u8]) -> Bytes {
    frame_bytes(
        opcode::PONG,
        &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)],
    )
}

/// A close frame with `code` and `reason`; the reason is truncated to at most
/// [`MAX_CLOSE_REASON`] bytes, at a character boundary.
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + end].copy_from_slice(&reason.as_bytes()[..end]);
    frame_bytes(opcode::CLOSE, &payload[..2 + end])
}
