//! The app of the "Documenting an app" guide: an order service whose AsyncAPI docs
//! show every kind of producer and consumer.
//!
//! It reads orders from `orders.v1`, confirms each on `confirmations` (keyed by the
//! order id), writes its lines as one batch to `order-lines`, and audits the
//! confirmations it wrote, in batches.
//!
//! ```shell
//! fastkafka docs serve order_service                          # read-only docs
//! fastkafka run --kafka-broker localhost:9092 order_service &
//! fastkafka docs serve order_service --kafka-broker localhost:9092   # with "publish example"
//! ```

use fastkafka::prelude::*;
use fastkafka::Contact;

// ANCHOR: messages
/// An order placed by a customer.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct Order {
    /// The order's id, unique per customer.
    #[schemars(example = 42)]
    pub id: u64,
    /// Who placed the order.
    #[schemars(example = &"alice")]
    pub customer: String,
    /// What was ordered.
    pub lines: Vec<OrderLine>,
}

/// One line of an order.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct OrderLine {
    /// The product's stock keeping unit.
    #[schemars(example = &"BOOK-1")]
    pub sku: String,
    /// How many.
    #[schemars(example = 2)]
    pub quantity: u32,
}

/// The answer to an order.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[schemars(example = Confirmation { order_id: 42, accepted: true, reason: None })]
pub struct Confirmation {
    /// The id of the order this answers.
    pub order_id: u64,
    /// Whether the order was accepted.
    pub accepted: bool,
    /// Why not, when it was refused.
    pub reason: Option<String>,
}
// ANCHOR_END: messages

// ANCHOR: app
pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Order service")
        .version("1.2.0")
        .description("Confirms orders and splits them into lines for the warehouse.")
        .contact(Contact {
            name: "Orders team".into(),
            url: Some("https://example.com/orders".into()),
            email: Some("orders@example.com".into()),
        })
        .broker(
            "development",
            Broker::new("localhost", 9092).description("Kafka on your machine"),
        )
        .broker(
            "production",
            Broker::new("kafka.internal", 9092).description("The production cluster"),
        )
        .default_broker("development")
        .topic("orders.v1", 3)
        // Three copies of each partition: one broker can fail (1 for a single-broker Kafka).
        .replication_factor(3)
        .build()
}
// ANCHOR_END: app

// ANCHOR: functions
/// Confirms every order: accepted when it has lines, refused when it is empty.
#[consumes(topic = "orders.v1", group_id = "order-service")]
async fn on_orders(order: Order) -> fastkafka::Result<()> {
    let confirmation = Confirmation {
        order_id: order.id,
        accepted: !order.lines.is_empty(),
        reason: order
            .lines
            .is_empty()
            .then(|| "the order has no lines".into()),
    };
    // Queued, not awaited: the order is committed only once the broker has
    // acknowledged every message queued here; if one fails, the order is handled again.
    to_confirmations(confirmation).await?;
    if !order.lines.is_empty() {
        to_order_lines(order.id, order.lines).await?;
    }
    Ok(())
}

// ANCHOR: header
/// Answers an order, keyed by its id so that all answers to one order stay in order.
#[produces(header(
    name = "order-status",
    description = "The answer, readable without decoding the payload.",
    enum = ["accepted", "refused"],
))]
async fn to_confirmations(confirmation: Confirmation) -> KafkaEvent<Confirmation> {
    let key = confirmation.order_id.to_string();
    let status = if confirmation.accepted {
        "accepted"
    } else {
        "refused"
    };
    KafkaEvent::new(confirmation)
        .key(key)
        .header("order-status", status)
}
// ANCHOR_END: header

#[produces(
    topic = "order-lines",
    description = "The lines of an accepted order, for the warehouse: one record per line, all keyed by the order id."
)]
async fn to_order_lines(order_id: u64, lines: Vec<OrderLine>) -> KafkaEvent<Vec<OrderLine>> {
    KafkaEvent::new(lines).key(order_id.to_string())
}

/// Logs every confirmation, a batch at a time.
#[consumes(topic = "confirmations", group_id = "order-audit", max_batch = 50)]
async fn on_confirmations(confirmations: Vec<Confirmation>) {
    for c in confirmations {
        tracing::info!(order_id = c.order_id, accepted = c.accepted, "confirmed");
    }
}
// ANCHOR_END: functions

fastkafka::main!(app);
