use fastkafka::prelude::*;

struct Config;

#[consumes]
async fn on_greetings(config: State<Config>, msg: String) {
    let _ = (config, msg);
}

#[consumes]
async fn on_farewells(msg: String, config: State<Config>, retries: u32) {
    let _ = (msg, config, retries);
}

fn main() {}
