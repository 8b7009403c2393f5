use fastkafka::prelude::*;

#[produces(topik = "greetings")]
async fn to_greetings(msg: String) -> String {
    msg
}

fn main() {}
