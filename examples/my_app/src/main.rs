//! A fastkafka app in a crate of its own (see docs/your-own-crate.md): it places an
//! order every second and logs each order it receives.
//!
//! ```shell
//! fastkafka run --num-workers 2 --kafka-broker embedded my_app
//! ```

// ANCHOR: app
use fastkafka::prelude::*;

/// An order placed by a customer.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
// Only because serde is not in this crate's Cargo.toml: its derives then use
// fastkafka's. `JsonSchema` needs nothing: the prelude brings schemars with it.
#[serde(crate = "fastkafka::serde")]
pub struct Order {
    /// The order's id.
    pub id: u64,
    /// What was ordered.
    pub item: String,
}

pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("My app")
        .description("Places orders and reads them back.")
        .topic("orders", 3)
        .build()
}

/// Places an order, keyed by its id: all records of one order go to one partition.
#[produces]
pub async fn to_orders(order: Order) -> KafkaEvent<Order> {
    let key = order.id.to_string();
    KafkaEvent::new(order).key(key)
}

/// Logs each order.
#[consumes(group_id = "my_app")]
pub async fn on_orders(order: Order, meta: EventMetadata) {
    fastkafka::tracing::info!(id = order.id, item = %order.item, partition = meta.partition, "received");
}

#[run_in_background]
async fn place_an_order_every_second() -> fastkafka::Result<()> {
    for id in 1.. {
        let order = Order {
            id,
            item: "book".into(),
        };
        to_orders(order).await?.await?; // queued, then acknowledged by the broker
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

fastkafka::main!(app);
// ANCHOR_END: app
