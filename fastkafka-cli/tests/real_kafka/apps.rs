//! The example apps, the framework's producer, a 2-worker consumer group and the
//! benchmark against a real 3-broker Apache Kafka cluster, with brokers killed and
//! restarted under load. Everything is counted at the broker with a plain rdkafka
//! client, not in logs.
//!
//! The tests that kill brokers take the binary's cluster exclusively (`DISRUPTION`),
//! the others share it.

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{example_bin, fastkafka_bin, fastkafka_run, Watched};
use fastkafka::partition::partition_for_key;
use fastkafka::prelude::*;
use fastkafka::rdkafka::consumer::{BaseConsumer, Consumer};
use fastkafka::rdkafka::message::Message;
use fastkafka::rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{committed_offsets, read_to_end, read_topic, Record};
use fastkafka_test_support::{wait_for, KafkaCluster, Listener};

use fastkafka_test_support::{shared_cluster as cluster, shared_cluster_alone as cluster_alone};

/// The replicas of each partition of `topic`, as the broker's metadata says, once the
/// topic exists (`None` after 60 s).
fn replicas_of(bootstrap: &str, topic: &str) -> Option<Vec<Vec<i32>>> {
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .unwrap();
    wait_for(Duration::from_secs(60), || {
        let metadata = probe
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()?;
        let t = metadata.topics().first()?;
        if t.error().is_some() || t.partitions().is_empty() {
            return None;
        }
        let mut replicas: Vec<(i32, Vec<i32>)> = t
            .partitions()
            .iter()
            .map(|p| (p.id(), p.replicas().to_vec()))
            .collect();
        replicas.sort();
        Some(replicas.into_iter().map(|(_, r)| r).collect())
    })
}

/// Asserts that `topic` has `partitions` partitions, each on 3 different brokers.
fn assert_three_replicas(bootstrap: &str, topic: &str, partitions: usize) {
    let replicas =
        replicas_of(bootstrap, topic).unwrap_or_else(|| panic!("topic {topic} never appeared"));
    assert_eq!(replicas.len(), partitions, "{topic}: {replicas:?}");
    for r in &replicas {
        let mut brokers = r.clone();
        brokers.sort();
        brokers.dedup();
        assert_eq!(brokers.len(), 3, "{topic}: replicas {replicas:?}");
    }
}

fn text(bytes: &Option<Vec<u8>>) -> String {
    String::from_utf8_lossy(bytes.as_deref().unwrap_or_default()).into_owned()
}

/// Produces `(key, payload)` pairs with a plain idempotent producer and waits for all.
fn produce_plain(bootstrap: &str, topic: &str, records: impl Iterator<Item = (String, String)>) {
    let producer: ThreadedProducer<_> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (key, payload) in records {
        let mut record = BaseRecord::to(topic).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120)).unwrap();
}

/// Each example app, run as a user would (`APP run --kafka-broker HOST:PORT`), creates
/// its topics with the declared partitions and 3 replicas, and writes what it says.
#[test]
fn example_apps_create_replicated_topics_and_write_where_they_say() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let run = |app: &str| {
        Watched::spawn(Command::new(example_bin(app)).args(["run", "--kafka-broker", &bootstrap]))
    };
    let read = |topic: &str, count: usize| {
        let records = read_topic(&bootstrap, topic, count, Duration::from_secs(60)).unwrap();
        assert!(records.len() >= count, "{topic}: {records:?}");
        records
    };
    // For the topics the fault tests also write: only the records of this test.
    let read_matching = |topic: &str, count: usize, mine: &dyn Fn(&Record) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let records: Vec<Record> = read_to_end(&bootstrap, topic, Duration::from_secs(30))
                .unwrap()
                .into_iter()
                .filter(|r| mine(r))
                .collect();
            if records.len() >= count {
                return records;
            }
            assert!(Instant::now() < deadline, "{topic}: {records:?}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };

    // Explicit partitions: each number where the app sends it.
    let app = run("explicit_partitions");
    let records = read("hello-world-1", 6);
    assert_three_replicas(&bootstrap, "hello-world-1", 3);
    let placed: Vec<(String, i32)> = records
        .iter()
        .map(|r| (r.payload_text(), r.partition))
        .collect();
    for (number, partition) in [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 0)] {
        assert!(
            placed.contains(&(format!(r#"{{"number":{number}}}"#), partition)),
            "{number} not in partition {partition}: {placed:?}"
        );
    }
    drop(app);

    // String and byte keys: where the Java client's partitioner puts them.
    let app = run("string_keys");
    let records = read("hello-world-3", 6);
    assert_three_replicas(&bootstrap, "hello-world-3", 3);
    for r in &records {
        let key = r.key.as_deref().unwrap();
        assert!(key == b"ping" || key == b"pong", "{r:?}");
        assert_eq!(r.partition, partition_for_key(key, 3), "{r:?}");
    }
    drop(app);
    let app = run("byte_keys");
    let records = read("hello-world-2", 2);
    assert_three_replicas(&bootstrap, "hello-world-2", 3);
    for r in &records {
        assert_eq!(r.payload_text(), "bar");
        if let Some(key) = &r.key {
            assert_eq!(r.partition, partition_for_key(key, 3), "{r:?}");
        }
    }
    drop(app);

    // The custom partitioner and the routing table.
    let app = run("custom_partitioner");
    read("hello-world-4", 4);
    assert_three_replicas(&bootstrap, "hello-world-4", 3);
    drop(app);
    let app = run("routing_table");
    read("user_events", 3);
    assert_three_replicas(&bootstrap, "user_events", 3);
    drop(app);
    let app = run("multi_partition_writer");
    read("counter", 2);
    assert_three_replicas(&bootstrap, "counter", 2);
    drop(app);

    // uppercase_app: each greeting comes back upper-cased, with its key and partition.
    let app = run("uppercase_app");
    assert_three_replicas(&bootstrap, "hello_world_upper", 6);
    assert_three_replicas(&bootstrap, "hello_world_dlq", 1);
    let greetings = (0..20).map(|i| (format!("g{i}"), format!(r#"{{"msg":"hi {i}"}}"#)));
    produce_plain(&bootstrap, "hello_world", greetings);
    let upper = read_matching("hello_world_upper", 20, &|r| text(&r.key).starts_with('g'));
    let by_key: HashMap<String, &Record> = upper.iter().map(|r| (text(&r.key), r)).collect();
    for i in 0..20 {
        let r = by_key
            .get(&format!("g{i}"))
            .unwrap_or_else(|| panic!("g{i}"));
        assert_eq!(r.payload_text(), format!(r#"{{"msg":"HI {i}"}}"#));
        assert_eq!(
            r.partition,
            partition_for_key(format!("g{i}").as_bytes(), 6)
        );
    }
    drop(app);

    // hello_app declares no topic: it writes to hello_world, created above by
    // uppercase_app (or on first use, with the cluster's defaults).
    let app = run("hello_app");
    let records = read_matching("hello_world", 2, &|r| r.key.as_deref() == Some(b"my_key"));
    for r in &records {
        assert_eq!(r.key.as_deref(), Some(&b"my_key"[..]));
        assert_eq!(r.payload_text(), r#"{"msg":"Hello world!"}"#);
    }
    let partitions = replicas_of(&bootstrap, "hello_world").unwrap().len();
    assert!(records
        .iter()
        .all(|r| r.partition == partition_for_key(b"my_key", partitions as i32)));
    drop(app);

    // order_service: an order is confirmed and split into lines.
    let app = run("order_service");
    assert_three_replicas(&bootstrap, "orders.v1", 3);
    let order =
        r#"{"id":7,"customer":"c-1","lines":[{"sku":"A","quantity":2},{"sku":"B","quantity":1}]}"#;
    produce_plain(
        &bootstrap,
        "orders.v1",
        std::iter::once(("7".to_string(), order.to_string())),
    );
    let confirmations = read("confirmations", 1);
    assert!(
        confirmations[0]
            .payload_text()
            .contains(r#""order_id":7,"accepted":true"#),
        "{confirmations:?}"
    );
    let lines = read("order-lines", 2);
    assert!(
        lines.iter().all(|r| r.key.as_deref() == Some(&b"7"[..])),
        "{lines:?}"
    );
    drop(app);
}

#[produces(topic = "idempotent-under-kill")]
async fn to_flood(id: u64) -> KafkaEvent<Vec<u8>> {
    KafkaEvent::new(vec![b'x'; 100]).key(id.to_string())
}

const PENDING: u8 = 0;
const ACKED: u8 = 1;
const FAILED: u8 = 2;

/// Idempotent produce at full speed while the partition's leader is SIGKILLed and
/// then restarted: every acknowledged message is in the topic exactly once, every
/// failure was reported to its caller, and no message is left without an answer.
#[tokio::test(flavor = "multi_thread")]
// The guard keeps the other tests off the cluster for the whole test, awaits included;
// no task of this runtime takes it.
#[allow(clippy::await_holding_lock)]
async fn idempotent_produce_survives_the_leader_being_killed_and_restarted() {
    let Some((_alone, cluster)) = cluster_alone() else {
        return;
    };
    let topic = "idempotent-under-kill";
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let app = FastKafka::builder()
        .title("idempotent flood")
        .only(["to_flood"])
        .topic(topic, 1)
        .replication_factor(3)
        .build();
    let running = app.start(&bootstrap).await.unwrap();
    assert_three_replicas(&bootstrap, topic, 1);
    let leader = cluster.leader_of(topic, 0).expect("a leader");

    let outcomes: Arc<Mutex<Vec<u8>>> = Arc::default();
    let errors: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let faults = {
        let done = Arc::clone(&done);
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_secs(3));
            let killed = Instant::now();
            cluster.kill(leader);
            let new_leader = wait_for(Duration::from_secs(60), || {
                cluster.leader_of(topic, 0).filter(|&l| l != leader)
            });
            let failover = killed.elapsed();
            let restarting = Instant::now();
            cluster.restart(leader);
            let restart = restarting.elapsed();
            std::thread::sleep(Duration::from_secs(3));
            done.store(true, Ordering::SeqCst);
            (new_leader, failover, restart)
        })
    };

    let mut id = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    while !done.load(Ordering::SeqCst) {
        outcomes.lock().unwrap().push(PENDING);
        match to_flood(id).await {
            Ok(pending) => {
                let outcomes = Arc::clone(&outcomes);
                let errors = Arc::clone(&errors);
                tasks.spawn(async move {
                    let result = pending.await;
                    let mut outcomes = outcomes.lock().unwrap();
                    match result {
                        Ok(_) => outcomes[id as usize] = ACKED,
                        Err(e) => {
                            outcomes[id as usize] = FAILED;
                            *errors.lock().unwrap().entry(e.to_string()).or_default() += 1;
                        }
                    }
                });
            }
            Err(e) => {
                outcomes.lock().unwrap()[id as usize] = FAILED;
                *errors.lock().unwrap().entry(e.to_string()).or_default() += 1;
            }
        }
        id += 1;
        // Reap finished delivery waiters so that the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    let produced_for = started.elapsed();
    let (new_leader, failover, restart) = faults.await.unwrap();
    let waiting = Instant::now();
    let answered = tokio::time::timeout(Duration::from_secs(120), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    let last_answer = waiting.elapsed();
    let report = running.stop().await.unwrap();
    assert!(answered.is_ok(), "deliveries unanswered after 120 s");

    let sent = id;
    let outcomes = outcomes.lock().unwrap().clone();
    let count = |o: u8| outcomes.iter().filter(|&&x| x == o).count() as u64;
    let (acked, failed, silent) = (count(ACKED), count(FAILED), count(PENDING));

    let bootstrap_read = bootstrap.clone();
    let records = tokio::task::spawn_blocking(move || {
        read_to_end(&bootstrap_read, topic, Duration::from_secs(120)).unwrap()
    })
    .await
    .unwrap();
    let mut found = vec![0u32; sent as usize];
    for r in &records {
        let id: usize = text(&r.key).parse().expect("a numeric key");
        found[id] += 1;
    }
    let mut lost = 0u64;
    let mut duplicated = 0u64;
    let mut failed_but_written = 0u64;
    for (id, &n) in found.iter().enumerate() {
        if n > 1 {
            duplicated += u64::from(n - 1);
        }
        match outcomes[id] {
            ACKED if n == 0 => lost += 1,
            FAILED if n > 0 => failed_but_written += 1,
            _ => {}
        }
    }
    eprintln!(
        "idempotent produce, leader {leader} killed at 3 s: sent {sent} in {:.1} s, acknowledged {acked}, \
         failed and reported {failed} (of which in the topic anyway: {failed_but_written}), \
         unanswered {silent}; found {} records: lost {lost}, duplicated {duplicated}; \
         broker {new_leader:?} led after {:.1} s; restart took {:.1} s; last answer {:.1} s after the end; \
         errors {errors:?}; app's report {:?}",
        produced_for.as_secs_f64(),
        records.len(),
        failover.as_secs_f64(),
        restart.as_secs_f64(),
        last_answer.as_secs_f64(),
        report.deliveries,
        errors = errors.lock().unwrap(),
    );
    assert_eq!(silent, 0, "messages without an answer");
    assert_eq!(acked + failed, sent);
    assert_eq!(lost, 0, "acknowledged but not in the topic");
    assert_eq!(duplicated, 0, "written more than once");
    assert!(acked > 0);
}

/// When `on_backlog` first finished a message of each partition, and how many it
/// finished in all.
static BACKLOG_FIRST: Mutex<BTreeMap<i32, Instant>> = Mutex::new(BTreeMap::new());
static BACKLOG_HANDLED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
const BACKLOG_TOPIC: &str = "backlog-6";
const BACKLOG_HANDLER: Duration = Duration::from_millis(5);

/// The offset of the last message `on_backlog` finished, by partition.
static BACKLOG_LAST: Mutex<BTreeMap<i32, i64>> = Mutex::new(BTreeMap::new());

/// A slow consume-transform-produce handler: one message per 5 ms per partition, 200
/// a second, each with an output.
#[consumes(topic = "backlog-6", group_id = "backlog-6")]
async fn on_backlog(text: String, meta: EventMetadata) -> fastkafka::Result<()> {
    tokio::time::sleep(BACKLOG_HANDLER).await;
    to_backlog_out(text).await?;
    BACKLOG_FIRST
        .lock()
        .unwrap()
        .entry(meta.partition)
        .or_insert_with(Instant::now);
    let previous = BACKLOG_LAST
        .lock()
        .unwrap()
        .insert(meta.partition, meta.offset);
    // Each partition's messages come once each, in order, through its pauses and
    // resumes: the next offset after the one before (the topic is fresh).
    let expected = previous.map_or(0, |p| p + 1);
    if meta.offset != expected {
        BACKLOG_OUT_OF_ORDER
            .lock()
            .unwrap()
            .push((meta.partition, expected, meta.offset));
    }
    BACKLOG_HANDLED.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// `(partition, expected offset, offset handled)` wherever `on_backlog` saw a gap, a
/// repeat or a message out of order.
static BACKLOG_OUT_OF_ORDER: Mutex<Vec<(i32, i64, i64)>> = Mutex::new(Vec::new());

#[produces(topic = "backlog-6-out")]
async fn to_backlog_out(text: String) -> String {
    text
}

/// One worker started on a backlog of 6 partitions handles all 6 at once, at 6
/// handlers' rate. librdkafka hands a catching-up consumer long runs of one partition;
/// a poll thread that waited for that partition's full queue left the others' messages
/// waiting behind a slow handler (one partition progressed while five waited).
/// Meanwhile the group's committed offsets, read at the broker, trail what was
/// processed by about one commit interval (1 s, 200 messages a partition), not by the
/// 1,024 messages a partition they once lagged.
#[tokio::test(flavor = "multi_thread")]
// It measures a rate on two cores: with the binary's other tests running beside it (the
// security, cluster and Tester tests share this binary) the rate falls below what it
// checks, so it takes the cluster alone, for the whole test, awaits included; no task
// of this runtime takes the lock.
#[allow(clippy::await_holding_lock)]
async fn a_backlog_on_six_partitions_is_handled_on_all_six_at_once() {
    let Some((_alone, cluster)) = cluster_alone() else {
        return;
    };
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let app = || {
        FastKafka::builder()
            .title("backlog")
            .only(["on_backlog", "to_backlog_out"])
            .topic(BACKLOG_TOPIC, 6)
            .topic("backlog-6-out", 6)
            // Outputs take 20 ms or more to be acknowledged: some are always in flight.
            .producer_config("linger.ms", "20")
            .replication_factor(3)
    };
    // Create the topic, then fill it while nothing consumes: 5,000 messages a
    // partition, 25 s of one handler's work each.
    let creator = app().only(Vec::<String>::new()).build();
    creator
        .start(&bootstrap)
        .await
        .unwrap()
        .stop()
        .await
        .unwrap();
    assert_three_replicas(&bootstrap, BACKLOG_TOPIC, 6);
    let produce_to = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        produce_plain(
            &produce_to,
            BACKLOG_TOPIC,
            (0..30_000).map(|i| (format!("k{i}"), format!("backlog {i}"))),
        )
    })
    .await
    .unwrap();

    let running = app().build().start(&bootstrap).await.unwrap();
    let first_of_all = loop {
        if let Some(&t) = BACKLOG_FIRST.lock().unwrap().values().min() {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let handled_then = BACKLOG_HANDLED.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rate = (BACKLOG_HANDLED.load(Ordering::SeqCst) - handled_then) as f64 / 10.0;
    // Commit lag, per partition, sampled 5 times 400 ms apart.
    let mut worst_lag = 0i64;
    for _ in 0..5 {
        let processed = BACKLOG_LAST.lock().unwrap().clone();
        let reader = bootstrap.clone();
        let committed = tokio::task::spawn_blocking(move || {
            committed_offsets(&reader, "backlog-6", BACKLOG_TOPIC, 6).unwrap()
        })
        .await
        .unwrap();
        for (p, last) in processed {
            let committed = committed[p as usize].unwrap_or(0);
            worst_lag = worst_lag.max(last + 1 - committed);
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let firsts: Vec<(i32, f64)> = BACKLOG_FIRST
        .lock()
        .unwrap()
        .iter()
        .map(|(&p, &t)| (p, t.duration_since(first_of_all).as_secs_f64()))
        .collect();
    running.stop().await.unwrap();
    let one_handler = 1.0 / BACKLOG_HANDLER.as_secs_f64();
    eprintln!(
        "backlog on 6 partitions: first output of each partition after the first one's (s): {firsts:?}; \
         {rate:.0} messages a second (one handler: at most {one_handler:.0}); \
         committed offsets at most {worst_lag} behind the processed ones"
    );
    assert_eq!(
        firsts.len(),
        6,
        "partitions never handled within 10 s: {firsts:?}"
    );
    let out_of_order = BACKLOG_OUT_OF_ORDER.lock().unwrap().clone();
    assert!(
        out_of_order.is_empty(),
        "messages skipped, repeated or out of order (partition, expected, handled): {out_of_order:?}"
    );
    assert!(
        firsts.iter().all(|&(_, after)| after < 3.0),
        "a partition waited for another: {firsts:?}"
    );
    assert!(
        worst_lag <= 500,
        "the committed offset trailed the processed one by {worst_lag} messages; one commit interval is about 200"
    );
    assert!(
        rate > 4.0 * one_handler,
        "{rate:.0} messages a second: the partitions were not handled side by side (6 handlers would reach {:.0})",
        6.0 * one_handler
    );
}

/// Reads `topic` from the beginning as records arrive, counting each key, until every
/// key of `expected` is there or `timeout` passes.
struct KeyCounter {
    consumer: BaseConsumer,
    counts: HashMap<String, u32>,
    records: u64,
}

impl KeyCounter {
    fn new(cluster: &KafkaCluster, topic: &str, partitions: i32) -> KeyCounter {
        KeyCounter {
            consumer: cluster.reader(Listener::Plaintext, topic, partitions),
            counts: HashMap::new(),
            records: 0,
        }
    }

    /// Reads for up to `duration`; returns how many distinct keys it has seen.
    fn read_for(&mut self, duration: Duration, check: impl Fn(&str, &str)) -> usize {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(100)) {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                check(
                    &key,
                    &String::from_utf8_lossy(m.payload().unwrap_or_default()),
                );
                *self.counts.entry(key).or_default() += 1;
                self.records += 1;
            }
        }
        self.counts.len()
    }
}

/// How many messages the consumer-group fault test sends: 100,000 by default (under a
/// minute, so that the kill lands mid-stream), `FASTKAFKA_FAULT_MESSAGES=N` for another
/// count.
fn fault_messages() -> usize {
    std::env::var("FASTKAFKA_FAULT_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

/// `fastkafka run --num-workers 2 uppercase_app` processes every greeting exactly once
/// while the group's coordinator is killed and another broker restarted, and the
/// group's committed offsets never move back.
#[test]
fn a_two_worker_group_processes_everything_while_brokers_fail() {
    let Some((_alone, cluster)) = cluster_alone() else {
        return;
    };
    let bootstrap = cluster.bootstrap(Listener::Plaintext);
    let total = fault_messages();
    let (input, output, group, partitions) =
        ("hello_world", "hello_world_upper", "uppercase-app", 6);
    let mut workers = Watched::spawn(&mut fastkafka_run(
        2,
        &bootstrap,
        &example_bin("uppercase_app"),
    ));
    assert_three_replicas(&bootstrap, input, partitions as usize);
    assert_three_replicas(&bootstrap, output, partitions as usize);
    // The output topic may hold greetings of another test: count only this run's keys.
    let prefix = format!("fault-{}-", std::process::id());
    let started = Instant::now();
    {
        let prefix = prefix.clone();
        let bootstrap = bootstrap.clone();
        std::thread::spawn(move || {
            produce_plain(
                &bootstrap,
                input,
                (0..total).map(|i| {
                    (
                        format!("{prefix}{i}"),
                        format!(r#"{{"msg":"greeting {i}"}}"#),
                    )
                }),
            )
        });
    }

    // Committed offsets, sampled every 500 ms: never lower than before.
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = Arc::clone(&stop_sampling);
        let bootstrap = bootstrap.clone();
        std::thread::spawn(move || {
            let mut highest = vec![None::<i64>; partitions as usize];
            let (mut samples, mut backwards) = (0u64, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                if let Ok(now) = committed_offsets(&bootstrap, group, input, partitions) {
                    samples += 1;
                    for (p, (now, high)) in now.iter().zip(highest.iter_mut()).enumerate() {
                        if let (Some(now), Some(h)) = (now, *high) {
                            if *now < h {
                                backwards.push((p, h, *now));
                            }
                        }
                        if now.is_some() && now > high {
                            *high = *now;
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            (samples, backwards, highest)
        })
    };

    let mut counter = KeyCounter::new(cluster, output, partitions);
    let mine = |counter: &KeyCounter| {
        counter
            .counts
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .count()
    };
    let check = |key: &str, payload: &str| {
        if let Some(i) = key.strip_prefix(&prefix) {
            assert_eq!(payload, format!(r#"{{"msg":"GREETING {i}"}}"#), "{key}");
        }
    };
    // A third of the way: kill the group's coordinator (it leads some of the topics'
    // partitions too); once another broker leads partition 0 of __consumer_offsets'
    // group partition, start it again; then restart another broker cleanly (a rolling
    // restart).
    while mine(&counter) < total / 3 {
        counter.read_for(Duration::from_millis(500), check);
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "stuck before the kill: {} of {total}",
            mine(&counter)
        );
    }
    let at_kill = mine(&counter);
    let offsets_partition = group_offsets_partition(group, 6);
    let killed_broker = cluster
        .leader_of("__consumer_offsets", offsets_partition)
        .expect("the group's coordinator");
    let killed = Instant::now();
    cluster.kill(killed_broker);
    let mut failover = None;
    while failover.is_none() {
        counter.read_for(Duration::from_millis(500), check);
        if cluster
            .leader_of("__consumer_offsets", offsets_partition)
            .is_some_and(|l| l != killed_broker)
        {
            failover = Some(killed.elapsed());
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no new coordinator"
        );
    }
    let during_outage = mine(&counter) - at_kill;
    cluster.restart(killed_broker);
    let other = (killed_broker + 1) % 3;
    counter.read_for(Duration::from_secs(5), check);
    let restarted = Instant::now();
    cluster.stop(other);
    cluster.restart(other);
    let rolling = restarted.elapsed();

    let deadline = Instant::now() + Duration::from_secs(600);
    while mine(&counter) < total && Instant::now() < deadline {
        counter.read_for(Duration::from_secs(1), check);
    }
    let all_in = started.elapsed();
    // Late duplicates: whatever else arrives in a few seconds.
    counter.read_for(Duration::from_secs(3), check);
    stop_sampling.store(true, Ordering::SeqCst);
    let (samples, backwards, last_committed) = sampler.join().unwrap();
    workers.signal(libc::SIGTERM);
    let status = workers.wait(Duration::from_secs(60));

    let processed = mine(&counter);
    let outputs: u64 = counter
        .counts
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, &n)| u64::from(n))
        .sum();
    let duplicates = outputs - processed as u64;
    eprintln!(
        "2 workers, {total} greetings: {processed} processed ({outputs} outputs, {duplicates} duplicates) in {:.1} s; \
         broker {killed_broker} killed after {at_kill} outputs, another led after {:.1} s, {during_outage} outputs meanwhile; \
         broker {other} stopped and restarted in {:.1} s; committed offsets sampled {samples} times, \
         moved back {} times, last {last_committed:?}; workers exited with {status}",
        all_in.as_secs_f64(),
        failover.unwrap().as_secs_f64(),
        rolling.as_secs_f64(),
        backwards.len(),
    );
    assert_eq!(processed, total, "greetings never processed");
    assert!(
        backwards.is_empty(),
        "committed offsets moved back: {backwards:?}"
    );
    // The workers' session (15 s) outlasts the coordinator's failover (the dead broker
    // is fenced after broker.session.timeout.ms, 9 s, then another loads the group):
    // the group keeps its members and their partitions, so nothing is handled twice.
    let rebalances: Vec<String> = workers
        .lines()
        .into_iter()
        .filter(|l| l.contains("revoked") || l.contains("assigned") || l.contains("WARN"))
        .collect();
    eprintln!(
        "the workers' rebalance lines and warnings ({}):\n{}",
        rebalances.len(),
        rebalances.join("\n")
    );
    assert_eq!(
        duplicates,
        0,
        "greetings handled twice through a coordinator failover:\n{}",
        rebalances.join("\n")
    );
    // The workers' warnings name the node that went away, and do not suggest the
    // embedded broker or another listener, which only fit a broker never reached.
    let output = workers.output();
    assert!(
        output.contains(&format!("lost the connection to node {killed_broker} ")),
        "no warning names node {killed_broker}:\n{}",
        rebalances.join("\n")
    );
    assert!(
        !output.contains("--kafka-broker embedded")
            && !output.contains("does not match this listener"),
        "a lost node's warning gave the unreachable-broker hints:\n{}",
        rebalances.join("\n")
    );
}

/// The partition of `__consumer_offsets` (of `partitions`) that holds `group`, whose
/// leader is the group's coordinator: Java's `String.hashCode`, made non-negative.
fn group_offsets_partition(group: &str, partitions: i32) -> i32 {
    let hash = group
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    (hash & 0x7fff_ffff) % partitions
}

/// `fastkafka-bench --bootstrap` runs against a real cluster and its last line still
/// gives the framework/raw ratios. A tiny count by default: CI only keeps it working.
/// For figures, `FASTKAFKA_BENCH_MESSAGES=200000` (3 repeats, the full latency run) and
/// `FASTKAFKA_BENCH_BIN=target/release/fastkafka-bench` (a debug build measures nothing).
#[test]
fn the_benchmark_runs_against_the_cluster() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    // Built by `cargo test --workspace` beside `fastkafka` (fastkafka-bench's own
    // tests need it).
    let bin: std::path::PathBuf = std::env::var_os("FASTKAFKA_BENCH_BIN").map_or_else(
        || fastkafka_bin().with_file_name("fastkafka-bench"),
        Into::into,
    );
    assert!(
        bin.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p fastkafka-bench` first)",
        bin.display()
    );
    let mut command = Command::new(bin);
    command.args(["--bootstrap", &cluster.bootstrap(Listener::Plaintext)]);
    match std::env::var("FASTKAFKA_BENCH_MESSAGES") {
        Ok(messages) => command.args(["--messages", &messages]),
        Err(_) => command.args([
            "--messages",
            "2000",
            "--repeat",
            "1",
            "--latency-seconds",
            "1",
        ]),
    };
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let figures: serde_json::Value = serde_json::from_str(last).expect("a JSON last line");
    for ratio in [
        "produce_ratio",
        "produce_concurrent_ratio",
        "consume_ratio",
        "pipeline_ratio",
    ] {
        assert!(
            figures[ratio].as_f64().is_some_and(|r| r > 0.0),
            "{ratio} in {last}"
        );
    }
}
