//! Two consumers of one topic in one group would split its partitions: refused.

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::Error;

#[consumes(topic = "shared")]
async fn first(_msg: String) {}

#[consumes(topic = "shared")]
async fn second(_msg: String) {}

#[tokio::test(flavor = "multi_thread")]
async fn two_consumers_of_one_topic_in_one_group_are_a_clear_error() {
    let broker = EmbeddedBroker::start().unwrap();
    let err = FastKafka::builder()
        .build()
        .start(broker.bootstrap_servers())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("both read topic `shared` in group `fastkafka-app`"),
        "{text}"
    );
    assert!(text.contains("give one of them its own group_id"), "{text}");
}
