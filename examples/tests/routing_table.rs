mod common;
#[allow(dead_code)]
#[path = "../src/bin/routing_table.rs"]
mod example;

use fastkafka::partition::partition_for_key;

#[tokio::test(flavor = "multi_thread")]
async fn keyed_messages_follow_the_hash_and_the_keyless_one_rotates() {
    let (_broker, records) = common::run_until(example::app(), "user_events", 3).await;
    assert_eq!(records.len(), 3);
    for (user, msg) in example::PLAN {
        let r = records
            .iter()
            .find(|r| r.payload_text() == format!(r#"{{"msg":"{msg}"}}"#))
            .unwrap();
        match user {
            Some(user) => assert_eq!(r.partition, partition_for_key(user.as_bytes(), 3), "{user}"),
            // The first keyless message of a round-robin producer goes to partition 0.
            None => assert_eq!((r.key.as_ref(), r.partition), (None, 0)),
        }
    }
}
