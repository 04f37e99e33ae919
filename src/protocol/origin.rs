//! Origin allow-lists, pure: which `Origin` of a WebSocket upgrade an app accepts (both the
//! Pusher `/app/{key}` and the raw `/v3/{channel_id}` surface).
//!
//! An app's `allowed_origins` is a list of patterns; an empty list accepts every origin.
//!
//! | pattern | accepts |
//! |---|---|
//! | `*` | every origin |
//! | `https://app.example.com` | exactly that scheme, host and port (here 443, the default of `https`) |
//! | `http://localhost:3000` | exactly that scheme, host and port |
//! | `app.example.com`, `localhost:3000` | that host and port under any scheme |
//! | `*.example.com`, `https://*.example.com:8443` | every subdomain of `example.com`, at any depth, but not `example.com` itself |
//!
//! Schemes and hosts compare ASCII case-insensitively. Ports compare as numbers, and an omitted
//! port stands for the scheme's default (80 for `http`/`ws`, 443 for `https`/`wss`), so
//! `https://a.com` and `https://a.com:443` are the same origin while `a.com` does not accept
//! `http://a.com:8080`. Hosts are ASCII (browsers send internationalized names in punycode).
//!
//! An `Origin` that is not a serialized origin (`null` from sandboxed frames and files, anything
//! with a path, garbage) is accepted only by `*`. A request **without** an `Origin` header is
//! accepted: every browser sends one on a WebSocket upgrade, so its absence means a non-browser
//! client (a mobile SDK, pusher-js on Node), which could just as well send any origin it likes;
//! refusing it would break those clients without protecting anything. The allow-list keeps other
//! web sites' pages from using an app's key in their visitors' browsers; it is not client
//! authentication (private channels and sign-in are).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Longest host name accepted (RFC 1035).
const MAX_HOST: usize = 253;
/// Longest label of a host name.
const MAX_LABEL: usize = 63;

/// Why an allow-list entry is not a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OriginError {
    /// Nothing, or only spaces.
    #[error("is empty")]
    Empty,
    /// The part before `://` is not a URI scheme.
    #[error("has an invalid scheme")]
    Scheme,
    /// The host is not a DNS name (letters, digits, `-`, `_`, dot-separated) or `[IPv6]`.
    #[error("has an invalid host (expected a DNS name or a bracketed IPv6 address)")]
    Host,
    /// The port is not a number from 1 to 65535.
    #[error("has an invalid port (expected 1 to 65535)")]
    Port,
    /// `*` somewhere other than alone or as the whole first label.
    #[error("may use '*' only alone or as the first label (*.example.com)")]
    Wildcard,
    /// A path, query, fragment or user info: an origin is only scheme, host and port.
    #[error("has a path, query or user info (an origin is scheme://host[:port] only)")]
    NotAnOrigin,
}

/// The host part of a pattern, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// This host only.
    Exact(Box<str>),
    /// Any host ending in `.{domain}`.
    Subdomains(Box<str>),
}

/// One entry of an allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    /// `None`: `*`, every origin.
    site: Option<Site>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Site {
    /// Lower-cased scheme; `None`: any scheme.
    scheme: Option<Box<str>>,
    host: HostPattern,
    /// `None`: the default port of the origin's scheme.
    port: Option<u16>,
}

/// A serialized origin as it arrives in the `Origin` header, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Origin<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
}

impl FromStr for OriginPattern {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Self, OriginError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(OriginError::Empty);
        }
        if s == "*" {
            return Ok(OriginPattern { site: None });
        }
        let (scheme, rest) = match s.split_once("://") {
            Some((scheme, rest)) => (Some(scheme), rest),
            None => (None, s),
        };
        if let Some(scheme) = scheme {
            if !valid_scheme(scheme) {
                return Err(OriginError::Scheme);
            }
        }
        if rest.starts_with("*.[") {
            // A wildcard over an IPv6 address.
            return Err(OriginError::Wildcard);
        }
        let (host, port) = split_host_port(rest)?;
        let host = match host.strip_prefix("*.") {
            Some(domain) => {
                check_host(domain)?;
                HostPattern::Subdomains(domain.to_ascii_lowercase().into())
            }
            None => {
                check_host(host)?;
                HostPattern::Exact(host.to_ascii_lowercase().into())
            }
        };
        Ok(OriginPattern {
            site: Some(Site {
                scheme: scheme.map(|s| s.to_ascii_lowercase().into()),
                host,
                port,
            }),
        })
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(site) = &self.site else {
            return f.write_str("*");
        };
        if let Some(scheme) = &site.scheme {
            write!(f, "{scheme}://")?;
        }
        match &site.host {
            HostPattern::Exact(h) => f.write_str(h)?,
            HostPattern::Subdomains(d) => write!(f, "*.{d}")?,
        }
        match site.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

impl OriginPattern {
    fn matches(&self, origin: &Origin<'_>) -> bool {
        let Some(site) = &self.site else {
            return true;
        };
        if let Some(scheme) = &site.scheme {
            if !scheme.eq_ignore_ascii_case(origin.scheme) {
                return false;
            }
        }
        let default = default_port(origin.scheme);
        if site.port.or(default) != origin.port.or(default) {
            return false;
        }
        match &site.host {
            HostPattern::Exact(h) => h.eq_ignore_ascii_case(origin.host),
            HostPattern::Subdomains(d) => is_subdomain(origin.host, d),
        }
    }
}

/// An app's allow-list. Empty: every origin is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins {
    patterns: Vec<OriginPattern>,
}

impl AllowedOrigins {
    /// Parses every entry; on failure, the index of the first bad entry and why.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, (usize, OriginError)> {
        let patterns = entries
            .iter()
            .enumerate()
            .map(|(i, e)| e.as_ref().parse().map_err(|err| (i, err)))
            .collect::<Result<_, _>>()?;
        Ok(AllowedOrigins { patterns })
    }

    /// Whether the list is empty (no restriction).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns, in the order given.
    pub fn patterns(&self) -> &[OriginPattern] {
        &self.patterns
    }

    /// Whether an upgrade request with this `Origin` header value (`None`: no header) is
    /// accepted.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        self.allows_header(origin.map(str::as_bytes))
    }

    /// [`AllowedOrigins::allows`] for the header's raw bytes: a value that is not UTF-8 is
    /// present but not a serialized origin (accepted only by `*`), not a missing header.
    pub fn allows_header(&self, value: Option<&[u8]>) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let Some(value) = value else {
            return true;
        };
        let origin = std::str::from_utf8(value).ok();
        match origin.and_then(|o| parse_origin(o.trim())) {
            Some(o) => self.patterns.iter().any(|p| p.matches(&o)),
            None => self.patterns.iter().any(|p| p.site.is_none()),
        }
    }
}

/// Reads a serialized origin, `scheme://host[:port]`; `None` when it is not one.
fn parse_origin(s: &str) -> Option<Origin<'_>> {
    let (scheme, rest) = s.split_once("://")?;
    if !valid_scheme(scheme) {
        return None;
    }
    let (host, port) = split_host_port(rest).ok()?;
    check_host(host).ok()?;
    Some(Origin { scheme, host, port })
}

/// Splits `host[:port]` (the host may be `[IPv6]`); refuses paths, queries and user info.
fn split_host_port(s: &str) -> Result<(&str, Option<u16>), OriginError> {
    if s.contains(['/', '?', '#', '@', '\\']) {
        return Err(OriginError::NotAnOrigin);
    }
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or(OriginError::Host)?;
        let (host, after) = s.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or(OriginError::Host)?),
            ),
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p).ok_or(OriginError::Port)?),
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n > 0)
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986).
fn valid_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// A DNS name of non-empty labels of `[A-Za-z0-9_-]`, or a bracketed IPv6 address.
fn check_host(host: &str) -> Result<(), OriginError> {
    if host.contains('*') {
        return Err(OriginError::Wildcard);
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ok = inner.contains(':')
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        return if ok { Ok(()) } else { Err(OriginError::Host) };
    }
    let label_ok = |l: &str| {
        (1..=MAX_LABEL).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if host.is_empty() || host.len() > MAX_HOST || !host.split('.').all(label_ok) {
        return Err(OriginError::Host);
    }
    Ok(())
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else {
        None
    }
}

/// Whether `host` is `{label(s)}.{domain}` (ASCII case-insensitive), `domain` itself excluded.
fn is_subdomain(host: &str, domain: &str) -> bool {
    let (h, d) = (host.as_bytes(), domain.as_bytes());
    h.len() > d.len() + 1
        && h[h.len() - d.len() - 1] == b'.'
        && h[h.len() - d.len()..].eq_ignore_ascii_case(d)
}

#[cfg(test)]
mod tests;
