//! Criterion benchmarks of corecast's hot paths: serializing and framing one broadcast,
//! signature checks, local fan-out of one event to 10,000 subscriber queues, and the
//! cross-shard bus (batch throughput and wake-up latency). Figures live in `bench/README.md`.

use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corecast::auth::{self, request};
use corecast::bus::{self, Broadcast, BusMessage};
use corecast::config::{Config, Settings};
use corecast::protocol::outbound;
use corecast::shard::{ConnKind, Globals, Shard};
use corecast::ws::frame;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use glommio::{LocalExecutorBuilder, Placement};

fn config() -> Arc<Config> {
    use clap::Parser as _;
    let settings = Settings::parse_from(["corecast", "--max-outbox-kb", "1048576"]);
    Arc::new(Config::from_settings(settings).expect("default config"))
}

fn serialize_and_frame(c: &mut Criterion) {
    let data = format!("{{\"text\":\"{}\"}}", "x".repeat(90));
    c.bench_function("broadcast/serialize+frame 100B", |b| {
        b.iter(|| {
            let json = outbound::channel_event("my-event", "my-channel", black_box(&data), None);
            black_box(frame::text_frame(json.as_bytes()))
        })
    });
}

fn signatures(c: &mut Criterion) {
    let (key, secret) = ("278d425bdf160c739803", "7ad3773142a6692b25b8");
    let auth = auth::channel_auth(key, secret, "1234.1234", "private-foobar", None);
    c.bench_function("auth/private channel verify", |b| {
        b.iter(|| {
            auth::verify_channel_auth(
                key,
                secret,
                "1234.1234",
                "private-foobar",
                None,
                black_box(&auth),
            )
        })
    });
    let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
    let now = 1_353_088_179;
    let query = request::sign_request("POST", "/apps/3/events", &[], body, key, secret, now);
    c.bench_function("auth/REST request verify", |b| {
        b.iter(|| {
            request::verify_request(
                "POST",
                "/apps/3/events",
                black_box(&query),
                body,
                key,
                secret,
                now,
            )
        })
    });
}

fn local_fanout(c: &mut Criterion) {
    const SUBSCRIBERS: usize = 10_000;
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    // The shard lives on an executor running on this thread, so criterion's closure can drive
    // it directly.
    let ex = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(512 * 1024)
        .make()
        .expect("executor");
    ex.run(async {
        let ends = bus::build(1).pop().expect("one shard");
        let (bus, _inbox) = ends.connect().await;
        let config = config();
        let globals = Arc::new(Globals::new(config.apps.len()));
        let shard = Rc::new(Shard::new(config, globals, Rc::new(bus)));
        let keys: Vec<usize> = (0..SUBSCRIBERS)
            .map(|_| {
                let (key, _) = shard.register(0, ConnKind::Pusher);
                shard.channels.borrow_mut().add(0, "room", key);
                key
            })
            .collect();
        let json = outbound::channel_event("e", "room", "{\"x\":1}", None);
        let frame = frame::text_frame(json.as_bytes());
        group.bench_function("local, 10k subscribers of one channel", |b| {
            b.iter_custom(|n| {
                let mut total = Duration::ZERO;
                for _ in 0..n {
                    let t = Instant::now();
                    shard.deliver_local(0, "room", &frame, None);
                    total += t.elapsed();
                    // Empty the queues outside the timed part, as the writers would.
                    let mut conns = shard.conns.borrow_mut();
                    for &k in &keys {
                        if let Some(conn) = conns.get_mut(k) {
                            conn.advance(frame.len());
                        }
                    }
                }
                total
            })
        });
    });
    group.finish();
}

/// Two shards on their own executors: shard 0 sends `rounds` rounds of `batch` broadcasts to
/// shard 1; with `wait_each` it waits for every round to arrive before the next (latency),
/// otherwise it streams (throughput). Returns the time from the first send to the last arrival.
fn two_shards(rounds: u64, batch: usize, wait_each: bool) -> Duration {
    let received = Arc::new(AtomicU64::new(0));
    let last_arrival = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let total = rounds * batch as u64;
    let mut ends = bus::build(2).into_iter();
    let (e0, e1) = (ends.next().expect("end 0"), ends.next().expect("end 1"));
    let (r, last) = (Arc::clone(&received), Arc::clone(&last_arrival));
    let receiver = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(512 * 1024)
        .spawn(move || async move {
            let (_bus, inbox) = e1.connect().await;
            let (r2, last2) = (Arc::clone(&r), Arc::clone(&last));
            let task = glommio::spawn_local(inbox.run(move |_m| {
                last2.store(epoch.elapsed().as_nanos() as u64, Ordering::Release);
                r2.fetch_add(1, Ordering::Release);
            }));
            while r.load(Ordering::Acquire) < total {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
            drop(task);
        })
        .expect("receiver");
    let r = Arc::clone(&received);
    let sender = LocalExecutorBuilder::new(Placement::Unbound)
        .io_memory(512 * 1024)
        .spawn(move || async move {
            let (bus, _inbox) = e0.connect().await;
            let bus = Rc::new(bus);
            let frame = Bytes::from_static(b"0123456789012345678901234567890123456789");
            let channel: Arc<str> = Arc::from("room");
            let start = epoch.elapsed();
            for round in 1..=rounds {
                for _ in 0..batch {
                    bus.send(
                        1,
                        BusMessage::Broadcast(Broadcast {
                            app: 0,
                            channel: Arc::clone(&channel),
                            frame: frame.clone(),
                            except: None,
                            cache: None,
                        }),
                    );
                }
                bus.flush();
                if wait_each {
                    while r.load(Ordering::Acquire) < round * batch as u64 {
                        std::hint::spin_loop();
                    }
                } else {
                    yield_once().await;
                }
            }
            start
        })
        .expect("sender");
    let start = sender.join().expect("sender ran");
    receiver.join().expect("receiver ran");
    Duration::from_nanos(last_arrival.load(Ordering::Acquire)).saturating_sub(start)
}

/// Lets the executor run other tasks once.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}

fn cross_shard(c: &mut Criterion) {
    let mut group = c.benchmark_group("bus");
    group.sample_size(10);
    for batch in [1usize, 64] {
        let messages = 256_000u64;
        group.throughput(Throughput::Elements(messages));
        group.bench_function(
            BenchmarkId::new("2 shards, messages per batch", batch),
            |b| {
                b.iter_custom(|n| {
                    (0..n)
                        .map(|_| two_shards(messages / batch as u64, batch, false))
                        .sum()
                })
            },
        );
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("wake-up latency, one message", |b| {
        b.iter_custom(|n| two_shards(n, 1, true))
    });
    group.finish();
}

criterion_group!(
    benches,
    serialize_and_frame,
    signatures,
    local_fanout,
    cross_shard
);
criterion_main!(benches);
