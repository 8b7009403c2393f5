//! order_service confirms each order and splits accepted ones into lines, checked at
//! the broker.

#[allow(dead_code)]
#[path = "../src/bin/order_service.rs"]
mod example;

use std::time::Duration;

use example::{Confirmation, Order, OrderLine};
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{exclusive, read_topic};
use fastkafka::EmbeddedBroker;

#[tokio::test(flavor = "multi_thread")]
async fn orders_are_confirmed_by_id_and_accepted_ones_split_into_lines() {
    let _turn = exclusive().await;
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("orders.v1", 3).unwrap();
    let bootstrap = broker.bootstrap_servers().to_string();
    let running = example::app().start(&bootstrap).await.unwrap();

    let line = |sku: &str, quantity| OrderLine {
        sku: sku.into(),
        quantity,
    };
    let orders = [
        Order {
            id: 1,
            customer: "alice".into(),
            lines: vec![line("BOOK-1", 2), line("PEN-3", 1)],
        },
        Order {
            id: 2,
            customer: "bob".into(),
            lines: vec![],
        },
    ];
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for order in &orders {
        let payload = serde_json::to_vec(order).unwrap();
        producer
            .send(BaseRecord::<str, [u8]>::to("orders.v1").payload(&payload[..]))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let b = bootstrap.clone();
    let (confirmations, lines) = tokio::task::spawn_blocking(move || {
        (
            read_topic(&b, "confirmations", 2, Duration::from_secs(60)).unwrap(),
            read_topic(&b, "order-lines", 2, Duration::from_secs(30)).unwrap(),
        )
    })
    .await
    .unwrap();
    running.stop().await.unwrap();

    let mut got: Vec<(Vec<u8>, Confirmation)> = confirmations
        .iter()
        .map(|r| {
            (
                r.key.clone().unwrap(),
                serde_json::from_slice(r.payload.as_deref().unwrap()).unwrap(),
            )
        })
        .collect();
    got.sort_by_key(|(_, c)| c.order_id);
    assert_eq!(
        got,
        vec![
            (
                b"1".to_vec(),
                Confirmation {
                    order_id: 1,
                    accepted: true,
                    reason: None
                }
            ),
            (
                b"2".to_vec(),
                Confirmation {
                    order_id: 2,
                    accepted: false,
                    reason: Some("the order has no lines".into())
                }
            ),
        ]
    );
    let lines: Vec<(Vec<u8>, OrderLine)> = lines
        .iter()
        .map(|r| {
            (
                r.key.clone().unwrap(),
                serde_json::from_slice(r.payload.as_deref().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (b"1".to_vec(), line("BOOK-1", 2)),
            (b"1".to_vec(), line("PEN-3", 1))
        ]
    );
}
