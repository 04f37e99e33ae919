//! The Pusher Channels protocol (version 7), pure: no IO. Channel names and kinds, inbound
//! client messages, outbound server events, close and error codes, socket ids, origin
//! allow-lists.

pub mod channel;
pub mod codes;
pub mod flavour;
pub mod inbound;
pub mod origin;
pub mod outbound;
pub mod presence;
pub mod raw;
pub mod socket_id;
pub mod user;

pub use channel::{ChannelError, ChannelKind, ChannelName};
pub use codes::CloseCode;
pub use socket_id::SocketId;
