//! corecast-loadtest: load generator for Pusher protocol 7 compatible WebSocket servers.

mod cli;
mod cpu;
mod limits;
mod net;
mod payload;
mod pipeline;
mod plot;
mod pusher;
mod report;
mod rest;
mod scenarios;
mod sign;
mod stats;
mod target;
mod tls;

use clap::Parser;
use cli::{Cli, Scenario};
use scenarios::Ctx;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Extra time allowed beyond the planned phases before the process exits on its own.
const GRACE: Duration = Duration::from_secs(30);

fn fail(msg: &str) -> ExitCode {
    eprintln!("corecast-loadtest: {msg}");
    ExitCode::from(2)
}

fn secs(name: &str, v: f64) -> Result<Duration, String> {
    if (0.0..86_400.0).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!("{name} must be between 0 and 86400 seconds"))
    }
}

/// Planned connections and the longest the run may take.
fn plan(s: &Scenario, c: &cli::CommonArgs) -> Result<(u64, Duration), String> {
    let duration = secs("--duration", c.duration)?;
    let setup = secs("--setup-timeout", c.setup_timeout)?;
    let connect = secs("--connect-timeout", c.connect_timeout)?;
    Ok(match s {
        Scenario::Fanout(a) => {
            if a.channels == 0 {
                return Err("--channels must be at least 1".into());
            }
            let drain = secs("--drain", a.drain)?;
            if let Some(path) = &a.plot {
                plot_dir_exists(path)?;
            }
            let conns = scenarios::fanout::planned_connections(a);
            (conns, setup * 2 + duration + drain + connect * 2)
        }
        Scenario::Connect(a) => {
            let hold = secs("--hold", a.hold)?;
            (a.connections, duration + connect * 3 + hold)
        }
        Scenario::Presence(a) => {
            if a.channels == 0 {
                return Err("--channels must be at least 1".into());
            }
            let drain = secs("--drain", a.drain)?;
            let churn = Duration::from_millis(a.dwell_ms + a.pause_ms) + connect * 3;
            let conns = scenarios::presence::planned_connections(a);
            (conns, setup * 2 + duration + churn + drain)
        }
        Scenario::Plot(_) => return Err("plot runs no scenario".into()),
    })
}

/// A connector to `url` (target, TLS client, source addresses for `conns` connections) and
/// the number of source addresses it uses.
fn connector(
    url: &str,
    common: &cli::CommonArgs,
    conns: u64,
) -> Result<(net::Connector, usize), String> {
    let target = target::parse_url(url, common.allow_remote)?;
    let tls = match (&common.ca, target.tls) {
        (Some(ca), true) => Some(tls::TlsClient::new(ca, &target.host)?),
        (None, true) => {
            return Err("a wss:// --url needs --ca FILE (the CA certificate to trust)".into())
        }
        (Some(_), false) => return Err("--ca is for wss:// targets only".into()),
        (None, false) => None,
    };
    let sources = target::source_addrs(&target, common.source_addrs, conns)?;
    if let Some(ports) = limits::ephemeral_ports() {
        let per_addr = conns / sources.len().max(1) as u64;
        if per_addr > ports {
            eprintln!(
                "warning: {per_addr} connections per source address exceed the {ports} \
                 ephemeral ports; raise --source-addrs"
            );
        }
    }
    let n = sources.len().max(1);
    let connector = net::Connector::new(
        target,
        sources,
        Duration::from_secs_f64(common.connect_timeout),
        &common.key,
        &common.secret,
        tls,
    );
    Ok((connector, n))
}

/// Refuses a `--plot` file whose directory does not exist (before a long run, not after).
fn plot_dir_exists(path: &std::path::Path) -> Result<(), String> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(format!(
            "--plot {}: directory {} does not exist",
            path.display(),
            dir.display()
        )),
        _ => Ok(()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = match (&cli.scenario, cli.scenario.common()) {
        (Scenario::Plot(args), _) => return plot::run(args),
        (_, Some(common)) => common.clone(),
        (_, None) => return fail("no scenario given"),
    };
    let (conns, budget) = match plan(&cli.scenario, &common) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    if common.urls.len() > 1 && matches!(cli.scenario, Scenario::Connect(_)) {
        return fail("connect takes one --url (fanout and presence take several)");
    }
    let publish_url = match &cli.scenario {
        Scenario::Fanout(a) => a.publish_url.clone(),
        _ => None,
    };
    let threads = common
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    if let Err(e) = limits::ensure_nofile(conns + limits::FD_RESERVE) {
        return fail(&e);
    }
    // Each URL gets its share of the connections for its source-address plan.
    let share = conns.div_ceil(common.urls.len().max(1) as u64);
    let mut subscribers = Vec::with_capacity(common.urls.len());
    let mut sources = 0;
    for url in &common.urls {
        match connector(url, &common, share) {
            Ok((c, n)) => {
                // The first URL's plan is the one reported (the same for every loopback URL).
                if subscribers.is_empty() {
                    sources = n;
                }
                subscribers.push(Arc::new(c));
            }
            Err(e) => return fail(&e),
        }
    }
    let publisher = match (&publish_url, subscribers.first()) {
        (Some(url), _) => match connector(url, &common, share) {
            Ok((c, _)) => Arc::new(c),
            Err(e) => return fail(&format!("--publish-url: {e}")),
        },
        (None, Some(first)) => Arc::clone(first),
        (None, None) => return fail("--url is required"),
    };

    // Hard deadline: whatever happens, the process ends by itself.
    let deadline = budget + GRACE;
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        eprintln!(
            "corecast-loadtest: hard deadline of {}s reached, exiting",
            deadline.as_secs()
        );
        std::process::exit(3);
    });

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("loadtest-worker")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start runtime: {e}")),
    };
    let ctx = Ctx {
        connector: publisher,
        subscribers,
        urls: common.urls.clone(),
        app_id: common.app_id.clone(),
        threads,
        quiet: common.quiet,
        duration: Duration::from_secs_f64(common.duration),
        concurrency: common.concurrency.max(1),
        setup_timeout: Duration::from_secs_f64(common.setup_timeout),
    };
    let mut report = runtime.block_on(async {
        match &cli.scenario {
            Scenario::Fanout(a) => scenarios::fanout::run(a, &ctx).await,
            Scenario::Connect(a) => scenarios::connect::run(a, &ctx).await,
            Scenario::Presence(a) => scenarios::presence::run(a, &ctx).await,
            Scenario::Plot(_) => unreachable!("handled before the runtime starts"),
        }
    });
    let url = common.urls.join(",");
    report.param("url", url.clone());
    if common.urls.len() > 1 || publish_url.is_some() {
        let to = publish_url.as_ref().unwrap_or(&common.urls[0]);
        report.param("publish_url", to.clone());
    }
    report.param("source_addrs", sources as u64);
    if report.cpu.saturated {
        report.warnings.push(format!(
            "the load generator used {:.0}% of its {} threads: results may be limited by the \
             client, not the server",
            report.cpu.percent, threads
        ));
    }
    print!("{}", report.table());
    if common.json {
        println!("{}", report.to_json());
    }
    runtime.shutdown_timeout(Duration::from_secs(2));
    if let Scenario::Fanout(cli::FanoutArgs {
        plot: Some(path), ..
    }) = &cli.scenario
    {
        let json = report.to_json();
        let written = plot::Series::from_report(&url, &json)
            .and_then(|s| plot::write(path, &plot::title(&json), &[s]));
        if let Err(e) = written {
            return fail(&format!("--plot: {e}"));
        }
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("corecast-loadtest: nothing could be measured (see failures above)");
        ExitCode::from(1)
    }
}
