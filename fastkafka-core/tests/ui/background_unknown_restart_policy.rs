use fastkafka::prelude::*;

#[run_in_background(restart = "always")]
async fn ticker() {}

#[run_in_background(retries = 3)]
async fn other() {}

fn main() {}
