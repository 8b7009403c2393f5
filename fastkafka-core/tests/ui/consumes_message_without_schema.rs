use fastkafka::prelude::*;

// Without `JsonSchema` the message could not be documented in the app's AsyncAPI docs.
#[derive(Deserialize)]
struct Greeting {
    msg: String,
}

#[consumes]
async fn on_greetings(msg: Greeting) {
    let _ = msg.msg;
}

fn main() {}
