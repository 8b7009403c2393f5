//! An app against a real 3-broker Apache Kafka cluster, through every security mode a
//! managed cluster offers (PLAINTEXT, SSL, SASL_SSL with SCRAM-SHA-512, SCRAM-SHA-256
//! and PLAIN): what its producer sent is read back with a plain rdkafka client, and its
//! consumer receives it. A wrong password and an untrusted certificate stop the start
//! with one line naming the broker and the cause, quickly, and no secret appears in
//! any output. And the Java client (kafka-clients) and the framework agree on where
//! every key goes.
//!
//! Skipped (with a note) when `.ci/setup` has not fetched Kafka; fails in CI instead.
//! These tests leave every broker running: they share the binary's cluster.

use std::io::Write;
use std::sync::{Mutex, OnceLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use fastkafka::prelude::*;
use fastkafka::rdkafka::consumer::{BaseConsumer, Consumer};
use fastkafka::rdkafka::message::Message;
use fastkafka::rdkafka::{Offset, TopicPartitionList};
use fastkafka::security::Security;
use fastkafka::testing::{eventually, exclusive};
use fastkafka::Error;
use fastkafka_test_support::{shared_cluster, JavaClient, KafkaCluster, Listener, ADMIN, ALICE};

const SECURED: &str = "secured";
const FROM_JAVA: &str = "interop-from-java";
const FROM_FASTKAFKA: &str = "interop-from-fastkafka";
const INTEROP_PARTITIONS: i32 = 6;
const INTEROP_MESSAGES: usize = 10_000;

/// What the consumer functions received: (topic, key, payload).
static RECEIVED: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

#[produces(topic = "secured")]
async fn to_secured(key: String, text: String) -> KafkaEvent<String> {
    KafkaEvent::new(text).key(key)
}

#[produces(topic = "interop-from-fastkafka")]
async fn to_interop(key: String) -> KafkaEvent<String> {
    KafkaEvent::new(format!("value-of-{key}")).key(key)
}

#[consumes(topic = "secured", decoder = "string")]
async fn on_secured(text: String, meta: EventMetadata) {
    record(SECURED, &meta, text);
}

#[consumes(topic = "interop-from-java", decoder = "string")]
async fn on_java(payload: String, meta: EventMetadata) {
    record(FROM_JAVA, &meta, payload);
}

fn record(topic: &str, meta: &EventMetadata, payload: String) {
    let key = String::from_utf8_lossy(meta.key.as_deref().unwrap_or_default()).into_owned();
    RECEIVED
        .lock()
        .unwrap()
        .push((topic.to_string(), key, payload));
}

fn received(topic: &str, key: &str) -> Option<String> {
    RECEIVED
        .lock()
        .unwrap()
        .iter()
        .find(|(t, k, _)| t == topic && k == key)
        .map(|(_, _, p)| p.clone())
}

/// Every log line of the framework and librdkafka (debug level included), for the
/// tests that check that no secret is logged.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_all_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // The binary's only subscriber: a test that checks that no secret is logged
        // must see every line, so another subscriber installed first fails it here.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "fastkafka=debug,librdkafka=debug,rdkafka=debug",
            ))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init()
            .expect("the security tests' log capture is the binary's tracing subscriber");
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// The binary's shared cluster with its guard (the tests that stop brokers wait), or
/// `None` (the test returns) when Kafka is not fetched and this is not CI.
fn cluster() -> Option<(RwLockReadGuard<'static, ()>, &'static KafkaCluster)> {
    let shared = shared_cluster()?;
    capture_all_logs();
    Some(shared)
}

/// A broker for the app: broker 0's address on `listener` (the others are learned from
/// the metadata, as with any bootstrap address).
fn broker(cluster: &KafkaCluster, listener: Listener) -> Broker {
    let address = cluster.broker_address(0, listener);
    let (host, port) = address.rsplit_once(':').unwrap();
    Broker::new(host, port.parse().unwrap())
}

fn app(group: &str, broker: Broker) -> FastKafka {
    FastKafka::builder()
        .title("security test")
        // The functions of this module only: the binary holds other modules' apps.
        .include_module(module_path!())
        .group_id(group)
        .broker("cluster", broker)
        .topic(SECURED, 3)
        .topic(FROM_JAVA, INTEROP_PARTITIONS)
        .topic(FROM_FASTKAFKA, INTEROP_PARTITIONS)
        .build()
}

/// The record at `partition`/`offset` of `topic`, read through PLAINTEXT with a plain
/// rdkafka client: (key, payload).
fn read_at(cluster: &KafkaCluster, topic: &str, partition: i32, offset: i64) -> (String, String) {
    let consumer: BaseConsumer = cluster
        .client_config(Listener::Plaintext)
        .set("group.id", "security-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(offset))
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            return (text(m.key()), text(m.payload()));
        }
    }
    panic!("no record at {topic}/{partition}@{offset}");
}

/// Starts an app through `broker`, sends one keyed message, checks it at the broker and
/// in the app's consumer.
async fn round_trip(cluster: &KafkaCluster, mode: &str, broker: Broker) {
    let started = Instant::now();
    let running = app(&format!("security-{mode}"), broker)
        .start("cluster")
        .await
        .unwrap_or_else(|e| panic!("{mode}: the app did not start: {e}"));
    let key = format!("key-{mode}");
    let text = format!("hello through {mode}");
    let delivery = to_secured(key.clone(), text.clone())
        .await
        .unwrap()
        .await
        .unwrap_or_else(|e| panic!("{mode}: not delivered: {e}"));
    let (read_key, payload) = read_at(cluster, SECURED, delivery.partition, delivery.offset);
    assert_eq!(read_key, key);
    assert_eq!(payload, text);
    let expected = fastkafka::partition::partition_for_key(key.as_bytes(), 3);
    assert_eq!(
        delivery.partition, expected,
        "{mode}: the Java client's partition"
    );
    let k = key.clone();
    eventually(
        &format!("{mode}: the consumer receives {key}"),
        Duration::from_secs(60),
        move || received(SECURED, &k).is_some(),
    )
    .await;
    assert_eq!(received(SECURED, &key).unwrap(), text);
    running.stop().await.unwrap();
    eprintln!(
        "{mode}: round trip in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn sasl(cluster: &KafkaCluster, mechanism: &str, password: &str) -> Broker {
    broker(cluster, Listener::SaslSsl)
        .security(Security::SaslSsl {
            mechanism: mechanism.into(),
            username: ALICE.name.into(),
            password: password.into(),
        })
        .ca_file(cluster.ca_pem_path())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The read guard keeps the tests that stop brokers off the cluster for the whole test,
// awaits included; no task of this runtime takes the lock.
#[allow(clippy::await_holding_lock)]
async fn an_app_connects_through_every_security_mode() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    let _turn = exclusive().await;
    round_trip(cluster, "plaintext", broker(cluster, Listener::Plaintext)).await;
    round_trip(
        cluster,
        "ssl",
        broker(cluster, Listener::Ssl)
            .security(Security::Ssl)
            .ca_file(cluster.ca_pem_path()),
    )
    .await;
    // The CA given as PEM text rather than a file.
    let ca = std::fs::read_to_string(cluster.ca_pem_path()).unwrap();
    for (mode, mechanism) in [
        ("scram-sha-512", "SCRAM-SHA-512"),
        ("scram-sha-256", "SCRAM-SHA-256"),
        ("plain", "PLAIN"),
    ] {
        let broker = broker(cluster, Listener::SaslSsl)
            .security(Security::SaslSsl {
                mechanism: mechanism.into(),
                username: ALICE.name.into(),
                password: ALICE.password.into(),
            })
            .ca_pem(ca.clone());
        round_trip(cluster, mode, broker).await;
    }
    // Credentials from the environment (ADMIN, so that a different user is seen).
    std::env::set_var("SECURITY_TEST_KAFKA_USERNAME", ADMIN.name);
    std::env::set_var("SECURITY_TEST_KAFKA_PASSWORD", ADMIN.password);
    std::env::set_var("SECURITY_TEST_KAFKA_MECHANISM", "SCRAM-SHA-256");
    round_trip(
        cluster,
        "from-env",
        broker(cluster, Listener::SaslSsl)
            .sasl_from_env("SECURITY_TEST_KAFKA")
            .ca_file(cluster.ca_pem_path()),
    )
    .await;
    let logs = logs();
    for secret in [ALICE.password, ADMIN.password] {
        assert!(!logs.contains(secret), "a password is in the logs");
    }
}

/// Starts an app that the broker refuses; returns the error line and how long it took.
async fn refused(broker: Broker) -> (String, Duration) {
    let started = Instant::now();
    let result = app("security-refused", broker).start("cluster").await;
    let elapsed = started.elapsed();
    match result {
        Err(e @ Error::Connect { .. }) => (e.to_string(), elapsed),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(running) => {
            let _ = running.stop().await;
            panic!("the app started although the broker refuses it");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The read guard keeps the tests that stop brokers off the cluster for the whole test,
// awaits included; no task of this runtime takes the lock.
#[allow(clippy::await_holding_lock)]
async fn a_refused_start_says_which_broker_and_why_and_shows_no_secret() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    let _turn = exclusive().await;
    const WRONG: &str = "wrong-password-7c1e";
    let (line, took) = refused(sasl(cluster, "SCRAM-SHA-512", WRONG)).await;
    eprintln!("wrong password: {line} (after {took:?})");
    assert!(
        line.starts_with("cannot connect to Kafka broker `cluster`"),
        "{line}"
    );
    assert!(
        line.contains("the broker refused the credentials"),
        "{line}"
    );
    assert!(!line.contains(WRONG), "{line}");
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(took < Duration::from_secs(15), "took {took:?}");

    // A CA that did not sign the brokers' certificate: the system store.
    let (line, took) = refused(broker(cluster, Listener::Ssl).security(Security::Ssl)).await;
    eprintln!("untrusted certificate: {line} (after {took:?})");
    assert!(
        line.starts_with("cannot connect to Kafka broker `cluster`"),
        "{line}"
    );
    assert!(
        line.contains("TLS handshake with the broker failed"),
        "{line}"
    );
    assert!(line.contains("certificate verify failed"), "{line}");
    assert!(took < Duration::from_secs(15), "took {took:?}");

    // A missing credential variable names itself.
    let err = app(
        "security-refused",
        broker(cluster, Listener::SaslSsl).sasl_from_env("SECURITY_TEST_MISSING"),
    )
    .start("cluster")
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("SECURITY_TEST_MISSING_USERNAME is not set"),
        "{err}"
    );

    let logs = logs();
    assert!(!logs.contains(WRONG), "the wrong password is in the logs");
}

fn read_all(cluster: &KafkaCluster, topic: &str, count: usize) -> Vec<(String, i32)> {
    let consumer: BaseConsumer = cluster
        .client_config(Listener::Plaintext)
        .set("group.id", format!("security-test-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < count && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
            seen.push((key, m.partition()));
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The read guard keeps the tests that stop brokers off the cluster for the whole test,
// awaits included; no task of this runtime takes the lock.
#[allow(clippy::await_holding_lock)]
async fn keyed_messages_land_where_the_java_client_puts_them_and_back() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    let _turn = exclusive().await;
    let started = Instant::now();
    let running = app("security-interop", broker(cluster, Listener::Plaintext))
        .start("cluster")
        .await
        .unwrap();

    // Java produces, the framework consumes.
    let java = JavaClient::new();
    let produced = java.produce(
        &cluster.bootstrap(Listener::Plaintext),
        FROM_JAVA,
        INTEROP_MESSAGES,
    );
    assert_eq!(produced.produced, INTEROP_MESSAGES as u64, "{produced:?}");
    eventually(
        "the framework's consumer reads every Java message",
        Duration::from_secs(120),
        || {
            RECEIVED
                .lock()
                .unwrap()
                .iter()
                .filter(|(t, _, _)| t == FROM_JAVA)
                .map(|(_, k, _)| k.clone())
                .collect::<std::collections::HashSet<_>>()
                .len()
                == INTEROP_MESSAGES
        },
    )
    .await;
    for (topic, key, payload) in RECEIVED.lock().unwrap().iter() {
        if topic == FROM_JAVA {
            assert_eq!(payload, &key.replace("key-", "value-"));
        }
    }

    // The framework produces, the Java partitioner decides where each key belongs.
    let keys: Vec<String> = (0..INTEROP_MESSAGES).map(|i| format!("key-{i}")).collect();
    let mut pending = Vec::new();
    for key in &keys {
        pending.push(to_interop(key.clone()).await.unwrap());
    }
    for p in pending {
        p.await.unwrap();
    }
    running.stop().await.unwrap();
    let expected = java.partition_of(INTEROP_PARTITIONS, &keys);
    let at_broker = read_all(cluster, FROM_FASTKAFKA, INTEROP_MESSAGES);
    assert_eq!(at_broker.len(), INTEROP_MESSAGES);
    let mut misplaced = 0;
    for (key, partition) in &at_broker {
        let i: usize = key.trim_start_matches("key-").parse().unwrap();
        if expected[i] != *partition {
            misplaced += 1;
        }
    }
    assert_eq!(misplaced, 0, "keys not where the Java client puts them");
    eprintln!(
        "interop: {INTEROP_MESSAGES} each way in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// An unsecured JWT (`alg` none) for `subject`, valid for an hour: what the test
/// cluster's OAUTHBEARER validator accepts.
fn unsecured_jwt(subject: &str) -> fastkafka::security::OAuthToken {
    fn base64url(bytes: &[u8]) -> String {
        const TABLE: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n =
                chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = base64url(br#"{"alg":"none"}"#);
    let claims =
        base64url(format!(r#"{{"sub":"{subject}","iat":{now},"exp":{}}}"#, now + 3600).as_bytes());
    fastkafka::security::OAuthToken {
        token: format!("{header}.{claims}."),
        principal_name: subject.to_string(),
        lifetime_ms: ((now + 3600) * 1000) as i64,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The read guard keeps the tests that stop brokers off the cluster for the whole test,
// awaits included; no task of this runtime takes the lock.
#[allow(clippy::await_holding_lock)]
async fn an_app_authenticates_with_tokens_from_its_own_function() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    let _turn = exclusive().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let with_tokens = broker(cluster, Listener::SaslSsl)
        .security(Security::OAuthBearer(fastkafka::security::OAuth::callback(
            move |_config| {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(unsecured_jwt(ALICE.name))
            },
        )))
        .ca_file(cluster.ca_pem_path());
    round_trip(cluster, "oauthbearer", with_tokens).await;
    // The connection check, the admin client, the metadata probe, the producer and
    // the two consumers each asked for a token.
    let calls = calls.load(Ordering::SeqCst);
    assert!(calls >= 5, "the token function was called {calls} times");
    // A token the broker cannot parse is a refusal at start.
    let (line, took) = refused(
        broker(cluster, Listener::SaslSsl)
            .security(Security::OAuthBearer(fastkafka::security::OAuth::callback(
                |_| {
                    let mut token = unsecured_jwt(ALICE.name);
                    token.token = "not-a-jwt-secret-token".into();
                    Ok(token)
                },
            )))
            .ca_file(cluster.ca_pem_path()),
    )
    .await;
    eprintln!("bad token: {line} (after {took:?})");
    assert!(
        line.starts_with("cannot connect to Kafka broker `cluster`"),
        "{line}"
    );
    assert!(
        !logs().contains("not-a-jwt-secret-token"),
        "the token is in the logs"
    );
}
