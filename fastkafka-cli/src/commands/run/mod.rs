//! `fastkafka run`: N worker processes of an app, supervised.
//!
//! Each worker is `APP run --kafka-broker NAME` in its own process group; its output
//! is relayed line by line with a `[pid]: ` prefix. SIGINT/SIGTERM are forwarded; a
//! crashed worker is restarted with backoff, and a crash loop stops everything. A
//! worker also gets SIGTERM when the supervisor dies (Linux), so none outlives it.

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use fastkafka::partition::PartitionCount;
use fastkafka::protocol::BrokerName;
use nix::sys::signal::Signal;
use tokio::process::ChildStdin;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use self::worker::{send_signal, worker};
use crate::app::{protocol as app_protocol, target as app_target};
use crate::{console, exit, UsageError};

mod worker;

/// Run an app as N supervised worker processes.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  fastkafka run --num-workers 2 --kafka-broker embedded hello_app\n  fastkafka run --kafka-broker demo_broker ./target/release/hello_app"
)]
pub(crate) struct RunArgs {
    /// Number of worker processes (default: the number of CPUs).
    #[arg(long, value_name = "N")]
    num_workers: Option<usize>,
    /// A broker the app names, `embedded` (an in-process broker started here and shared
    /// by every worker), `localhost`, or a HOST:PORT bootstrap address. Default: the
    /// app's default broker (`localhost` unless the app sets one).
    #[arg(long, value_name = "NAME")]
    kafka_broker: Option<String>,
    /// How long workers get to stop after SIGTERM before they are killed, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    stop_timeout: u64,
    /// The app: a path to a built app binary, or a bin or example target of the current
    /// cargo workspace (built in release mode first).
    #[arg(value_name = "APP")]
    app: String,
}

/// Crashes within [`CRASH_WINDOW`] that make the supervisor give up.
const CRASH_LIMIT: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(60);
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a worker task reports to the supervisor.
enum Event {
    Started {
        slot: usize,
        pid: u32,
        /// Closed to let the worker leave its consumer groups at a stop.
        stdin: Option<ChildStdin>,
    },
    /// The worker is stopping and its consumers have committed; it waits for the go
    /// ahead (its stdin closing) before leaving its groups.
    Committed {
        slot: usize,
    },
    Exited {
        slot: usize,
        pid: u32,
        status: std::process::ExitStatus,
    },
    SpawnFailed {
        slot: usize,
        error: std::io::Error,
    },
}

struct Slot {
    pid: Option<u32>,
    backoff: Duration,
    /// The worker's stdin: closing it is the go-ahead of the two-phase stop.
    stdin: Option<ChildStdin>,
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let num_workers = args
        .num_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if num_workers == 0 {
        return Err(UsageError("--num-workers must be at least 1".into()).into());
    }
    let binary = tokio::task::spawn_blocking({
        let app = args.app.clone();
        move || app_target::resolve(&app)
    })
    .await??;
    // Also what tells a fastkafka app from another program, before anything starts.
    let app = app_protocol::handshake(&binary).await?;
    let (kafka_broker, whose) = match &args.kafka_broker {
        Some(name) => (name.clone(), ""),
        None => (app.default.clone(), " (the app's default)"),
    };

    let mut signals = stop_signals()?;

    // A broker the app itself calls `embedded` is the app's; only the built-in name
    // starts one here, shared by the workers.
    let embedded = if BrokerName::of(&kafka_broker, app.names()) == BrokerName::Embedded {
        let broker = fastkafka::embedded::EmbeddedBroker::start()?;
        create_declared_topics(&broker, &binary).await?;
        say(&format!(
            "started the embedded Kafka broker: bootstrap.servers={}",
            broker.bootstrap_servers()
        ));
        Some(broker)
    } else {
        None
    };
    let broker_arg = embedded
        .as_ref()
        .map_or(kafka_broker.clone(), |b| b.bootstrap_servers().to_string());

    let (events_tx, mut events) = mpsc::unbounded_channel();
    let spawn = |slot: usize, delay: Duration| {
        tokio::spawn(worker(
            slot,
            binary.clone(),
            broker_arg.clone(),
            embedded.is_some(),
            delay,
            events_tx.clone(),
        ));
    };
    say(&format!(
        "starting {num_workers} worker(s) of {} with --kafka-broker {kafka_broker}{whose}",
        binary.display(),
    ));
    let mut slots: Vec<Slot> = (0..num_workers)
        .map(|_| Slot {
            pid: None,
            backoff: INITIAL_BACKOFF,
            stdin: None,
        })
        .collect();
    for slot in 0..num_workers {
        spawn(slot, Duration::ZERO);
    }

    let mut crashes: Vec<Instant> = Vec::new();
    let mut failed = false;
    let mut usage_error = false;
    let mut pending_restarts = 0usize;
    let forwarded: Option<Signal> = loop {
        let event = tokio::select! {
            Some(sig) = signals.recv() => break Some(sig),
            event = events.recv() => event,
        };
        match event {
            Some(Event::Started { slot, pid, stdin }) => {
                slots[slot].pid = Some(pid);
                slots[slot].stdin = stdin;
                pending_restarts = pending_restarts.saturating_sub(1);
            }
            // A worker stopping on its own: nobody else is stopping with it.
            Some(Event::Committed { slot }) => drop(slots[slot].stdin.take()),
            Some(Event::SpawnFailed { slot, error }) => {
                console::err(&format!(
                    "error: cannot start worker {slot} ({}): {error}",
                    binary.display()
                ));
                failed = true;
                break Some(Signal::SIGTERM);
            }
            Some(Event::Exited { slot, pid, status }) => {
                slots[slot].pid = None;
                slots[slot].stdin = None;
                if status.success() {
                    say(&format!(
                        "worker {pid} exited on its own ({status}); not restarting it"
                    ));
                } else if status.code() == Some(exit::REFUSED.into()) {
                    console::err(&format!("error: worker {pid} was refused by its Kafka broker (see its message above); restarting cannot help, stopping"));
                    failed = true;
                    break Some(Signal::SIGTERM);
                } else if status.code() == Some(exit::USAGE.into()) {
                    console::err(&format!("error: worker {pid} rejected its arguments (see its message above); stopping"));
                    usage_error = true;
                    break Some(Signal::SIGTERM);
                } else {
                    failed = true;
                    let now = Instant::now();
                    crashes.retain(|t| now.duration_since(*t) < CRASH_WINDOW);
                    crashes.push(now);
                    if crashes.len() >= CRASH_LIMIT {
                        console::err(&format!(
                            "error: workers crashed {} times within {} s (last: worker {pid}, {status}); giving up",
                            crashes.len(),
                            CRASH_WINDOW.as_secs()
                        ));
                        break Some(Signal::SIGTERM);
                    }
                    let delay = slots[slot].backoff;
                    slots[slot].backoff = (delay * 2).min(MAX_BACKOFF);
                    say(&format!(
                        "worker {pid} crashed ({status}); restarting it in {} s",
                        delay.as_secs_f32()
                    ));
                    pending_restarts += 1;
                    spawn(slot, delay);
                }
            }
            None => break Some(Signal::SIGTERM),
        }
        if pending_restarts == 0 && slots.iter().all(|s| s.pid.is_none()) {
            say("every worker has exited");
            break None;
        }
    };

    let clean = cleanup(
        &mut slots,
        &mut events,
        &mut signals,
        forwarded,
        Duration::from_secs(args.stop_timeout),
    )
    .await;
    drop(embedded);
    Ok(ExitCode::from(if usage_error {
        exit::USAGE
    } else if failed || !clean {
        exit::FAILURE
    } else {
        exit::SUCCESS
    }))
}

/// Creates the app's declared topics on the embedded broker before any worker starts
/// (and `fastkafka docs serve --kafka-broker embedded` before publishing to them): the
/// workers could create them through the broker's CreateTopics handler, but created
/// here once they exist before the first worker subscribes, and the output says so.
pub(crate) async fn create_declared_topics(
    broker: &fastkafka::embedded::EmbeddedBroker,
    binary: &std::path::Path,
) -> anyhow::Result<()> {
    for declared in app_protocol::declared_topics(binary).await? {
        // A topic the app only consumes is created by the broker on first use, with
        // its default partition count, as before the app said which it consumes.
        let Some(partitions) = declared.partitions else {
            continue;
        };
        broker.create_topic(&declared.topic, partitions)?;
        say(&format!(
            "created topic {} with {}",
            declared.topic,
            PartitionCount(partitions)
        ));
    }
    Ok(())
}

/// Stops every live worker with `sig` (`None`: none live) and waits for them; kills the ones
/// still running after `timeout`. Returns whether all of them stopped cleanly: exited
/// successfully, or ended by the signal sent here (a worker still starting has no
/// handler for it yet, and one without a fastkafka runtime none at all).
async fn cleanup(
    slots: &mut [Slot],
    events: &mut mpsc::UnboundedReceiver<Event>,
    signals: &mut mpsc::UnboundedReceiver<Signal>,
    sig: Option<Signal>,
    timeout: Duration,
) -> bool {
    let Some(sig) = sig else {
        return true;
    };
    say("Starting process cleanup, this may take a few seconds...");
    let mut live: HashMap<usize, u32> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.pid.map(|pid| (i, pid)))
        .collect();
    for pid in live.values() {
        say(&format!("Terminating the process {pid}..."));
        send_signal(*pid, sig);
    }
    // Two-phase stop: workers leave their consumer groups only once every live worker
    // has committed (see fastkafka::protocol::COMMITTED_LINE), so that no worker's leaving
    // rebalances a group while another still commits.
    let mut uncommitted: HashSet<usize> = live.keys().copied().collect();
    let mut released = false;
    // The signals sent here: a worker they ended was stopped, it did not fail.
    let mut sent = vec![sig];
    let mut clean = true;
    let deadline = tokio::time::Instant::now() + timeout;
    // A second Ctrl-C while workers stop is passed on: a worker that gets a second
    // signal exits at once instead of waiting for its flush.
    while !live.is_empty() {
        if !released && uncommitted.is_empty() {
            released = true;
            for slot in live.keys() {
                drop(slots[*slot].stdin.take());
            }
        }
        let event = tokio::select! {
            event = tokio::time::timeout_at(deadline, events.recv()) => event,
            Some(_) = signals.recv() => {
                say("Second signal: workers exit now, without waiting for their flush...");
                sent.push(Signal::SIGINT);
                for pid in live.values() {
                    send_signal(*pid, Signal::SIGINT);
                }
                continue;
            }
        };
        match event {
            Ok(Some(Event::Committed { slot })) => {
                uncommitted.remove(&slot);
                if released {
                    drop(slots[slot].stdin.take());
                }
            }
            Ok(Some(Event::Exited { slot, pid, status })) => {
                uncommitted.remove(&slot);
                slots[slot].stdin = None;
                if live.remove(&slot).is_some() {
                    let stopped = status.success()
                        || status
                            .signal()
                            .is_some_and(|s| sent.iter().any(|&t| t as i32 == s));
                    clean &= stopped;
                    say(&format!("Process {pid} terminated."));
                    if !stopped {
                        console::err(&format!("error: worker {pid} ended with {status}"));
                    }
                }
            }
            // A restart that was waiting on its backoff: it sees the shutdown and
            // does not start; one that just started is stopped too.
            Ok(Some(Event::Started { slot, pid, stdin })) => {
                say(&format!("Terminating the process {pid}..."));
                send_signal(pid, sig);
                live.insert(slot, pid);
                slots[slot].stdin = stdin;
                if !released {
                    uncommitted.insert(slot);
                }
            }
            Ok(Some(Event::SpawnFailed { .. })) => {}
            Ok(None) => break,
            Err(_) => {
                for pid in live.values() {
                    console::err(&format!(
                        "error: worker {pid} did not stop within {} s; killing it",
                        timeout.as_secs()
                    ));
                    send_signal(*pid, Signal::SIGKILL);
                }
                clean = false;
                break;
            }
        }
    }
    for slot in slots.iter_mut() {
        slot.pid = None;
        slot.stdin = None;
    }
    clean
}

/// The supervisor's own lines, marked as such.
fn say(message: &str) {
    console::out(&format!("[fastkafka] {message}"));
}

/// SIGINT and SIGTERM, each as it arrives: the first stops the workers (and is
/// forwarded to them), a later one makes them exit without waiting for their flush.
fn stop_signals() -> std::io::Result<mpsc::UnboundedReceiver<Signal>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let sig = tokio::select! {
                Some(()) = interrupt.recv() => Signal::SIGINT,
                Some(()) = terminate.recv() => Signal::SIGTERM,
                else => break,
            };
            if tx.send(sig).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}
