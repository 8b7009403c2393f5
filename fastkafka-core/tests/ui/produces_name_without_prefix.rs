use fastkafka::prelude::*;

#[produces]
async fn send_greetings(msg: String) -> String {
    msg
}

fn main() {}
