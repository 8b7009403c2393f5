use std::cell::Cell;

use fastkafka::prelude::*;

#[consumes]
async fn on_greetings(msg: String, seen: State<Cell<u64>>) {
    seen.set(seen.get() + 1);
    let _ = msg;
}

fn main() {}
