use fastkafka::prelude::*;

#[derive(Deserialize, JsonSchema)]
struct Order {
    id: u64,
}

#[consumes]
async fn on_orders(order: &Order) {
    let _ = order.id;
}

#[consumes]
async fn on_names(name: &str) {
    let _ = name;
}

#[consumes]
async fn on_batches(orders: Vec<&Order>) {
    let _ = orders;
}

fn main() {}
