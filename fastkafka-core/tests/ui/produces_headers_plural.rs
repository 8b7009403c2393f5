use fastkafka::prelude::*;

// A nested list of headers is not the syntax: the error shows `header(..)`.
#[produces(headers(reason(description = "why the alert fired")))]
async fn to_alerts(celsius: f64) -> KafkaEvent<f64> {
    KafkaEvent::new(celsius).header("reason", "hot")
}

fn main() {
    let _ = to_alerts(1.0);
}
