//! Rebalance hooks (`on_partitions_assigned`, `on_partitions_revoked`): what they are
//! called with, when, and what their failures do, checked at the broker.
//!
//! The whole log is captured (one global subscriber) and read back; each test builds
//! its apps from its own functions (`only`), on a broker of its own.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{committed_offsets, eventually, read_topic};
use fastkafka::Error;

/// How long a test waits for what the apps do in the background.
const WAIT: Duration = Duration::from_secs(30);

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Captured;

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("fastkafka=info")
        .with_ansi(false)
        .with_writer(|| Captured)
        .try_init();
}

fn log_lines(containing: &str) -> Vec<String> {
    String::from_utf8_lossy(&LOG.lock().unwrap())
        .lines()
        .filter(|l| l.contains(containing))
        .map(str::to_string)
        .collect()
}

/// Sends `per_partition` messages to each of `partitions` partitions of `topic`.
fn produce(bootstrap: &str, topic: &str, partitions: i32, per_partition: usize) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for p in 0..partitions {
        for i in 0..per_partition {
            let payload = format!("m{i}");
            producer
                .send(
                    BaseRecord::<(), str>::to(topic)
                        .partition(p)
                        .payload(&payload),
                )
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// What the two instances of one app saw, shared by both.
#[derive(Clone, Default)]
struct Seen(Arc<SeenInner>);

#[derive(Default)]
struct SeenInner {
    /// Partition -> offset of the next message to handle, as handled.
    processed: Mutex<HashMap<i32, i64>>,
    handled: AtomicU32,
    /// Whether offset 4 of partition 0 was taken in hand.
    in_hand: AtomicBool,
    /// How long it is held, in milliseconds.
    hold_ms: AtomicU64,
    /// (instance, "assigned" | "revoked", partitions), in order.
    events: Mutex<Vec<(&'static str, &'static str, Vec<i32>)>>,
    /// The instance the test is stopping.
    stopping: Mutex<Option<&'static str>>,
    /// For each revoke: whether its instance was stopping, the group's committed
    /// offsets at the broker and what had been processed, for the revoked partitions.
    at_revoke: Mutex<Vec<Revoked>>,
}

#[derive(Debug, Clone)]
struct Revoked {
    stopping: bool,
    committed: Vec<Option<i64>>,
    processed: Vec<Option<i64>>,
}

impl Seen {
    fn events(&self) -> Vec<(&'static str, &'static str, Vec<i32>)> {
        self.0.events.lock().unwrap().clone()
    }
    fn handled(&self) -> u32 {
        self.0.handled.load(Ordering::SeqCst)
    }
    fn revokes(&self) -> Vec<Revoked> {
        self.0.at_revoke.lock().unwrap().clone()
    }
}

/// The partitions `who` holds after `events`.
fn owned(events: &[(&str, &str, Vec<i32>)], who: &str) -> BTreeSet<i32> {
    let mut owned = BTreeSet::new();
    for (_, kind, partitions) in events.iter().filter(|(i, _, _)| *i == who) {
        for p in partitions {
            if *kind == "assigned" {
                owned.insert(*p);
            } else {
                owned.remove(p);
            }
        }
    }
    owned
}

/// Which of the two apps.
struct Instance(&'static str);

/// Periodic commits are off (once every 10 minutes): only the commits around a
/// hand-over and at the stop move the group's offset. Heartbeats every 0.5 s (as on
/// the embedded broker) make a rebalance reach the members quickly on Kafka too.
#[consumes(
    topic = "hooked",
    group_id = "hook-tests",
    config = [("auto.commit.interval.ms", "600000"), ("heartbeat.interval.ms", "500")]
)]
async fn on_hooked(msg: String, meta: EventMetadata, seen: State<Seen>) {
    let _ = msg;
    if (meta.partition, meta.offset) == (0, 4) && !seen.0.in_hand.swap(true, Ordering::SeqCst) {
        // The last message of partition 0, the first time: still in hand when the
        // second instance joins.
        let hold = seen.0.hold_ms.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(hold)).await;
    }
    seen.0
        .processed
        .lock()
        .unwrap()
        .insert(meta.partition, meta.offset + 1);
    seen.0.handled.fetch_add(1, Ordering::SeqCst);
}

fn hooked_app(seen: &Seen, instance: &'static str) -> FastKafka {
    FastKafka::builder()
        .only(["on_hooked"])
        .state(seen.clone())
        .state(Instance(instance))
        .on_partitions_assigned(
            |event: RebalanceEvent, seen: State<Seen>, me: State<Instance>| async move {
                assert_eq!(
                    (event.function, &event.topic[..], &event.group_id[..]),
                    ("on_hooked", "hooked", "hook-tests")
                );
                seen.0
                    .events
                    .lock()
                    .unwrap()
                    .push((me.0, "assigned", event.partitions));
            },
        )
        .on_partitions_revoked(
            |event: RebalanceEvent, seen: State<Seen>, me: State<Instance>| async move {
                let bootstrap = event
                    .client_config()
                    .get("bootstrap.servers")
                    .unwrap()
                    .to_string();
                let committed = tokio::task::spawn_blocking(move || {
                    committed_offsets(&bootstrap, "hook-tests", "hooked", 4)
                })
                .await
                .unwrap()?;
                let processed = seen.0.processed.lock().unwrap().clone();
                let revoked = Revoked {
                    stopping: *seen.0.stopping.lock().unwrap() == Some(me.0),
                    committed: event
                        .partitions
                        .iter()
                        .map(|p| committed[*p as usize])
                        .collect(),
                    processed: event
                        .partitions
                        .iter()
                        .map(|p| processed.get(p).copied())
                        .collect(),
                };
                seen.0.at_revoke.lock().unwrap().push(revoked);
                seen.0
                    .events
                    .lock()
                    .unwrap()
                    .push((me.0, "revoked", event.partitions));
                Ok::<_, Error>(())
            },
        )
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn hooks_see_every_partition_then_a_revoke_after_the_last_commit_then_the_split() {
    capture();
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("hooked", 4).unwrap();
    // The embedded broker gives a member its session timeout (2 s) to rejoin.
    two_instances(
        broker.bootstrap_servers(),
        false,
        Duration::from_millis(1500),
    )
    .await;
}

/// The same on a real 3-broker Apache Kafka cluster, which accepts the commits made
/// while a group rebalances: there the revoke hook finds them at the broker.
#[tokio::test(flavor = "multi_thread")]
// The guard keeps tests that stop brokers out for the whole test; each test has a
// runtime of its own, so no task of this one waits for it.
#[allow(clippy::await_holding_lock)]
async fn on_real_kafka_the_revoke_hook_finds_the_hand_over_commit_at_the_broker() {
    capture();
    let Some((_shared, cluster)) = fastkafka_test_support::shared_cluster() else {
        return;
    };
    let bootstrap = cluster.bootstrap(fastkafka_test_support::Listener::Plaintext);
    create_topic(&bootstrap, "hooked", 4).await;
    // Longer than a heartbeat and the second instance's start: the message is still
    // in hand when the rebalance reaches the first.
    two_instances(&bootstrap, true, Duration::from_secs(4)).await;
}

/// Creates `topic` with `partitions` partitions and 3 replicas.
async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    use fastkafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use fastkafka::rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(3))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .unwrap();
    for result in created {
        result.unwrap();
    }
}

/// Two instances of one app in a group on `bootstrap`, the second joining while the
/// first holds a message for `hold`; `commits_in_rebalance`: the broker accepts the
/// commits made while the group rebalances.
async fn two_instances(bootstrap: &str, commits_in_rebalance: bool, hold: Duration) {
    let seen = Seen::default();
    seen.0
        .hold_ms
        .store(hold.as_millis() as u64, Ordering::SeqCst);

    let a = hooked_app(&seen, "a").start(bootstrap).await.unwrap();
    let s = seen.clone();
    eventually("a to be assigned every partition", WAIT, move || {
        s.events() == [("a", "assigned", vec![0, 1, 2, 3])]
    })
    .await;
    produce(bootstrap, "hooked", 4, 5);
    let s = seen.clone();
    eventually(
        "19 messages handled, the last one in hand",
        WAIT,
        move || s.handled() == 19 && s.0.in_hand.load(Ordering::SeqCst),
    )
    .await;

    // A second instance joins while a handles its last message: a hands every
    // partition back, once that message is handled, then they are split.
    let b = hooked_app(&seen, "b").start(bootstrap).await.unwrap();
    let s = seen.clone();
    eventually(
        "the partitions to be split between a and b",
        WAIT,
        move || {
            let events = s.events();
            let (a, b) = (owned(&events, "a"), owned(&events, "b"));
            !a.is_empty() && !b.is_empty() && a.len() + b.len() == 4
        },
    )
    .await;
    let events = seen.events();
    assert_eq!(events[1], ("a", "revoked", vec![0, 1, 2, 3]), "{events:?}");
    let (owned_a, owned_b) = (owned(&events, "a"), owned(&events, "b"));
    assert!(owned_a.is_disjoint(&owned_b), "{events:?}");
    let all: BTreeSet<i32> = owned_a.union(&owned_b).copied().collect();
    assert_eq!(all, (0..4).collect(), "{events:?}");
    // The revoke hook ran once the revoked partitions' handlers were done, the one in
    // hand included, and after their last commit: on Kafka, the group's offsets at
    // the broker were already what a had processed. (The embedded broker refuses
    // commits while its group rebalances, which Kafka accepts from the current
    // generation; there the commit before the hook is checked at the stop.)
    let revokes = seen.revokes();
    assert_eq!(revokes[0].processed, vec![Some(5); 4], "{revokes:?}");
    if commits_in_rebalance {
        assert_eq!(revokes[0].committed, revokes[0].processed, "{revokes:?}");
    }

    // Consumption goes on across both.
    produce(bootstrap, "hooked", 4, 5);
    let s = seen.clone();
    eventually("every message handled", WAIT, move || {
        s.0.processed
            .lock()
            .unwrap()
            .values()
            .all(|next| *next == 10)
            && s.0.processed.lock().unwrap().len() == 4
    })
    .await;
    // b leaves: a is given every partition back.
    let before_stop = seen.events().len();
    b.stop().await.unwrap();
    let s = seen.clone();
    eventually("a to be assigned every partition again", WAIT, move || {
        s.events()[before_stop..]
            .iter()
            .filter(|(i, kind, _)| *i == "a" && *kind == "assigned")
            .flat_map(|(_, _, p)| p.clone())
            .collect::<BTreeSet<i32>>()
            == (0..4).collect()
    })
    .await;
    // a, alone in its group, stops: its revoke hook runs after the final commit. With
    // periodic commits off, the offsets at the broker inside the hook are what was
    // processed only because that commit came first.
    *seen.0.stopping.lock().unwrap() = Some("a");
    a.stop().await.unwrap();
    let events = seen.events();
    assert_eq!(
        events.last().unwrap(),
        &("a", "revoked", vec![0, 1, 2, 3]),
        "{events:?}"
    );
    let at_stop = seen.revokes().pop().unwrap();
    assert!(at_stop.stopping, "{at_stop:?}");
    assert_eq!(at_stop.committed, vec![Some(10); 4], "{at_stop:?}");
    assert_eq!(at_stop.committed, at_stop.processed);
    assert_eq!(
        committed_offsets(bootstrap, "hook-tests", "hooked", 4).unwrap(),
        vec![Some(10); 4]
    );
}

/// Handled offsets of `flaky`, by partition.
#[derive(Clone, Default)]
struct Flaky(Arc<(Handled, AtomicU32)>);

/// (partition, offset) of each handled message.
type Handled = Mutex<Vec<(i32, i64)>>;

#[consumes(topic = "flaky", group_id = "flaky-hooks")]
async fn on_flaky(msg: String, meta: EventMetadata, flaky: State<Flaky>) {
    let _ = msg;
    flaky
        .0
         .0
        .lock()
        .unwrap()
        .push((meta.partition, meta.offset));
}

/// Its assign hook fails the first time and overruns its timeout after; its revoke
/// hook panics.
fn flaky_app(flaky: &Flaky) -> FastKafka {
    FastKafka::builder()
        .only(["on_flaky"])
        .state(flaky.clone())
        .rebalance_hook_timeout(Duration::from_millis(300))
        .on_partitions_assigned(|_: RebalanceEvent, flaky: State<Flaky>| async move {
            if flaky.0 .1.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err("the store is down".to_string());
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        })
        .on_partitions_revoked(|event: RebalanceEvent| async move {
            if !event.partitions.is_empty() {
                panic!("cannot save partitions {:?}", event.partitions);
            }
        })
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_panicking_or_slow_hook_is_logged_and_consumption_goes_on() {
    capture();
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("flaky", 2).unwrap();
    let flaky = Flaky::default();
    // Distinct messages handled (a rebalance may deliver some twice).
    let count = |f: &Flaky| f.0 .0.lock().unwrap().iter().collect::<BTreeSet<_>>().len();

    let a = flaky_app(&flaky).start(bootstrap).await.unwrap();
    produce(bootstrap, "flaky", 2, 5);
    let f = flaky.clone();
    eventually("10 messages handled", WAIT, move || count(&f) == 10).await;
    let failed = log_lines("the partitions-assigned hook of `on_flaky` failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].contains("for partitions [0, 1] of `flaky`: the store is down")
            && failed[0].contains("the partitions are consumed regardless"),
        "{}",
        failed[0]
    );

    // The second instance makes the first hand its partitions over: the revoke hook
    // panics, the assign hooks overrun their 300 ms.
    let b = flaky_app(&flaky).start(bootstrap).await.unwrap();
    eventually("the panic and the overrun to be logged", WAIT, || {
        !log_lines("the partitions-revoked hook of `on_flaky` panicked").is_empty()
            && !log_lines("the partitions-assigned hook of `on_flaky` did not finish").is_empty()
    })
    .await;
    let panicked = log_lines("the partitions-revoked hook of `on_flaky` panicked").remove(0);
    assert!(
        panicked.contains("for partitions [0, 1] of `flaky`: cannot save partitions [0, 1]")
            && panicked.contains("the partitions are handed over regardless"),
        "{panicked}"
    );
    let slow = log_lines("the partitions-assigned hook of `on_flaky` did not finish").remove(0);
    assert!(slow.contains("within 300ms"), "{slow}");

    produce(bootstrap, "flaky", 2, 5);
    let f = flaky.clone();
    eventually("20 messages handled", WAIT, move || count(&f) == 20).await;
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    let mut handled = flaky.0 .0.lock().unwrap().clone();
    handled.sort_unstable();
    handled.dedup();
    let expected: Vec<(i32, i64)> = (0..2).flat_map(|p| (0..10).map(move |o| (p, o))).collect();
    assert_eq!(handled, expected, "every message handled");
}

#[consumes(topic = "logged", group_id = "logged-hooks")]
async fn on_logged(msg: String) {
    let _ = msg;
}

#[produces(topic = "hook_log")]
async fn to_hook_log(line: String) -> String {
    line
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_can_send_with_a_producer_function() {
    capture();
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("logged", 3).unwrap();
    broker.create_topic("hook_log", 1).unwrap();
    let running = FastKafka::builder()
        .only(["on_logged", "to_hook_log"])
        .on_partitions_assigned(|event: RebalanceEvent| async move {
            to_hook_log(format!("assigned {:?}", event.partitions))
                .await?
                .await?;
            Ok::<_, Error>(())
        })
        .on_partitions_revoked(|event: RebalanceEvent| async move {
            to_hook_log(format!("revoked {:?}", event.partitions))
                .await?
                .await?;
            Ok::<_, Error>(())
        })
        .build()
        .start(bootstrap)
        .await
        .unwrap();
    let first = read_topic(bootstrap, "hook_log", 1, WAIT).unwrap();
    assert_eq!(first[0].payload_text(), "assigned [0, 1, 2]");
    running.stop().await.unwrap();
    let lines: Vec<String> = read_topic(bootstrap, "hook_log", 2, WAIT)
        .unwrap()
        .iter()
        .map(|r| r.payload_text())
        .collect();
    assert_eq!(lines, ["assigned [0, 1, 2]", "revoked [0, 1, 2]"]);
}

/// Given to no app.
struct Missing;

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_taking_a_missing_state_or_too_long_a_timeout_stops_the_start() {
    let err = FastKafka::builder()
        .only(["on_logged"])
        .on_partitions_revoked(|_: RebalanceEvent, _: State<Missing>| async {})
        .build()
        .start("localhost:1")
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, Error::MissingState { .. }), "{err:?}");
    assert!(
        text.contains("the partitions-revoked hook") && text.contains("Missing"),
        "{text}"
    );

    let broker = EmbeddedBroker::start().unwrap();
    let err = FastKafka::builder()
        .only(["on_logged"])
        .consumer_config("max.poll.interval.ms", "60000")
        .rebalance_hook_timeout(Duration::from_secs(60))
        .on_partitions_assigned(|_: RebalanceEvent| async {})
        .build()
        .start(broker.bootstrap_servers())
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(
        text.contains("consumer `on_logged`") && text.contains("max.poll.interval.ms is 60000 ms"),
        "{text}"
    );
}
