use fastkafka::prelude::*;

#[consumes(topic = "alerts", header(name = "reason", values = ["hot", "cold"]))]
async fn on_alerts(celsius: f64, meta: EventMetadata) {
    let _ = (celsius, meta);
}

fn main() {}
