//! Target URL parsing, loopback enforcement and the plan of local source addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// Connections per source address the default plan aims for (the ephemeral port range of one
/// source address toward one destination is typically ~28 000 ports).
pub const CONNS_PER_SOURCE_ADDR: u64 = 20_000;

/// Where the server lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host[:port]` exactly as written in the URL (used for the Host header).
    pub authority: String,
    /// Resolved socket address to connect to.
    pub addr: SocketAddr,
    /// Path prefix before `/app/{key}` (empty or starting with `/`, no trailing `/`).
    pub prefix: String,
    /// Whether `addr` is a loopback address.
    pub loopback: bool,
    /// `wss://`: WebSocket and REST go over TLS.
    pub tls: bool,
    /// The host as written (the name a TLS certificate must carry).
    pub host: String,
}

impl Target {
    /// WebSocket URL for an app key.
    pub fn ws_url(&self, key: &str) -> String {
        format!(
            "{}://{}{}/app/{}?protocol=7&client=corecast-loadtest&version={}&flash=false",
            if self.tls { "wss" } else { "ws" },
            self.authority,
            self.prefix,
            key,
            env!("CARGO_PKG_VERSION")
        )
    }
}

/// Classification of a host string without any name resolution.
#[derive(Debug, PartialEq, Eq)]
enum HostKind {
    Loopback(IpAddr),
    OtherIp(IpAddr),
    Name(String),
}

fn classify_host(host: &str) -> HostKind {
    if host.eq_ignore_ascii_case("localhost") {
        return HostKind::Loopback(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(ip) if is_loopback(ip) => HostKind::Loopback(ip),
        Ok(ip) => HostKind::OtherIp(ip),
        Err(_) => HostKind::Name(host.to_string()),
    }
}

/// 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => {
            v6 == Ipv6Addr::LOCALHOST || v6.to_ipv4_mapped().is_some_and(|v4| v4.octets()[0] == 127)
        }
    }
}

/// Parses `ws://host[:port][/prefix]` or `wss://…` and enforces the loopback rule unless
/// `allow_remote`.
pub fn parse_url(url: &str, allow_remote: bool) -> Result<Target, String> {
    let (rest, tls) = if let Some(r) = url.strip_prefix("ws://") {
        (r, false)
    } else if let Some(r) = url.strip_prefix("wss://") {
        (r, true)
    } else {
        return Err(format!(
            "--url must start with ws:// or wss:// (got {url:?})"
        ));
    };
    if rest.contains(['?', '#']) {
        return Err("--url must not contain a query or fragment".into());
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("invalid host in --url {url:?}"));
    }
    let (host, port) = split_host_port(authority, if tls { 443 } else { 80 })?;
    let prefix = path.trim_end_matches('/').to_string();

    let addr = match classify_host(host) {
        HostKind::Loopback(ip) => SocketAddr::new(ip, port),
        HostKind::OtherIp(ip) if allow_remote => SocketAddr::new(ip, port),
        HostKind::Name(name) if allow_remote => (name.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {name}: {e}"))?
            .next()
            .ok_or_else(|| format!("{name} resolved to no address"))?,
        _ => {
            return Err(format!(
                "refusing non-loopback target {host:?}: only 127.0.0.0/8, localhost and ::1 are \
                 allowed (pass --allow-remote to override)"
            ))
        }
    };
    Ok(Target {
        authority: authority.to_string(),
        addr,
        prefix,
        loopback: is_loopback(addr.ip()),
        tls,
        host: host.to_string(),
    })
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(&str, u16), String> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority
            .find(']')
            .ok_or("unterminated IPv6 literal in --url")?;
        let after = &authority[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("invalid authority {authority:?}")),
        };
        (&authority[..=end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("invalid port {p:?} in --url"))?,
        None => default_port,
    };
    if host.is_empty() {
        return Err(format!("missing host in {authority:?}"));
    }
    Ok((host, port))
}

/// Source addresses to bind before connecting (empty = let the kernel choose).
pub fn source_addrs(
    target: &Target,
    requested: Option<u32>,
    total_conns: u64,
) -> Result<Vec<IpAddr>, String> {
    let loopback_v4 = matches!(target.addr.ip(), IpAddr::V4(v4) if v4.octets()[0] == 127);
    if !loopback_v4 {
        return match requested {
            Some(n) if n > 1 => Err("--source-addrs needs an IPv4 loopback target".into()),
            _ => Ok(Vec::new()),
        };
    }
    let n = match requested {
        Some(0) => return Err("--source-addrs must be at least 1".into()),
        Some(n) if n > 254 => return Err("--source-addrs must be at most 254".into()),
        Some(n) => n,
        None => total_conns.div_ceil(CONNS_PER_SOURCE_ADDR).clamp(1, 254) as u32,
    };
    if n == 1 {
        return Ok(Vec::new());
    }
    Ok((1..=n)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loopback_urls() {
        let t = parse_url("ws://127.0.0.1:6001", false).expect("ok");
        assert_eq!(t.addr, "127.0.0.1:6001".parse().expect("addr"));
        assert_eq!(t.prefix, "");
        assert!(t.loopback);
        assert_eq!(
            t.ws_url("app-key").split('?').next(),
            Some("ws://127.0.0.1:6001/app/app-key")
        );
        let t = parse_url("ws://localhost:7000/ws/", false).expect("ok");
        assert_eq!(t.addr, "127.0.0.1:7000".parse().expect("addr"));
        assert_eq!(t.prefix, "/ws");
        assert_eq!(t.authority, "localhost:7000");
        let t = parse_url("ws://[::1]:6001", false).expect("ok");
        assert_eq!(t.addr, "[::1]:6001".parse().expect("addr"));
        let t = parse_url("ws://127.9.8.7", false).expect("ok");
        assert_eq!(t.addr.port(), 80);
        assert!(!t.tls);
    }

    #[test]
    fn parses_wss_urls() {
        let t = parse_url("wss://localhost:6443", false).expect("ok");
        assert!(t.tls);
        assert_eq!(t.host, "localhost");
        assert_eq!(t.addr, "127.0.0.1:6443".parse().expect("addr"));
        assert!(t.ws_url("k").starts_with("wss://localhost:6443/app/k?"));
        assert_eq!(
            parse_url("wss://127.0.0.1", false).expect("ok").addr.port(),
            443
        );
        assert!(parse_url("wss://10.0.0.1:6001", false).is_err());
    }

    #[test]
    fn refuses_remote_without_flag() {
        for url in [
            "ws://10.0.0.1:6001",
            "ws://192.168.1.5:6001",
            "ws://8.8.8.8:80",
            "ws://example.com:6001",
            "ws://[2001:db8::1]:6001",
            "ws://128.0.0.1:6001",
        ] {
            let err = parse_url(url, false).expect_err(url);
            assert!(err.contains("--allow-remote"), "{url}: {err}");
        }
        assert!(parse_url("ws://10.0.0.1:6001", true).is_ok());
    }

    #[test]
    fn rejects_malformed_urls() {
        for url in [
            "http://127.0.0.1:6001",
            "https://127.0.0.1:6001",
            "ws://",
            "ws://127.0.0.1:notaport",
            "ws://user@127.0.0.1:6001",
            "ws://127.0.0.1:6001/?x=1",
            "ws://[::1",
        ] {
            assert!(parse_url(url, false).is_err(), "{url}");
        }
    }

    #[test]
    fn loopback_classification() {
        assert!(is_loopback("127.0.0.1".parse().expect("ip")));
        assert!(is_loopback("127.255.0.3".parse().expect("ip")));
        assert!(is_loopback("::1".parse().expect("ip")));
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("::ffff:10.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("0.0.0.0".parse().expect("ip")));
    }

    #[test]
    fn source_address_plan() {
        let t = parse_url("ws://127.0.0.1:6001", false).expect("ok");
        assert!(source_addrs(&t, None, 1000).expect("ok").is_empty());
        let plan = source_addrs(&t, None, 50_000).expect("ok");
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[2], IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
        assert_eq!(source_addrs(&t, Some(4), 10).expect("ok").len(), 4);
        assert!(source_addrs(&t, Some(0), 10).is_err());
        let v6 = parse_url("ws://[::1]:6001", false).expect("ok");
        assert!(source_addrs(&v6, None, 100_000).expect("ok").is_empty());
        assert!(source_addrs(&v6, Some(2), 10).is_err());
    }
}
