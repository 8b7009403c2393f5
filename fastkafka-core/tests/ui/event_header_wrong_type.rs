use fastkafka::prelude::*;

// A header value is bytes or text; the error says how to turn a number into text.
#[produces(topic = "alerts")]
async fn to_alerts(attempt: u32) -> KafkaEvent<String> {
    KafkaEvent::new("alert".to_string()).header("attempt", attempt)
}

fn main() {
    let _ = to_alerts(1);
}
