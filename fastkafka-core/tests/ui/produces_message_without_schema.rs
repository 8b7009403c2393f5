use fastkafka::prelude::*;

#[derive(Serialize)]
struct Greeting {
    msg: String,
}

#[produces]
async fn to_greetings(msg: String) -> KafkaEvent<Greeting> {
    KafkaEvent::new(Greeting { msg })
}

fn main() {}
