//! Raw-TCP helpers for the edge tests: a bounded plain socket, reading to end of stream, a
//! masked client frame, and the kernel's view of a connection (`/proc/net/tcp`).
//!
//! Included by the tests that need it with `#[path = "common/wire.rs"] mod wire;` (next to
//! `mod common;`), so the shared harness module list stays as it is.

#![allow(dead_code)]

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::WAIT;

/// A plain TCP connection with bounded reads and writes.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A FIN (read returned 0).
    Eof,
    /// A RST.
    Reset,
}

/// Reads until the peer closes, within `within`; returns the bytes and how it ended. Panics if
/// the stream is still open by then.
pub fn read_to_end_within(s: &mut TcpStream, within: Duration) -> (Vec<u8>, End) {
    let deadline = Instant::now() + within;
    let mut all = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the server did not close within {within:?}; got {:?}",
            String::from_utf8_lossy(&all)
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut chunk) {
            Ok(0) => return (all, End::Eof),
            Ok(n) => all.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (all, End::Reset),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("reading failed: {e}"),
        }
    }
}

/// A masked client text frame (any payload length).
pub fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![0x81];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A WebSocket upgrade request for `path` with extra header lines `extra` (each ending in CRLF).
pub fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Bytes waiting in the kernel's receive queue of `s` (read by nobody yet).
pub fn unread_bytes(s: &TcpStream) -> usize {
    use std::os::unix::io::AsRawFd;
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, valid for the call.
    let r = unsafe { libc::ioctl(s.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert!(
        r == 0,
        "FIONREAD failed: {}",
        std::io::Error::last_os_error()
    );
    usize::try_from(n).unwrap_or(0)
}

/// Kernel TCP sockets (IPv4 and IPv6 tables) whose local port is `local` and remote port is
/// `remote`, with their state code (`01` established, `04` FIN_WAIT1, …) and send queue bytes.
pub fn kernel_sockets(local: u16, remote: u16) -> Vec<(String, u64)> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 5 {
                continue;
            }
            let port = |addr: &str| {
                addr.rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
            };
            if port(f[1]) == Some(local) && port(f[2]) == Some(remote) {
                let tx = f[4]
                    .split(':')
                    .next()
                    .and_then(|q| u64::from_str_radix(q, 16).ok())
                    .unwrap_or(0);
                found.push((f[3].to_string(), tx));
            }
        }
    }
    found
}
