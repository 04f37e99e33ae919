//! Cluster-mode settings: `CORECAST_REDIS_URL` turns cluster mode on; the others tune the link
//! to Redis. Values are checked when parsed, so a bad one stops the start naming its variable.

use std::fmt;

use clap::Args;

/// Settings of cluster mode (flattened into [`super::Settings`]).
#[derive(Debug, Clone, Args)]
pub struct ClusterSettings {
    /// Redis URL (`redis://[user:pass@]host:port[/db]`); set: cluster mode, unset: single node.
    #[arg(long, env = "CORECAST_REDIS_URL", value_parser = redis_url)]
    pub redis_url: Option<RedisUrl>,
    /// Prefix of every Redis key and pub/sub channel of this cluster (pub/sub ignores the
    /// database number: clusters sharing one Redis need different prefixes).
    #[arg(long, env = "CORECAST_REDIS_PREFIX", default_value = "corecast", value_parser = redis_prefix)]
    pub redis_prefix: String,
    /// Outbound records kept while Redis is unreachable, in KiB (oldest dropped beyond it).
    #[arg(long, env = "CORECAST_REDIS_BUFFER_KB", default_value_t = 8192, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    pub redis_buffer_kb: u32,
    /// Milliseconds an outbound record is kept while Redis is unreachable (older: dropped).
    #[arg(long, env = "CORECAST_REDIS_BUFFER_MS", default_value_t = 2000, value_parser = clap::value_parser!(u32).range(0..=600_000))]
    pub redis_buffer_ms: u32,
    /// How often the node refreshes its entry in the live-node set `P:nodes`, in ms.
    #[arg(long, env = "CORECAST_NODE_HEARTBEAT_MS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(50..=60_000))]
    pub node_heartbeat_ms: u32,
    /// How long a node counts as live after its last heartbeat, in ms (more than the heartbeat).
    #[arg(long, env = "CORECAST_NODE_TTL_MS", default_value_t = 5000, value_parser = clap::value_parser!(u32).range(100..=600_000))]
    pub node_ttl_ms: u32,
    /// How long a cross-node REST count waits for the other nodes' answers, in ms.
    #[arg(long, env = "CORECAST_CLUSTER_QUERY_TIMEOUT_MS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(10..=60_000))]
    pub cluster_query_timeout_ms: u32,
    /// Core to pin the Redis link thread to (unset: not pinned).
    #[arg(long, env = "CORECAST_LINK_CORE", value_parser = clap::value_parser!(u16))]
    pub link_core: Option<u16>,
}

/// A checked Redis URL. `Display` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(url::Url);

impl RedisUrl {
    /// The URL as given, password included (for connecting only; never print it).
    pub fn secret_text(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        f.write_str(shown.as_str())
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// Checks `redis://[user:pass@]host[:port][/db]`.
fn redis_url(text: &str) -> Result<RedisUrl, String> {
    let url = url::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if url.scheme() != "redis" {
        return Err(format!(
            "scheme {:?} is not supported (expected redis://host:port[/db])",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host (expected redis://host:port[/db])".into());
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err(format!("database {db:?} is not a number"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("query and fragment are not supported".into());
    }
    redis::Client::open(text).map_err(|e| format!("{e}"))?;
    Ok(RedisUrl(url))
}

/// Checks a key prefix: 1 to 64 characters, no whitespace or control characters.
fn redis_prefix(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_redis_urls_and_hides_the_password() {
        let url = redis_url("redis://127.0.0.1:6379/2").unwrap();
        assert_eq!(url.to_string(), "redis://127.0.0.1:6379/2");
        let url = redis_url("redis://user:hunter2@db.example:7000").unwrap();
        assert_eq!(url.to_string(), "redis://user:***@db.example:7000");
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(url.secret_text().contains("hunter2"));
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "127.0.0.1:6379",
            "http://127.0.0.1:6379",
            "rediss://127.0.0.1",
            "redis://",
            "redis://127.0.0.1:6379/db",
            "redis://127.0.0.1:99999",
            "redis://127.0.0.1/?x=1",
        ] {
            assert!(redis_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn prefixes_are_checked() {
        assert_eq!(redis_prefix("corecast").unwrap(), "corecast");
        assert!(redis_prefix("").is_err());
        assert!(redis_prefix("a b").is_err());
        assert!(redis_prefix(&"x".repeat(65)).is_err());
    }
}
