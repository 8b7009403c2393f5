mod common;
#[allow(dead_code)]
#[path = "../src/bin/custom_partitioner.rs"]
mod example;

use std::time::Duration;

use fastkafka::testing::read_to_end;
use fastkafka::{EmbeddedBroker, Error};

#[tokio::test(flavor = "multi_thread")]
async fn keys_3_2_369_301_go_to_partitions_0_2_0_1() {
    let (_broker, records) = common::run_until(example::app(), "hello-world-4", 4).await;
    assert_eq!(records.len(), 4);
    for (key, text, partition) in example::PLAN {
        let r = records
            .iter()
            .find(|r| r.key.as_deref() == Some(key.as_bytes()))
            .unwrap();
        assert_eq!(r.partition, partition, "key {key}");
        assert_eq!(r.payload_text(), text);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partitioner_result_out_of_range_is_an_error_and_nothing_is_sent() {
    assert_eq!(example::by_number(Some(b"not a number"), 3), -1);
    let _turn = fastkafka::testing::exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("hello-world-4", 3).unwrap();
    // Started without the background task's messages in the way: wait for them first.
    let running = example::app()
        .start(broker.bootstrap_servers())
        .await
        .unwrap();
    let before = fastkafka::testing::read_topic(
        broker.bootstrap_servers(),
        "hello-world-4",
        4,
        Duration::from_secs(20),
    )
    .unwrap()
    .len();
    let err = example::send_numbered("not a number", "lost?")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::PartitionerOutOfRange {
                partition: -1,
                partition_count: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("chose partition -1 for topic `hello-world-4`, which has 3 partitions"),
        "{err}"
    );
    running.stop().await.unwrap();
    let after = read_to_end(
        broker.bootstrap_servers(),
        "hello-world-4",
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(after.len(), before);
    assert!(after.iter().all(|r| r.payload_text() != "lost?"));
}
