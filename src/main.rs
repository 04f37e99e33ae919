//! The `corecast` binary: parse settings, say what will run, start the shards.

use clap::Parser;
use corecast::config::{Config, Settings};
use corecast::server;
use corecast::signals::TerminationSignals;
use mimalloc::MiMalloc;
use std::time::Duration;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    let settings = match Settings::try_parse() {
        Ok(s) => s,
        Err(e) => refuse_setting(e),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log).unwrap_or_else(|e| {
        eprintln!(
            "corecast: CORECAST_LOG={:?} is not a valid log filter: {e}",
            settings.log
        );
        std::process::exit(2);
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::from_settings(settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("corecast: {e}");
            std::process::exit(2);
        }
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
    let s = config.settings.clone();
    let signals = TerminationSignals::block();
    let server = match server::start(config) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("corecast: cannot start: {e}");
            std::process::exit(1);
        }
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
    println!(
        "  listening on {} (WebSocket ws://{}/app/{{key}}, REST http://{}/apps/{{app_id}}/…)",
        server.addr, server.addr, server.addr
    );
    let signal = signals.wait();
    eprintln!("corecast: {signal}: closing connections with 4200 (reconnect) and stopping");
    server.drain(Duration::from_secs(2));
    std::process::exit(0);
}

/// Exits on a bad setting, naming the `CORECAST_*` variable when the value came from one.
fn refuse_setting(e: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue};
    use clap::CommandFactory;
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
        let command = Settings::command();
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
