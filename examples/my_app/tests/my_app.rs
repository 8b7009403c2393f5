//! my_app, whose only dependencies are fastkafka and tokio, tested with
//! `fastkafka::testing::Tester` as docs/testing.md shows: its orders reach the broker as
//! JSON keyed by id, its consumer receives and handles them, and its AsyncAPI document
//! describes `Order` from the derive that came through the prelude.

// ANCHOR: setup
// my_app is a binary crate: its main.rs comes in as a module (a library crate would
// `use my_app::app;` instead).
#[allow(dead_code)]
#[path = "../src/main.rs"]
mod my_app;

use fastkafka::testing::Tester;
use my_app::Order;

fn order(id: u64) -> Order {
    Order {
        id,
        item: "pen".into(),
    }
}
// ANCHOR_END: setup

// ANCHOR: end_to_end
#[tokio::test]
async fn an_order_is_sent_keyed_by_id_and_handled_by_the_consumer() {
    let tester = Tester::new(my_app::app()).await.unwrap();
    tester
        .call(async { my_app::to_orders(order(1000)).await?.await })
        .await
        .unwrap()
        .unwrap();
    let sent = tester.expect("orders", &order(1000)).await;
    assert_eq!(sent.key_text().as_deref(), Some("1000"));
    tester.expect_called_with("on_orders", &order(1000)).await;
    let report = tester.stop().await.unwrap();
    assert_eq!(report.consumed.handled, 1);
}
// ANCHOR_END: end_to_end

// ANCHOR: background
#[tokio::test]
async fn the_background_task_places_an_order_a_second() {
    let tester = Tester::builder(my_app::app())
        .background_tasks()
        .start()
        .await
        .unwrap();
    for id in [1, 2] {
        let book = Order {
            id,
            item: "book".into(),
        };
        tester.expect("orders", &book).await;
    }
    tester.stop().await.unwrap();
}
// ANCHOR_END: background

#[test]
fn the_asyncapi_document_describes_order() {
    let doc = my_app::app().asyncapi();
    let order = &doc["components"]["schemas"]["Order"];
    assert_eq!(order["description"], "An order placed by a customer.");
    assert_eq!(order["properties"]["id"]["description"], "The order's id.");
    assert_eq!(order["properties"]["item"]["type"], "string");
}
