use fastkafka::prelude::*;

#[derive(JsonSchema)]
struct Greeting {
    msg: String,
}

#[consumes]
async fn on_greetings(msg: Greeting) {
    let _ = msg.msg;
}

fn main() {}
