use fastkafka::prelude::*;

#[produces(keyless = "round-robin")]
async fn to_greetings(msg: String) -> String {
    msg
}

fn main() {}
