use fastkafka::prelude::*;

// Both mistakes are reported: the repeated topic, and the unknown argument after it.
#[produces(topic = "greetings", topic = "hellos", topik = "greetings")]
async fn to_greetings(msg: String) -> String {
    msg
}

fn main() {}
