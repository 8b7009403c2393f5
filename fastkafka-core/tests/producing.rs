//! Producer functions against the embedded broker, checked by reading the topic back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastkafka::embedded::EmbeddedBroker;
use fastkafka::prelude::*;
use fastkafka::rdkafka::types::RDKafkaRespErr;
use fastkafka::testing::{read_to_end, read_topic};
use fastkafka::Error;
use futures::FutureExt;

const READ_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
struct Order {
    id: u64,
    item: String,
}

fn app() -> FastKafka {
    FastKafka::builder().title("producing tests").build()
}

#[produces]
async fn to_orders(id: u64) -> KafkaEvent<Order> {
    KafkaEvent::new(Order {
        id,
        item: format!("item-{id}"),
    })
    .key(id.to_string())
    .header("source", "test")
    .header("attempt", vec![1u8])
}

#[produces(topic = "pinned.orders")]
async fn send_pinned(id: u64, partition: i32) -> KafkaEvent<Order> {
    KafkaEvent::new(Order {
        id,
        item: "pinned".into(),
    })
    .partition(partition)
    .timestamp(1_700_000_000_000)
}

/// A plain message: no key.
#[produces]
async fn to_plain(id: u64) -> Order {
    Order {
        id,
        item: "plain".into(),
    }
}

#[produces]
async fn to_text(text: &'static str) -> String {
    text.to_string()
}

#[produces]
async fn to_bytes(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

#[produces]
async fn to_batch(ids: Vec<u64>) -> Vec<Order> {
    ids.into_iter()
        .map(|id| Order {
            id,
            item: "batch".into(),
        })
        .collect()
}

#[produces(topic = "keyed_batch")]
async fn keyed_batch(ids: Vec<u64>) -> KafkaEvent<Vec<Order>> {
    let orders = ids
        .into_iter()
        .map(|id| Order {
            id,
            item: "keyed".into(),
        })
        .collect();
    KafkaEvent::new(orders).key("batch-key")
}

#[produces(topic = "early_return")]
async fn early_return(skip: bool) -> KafkaEvent<Order> {
    if skip {
        return KafkaEvent::new(Order {
            id: 0,
            item: "returned early".into(),
        });
    }
    KafkaEvent::new(Order {
        id: 1,
        item: "fell through".into(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn delivery_reports_say_where_each_message_landed() {
    let _turn = fastkafka::testing::exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let running = app().start(broker.bootstrap_servers()).await.unwrap();

    let mut pending = Vec::new();
    for id in 0..30 {
        pending.push((id, to_orders(id).await.unwrap()));
    }
    let mut reports = Vec::new();
    for (id, p) in pending {
        assert_eq!(p.topic(), "orders");
        reports.push((id, p.await.unwrap()));
    }
    running.stop().await.unwrap();

    let records = read_topic(broker.bootstrap_servers(), "orders", 30, READ_TIMEOUT).unwrap();
    assert_eq!(records.len(), 30);
    for (id, delivery) in reports {
        assert_eq!(&*delivery.topic, "orders");
        let record = records
            .iter()
            .find(|r| r.partition == delivery.partition && r.offset == delivery.offset)
            .unwrap_or_else(|| panic!("no record at the reported {delivery:?}"));
        assert_eq!(record.key.as_deref(), Some(id.to_string().as_bytes()));
        let order: Order = serde_json::from_slice(record.payload.as_deref().unwrap()).unwrap();
        assert_eq!(
            order,
            Order {
                id,
                item: format!("item-{id}")
            }
        );
        assert_eq!(
            record.headers,
            vec![
                ("source".to_string(), b"test".to_vec()),
                ("attempt".to_string(), vec![1])
            ]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pinned_partitions_timestamps_raw_payloads_and_batches_reach_the_broker_as_written() {
    let _turn = fastkafka::testing::exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("pinned.orders", 3).unwrap();
    let running = app().start(broker.bootstrap_servers()).await.unwrap();

    for (id, partition) in [(1, 1), (2, 1), (3, 2), (4, 0)] {
        let d = send_pinned(id, partition).await.unwrap().await.unwrap();
        assert_eq!(d.partition, partition);
        assert_eq!(d.topic.as_ref(), "pinned.orders");
    }
    to_plain(7).await.unwrap().await.unwrap();
    to_text("not JSON, as is").await.unwrap().await.unwrap();
    to_bytes(vec![0, 159, 146, 150])
        .await
        .unwrap()
        .await
        .unwrap();
    let batch = to_batch(vec![10, 11, 12]).await.unwrap();
    assert_eq!(batch.len(), 3);
    for p in batch {
        p.await.unwrap();
    }
    for p in keyed_batch(vec![20, 21]).await.unwrap() {
        p.await.unwrap();
    }
    early_return(true).await.unwrap().await.unwrap();
    running.stop().await.unwrap();

    let bootstrap = broker.bootstrap_servers();
    let pinned = read_topic(bootstrap, "pinned.orders", 4, READ_TIMEOUT).unwrap();
    let placed: Vec<(u64, i32)> = pinned
        .iter()
        .map(|r| {
            (
                serde_json::from_slice::<Order>(r.payload.as_deref().unwrap())
                    .unwrap()
                    .id,
                r.partition,
            )
        })
        .collect();
    for expected in [(1, 1), (2, 1), (3, 2), (4, 0)] {
        assert!(placed.contains(&expected), "{expected:?} not in {placed:?}");
    }
    assert!(pinned
        .iter()
        .all(|r| r.timestamp == Some(1_700_000_000_000)));

    let plain = read_topic(bootstrap, "plain", 1, READ_TIMEOUT).unwrap();
    assert_eq!(plain[0].key, None);
    assert_eq!(plain[0].payload_text(), r#"{"id":7,"item":"plain"}"#);
    assert_eq!(
        read_topic(bootstrap, "text", 1, READ_TIMEOUT).unwrap()[0].payload_text(),
        "not JSON, as is"
    );
    assert_eq!(
        read_topic(bootstrap, "bytes", 1, READ_TIMEOUT).unwrap()[0]
            .payload
            .as_deref(),
        Some(&[0u8, 159, 146, 150][..])
    );
    let batch = read_topic(bootstrap, "batch", 3, READ_TIMEOUT).unwrap();
    let mut ids: Vec<u64> = batch
        .iter()
        .map(|r| {
            serde_json::from_slice::<Order>(r.payload.as_deref().unwrap())
                .unwrap()
                .id
        })
        .collect();
    ids.sort();
    assert_eq!(ids, [10, 11, 12]);
    let keyed = read_topic(bootstrap, "keyed_batch", 2, READ_TIMEOUT).unwrap();
    assert_eq!(keyed.len(), 2);
    assert!(keyed
        .iter()
        .all(|r| r.key.as_deref() == Some(&b"batch-key"[..])));
    let early = read_topic(bootstrap, "early_return", 1, READ_TIMEOUT).unwrap();
    assert_eq!(
        early[0].payload_text(),
        r#"{"id":0,"item":"returned early"}"#
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn producer_calls_return_before_the_broker_acknowledges() {
    let _turn = fastkafka::testing::exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let running = app().start(broker.bootstrap_servers()).await.unwrap();
    // Warm up (metadata, producer id), then make the broker slow.
    to_plain(0).await.unwrap().await.unwrap();
    broker
        .set_round_trip_time(Duration::from_millis(1500))
        .unwrap();

    let mut pending = Vec::new();
    for id in 1..=50 {
        pending.push(to_plain(id).await.unwrap());
    }
    // Fifty calls returned, and not one acknowledgement can have arrived yet: each call
    // only queued its message.
    let mut first = pending.remove(0);
    assert!(
        (&mut first).now_or_never().is_none(),
        "the call waited for the broker"
    );
    first.await.unwrap();
    for p in pending {
        p.await.unwrap();
    }
    // Fast again, so that reading back does not wait 1.5 s a request.
    broker.set_round_trip_time(Duration::ZERO).unwrap();
    let report = running.stop().await.unwrap();
    assert_eq!(report.deliveries.delivered, 51);
    assert_eq!(
        read_to_end(broker.bootstrap_servers(), "plain", READ_TIMEOUT)
            .unwrap()
            .len(),
        51
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_producer_called_while_no_app_runs_is_a_clear_error() {
    let _turn = fastkafka::testing::exclusive().await;
    let err = to_plain(1).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotRunning {
                function: "to_plain"
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not running"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_deliveries_are_returned_to_the_caller_and_counted_when_nobody_awaits_them() {
    let _turn = fastkafka::testing::exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let running = app().start(broker.bootstrap_servers()).await.unwrap();
    to_plain(0).await.unwrap().await.unwrap();

    broker.fail_produce_requests(1, RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    let err = to_plain(1).await.unwrap().await.unwrap_err();
    assert!(
        matches!(err, Error::Delivery { ref topic, .. } if topic == "plain"),
        "{err:?}"
    );
    assert!(err.to_string().contains("not delivered"), "{err}");

    broker.fail_produce_requests(1, RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    drop(to_plain(2).await.unwrap()); // fire and forget
    let report = running.stop().await.unwrap();
    assert_eq!(report.deliveries.failed, 2);
    assert_eq!(report.deliveries.failed_unobserved, 1);
    assert_eq!(report.undelivered, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn lifespan_hooks_run_around_the_producers() {
    let _turn = fastkafka::testing::exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers().to_string();
    let seen_at_shutdown = Arc::new(AtomicUsize::new(usize::MAX));
    let started = Arc::new(AtomicUsize::new(0));
    let (seen, start_count) = (Arc::clone(&seen_at_shutdown), Arc::clone(&started));
    let app = FastKafka::builder()
        .on_startup(move || async move {
            // Producers run already: the hook can send (and await the delivery).
            to_plain(100).await?.await?;
            start_count.fetch_add(1, Ordering::SeqCst);
            Ok::<(), Error>(())
        })
        .on_shutdown(move || async move {
            // Producers were flushed: everything sent is in the topic.
            let records =
                tokio::task::spawn_blocking(move || read_to_end(&bootstrap, "plain", READ_TIMEOUT))
                    .await
                    .unwrap()?;
            seen.store(records.len(), Ordering::SeqCst);
            Ok::<(), Error>(())
        })
        .build();
    let running = app.start(broker.bootstrap_servers()).await.unwrap();
    assert_eq!(started.load(Ordering::SeqCst), 1);
    for id in 0..20 {
        drop(to_plain(id).await.unwrap());
    }
    running.stop().await.unwrap();
    assert_eq!(seen_at_shutdown.load(Ordering::SeqCst), 21);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_broker_names_are_an_error_listing_the_known_ones() {
    let _turn = fastkafka::testing::exclusive().await;
    let app = FastKafka::builder()
        .broker("demo_broker", Broker::new("localhost", 9092))
        .build();
    let err = app.start("prod").await.err().unwrap();
    assert!(matches!(err, Error::UnknownBroker { .. }));
    assert!(err.to_string().contains("`demo_broker`"), "{err}");
    // A failed start leaves the process free for the next app.
    let broker = EmbeddedBroker::start().unwrap();
    app_start_stop(broker.bootstrap_servers()).await;
}

async fn app_start_stop(bootstrap: &str) {
    let running = app().start(bootstrap).await.unwrap();
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_producer_config_is_reported_at_start() {
    let _turn = fastkafka::testing::exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    let app = FastKafka::builder()
        .producer_config("no.such.property", "1")
        .build();
    let err = app
        .start(broker.bootstrap_servers())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no.such.property"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_lost_at_shutdown_make_the_run_an_error() {
    let _turn = fastkafka::testing::exclusive().await;
    // Nothing listens on port 1: the message stays queued until the flush gives up.
    let app = FastKafka::builder()
        .flush_timeout(Duration::from_secs(1))
        .build();
    let err = app
        .run_until("127.0.0.1:1", async {
            drop(to_plain(7).await.unwrap());
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::LostAtShutdown { messages: 1 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("are lost"), "{err}");
}
