use fastkafka::prelude::*;

#[consumes]
async fn on_greetings(msg: String, partition: i32) {
    let _ = (msg, partition);
}

fn main() {}
