//! my_app, whose only dependencies are fastkafka and tokio: its orders reach the broker
//! as JSON keyed by id, its consumer receives them (and commits them), and its AsyncAPI
//! document describes `Order` from the derive that came through the prelude.

#[allow(dead_code)]
#[path = "../src/main.rs"]
mod my_app;

use std::time::{Duration, Instant};

use fastkafka::testing::{committed_offsets, read_to_end, Record};
use fastkafka::EmbeddedBroker;
use my_app::Order;

const SENT: std::ops::Range<u64> = 1000..1003;

fn sent_by_the_test(r: &Record) -> bool {
    let key = r.key.as_deref().and_then(|k| std::str::from_utf8(k).ok());
    key.and_then(|k| k.parse::<u64>().ok())
        .is_some_and(|id| SENT.contains(&id))
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_are_sent_keyed_received_and_documented() {
    let broker = EmbeddedBroker::start().unwrap();
    let running = my_app::app()
        .start(broker.bootstrap_servers())
        .await
        .unwrap();
    for id in SENT {
        let order = Order {
            id,
            item: "pen".into(),
        };
        my_app::to_orders(order).await.unwrap().await.unwrap();
    }

    // The consumer has handled a record once its group's committed offset is past it.
    let bootstrap = broker.bootstrap_servers().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let b = bootstrap.clone();
        let (records, committed) = tokio::task::spawn_blocking(move || {
            let records = read_to_end(&b, "orders", Duration::from_secs(10)).unwrap();
            (
                records,
                committed_offsets(&b, "my_app", "orders", 3).unwrap(),
            )
        })
        .await
        .unwrap();
        let mine: Vec<&Record> = records.iter().filter(|r| sent_by_the_test(r)).collect();
        assert_eq!(mine.len(), SENT.count(), "{records:?}");
        let handled = mine
            .iter()
            .all(|r| committed[r.partition as usize].is_some_and(|c| c > r.offset));
        if handled {
            for r in mine {
                let id = r.payload_text();
                let key = std::str::from_utf8(r.key.as_deref().unwrap()).unwrap();
                assert_eq!(id, format!(r#"{{"id":{key},"item":"pen"}}"#));
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the consumer did not commit the test's orders: {committed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.stop().await.unwrap();

    let doc = my_app::app().asyncapi();
    let order = &doc["components"]["schemas"]["Order"];
    assert_eq!(order["description"], "An order placed by a customer.");
    assert_eq!(order["properties"]["id"]["description"], "The order's id.");
    assert_eq!(order["properties"]["item"]["type"], "string");
}
