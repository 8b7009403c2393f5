//! The embedded broker as another process sees it: topics created through the admin
//! API, and every acknowledged message kept.

use std::time::Duration;

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use fastkafka::rdkafka::client::DefaultClientContext;
use fastkafka::rdkafka::consumer::{BaseConsumer, Consumer};
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::types::RDKafkaErrorCode;
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::read_to_end;

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

/// An app that declares topics, started before its broker (a supervisor, a compose
/// file, a reboot), waits for the broker and then creates its topics, as a
/// producer-only app would wait; it does not exit.
#[tokio::test(flavor = "multi_thread")]
async fn an_app_started_before_its_broker_waits_for_it_then_creates_its_topics() {
    let _turn = fastkafka::testing::exclusive().await;
    fastkafka::testing::capture_logs();
    let port = fastkafka::testing::free_port();
    let bootstrap = format!("127.0.0.1:{port}");
    let app = fastkafka::FastKafka::builder()
        .title("waits for its broker")
        .topic("waited_for", 2)
        .build();
    let target = bootstrap.clone();
    let start = tokio::spawn(async move { app.start(&target).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !start.is_finished(),
        "the app gave up on a broker that is not up yet"
    );

    let mut broker = EmbeddedBroker::with_partitions(1).unwrap();
    broker.listen_on(port).unwrap();
    let running = tokio::time::timeout(Duration::from_secs(30), start)
        .await
        .expect("the app did not start once its broker was up")
        .unwrap()
        .unwrap();
    let b = bootstrap.clone();
    let partitions = tokio::task::spawn_blocking(move || partitions_of(&b, "waited_for"))
        .await
        .unwrap();
    assert_eq!(
        partitions, 2,
        "the declared topic was created with its partitions"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_start_up_timeout_fails_the_start_naming_the_broker() {
    let _turn = fastkafka::testing::exclusive().await;
    fastkafka::testing::capture_logs();
    let bootstrap = format!("127.0.0.1:{}", fastkafka::testing::free_port());
    let app = fastkafka::FastKafka::builder()
        .title("gives up")
        .topic("never_created", 1)
        .startup_timeout(Duration::from_secs(1))
        .build();
    let started = std::time::Instant::now();
    let error = match app.start(&bootstrap).await {
        Ok(_) => panic!("started without a broker"),
        Err(e) => e.to_string(),
    };
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        error.contains(&bootstrap) && error.contains("start-up timeout of 1 s"),
        "{error}"
    );
}
