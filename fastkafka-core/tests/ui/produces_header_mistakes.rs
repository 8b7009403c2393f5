use fastkafka::prelude::*;

// Every mistake in the headers is reported at once, each at its own tokens.
#[produces(
    topic = "alerts",
    header(description = "a header without a name"),
    header(name = "reason", enum = ["hot", 3]),
    header(name = "reason", enum = ["hot"], schema = u32),
)]
async fn to_alerts(celsius: f64) -> KafkaEvent<f64> {
    KafkaEvent::new(celsius)
}

fn main() {
    let _ = to_alerts(1.0);
}
