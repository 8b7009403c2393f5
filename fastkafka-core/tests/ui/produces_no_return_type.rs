use fastkafka::prelude::*;

#[produces]
async fn to_greetings(msg: String) {
    let _ = msg;
}

fn main() {}
