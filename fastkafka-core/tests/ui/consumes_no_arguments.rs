use fastkafka::prelude::*;

#[consumes]
async fn on_greetings() {}

fn main() {}
