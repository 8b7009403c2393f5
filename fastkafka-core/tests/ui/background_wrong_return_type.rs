use fastkafka::prelude::*;

#[run_in_background]
async fn ticker() -> u64 {
    1
}

fn main() {}
