//! RFC 6455 WebSocket, IO-free: the upgrade handshake ([`handshake`]) and a frame codec
//! ([`frame`]) that reassembles client messages and frames server messages.

pub mod frame;
pub mod handshake;
