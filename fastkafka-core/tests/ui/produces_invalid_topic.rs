use fastkafka::prelude::*;

#[produces(topic = "my greetings")]
async fn to_greetings(msg: String) -> String {
    msg
}

fn main() {}
