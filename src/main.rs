//! The `corecast` binary: parse settings, load the TLS certificate, say what will run, start
//! the shards, then serve signals (stop, or reload the certificate).

use corecast::cli::{Command, LogFormat};
use corecast::config::{Config, Settings};
use corecast::signals::{Signal, Signals};
use corecast::transport::tls::Tls;
use corecast::{host, server};
use mimalloc::MiMalloc;
use std::time::Duration;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    let settings = match Settings::from_args() {
        Ok(s) => s,
        Err(e) => refuse_setting(e),
    };
    init_logging(&settings);
    if settings.command == Some(Command::Check) {
        std::process::exit(host::run(settings));
    }
    let json = settings.log_format == LogFormat::Json;
    let config = match Config::from_settings(settings) {
        Ok(c) => c,
        Err(e) => fatal(json, 2, &e.to_string()),
    };
    let summary_apps: Vec<String> = config
        .apps
        .iter()
        .map(|a| {
            format!(
                "{} (key {}, {}, client events {})",
                a.id,
                a.key,
                if a.enabled { "enabled" } else { "disabled" },
                if a.enable_client_messages {
                    "on"
                } else {
                    "off"
                }
            )
        })
        .collect();
    let tls = match Tls::from_settings(&config.settings) {
        Ok(tls) => tls,
        Err(e) => fatal(json, 2, &e.to_string()),
    };
    let s = config.settings.clone();
    let signals = Signals::block();
    let mut server = match server::start(config, tls.as_ref().map(Tls::server_config)) {
        Ok(server) => server,
        Err(e) => fatal(json, 1, &format!("cannot start: {e}")),
    };
    let pins: Vec<String> = server
        .cores
        .iter()
        .enumerate()
        .map(|(shard, core)| format!("{shard}→core {core}"))
        .collect();
    println!("corecast {}", env!("CARGO_PKG_VERSION"));
    println!("  shards:   {} ({})", server.cores.len(), pins.join(", "));
    println!("  apps:     {}", summary_apps.join("; "));
    println!("  adapter:  {}", server.adapter);
    println!(
        "  limits:   open files {}, memlock {} KiB, io memory {} KiB/shard, max connections {}, \
         activity timeout {} s, pong timeout {} s, event data {} KiB, message {} KiB, outbox {} KiB",
        server.limits.nofile,
        if server.limits.memlock == u64::MAX { "unlimited".to_string() } else { (server.limits.memlock / 1024).to_string() },
        s.io_memory_kb,
        if s.max_connections == 0 { "unlimited".to_string() } else { s.max_connections.to_string() },
        s.activity_timeout,
        s.pong_timeout,
        s.max_payload_kb,
        s.max_message_kb,
        s.max_outbox_kb,
    );
    println!("  host:     {}", host::banner(&s));
    match &tls {
        Some(tls) => println!(
            "  tls:      on (cert {}, key {}; {}; SIGHUP reloads both)",
            tls.files().cert.display(),
            tls.files().key.display(),
            tls.current()
        ),
        None => println!("  tls:      off"),
    }
    match server.plain_addr {
        Some(plain) => println!(
            "  plain:    {plain} without TLS (WebSocket ws://{plain}/app/{{key}}, REST http://{plain}/…)"
        ),
        None => println!("  plain:    off (no second port)"),
    }
    let (ws, http) = if tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    println!(
        "  timeouts: request head {} ms, body {} ms, idle keep-alive {} ms",
        s.head_timeout_ms, s.body_timeout_ms, s.keepalive_timeout_ms,
    );
    println!(
        "  listening on {} (WebSocket {ws}://{}/app/{{key}}, REST {http}://{}/apps/{{app_id}}/…)",
        server.addr, server.addr, server.addr
    );
    let signal = loop {
        match signals.wait() {
            Signal::Stop(name) => break name,
            Signal::Reload => notice(
                json,
                &match &tls {
                    Some(tls) => match tls.reload() {
                        Ok(cert) => {
                            format!("SIGHUP: certificate reloaded ({cert}); new connections get it")
                        }
                        Err(e) => format!(
                            "SIGHUP: certificate not reloaded, still serving the old one ({}): {e}",
                            tls.current()
                        ),
                    },
                    None => "SIGHUP: TLS is off, nothing to reload".to_string(),
                },
            ),
        }
    };
    notice(
        json,
        &format!("{signal}: closing connections with 4200 (reconnect) and stopping"),
    );
    server.drain(Duration::from_secs(2));
    let left = server.flush_webhooks(Duration::from_secs(s.webhook_flush_secs));
    if left > 0 {
        tracing::warn!(
            events = left,
            "webhook events still undelivered at exit: dropped"
        );
    }
    std::process::exit(0);
}

/// Sends log lines to stderr, human-readable or as one JSON object per line.
fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log).unwrap_or_else(|e| {
        eprintln!(
            "corecast: CORECAST_LOG={:?} is not a valid log filter: {e}",
            settings.log
        );
        std::process::exit(2);
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}

/// Says something the operator should see: a log line in JSON mode, `corecast: …` otherwise.
fn notice(json: bool, what: &str) {
    if json {
        tracing::info!("{what}");
    } else {
        eprintln!("corecast: {what}");
    }
}

/// Exits with `code` after saying why: as a log line when logs are JSON, so that stderr stays
/// one JSON object per line.
fn fatal(json: bool, code: i32, why: &str) -> ! {
    if json {
        tracing::error!("{why}");
    } else {
        eprintln!("corecast: {why}");
    }
    std::process::exit(code)
}

/// Exits on a bad setting, naming the `CORECAST_*` variable when the value came from one.
fn refuse_setting(e: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue};
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
        let command = Settings::cli();
        let from_env = command
            .get_arguments()
            .filter(|a| {
                a.get_long().is_some_and(|long| {
                    arg == &format!("--{long}") || arg.starts_with(&format!("--{long} "))
                })
            })
            .find_map(|a| a.get_env().map(|v| v.to_string_lossy().into_owned()))
            .filter(|var| std::env::var_os(var).is_some());
        if let Some(var) = from_env {
            let value = std::env::var(&var).unwrap_or_default();
            eprintln!("corecast: {var}={value:?} is not valid:");
        }
    }
    e.exit()
}
