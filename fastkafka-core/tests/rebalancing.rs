//! What a consumer does when its group rebalances while it has work in hand.
//!
//! One consumer in this binary, so that the broker's injected errors reach it alone.

use std::sync::Mutex;
use std::time::Duration;

use fastkafka::embedded::{EmbeddedBroker, KafkaRequest};
use fastkafka::prelude::*;
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::types::RDKafkaRespErr;
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{capture_logs, committed_offsets, eventually};

/// How long a test waits for what the app does in the background.
const WAIT: Duration = Duration::from_secs(30);

/// Offsets whose handling started, and finished, in order.
static STARTED: Mutex<Vec<i64>> = Mutex::new(Vec::new());
static HANDLED: Mutex<Vec<i64>> = Mutex::new(Vec::new());

/// Takes its time with offset 1, so that a rebalance finds it in hand. Periodic
/// commits are off (once every 10 minutes): only the commits around the rebalance and
/// at the stop can move the group's offset.
#[consumes(
    topic = "held",
    group_id = "rebalancing-tests",
    config = [("auto.commit.interval.ms", "600000")]
)]
async fn held(text: String, meta: EventMetadata) {
    let _ = text;
    STARTED.lock().unwrap().push(meta.offset);
    if meta.offset == 1 {
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
    HANDLED.lock().unwrap().push(meta.offset);
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_a_rebalance_refused_to_commit_is_committed_when_the_partition_comes_back() {
    capture_logs();
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers();
    broker.create_topic("held", 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for i in 0..3 {
        let payload = format!("m{i}");
        producer
            .send(BaseRecord::<(), str>::to("held").payload(&payload))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();

    let running = FastKafka::builder()
        .title("rebalancing tests")
        .build()
        .start(bootstrap)
        .await
        .unwrap();
    eventually("offset 1 in hand", WAIT, move || {
        STARTED.lock().unwrap().contains(&1)
    })
    .await;
    // While offset 1 is in hand: the next heartbeat says the group is rebalancing, and
    // the broker refuses the commits made while the partition is handed over (as a
    // group in the middle of a rebalance may).
    let refused = RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    broker.fail_requests(KafkaRequest::OffsetCommit, &[refused, refused]);
    broker.fail_requests(KafkaRequest::Heartbeat, &[refused]);
    // Periodic commits are off, so only the rebalance's commits can move the offset:
    // once the partition is back, the progress made before it left (offsets 0 and 1,
    // or all three if the rebalance came late) is committed before fetching resumes.
    let reader = bootstrap.to_string();
    eventually(
        "the progress refused during the rebalance to be committed",
        WAIT,
        move || {
            let committed = committed_offsets(&reader, "rebalancing-tests", "held", 1).unwrap();
            committed[0].is_some_and(|offset| offset >= 2)
        },
    )
    .await;
    eventually("offset 2 handled", WAIT, move || {
        HANDLED.lock().unwrap().contains(&2)
    })
    .await;
    running.stop().await.unwrap();
    assert_eq!(
        *HANDLED.lock().unwrap(),
        vec![0, 1, 2],
        "nothing processed before the rebalance is processed again"
    );
    assert_eq!(
        committed_offsets(bootstrap, "rebalancing-tests", "held", 1).unwrap(),
        vec![Some(3)]
    );
}
