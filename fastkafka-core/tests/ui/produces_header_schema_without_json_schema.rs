use fastkafka::prelude::*;

/// Not `JsonSchema`: it cannot document a header.
enum Reason {
    Hot,
}

#[produces(topic = "alerts", header(name = "reason", schema = Reason))]
async fn to_alerts(celsius: f64) -> KafkaEvent<f64> {
    let _ = Reason::Hot;
    KafkaEvent::new(celsius).header("reason", "hot")
}

fn main() {
    let _ = to_alerts(1.0);
}
