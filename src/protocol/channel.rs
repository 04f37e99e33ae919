//! Channel names: validation and the kind a name's prefix gives (public, private, presence,
//! encrypted, cache variants, server-to-user). Prefix tests are anchored, longest first.

use thiserror::Error;

/// What a channel's prefix makes of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// No auth, no client events.
    Public,
    /// `private-`: signed subscription, client events.
    Private,
    /// `private-encrypted-`: like private; payloads are opaque to the server.
    Encrypted,
    /// `presence-`: signed subscription with member data.
    Presence,
    /// `#server-to-user-{id}`: only the signed-in user `{id}` may subscribe.
    ServerToUser,
}

/// A validated channel name and what its prefix says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelName<'a> {
    /// The name, as received.
    pub name: &'a str,
    /// Its kind.
    pub kind: ChannelKind,
    /// Whether it is a cache channel (keeps its last event).
    pub cached: bool,
}

/// Why a channel name is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChannelError {
    /// Empty name.
    #[error("Channel name is empty")]
    Empty,
    /// Longer than the limit.
    #[error("Channel name is longer than {0} characters")]
    TooLong(usize),
    /// A character outside `[A-Za-z0-9_\-=@,.;]`, or a `#` name other than `#server-to-user-`.
    #[error("Channel name contains invalid characters (allowed: A-Z a-z 0-9 _ - = @ , . ;)")]
    InvalidCharacters,
}

const SERVER_TO_USER: &str = "#server-to-user-";

/// Prefixes in match order: (prefix, kind, cached).
const PREFIXES: [(&str, ChannelKind, bool); 7] = [
    ("private-encrypted-cache-", ChannelKind::Encrypted, true),
    ("private-encrypted-", ChannelKind::Encrypted, false),
    ("private-cache-", ChannelKind::Private, true),
    ("private-", ChannelKind::Private, false),
    ("presence-cache-", ChannelKind::Presence, true),
    ("presence-", ChannelKind::Presence, false),
    ("cache-", ChannelKind::Public, true),
];

impl<'a> ChannelName<'a> {
    /// Validates `name` (at most `max_len` characters) and classifies it.
    pub fn parse(name: &'a str, max_len: usize) -> Result<Self, ChannelError> {
        if name.is_empty() {
            return Err(ChannelError::Empty);
        }
        if name.len() > max_len {
            return Err(ChannelError::TooLong(max_len));
        }
        if let Some(user) = name.strip_prefix(SERVER_TO_USER) {
            if user.is_empty() {
                return Err(ChannelError::InvalidCharacters);
            }
            return Ok(ChannelName {
                name,
                kind: ChannelKind::ServerToUser,
                cached: false,
            });
        }
        if !name.bytes().all(valid_byte) {
            return Err(ChannelError::InvalidCharacters);
        }
        let (kind, cached) = PREFIXES
            .iter()
            .find(|(p, _, _)| name.starts_with(p))
            .map(|&(_, k, c)| (k, c))
            .unwrap_or((ChannelKind::Public, false));
        Ok(ChannelName { name, kind, cached })
    }

    /// Whether subscribing needs a signature.
    pub fn needs_auth(&self) -> bool {
        matches!(
            self.kind,
            ChannelKind::Private | ChannelKind::Encrypted | ChannelKind::Presence
        )
    }

    /// Whether clients may send `client-*` events on it: private and presence channels
    /// (encrypted channels refuse them, their payloads being opaque to everyone but members).
    pub fn allows_client_events(&self) -> bool {
        matches!(self.kind, ChannelKind::Private | ChannelKind::Presence)
    }

    /// The user id of a `#server-to-user-{id}` channel.
    pub fn server_to_user_id(&self) -> Option<&'a str> {
        self.name.strip_prefix(SERVER_TO_USER)
    }

    /// Internal channels are hidden from channel listings and webhooks.
    pub fn is_internal(&self) -> bool {
        self.kind == ChannelKind::ServerToUser
    }
}

fn valid_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'=' | b'@' | b',' | b'.' | b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> (ChannelKind, bool) {
        let c = ChannelName::parse(name, 200).unwrap();
        (c.kind, c.cached)
    }

    #[test]
    fn prefixes_are_anchored_and_longest_first() {
        assert_eq!(kind("my-channel"), (ChannelKind::Public, false));
        assert_eq!(kind("cache-x"), (ChannelKind::Public, true));
        assert_eq!(kind("private-x"), (ChannelKind::Private, false));
        assert_eq!(kind("private-cache-x"), (ChannelKind::Private, true));
        assert_eq!(kind("private-encrypted-x"), (ChannelKind::Encrypted, false));
        assert_eq!(
            kind("private-encrypted-cache-x"),
            (ChannelKind::Encrypted, true)
        );
        assert_eq!(kind("presence-x"), (ChannelKind::Presence, false));
        assert_eq!(kind("presence-cache-x"), (ChannelKind::Presence, true));
        assert_eq!(kind("foo-private-x"), (ChannelKind::Public, false));
        assert_eq!(kind("x-cache-y"), (ChannelKind::Public, false));
        assert_eq!(
            kind("#server-to-user-42"),
            (ChannelKind::ServerToUser, false)
        );
    }

    #[test]
    fn validates_characters_and_length() {
        assert_eq!(ChannelName::parse("", 200), Err(ChannelError::Empty));
        assert_eq!(
            ChannelName::parse("a b", 200),
            Err(ChannelError::InvalidCharacters)
        );
        assert_eq!(
            ChannelName::parse("#other", 200),
            Err(ChannelError::InvalidCharacters)
        );
        assert_eq!(
            ChannelName::parse("#server-to-user-", 200),
            Err(ChannelError::InvalidCharacters)
        );
        assert_eq!(
            ChannelName::parse(&"a".repeat(201), 200),
            Err(ChannelError::TooLong(200))
        );
        assert!(ChannelName::parse(&"a".repeat(200), 200).is_ok());
        assert!(ChannelName::parse("A-z_0=9@,.;", 200).is_ok());
    }

    #[test]
    fn auth_and_client_events_follow_the_kind() {
        let p = ChannelName::parse("presence-room", 200).unwrap();
        assert!(p.needs_auth() && p.allows_client_events());
        let e = ChannelName::parse("private-encrypted-room", 200).unwrap();
        assert!(e.needs_auth() && !e.allows_client_events());
        let c = ChannelName::parse("cache-room", 200).unwrap();
        assert!(!c.needs_auth() && !c.allows_client_events());
        let u = ChannelName::parse("#server-to-user-7", 200).unwrap();
        assert_eq!(u.server_to_user_id(), Some("7"));
        assert!(u.is_internal());
    }
}
