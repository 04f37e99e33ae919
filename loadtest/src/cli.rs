//! Command-line interface: scenarios and their options.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for Pusher protocol 7 compatible WebSocket servers.
#[derive(Debug, Parser)]
#[command(name = "corecast-loadtest", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// C subscribers over K channels; publish events and measure delivery latency and loss.
    Fanout(FanoutArgs),
    /// Open C connections as fast as the server accepts them; measure handshakes and memory.
    Connect(ConnectArgs),
    /// Users join and leave presence channels; observers verify member events.
    Presence(PresenceArgs),
    /// Draw the fanout runs of saved --json reports on one picture (SVG), e.g. two servers.
    Plot(PlotArgs),
}

impl Scenario {
    /// Options of a scenario that runs against a server (none for `plot`).
    pub fn common(&self) -> Option<&CommonArgs> {
        match self {
            Scenario::Fanout(a) => Some(&a.common),
            Scenario::Connect(a) => Some(&a.common),
            Scenario::Presence(a) => Some(&a.common),
            Scenario::Plot(_) => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// SVG file to write.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Title above both charts (default: the parameters of the first run).
    #[arg(long)]
    pub title: Option<String>,
    /// Runs to draw, each LABEL=FILE: FILE holds a fanout report (the last line of
    /// `corecast-loadtest fanout --json`); LABEL names it in the legend.
    #[arg(required = true, value_parser = parse_labelled)]
    pub runs: Vec<(String, std::path::PathBuf)>,
}

pub fn parse_labelled(s: &str) -> Result<(String, std::path::PathBuf), String> {
    match s.split_once('=') {
        Some((label, file)) if !label.is_empty() && !file.is_empty() => {
            Ok((label.to_string(), file.into()))
        }
        _ => Err(format!("expected LABEL=FILE, got {s:?}")),
    }
}

/// Options shared by every scenario.
#[derive(Debug, Args, Clone)]
pub struct CommonArgs {
    /// WebSocket base URL of the server, e.g. ws://127.0.0.1:6001 or wss://localhost:6001
    /// (REST goes to the same host:port, over https with wss). fanout and presence take several
    /// (repeat the flag or give a comma-separated list, e.g. the nodes of a cluster):
    /// subscribers are spread round-robin over them and publishes go to the first.
    #[arg(long = "url", required = true, value_delimiter = ',')]
    pub urls: Vec<String>,
    /// PEM file of the CA certificate(s) to trust for a wss:// target (required with wss://).
    #[arg(long)]
    pub ca: Option<std::path::PathBuf>,
    /// Application id (REST path /apps/{id}); the default is corecast's default app.
    #[arg(long, default_value = "app-id")]
    pub app_id: String,
    /// Application key (WebSocket path /app/{key}, REST auth_key).
    #[arg(long, default_value = "app-key")]
    pub key: String,
    /// Application secret (used locally to sign REST requests and channel auth).
    #[arg(long, default_value = "app-secret")]
    pub secret: String,
    /// Length of the measured phase in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Worker threads of the load generator (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print one JSON object as the last line of output.
    #[arg(long)]
    pub json: bool,
    /// Spread client connections over source addresses 127.0.0.1..127.0.0.N (loopback only).
    #[arg(long)]
    pub source_addrs: Option<u32>,
    /// Allow targets outside the loopback range.
    #[arg(long)]
    pub allow_remote: bool,
    /// Maximum number of connection attempts in progress at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Timeout in seconds for one TCP connect + WebSocket handshake + connection_established.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,
    /// Maximum seconds to spend opening and subscribing connections before the measured phase.
    #[arg(long, default_value_t = 60.0)]
    pub setup_timeout: f64,
    /// Do not print progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Open loop: this many publishes per second in total.
    PerSec(f64),
    /// Closed loop: as fast as the server absorbs, bounded in flight.
    Max,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rate::PerSec(r) => write!(f, "{r}"),
            Rate::Max => write!(f, "max"),
        }
    }
}

pub fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.eq_ignore_ascii_case("max") {
        return Ok(Rate::Max);
    }
    match s.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(Rate::PerSec(r)),
        _ => Err(format!(
            "invalid rate {s:?}: expected a positive number or \"max\""
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishMode {
    /// POST /apps/{id}/events to public channels loadtest-{i}.
    Rest,
    /// client-* events over WebSocket on private channels private-loadtest-{i}.
    Client,
}

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Number of subscriber connections.
    #[arg(long, default_value_t = 100)]
    pub connections: u64,
    /// Number of channels; subscribers are spread round-robin.
    #[arg(long, default_value_t = 1)]
    pub channels: u32,
    /// Publishes per second in total, or "max".
    #[arg(long, default_value = "max", value_parser = parse_rate)]
    pub rate: Rate,
    /// Size of each event's data string in bytes.
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// How events are published.
    #[arg(long, value_enum, default_value_t = PublishMode::Rest)]
    pub publish: PublishMode,
    /// REST: requests in flight at most, over keep-alive HTTP connections of `--pipeline`
    /// requests each.
    #[arg(long, default_value_t = 64)]
    pub inflight: usize,
    /// REST: requests written together on one connection before their responses are read
    /// (HTTP/1.1 pipelining; 1 = one request at a time, as the official SDKs do). A server
    /// that closes connections after each response gets one request per connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub pipeline: u32,
    /// Client mode: publisher connections (default: 8 events/s each, below the usual limit of
    /// 10 client events/s per connection; at least one per channel).
    #[arg(long)]
    pub publishers: Option<u32>,
    /// Stop after this many publishes even if the duration has not elapsed.
    #[arg(long)]
    pub max_publishes: Option<u64>,
    /// Seconds to wait for in-flight deliveries after publishing stops.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Send the REST publishes (or client-event publishers' connections) here instead of to the
    /// first --url, e.g. a third node of a cluster.
    #[arg(long)]
    pub publish_url: Option<String>,
    /// Write the run's latency percentile curve and deliveries-per-second timeline to this
    /// SVG file.
    #[arg(long)]
    pub plot: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Number of connections to open.
    #[arg(long, default_value_t = 1000)]
    pub connections: u64,
    /// Channels to subscribe to (connection i joins loadtest-{i mod channels}).
    #[arg(long, default_value_t = 1)]
    pub channels: u32,
    /// Seconds to keep the connections open and idle after all are established.
    #[arg(long, default_value_t = 0.0)]
    pub hold: f64,
    /// Server process id; its VmRSS is sampled to report memory per connection.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LeaveMode {
    /// Leave with pusher:unsubscribe and reuse the connection.
    Unsubscribe,
    /// Leave by closing the connection; the next join uses a new connection.
    Disconnect,
}

#[derive(Debug, Args)]
pub struct PresenceArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Number of churning users (one connection each, user ids u0..u{U-1}).
    #[arg(long, default_value_t = 50)]
    pub users: u32,
    /// Number of presence channels presence-loadtest-{i}.
    #[arg(long, default_value_t = 5)]
    pub channels: u32,
    /// Observer connections per channel.
    #[arg(long, default_value_t = 1)]
    pub observers: u32,
    /// Milliseconds a user stays in a channel before leaving.
    #[arg(long, default_value_t = 200)]
    pub dwell_ms: u64,
    /// Milliseconds between a leave and the user's next join.
    #[arg(long, default_value_t = 50)]
    pub pause_ms: u64,
    /// How users leave a channel.
    #[arg(long, value_enum, default_value_t = LeaveMode::Unsubscribe)]
    pub leave: LeaveMode,
    /// Stop after this many joins in total even if the duration has not elapsed.
    #[arg(long)]
    pub max_joins: Option<u64>,
    /// Seconds to wait for in-flight member events after churning stops.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rate_parsing() {
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(parse_rate("MAX"), Ok(Rate::Max));
        assert_eq!(parse_rate("250"), Ok(Rate::PerSec(250.0)));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-3").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn credentials_default_to_the_servers_default_app() {
        let cli = Cli::try_parse_from([
            "corecast-loadtest",
            "fanout",
            "--url",
            "ws://127.0.0.1:6001",
            "--connections",
            "1000",
            "--channels",
            "10",
            "--rate",
            "100",
            "--duration",
            "10",
            "--plot",
            "run.svg",
        ])
        .expect("parses");
        let Scenario::Fanout(a) = cli.scenario else {
            panic!("expected fanout")
        };
        assert_eq!(
            (
                a.common.app_id.as_str(),
                a.common.key.as_str(),
                a.common.secret.as_str()
            ),
            ("app-id", "app-key", "app-secret")
        );
        assert_eq!((a.channels, a.rate), (10, Rate::PerSec(100.0)));
        assert_eq!(a.plot.as_deref(), Some(std::path::Path::new("run.svg")));
    }

    #[test]
    fn several_urls_repeated_or_comma_separated() {
        let cli = Cli::try_parse_from([
            "corecast-loadtest",
            "fanout",
            "--url",
            "ws://127.0.0.1:6001,ws://127.0.0.1:6002",
            "--url",
            "ws://127.0.0.1:6003",
            "--publish-url",
            "ws://127.0.0.1:6004",
        ])
        .expect("parses");
        let Scenario::Fanout(a) = cli.scenario else {
            panic!("expected fanout")
        };
        assert_eq!(
            a.common.urls,
            [
                "ws://127.0.0.1:6001",
                "ws://127.0.0.1:6002",
                "ws://127.0.0.1:6003"
            ]
        );
        assert_eq!(a.publish_url.as_deref(), Some("ws://127.0.0.1:6004"));
        let one = Cli::try_parse_from(["corecast-loadtest", "presence", "--url", "ws://[::1]:1"])
            .expect("parses");
        assert_eq!(one.scenario.common().map(|c| c.urls.len()), Some(1));
        assert!(Cli::try_parse_from(["corecast-loadtest", "presence"]).is_err());
    }

    #[test]
    fn plot_takes_labelled_reports() {
        let cli = Cli::try_parse_from([
            "corecast-loadtest",
            "plot",
            "--out",
            "both.svg",
            "corecast=a.json",
            "other=b.json",
        ])
        .expect("parses");
        let Scenario::Plot(a) = cli.scenario else {
            panic!("expected plot")
        };
        assert_eq!(a.runs.len(), 2);
        assert_eq!(a.runs[1].0, "other");
        assert!(parse_labelled("a.json").is_err());
        assert!(parse_labelled("=a.json").is_err());
    }

    #[test]
    fn example_command_parses() {
        let cli = Cli::try_parse_from([
            "corecast-loadtest",
            "fanout",
            "--url",
            "ws://127.0.0.1:6001",
            "--app-id",
            "app-id",
            "--key",
            "app-key",
            "--secret",
            "app-secret",
            "--connections",
            "1000",
            "--channels",
            "1",
            "--rate",
            "max",
            "--payload",
            "100",
            "--duration",
            "10",
            "--json",
        ])
        .expect("parses");
        match cli.scenario {
            Scenario::Fanout(a) => {
                assert_eq!(a.connections, 1000);
                assert_eq!(a.rate, Rate::Max);
                assert!(a.common.json);
                assert_eq!(a.publish, PublishMode::Rest);
                assert_eq!(a.inflight, 64);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
