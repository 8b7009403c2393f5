//! The embedded broker as another process sees it: topics created through the admin
//! API, and every acknowledged message kept.

use std::time::Duration;

use fastkafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use fastkafka::rdkafka::client::DefaultClientContext;
use fastkafka::rdkafka::consumer::{BaseConsumer, Consumer};
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::types::RDKafkaErrorCode;
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::read_to_end;
use fastkafka::EmbeddedBroker;

fn partitions_of(bootstrap: &str, topic: &str) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    metadata.topics()[0].partitions().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_client_creates_topics_with_the_partitions_it_asks_for() {
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
    let results = admin
        .create_topics(
            &[
                NewTopic::new("orders", 6, TopicReplication::Fixed(1)),
                // Declared for a replicated cluster: accepted, on one broker.
                NewTopic::new("payments", 2, TopicReplication::Fixed(3)),
                NewTopic::new("no spaces allowed", 1, TopicReplication::Fixed(1)),
            ],
            &options,
        )
        .await
        .unwrap();
    assert_eq!(results[0], Ok("orders".to_string()));
    assert_eq!(results[1], Ok("payments".to_string()));
    assert!(
        matches!(&results[2], Err((_, RDKafkaErrorCode::InvalidTopic))),
        "{:?}",
        results[2]
    );
    assert_eq!(partitions_of(bootstrap, "orders"), 6);
    assert_eq!(partitions_of(bootstrap, "payments"), 2);

    let again = admin
        .create_topics(
            &[NewTopic::new("orders", 3, TopicReplication::Fixed(1))],
            &options,
        )
        .await
        .unwrap();
    assert_eq!(
        again[0],
        Err(("orders".to_string(), RDKafkaErrorCode::TopicAlreadyExists))
    );
    assert_eq!(
        partitions_of(bootstrap, "orders"),
        6,
        "an existing topic keeps its partitions"
    );

    // Only checked: nothing is created.
    let checked = admin
        .create_topics(
            &[NewTopic::new("dry_run", 4, TopicReplication::Fixed(1))],
            &AdminOptions::new().validate_only(true),
        )
        .await
        .unwrap();
    assert_eq!(checked[0], Ok("dry_run".to_string()));
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .unwrap();
    assert!(
        metadata.topics().iter().all(|t| t.name() != "dry_run"),
        "validate_only created the topic"
    );
}

/// librdkafka's mock cluster deletes a partition's oldest records once it holds 5 MiB
/// (after acknowledging them); the embedded broker keeps them.
#[test]
fn every_acknowledged_message_stays_readable_past_the_mock_clusters_5_mib() {
    const SIZE: usize = 600 * 1024;
    const COUNT: usize = 12; // about 7 MiB in one partition
    let broker = EmbeddedBroker::with_partitions(1).unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("kept", 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.max.bytes", "2000000")
        .create()
        .unwrap();
    for i in 0..COUNT {
        let mut payload = vec![b'x'; SIZE];
        payload[..8].copy_from_slice(format!("{i:08}").as_bytes());
        producer
            .send(BaseRecord::<(), [u8]>::to("kept").payload(&payload[..]))
            .map_err(|(e, _)| e)
            .unwrap();
        // One record batch per message, each acknowledged before the next.
        producer.flush(Duration::from_secs(10)).unwrap();
    }
    let records = read_to_end(bootstrap, "kept", Duration::from_secs(20)).unwrap();
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..COUNT as i64).collect::<Vec<_>>());
    for (i, r) in records.iter().enumerate() {
        let payload = r.payload.as_deref().unwrap();
        assert_eq!(payload.len(), SIZE);
        assert_eq!(&payload[..8], format!("{i:08}").as_bytes());
    }
}
