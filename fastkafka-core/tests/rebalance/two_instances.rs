//! The two-instance rebalance scenario of the rebalance hooks' tests, run on the
//! embedded broker by `rebalance_hooks.rs` and on a real 3-broker Kafka cluster by
//! fastkafka-cli's `real_kafka` binary (which includes this file), so that one cluster
//! start serves every real-Kafka test.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastkafka::prelude::*;
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{committed_offsets, eventually};
use fastkafka::Error;

/// How long a test waits for what the apps do in the background.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

/// Sends `per_partition` messages to each of `partitions` partitions of `topic`.
pub(crate) fn produce(bootstrap: &str, topic: &str, partitions: i32, per_partition: usize) {
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

/// Two instances of one app in a group on `bootstrap`, the second joining while the
/// first holds a message for `hold`; `commits_in_rebalance`: the broker accepts the
/// commits made while the group rebalances.
pub(crate) async fn two_instances(bootstrap: &str, commits_in_rebalance: bool, hold: Duration) {
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
