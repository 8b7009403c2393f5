//! The real-Kafka test cluster itself, checked with plain rdkafka clients: it serves
//! every listener and mechanism, refuses what it should, survives a killed broker, and
//! the Java client program agrees with the broker on where keys go.
//!
//! The test that kills a broker takes the binary's cluster exclusively (`DISRUPTION`),
//! the others share it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fastkafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use fastkafka::rdkafka::client::{ClientContext, DefaultClientContext};
use fastkafka::rdkafka::consumer::{BaseConsumer, Consumer};
use fastkafka::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use fastkafka::rdkafka::message::Message;
use fastkafka::rdkafka::producer::{
    BaseProducer, DeliveryResult, FutureProducer, FutureRecord, Producer, ProducerContext,
};
use fastkafka::rdkafka::{ClientConfig, Offset, TopicPartitionList};
use fastkafka_test_support::{
    wait_for, JavaClient, KafkaCluster, Listener, SaslMechanism, ADMIN, ALICE,
};
use futures::executor::block_on;

use fastkafka_test_support::{shared_cluster as cluster, shared_cluster_alone as cluster_alone};

/// Creates `topic` with `partitions` partitions and 3 replicas (`rebalance.rs` too).
pub(crate) fn create_topic(cluster: &KafkaCluster, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = cluster
        .client_config(Listener::Plaintext)
        .create()
        .expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = block_on(admin.create_topics(
        &[NewTopic::new(topic, partitions, TopicReplication::Fixed(3))],
        &options,
    ))
    .expect("CreateTopics");
    for result in results {
        result.unwrap_or_else(|(topic, e)| panic!("cannot create {topic}: {e}"));
    }
}

/// Produces one record through `config` and returns (partition, offset).
fn produce_one(mut config: ClientConfig, topic: &str, key: &str, value: &str) -> (i32, i64) {
    let producer: FutureProducer = config
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer");
    let delivery = producer
        .send_result(FutureRecord::to(topic).key(key).payload(value))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    let delivered = block_on(delivery)
        .expect("delivery report")
        .map_err(|(e, _)| e)
        .expect("delivered");
    (delivered.partition, delivered.offset)
}

/// Reads the record at `offset` of `partition` through `config`: (key, value).
fn read_at(mut config: ClientConfig, topic: &str, partition: i32, offset: i64) -> (String, String) {
    let consumer: BaseConsumer = config
        .set("group.id", "cluster-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Offset(offset))
        .unwrap();
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                let text =
                    |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                return (text(message.key()), text(message.payload()));
            }
            Some(Err(e)) => eprintln!("consumer: {e}"),
            None => {}
        }
    }
    panic!("no record at {topic}/{partition}@{offset} within 60 s");
}

#[test]
fn a_topic_gets_three_replicas_on_three_brokers() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    create_topic(cluster, "three-replicas", 3);
    let consumer: BaseConsumer = cluster.client_config(Listener::Plaintext).create().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let metadata = consumer
            .fetch_metadata(Some("three-replicas"), Duration::from_secs(10))
            .expect("metadata");
        assert_eq!(metadata.brokers().len(), 3);
        let topic = &metadata.topics()[0];
        assert_eq!(topic.partitions().len(), 3);
        let replicated = topic.partitions().iter().all(|p| {
            let mut replicas = p.replicas().to_vec();
            replicas.sort();
            replicas == [0, 1, 2] && p.isr().len() == 3
        });
        if replicated {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replicas never in sync: {:?}",
            topic
                .partitions()
                .iter()
                .map(|p| (p.replicas().to_vec(), p.isr().to_vec()))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for partition in 0..3 {
        assert!(cluster
            .leader_of("three-replicas", partition)
            .is_some_and(|l| l < 3));
    }
}

#[test]
fn a_record_goes_through_every_listener_and_sasl_mechanism() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    let topic = "every-listener";
    create_topic(cluster, topic, 1);
    let ways: Vec<(&str, ClientConfig)> = vec![
        ("PLAINTEXT", cluster.client_config(Listener::Plaintext)),
        ("SSL", cluster.client_config(Listener::Ssl)),
        (
            "SASL_SSL SCRAM-SHA-512 admin",
            cluster.client_config(Listener::SaslSsl),
        ),
        (
            "SASL_SSL SCRAM-SHA-256 alice",
            cluster.sasl_client_config(SaslMechanism::ScramSha256, ALICE.name, ALICE.password),
        ),
        (
            "SASL_SSL PLAIN alice",
            cluster.sasl_client_config(SaslMechanism::Plain, ALICE.name, ALICE.password),
        ),
    ];
    for (way, config) in ways {
        let value = format!("through {way}");
        let (partition, offset) = produce_one(config.clone(), topic, way, &value);
        assert_eq!(
            read_at(config, topic, partition, offset),
            (way.to_owned(), value),
            "{way}"
        );
    }
}

/// Collects the errors librdkafka reports outside of a request, with their reasons.
#[derive(Default)]
struct Errors(Mutex<Vec<(KafkaError, String)>>);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.lock().unwrap().push((error, reason.to_owned()));
    }
}

impl ProducerContext for Errors {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// Connects with `config` and returns the first error librdkafka reports and its reason
/// (30 s at most).
fn first_connection_error(mut config: ClientConfig) -> (KafkaError, String) {
    let producer: BaseProducer<Errors> = config
        .set("log_level", "0")
        .create_with_context(Errors::default())
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        producer.poll(Duration::from_millis(200)); // serves the error events
        if let Some(error) = producer.context().0.lock().unwrap().first() {
            return error.clone();
        }
    }
    panic!("the client reported no error within 30 s");
}

#[test]
fn a_wrong_password_is_refused_with_an_authentication_error() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    for mechanism in [SaslMechanism::ScramSha512, SaslMechanism::Plain] {
        let wrong = "not-the-password";
        let config = cluster.sasl_client_config(mechanism, ADMIN.name, wrong);
        let (error, reason) = first_connection_error(config);
        assert_eq!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication),
            "{mechanism:?}: {error}: {reason}"
        );
        assert!(reason.contains("Authentication failed"), "{reason}");
        assert!(!reason.contains(wrong), "{reason}");
    }
}

#[test]
fn a_client_that_does_not_trust_the_ca_is_refused() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", cluster.bootstrap(Listener::Ssl))
        .set("security.protocol", "ssl");
    let (error, reason) = first_connection_error(config);
    assert_eq!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::SSL),
        "{error}: {reason}"
    );
    assert!(reason.contains("certificate verify failed"), "{reason}");
}

#[test]
fn the_cluster_serves_again_after_a_broker_is_killed_and_restarted() {
    let Some((_alone, cluster)) = cluster_alone() else {
        return;
    };
    let topic = "killed-leader";
    create_topic(cluster, topic, 1);
    let leader =
        wait_for(Duration::from_secs(30), || cluster.leader_of(topic, 0)).expect("a leader");

    let killed = Instant::now();
    cluster.kill(leader);
    assert!(!cluster.is_running(leader));
    let new_leader = wait_for(Duration::from_secs(60), || {
        cluster.leader_of(topic, 0).filter(|&l| l != leader)
    })
    .expect("a new leader within 60 s");
    let failover = killed.elapsed();
    // Two replicas left: min.insync.replicas=2 still holds, acks=all succeeds.
    let idempotent = || {
        let mut config = cluster.client_config(Listener::SaslSsl);
        config.set("enable.idempotence", "true");
        config
    };
    let (partition, offset) = produce_one(idempotent(), topic, "k", "while one broker is down");
    assert_eq!(
        read_at(
            cluster.client_config(Listener::Plaintext),
            topic,
            partition,
            offset
        )
        .1,
        "while one broker is down"
    );

    let restarting = Instant::now();
    cluster.restart(leader);
    let restart = restarting.elapsed();
    assert!(cluster.is_running(leader));
    let consumer: BaseConsumer = cluster.client_config(Listener::Plaintext).create().unwrap();
    let back_in_sync = wait_for(Duration::from_secs(60), || {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()?;
        let isr = metadata.topics()[0].partitions()[0].isr().to_vec();
        isr.contains(&(leader as i32)).then_some(())
    });
    assert!(
        back_in_sync.is_some(),
        "broker {leader} never rejoined the ISR"
    );
    let (partition, offset) = produce_one(idempotent(), topic, "k", "after the restart");
    assert_eq!(
        read_at(
            cluster.client_config(Listener::Ssl),
            topic,
            partition,
            offset
        )
        .1,
        "after the restart"
    );

    // Restarted at once, before the controller has fenced the dead JVM: restart must
    // wait for the new one, not take the stale registration for it.
    cluster.kill(new_leader);
    let restarting = Instant::now();
    cluster.restart(new_leader);
    let quick_restart = restarting.elapsed();
    let alone: BaseConsumer = ClientConfig::new()
        .set(
            "bootstrap.servers",
            cluster.broker_address(new_leader, Listener::Plaintext),
        )
        .create()
        .unwrap();
    // Only the restarted broker was given: any answer came from it, or from a broker
    // it named.
    let metadata = alone
        .fetch_metadata(None, Duration::from_secs(5))
        .expect("the restarted broker answers");
    assert!(metadata
        .brokers()
        .iter()
        .any(|b| b.id() == new_leader as i32));

    eprintln!(
        "killed broker {leader}: broker {new_leader} led after {:.1} s; restart served in {:.1} s; \
         kill then restart at once: served in {:.1} s",
        failover.as_secs_f64(),
        restart.as_secs_f64(),
        quick_restart.as_secs_f64()
    );
}

#[test]
fn keyed_records_from_the_java_client_are_where_its_partitioner_says() {
    let Some((_shared, cluster)) = cluster() else {
        return;
    };
    let topic = "java-keyed";
    let partitions = 6;
    create_topic(cluster, topic, partitions);
    let java = JavaClient::new().connect_through(cluster, Listener::SaslSsl);
    let produced = java.produce(&cluster.bootstrap(Listener::SaslSsl), topic, 100);
    assert_eq!(
        (produced.produced, produced.failed),
        (100, 0),
        "{produced:?}"
    );

    let consumer = cluster.reader(Listener::Plaintext, topic, partitions);
    let mut found: HashMap<String, i32> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while found.len() < 100 && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(500)) {
            let key = String::from_utf8_lossy(message.key().unwrap()).into_owned();
            assert!(
                found.insert(key, message.partition()).is_none(),
                "a key twice"
            );
        }
    }
    assert_eq!(found.len(), 100, "records read back");

    let keys: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
    let expected = java.partition_of(partitions, &keys);
    let mut per_partition = BTreeMap::new();
    for (key, partition) in keys.iter().zip(expected) {
        assert_eq!(found[key], partition, "{key}");
        *per_partition.entry(partition).or_insert(0u64) += 1;
    }
    assert_eq!(per_partition, produced.per_partition);
}
