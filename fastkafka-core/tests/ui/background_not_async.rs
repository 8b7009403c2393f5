use fastkafka::prelude::*;

#[run_in_background]
fn ticker() {}

fn main() {}
