//! Tests of the frame reader and encoder.

use super::*;

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame with first header byte `b0`.
fn raw_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    out
}

/// A masked client frame.
fn frame(fin: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(if fin { 0x80 } else { 0 } | op, payload)
}

/// An owned copy of an [`Incoming`].
#[derive(Debug, PartialEq, Eq, Clone)]
enum Got {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseInfo>),
}

fn own(m: Incoming<'_>) -> Got {
    match m {
        Incoming::Text(p) => Got::Text(p.to_vec()),
        Incoming::Binary(p) => Got::Binary(p.to_vec()),
        Incoming::Ping(p) => Got::Ping(p.to_vec()),
        Incoming::Pong(p) => Got::Pong(p.to_vec()),
        Incoming::Close(c) => Got::Close(c),
    }
}

/// Feeds `chunks` one after another into a fresh reader.
fn run_chunks(max: usize, chunks: &[&[u8]]) -> (Result<(), FrameError>, Vec<Got>, bool) {
    let mut reader = MessageReader::new(max);
    let mut got = Vec::new();
    for chunk in chunks {
        let mut buf = chunk.to_vec();
        let r = reader.feed(&mut buf, &mut |m| {
            got.push(own(m));
            Flow::Continue
        });
        if r.is_err() {
            return (r, got, reader.is_idle());
        }
    }
    (Ok(()), got, reader.is_idle())
}

fn run(input: &[u8]) -> (Result<(), FrameError>, Vec<Got>) {
    let (r, got, _) = run_chunks(1 << 20, &[input]);
    (r, got)
}

fn error_of(input: &[u8]) -> FrameError {
    match run(input).0 {
        Err(e) => e,
        Ok(()) => panic!("expected an error"),
    }
}

fn code_of(input: &[u8]) -> u16 {
    error_of(input).close_code()
}

#[test]
fn masked_single_frame_is_zero_copy() {
    let mut buf = frame(true, opcode::TEXT, b"Hello");
    let range = buf.as_ptr_range();
    let mut reader = MessageReader::new(1024);
    let mut seen = 0;
    reader
        .feed(&mut buf, &mut |m| {
            let Incoming::Text(p) = m else {
                panic!("{m:?}")
            };
            assert_eq!(p, b"Hello");
            assert!(range.contains(&p.as_ptr()), "payload was copied");
            seen += 1;
            Flow::Continue
        })
        .unwrap();
    assert_eq!(seen, 1);
    assert!(reader.is_idle());
}

/// A stream touching every code path: 16-bit length, control frames, fragmentation.
fn mixed_stream() -> (Vec<u8>, Vec<Got>) {
    let long: Vec<u8> = (0..300).map(|i| b'a' + (i % 26) as u8).collect();
    let mut s = frame(true, opcode::TEXT, &long);
    s.extend(frame(true, opcode::PING, b"p1"));
    s.extend(frame(false, opcode::BINARY, &[1, 2, 3]));
    s.extend(frame(true, opcode::PONG, b""));
    s.extend(frame(false, opcode::CONTINUATION, &[]));
    s.extend(frame(true, opcode::CONTINUATION, &[4, 5]));
    s.extend(frame(true, opcode::TEXT, "é€".as_bytes()));
    s.extend(frame(true, opcode::CLOSE, b"\x03\xe8bye"));
    let expected = vec![
        Got::Text(long),
        Got::Ping(b"p1".to_vec()),
        Got::Pong(vec![]),
        Got::Binary(vec![1, 2, 3, 4, 5]),
        Got::Text("é€".as_bytes().to_vec()),
        Got::Close(Some(CloseInfo {
            code: 1000,
            reason: "bye".into(),
        })),
    ];
    (s, expected)
}

#[test]
fn several_frames_in_one_input() {
    let (s, expected) = mixed_stream();
    assert_eq!(run(&s), (Ok(()), expected));
}

#[test]
fn split_at_every_byte_position() {
    let (s, expected) = mixed_stream();
    for i in 0..=s.len() {
        let (r, got, idle) = run_chunks(1 << 20, &[&s[..i], &s[i..]]);
        assert_eq!((r, &got), (Ok(()), &expected), "split at {i}");
        assert!(idle);
    }
    let bytes: Vec<&[u8]> = s.chunks(1).collect();
    assert_eq!(run_chunks(1 << 20, &bytes).1, expected);
}

#[test]
fn fragmentation_with_interleaved_ping() {
    let mut s = frame(false, opcode::TEXT, b"Hel");
    s.extend(frame(true, opcode::PING, b"x"));
    s.extend(frame(true, opcode::CONTINUATION, b"lo"));
    let (r, got, idle) = run_chunks(1024, &[&s]);
    assert_eq!(r, Ok(()));
    assert!(idle);
    assert_eq!(
        got,
        vec![Got::Ping(b"x".to_vec()), Got::Text(b"Hello".to_vec())]
    );
}

#[test]
fn fragmented_message_is_buffered_between_feeds() {
    let first = frame(false, opcode::BINARY, b"ab");
    let mut reader = MessageReader::new(1024);
    let mut buf = first.clone();
    reader
        .feed(&mut buf, &mut |_| panic!("nothing yet"))
        .unwrap();
    assert!(!reader.is_idle());
    let mut buf = frame(true, opcode::CONTINUATION, b"cd");
    let mut got = None;
    reader
        .feed(&mut buf, &mut |m| {
            got = Some(own(m));
            Flow::Continue
        })
        .unwrap();
    assert_eq!(got, Some(Got::Binary(b"abcd".to_vec())));
    assert!(reader.is_idle());
}

#[test]
fn stop_ends_processing() {
    let mut s = frame(true, opcode::TEXT, b"a");
    s.extend(frame(true, opcode::TEXT, b"b"));
    let mut reader = MessageReader::new(1024);
    let mut n = 0;
    reader
        .feed(&mut s, &mut |_| {
            n += 1;
            Flow::Stop
        })
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn protocol_violations_are_1002() {
    let unmasked = [0x81, 0x02, b'h', b'i'];
    assert_eq!(code_of(&unmasked), 1002);
    for rsv in [0x40, 0x20, 0x10] {
        assert_eq!(code_of(&raw_frame(0x80 | rsv | opcode::TEXT, b"x")), 1002);
    }
    for op in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(code_of(&raw_frame(0x80 | op, b"")), 1002, "opcode {op}");
    }
    assert_eq!(code_of(&frame(false, opcode::PING, b"")), 1002);
    assert_eq!(code_of(&frame(true, opcode::PING, &[0; 126])), 1002);
    assert_eq!(code_of(&frame(true, opcode::CONTINUATION, b"x")), 1002);
    let mut s = frame(false, opcode::TEXT, b"a");
    s.extend(frame(true, opcode::TEXT, b"b"));
    assert_eq!(code_of(&s), 1002);
    let mut s = frame(false, opcode::BINARY, b"a");
    s.extend(frame(true, opcode::BINARY, b"b"));
    assert_eq!(code_of(&s), 1002);
    let mut huge = vec![0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1];
    huge.extend_from_slice(&MASK);
    assert_eq!(code_of(&huge), 1002);
    assert_eq!(code_of(&frame(true, opcode::CLOSE, &[3])), 1002);
}

#[test]
fn violations_are_reported_before_the_header_is_complete() {
    assert_eq!(run_chunks(1024, &[&[0xC1]]).0, Ok(()));
    assert_eq!(
        run_chunks(1024, &[&[0xC1, 0x80]]).0,
        Err(FrameError::Protocol("reserved bits set"))
    );
}

#[test]
fn close_codes() {
    let close = |code: u16| {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(b"r");
        run(&frame(true, opcode::CLOSE, &p))
    };
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
    ] {
        let expected = Got::Close(Some(CloseInfo {
            code,
            reason: "r".into(),
        }));
        assert_eq!(close(code), (Ok(()), vec![expected]), "code {code}");
    }
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        assert_eq!(
            close(code).0.map_err(|e| e.close_code()),
            Err(1002),
            "code {code}"
        );
    }
    assert_eq!(
        run(&frame(true, opcode::CLOSE, b"")).1,
        vec![Got::Close(None)]
    );
    assert_eq!(code_of(&frame(true, opcode::CLOSE, b"\x03\xe8\xff")), 1007);
}

#[test]
fn invalid_utf8_is_1007() {
    assert_eq!(code_of(&frame(true, opcode::TEXT, b"a\xffb")), 1007);
    // Truncated sequence at the end of a single-frame message.
    assert_eq!(code_of(&frame(true, opcode::TEXT, b"a\xe2\x82")), 1007);
    // Truncated sequence at the end of a fragmented message.
    let mut s = frame(false, opcode::TEXT, b"a");
    s.extend(frame(true, opcode::CONTINUATION, b"\xe2\x82"));
    assert_eq!(code_of(&s), 1007);
}

#[test]
fn utf8_fails_fast_across_fragments() {
    // A valid character split across fragments passes.
    let euro = "€".as_bytes();
    let mut s = frame(false, opcode::TEXT, &euro[..1]);
    s.extend(frame(false, opcode::CONTINUATION, &euro[1..2]));
    s.extend(frame(true, opcode::CONTINUATION, &euro[2..]));
    assert_eq!(run(&s).1, vec![Got::Text(euro.to_vec())]);
    // An impossible sequence fails on the fragment that contains it, before the message ends.
    let first = frame(false, opcode::TEXT, b"ok\xf4");
    let second = frame(false, opcode::CONTINUATION, b"\x90\x80\x80");
    assert_eq!(run_chunks(1024, &[&first]).0, Ok(()));
    let (r, got, _) = run_chunks(1024, &[&first, &second]);
    assert_eq!((r, got), (Err(FrameError::InvalidUtf8), vec![]));
}

#[test]
fn utf8_fails_fast_within_a_split_frame() {
    let payload = b"valid then \xc0\xaf and much more text after it";
    let s = frame(true, opcode::TEXT, payload);
    let bad = 6 + payload.iter().position(|&b| b == 0xc0).unwrap();
    assert_eq!(run_chunks(1024, &[&s[..bad]]).0, Ok(()));
    assert_eq!(
        run_chunks(1024, &[&s[..bad + 1]]).0,
        Err(FrameError::InvalidUtf8)
    );
}

#[test]
fn lengths_16_and_64_bit() {
    for len in [126, 65535, 65536, 200_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let s = frame(true, opcode::BINARY, &payload);
        assert_eq!(s.len(), len + if len <= 65535 { 8 } else { 14 });
        assert_eq!(run(&s), (Ok(()), vec![Got::Binary(payload.clone())]));
        let chunks: Vec<&[u8]> = s.chunks(4093).collect();
        let (r, got, idle) = run_chunks(1 << 20, &chunks);
        assert_eq!((r, got), (Ok(()), vec![Got::Binary(payload)]));
        assert!(idle);
    }
}

#[test]
fn too_big_is_1009_from_the_header() {
    let s = frame(true, opcode::BINARY, &[0; 11]);
    assert_eq!(run_chunks(10, &[&s[..6]]).0, Err(FrameError::MessageTooBig));
    assert_eq!(
        run_chunks(10, &[&frame(true, opcode::TEXT, &[b'a'; 10])])
            .1
            .len(),
        1
    );
    let mut s = frame(false, opcode::TEXT, &[b'a'; 6]);
    s.extend(frame(true, opcode::PING, b""));
    s.extend(frame(true, opcode::CONTINUATION, &[b'a'; 5]));
    let (r, got, _) = run_chunks(10, &[&s]);
    assert_eq!(
        (r.map_err(|e| e.close_code()), got),
        (Err(1009), vec![Got::Ping(vec![])])
    );
    // A 64-bit length far beyond the limit is refused without allocating.
    let mut s = vec![0x82, 0x80 | 127, 0, 0, 0x10, 0, 0, 0, 0, 0];
    s.extend_from_slice(&MASK);
    assert_eq!(code_of(&s), 1009);
}

#[test]
fn encoder_lengths() {
    for (len, header) in [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)] {
        let payload = vec![7u8; len];
        let f = binary_frame(&payload);
        assert_eq!(f.len(), header + len);
        assert_eq!(f[0], 0x82);
        match header {
            2 => assert_eq!(usize::from(f[1]), len),
            4 => {
                assert_eq!(f[1], 126);
                assert_eq!(usize::from(u16::from_be_bytes([f[2], f[3]])), len);
            }
            _ => {
                assert_eq!(f[1], 127);
                assert_eq!(f[2..10], (len as u64).to_be_bytes());
            }
        }
        assert!(f[header..].iter().all(|&b| b == 7));
    }
    assert_eq!(&text_frame(b"hi")[..], b"\x81\x02hi");
    assert_eq!(&ping_frame(b"p")[..], b"\x89\x01p");
    assert_eq!(&pong_frame(b"p")[..], b"\x8a\x01p");
    assert_eq!(pong_frame(&[0; 200]).len(), 2 + 125);
    let mut out = vec![0xAA];
    encode_frame(opcode::TEXT, b"x", &mut out);
    assert_eq!(out, b"\xaa\x81\x01x");
}

#[test]
fn close_frame_truncates_reason_at_char_boundary() {
    assert_eq!(&close_frame(1000, "")[..], b"\x88\x02\x03\xe8");
    assert_eq!(&close_frame(4001, "bye")[..], b"\x88\x05\x0f\xa1bye");
    let long = "é".repeat(100); // 200 bytes, 2 per char
    let f = close_frame(1011, &long);
    assert_eq!(usize::from(f[1]), 2 + 122);
    assert!(std::str::from_utf8(&f[4..]).is_ok());
    let f = close_frame(1000, &"a".repeat(300));
    assert_eq!(usize::from(f[1]), 125);
}

#[test]
fn error_codes() {
    assert_eq!(FrameError::Protocol("x").close_code(), 1002);
    assert_eq!(FrameError::InvalidUtf8.close_code(), 1007);
    assert_eq!(FrameError::MessageTooBig.close_code(), 1009);
}
