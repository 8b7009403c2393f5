use fastkafka::prelude::*;

#[consumes(auto_offset_reset = "oldest", decoder = "string", retries = -1, dead_letter = "bad topic")]
async fn on_greetings(msg: Vec<u8>) {
    let _ = msg;
}

fn main() {}
