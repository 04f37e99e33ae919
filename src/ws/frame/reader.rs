//! [`MessageReader`]: incremental parsing of client frames and reassembly of messages.
//!
//! A frame that lies completely inside the input is unmasked in place and, when it is a whole
//! message or a control frame, handed to the callback without copying. Only frames split across
//! reads and fragmented messages are copied into internal buffers, which are released as soon as
//! the message has been delivered.

use super::{opcode, CloseInfo, Flow, FrameError, Incoming, MAX_CONTROL_PAYLOAD};

/// Longest frame header: 2 fixed bytes, 8-byte extended length, 4-byte masking key.
const MAX_HEADER: usize = 14;

/// Kind of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
}

/// A parsed and validated frame header.
#[derive(Debug, Clone, Copy)]
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    len: usize,
}

impl Header {
    fn is_control(&self) -> bool {
        self.opcode & 0x08 != 0
    }
}

/// A frame whose payload is being received.
#[derive(Debug, Clone, Copy)]
struct Partial {
    header: Header,
    /// Payload bytes still to come.
    remaining: usize,
    /// Offset into the masking key of the next payload byte.
    phase: usize,
}

/// Server-side reader of client frames: validates them and reassembles messages.
///
/// An idle reader owns no heap memory; buffers exist only while a frame is split across reads
/// or a fragmented message is in progress.
#[derive(Debug)]
pub struct MessageReader {
    max_message_bytes: usize,
    /// Bytes of a frame header split across reads.
    head: [u8; MAX_HEADER],
    head_len: usize,
    /// Frame whose payload is being received.
    partial: Option<Partial>,
    /// Kind of the data message in progress (set from its first frame until it is delivered).
    message_kind: Option<Kind>,
    /// Unmasked payload of the data message in progress.
    message: Vec<u8>,
    /// Length of the prefix of `message` known to be valid UTF-8 (text messages).
    utf8_valid: usize,
    /// Unmasked payload of a control frame split across reads.
    control: Vec<u8>,
}

impl MessageReader {
    /// A reader that rejects messages (and frames) longer than `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> Self {
        MessageReader {
            max_message_bytes,
            head: [0; MAX_HEADER],
            head_len: 0,
            partial: None,
            message_kind: None,
            message: Vec::new(),
            utf8_valid: 0,
            control: Vec::new(),
        }
    }

    /// True when no partial frame or fragmented message is buffered (the reader holds no heap
    /// memory).
    pub fn is_idle(&self) -> bool {
        self.head_len == 0 && self.partial.is_none() && self.message_kind.is_none()
    }

    /// Feeds bytes just read from the socket, split anywhere (half a header, several frames, …).
    ///
    /// `input` is unmasked in place. `on_message` is called for every complete message or
    /// control frame, in order; when it returns [`Flow::Stop`] processing ends and the rest of
    /// `input` is discarded. Bytes of an incomplete frame or an unfinished fragmented message
    /// are kept for the next call. After an `Err` the reader must not be fed again.
    pub fn feed(
        &mut self,
        input: &mut [u8],
        on_message: &mut dyn FnMut(Incoming<'_>) -> Flow,
    ) -> Result<(), FrameError> {
        let mut pos = 0;
        loop {
            if self.partial.is_some() {
                if !self.consume(input, &mut pos)? {
                    return Ok(());
                }
                if self.finish(on_message)? == Flow::Stop {
                    return Ok(());
                }
                continue;
            }
            if pos == input.len() {
                return Ok(());
            }
            let header = if self.head_len == 0 {
                match self.parse_header(&input[pos..])? {
                    Some((header, n)) => {
                        pos += n;
                        header
                    }
                    None => {
                        let rest = &input[pos..];
                        self.head[..rest.len()].copy_from_slice(rest);
                        self.head_len = rest.len();
                        return Ok(());
                    }
                }
            } else {
                match self.fill_header(input, &mut pos)? {
                    Some(header) => header,
                    None => return Ok(()),
                }
            };
            if self.start_frame(header, input, &mut pos, on_message)? == Flow::Stop {
                return Ok(());
            }
        }
    }

    /// Completes a header split across reads. `None`: `input` ran out first.
    fn fill_header(&mut self, input: &[u8], pos: &mut usize) -> Result<Option<Header>, FrameError> {
        loop {
            let have = self.head_len;
            if let Some((header, _)) = self.parse_header(&self.head[..have])? {
                self.head_len = 0;
                return Ok(Some(header));
            }
            let need = if have < 2 {
                2
            } else {
                header_len(self.head[1])
            };
            let take = (need - have).min(input.len() - *pos);
            if take == 0 {
                return Ok(None);
            }
            self.head[have..have + take].copy_from_slice(&input[*pos..*pos + take]);
            self.head_len += take;
            *pos += take;
        }
    }

    /// Parses and validates a header at the start of `buf`. `None`: not all of it is there yet
    /// (violations visible in the first two bytes are still reported).
    fn parse_header(&self, buf: &[u8]) -> Result<Option<(Header, usize)>, FrameError> {
        let (b0, b1) = match buf {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        if b0 & 0x70 != 0 {
            return Err(FrameError::Protocol("reserved bits set"));
        }
        let fin = b0 & 0x80 != 0;
        let op = b0 & 0x0F;
        match op {
            opcode::CONTINUATION
            | opcode::TEXT
            | opcode::BINARY
            | opcode::CLOSE
            | opcode::PING
            | opcode::PONG => {}
            _ => return Err(FrameError::Protocol("reserved opcode")),
        }
        if b1 & 0x80 == 0 {
            return Err(FrameError::Protocol("client frame not masked"));
        }
        let len7 = b1 & 0x7F;
        let control = op & 0x08 != 0;
        if control && !fin {
            return Err(FrameError::Protocol("fragmented control frame"));
        }
        if control && usize::from(len7) > MAX_CONTROL_PAYLOAD {
            return Err(FrameError::Protocol("control frame payload too long"));
        }
        if op == opcode::CONTINUATION && self.message_kind.is_none() {
            return Err(FrameError::Protocol("continuation frame without a message"));
        }
        if (op == opcode::TEXT || op == opcode::BINARY) && self.message_kind.is_some() {
            return Err(FrameError::Protocol(
                "data frame inside a fragmented message",
            ));
        }
        let total = header_len(b1);
        if buf.len() < total {
            return Ok(None);
        }
        let (len, mask_at) = match len7 {
            126 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&buf[2..10]);
                (u64::from_be_bytes(be), 10)
            }
            n => (u64::from(n), 2),
        };
        if len >> 63 != 0 {
            return Err(FrameError::Protocol("payload length has its top bit set"));
        }
        let buffered = self.message.len() as u64;
        if !control && len.saturating_add(buffered) > self.max_message_bytes as u64 {
            return Err(FrameError::MessageTooBig);
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&buf[mask_at..mask_at + 4]);
        // `len` is bounded by `max_message_bytes` (data) or 125 (control), so it fits a usize.
        let len = len as usize;
        Ok(Some((
            Header {
                fin,
                opcode: op,
                mask,
                len,
            },
            total,
        )))
    }

    /// Handles a frame whose header was just read and whose payload starts at `input[*pos]`.
    fn start_frame(
        &mut self,
        header: Header,
        input: &mut [u8],
        pos: &mut usize,
        on_message: &mut dyn FnMut(Incoming<'_>) -> Flow,
    ) -> Result<Flow, FrameError> {
        let complete = input.len() - *pos >= header.len;
        if complete && (header.is_control() || header.fin && header.opcode != opcode::CONTINUATION)
        {
            // Zero-copy: the whole message or control frame is in `input`.
            let payload = &mut input[*pos..*pos + header.len];
            *pos += header.len;
            apply_mask(payload, header.mask, 0);
            let payload = &*payload;
            return match header.opcode {
                opcode::TEXT => {
                    std::str::from_utf8(payload).map_err(|_| FrameError::InvalidUtf8)?;
                    Ok(on_message(Incoming::Text(payload)))
                }
                opcode::BINARY => Ok(on_message(Incoming::Binary(payload))),
                op => deliver_control(op, payload, on_message),
            };
        }
        match header.opcode {
            opcode::TEXT => self.message_kind = Some(Kind::Text),
            opcode::BINARY => self.message_kind = Some(Kind::Binary),
            _ => {}
        }
        self.partial = Some(Partial {
            header,
            remaining: header.len,
            phase: 0,
        });
        Ok(Flow::Continue)
    }

    /// Takes as much of the current frame's payload from `input` as is there, unmasks it and
    /// appends it to the right buffer. Returns whether the frame is complete.
    fn consume(&mut self, input: &mut [u8], pos: &mut usize) -> Result<bool, FrameError> {
        let Some(mut partial) = self.partial else {
            return Ok(false);
        };
        let n = partial.remaining.min(input.len() - *pos);
        let chunk = &mut input[*pos..*pos + n];
        *pos += n;
        apply_mask(chunk, partial.header.mask, partial.phase);
        partial.phase = (partial.phase + n) % 4;
        partial.remaining -= n;
        self.partial = Some(partial);
        if partial.header.is_control() {
            self.control.extend_from_slice(chunk);
        } else {
            self.message.extend_from_slice(chunk);
            if self.message_kind == Some(Kind::Text) && n > 0 {
                self.check_utf8()?;
            }
        }
        Ok(partial.remaining == 0)
    }

    /// Fails as soon as the text message in progress can no longer become valid UTF-8.
    fn check_utf8(&mut self) -> Result<(), FrameError> {
        match std::str::from_utf8(&self.message[self.utf8_valid..]) {
            Ok(_) => self.utf8_valid = self.message.len(),
            Err(e) if e.error_len().is_none() => self.utf8_valid += e.valid_up_to(),
            Err(_) => return Err(FrameError::InvalidUtf8),
        }
        Ok(())
    }

    /// Ends the frame whose payload was just completed; delivers it if it ends a message or is a
    /// control frame, releasing the buffers.
    fn finish(
        &mut self,
        on_message: &mut dyn FnMut(Incoming<'_>) -> Flow,
    ) -> Result<Flow, FrameError> {
        let Some(partial) = self.partial.take() else {
            return Ok(Flow::Continue);
        };
        let header = partial.header;
        if header.is_control() {
            let payload = std::mem::take(&mut self.control);
            return deliver_control(header.opcode, &payload, on_message);
        }
        if !header.fin {
            return Ok(Flow::Continue);
        }
        let message = std::mem::take(&mut self.message);
        let valid = std::mem::replace(&mut self.utf8_valid, 0);
        match self.message_kind.take() {
            Some(Kind::Text) if valid == message.len() => Ok(on_message(Incoming::Text(&message))),
            Some(Kind::Text) => Err(FrameError::InvalidUtf8),
            Some(Kind::Binary) => Ok(on_message(Incoming::Binary(&message))),
            None => Err(FrameError::Protocol("continuation frame without a message")),
        }
    }
}

/// Total header length implied by the second header byte.
fn header_len(b1: u8) -> usize {
    let ext = match b1 & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if b1 & 0x80 != 0 { 4 } else { 0 };
    2 + ext + mask
}

/// XORs `buf` with the masking key, starting at key offset `phase`.
fn apply_mask(buf: &mut [u8], mask: [u8; 4], phase: usize) {
    let key = [
        mask[phase % 4],
        mask[(phase + 1) % 4],
        mask[(phase + 2) % 4],
        mask[(phase + 3) % 4],
    ];
    let mut chunks = buf.chunks_exact_mut(4);
    for chunk in &mut chunks {
        for (b, k) in chunk.iter_mut().zip(key) {
            *b ^= k;
        }
    }
    for (b, k) in chunks.into_remainder().iter_mut().zip(key) {
        *b ^= k;
    }
}

/// Delivers a complete control frame.
fn deliver_control(
    op: u8,
    payload: &[u8],
    on_message: &mut dyn FnMut(Incoming<'_>) -> Flow,
) -> Result<Flow, FrameError> {
    match op {
        opcode::PING => Ok(on_message(Incoming::Ping(payload))),
        opcode::PONG => Ok(on_message(Incoming::Pong(payload))),
        _ => Ok(on_message(Incoming::Close(parse_close(payload)?))),
    }
}

/// Validates a close frame payload: status code and UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<CloseInfo>, FrameError> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(FrameError::Protocol("close payload of one byte")),
        [hi, lo, reason @ ..] => (u16::from_be_bytes([*hi, *lo]), reason),
    };
    if !valid_close_code(code) {
        return Err(FrameError::Protocol("invalid close code"));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| FrameError::InvalidUtf8)?;
    Ok(Some(CloseInfo {
        code,
        reason: reason.to_owned(),
    }))
}

/// Whether a peer may send `code` in a close frame (RFC 6455 §7.4).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}
