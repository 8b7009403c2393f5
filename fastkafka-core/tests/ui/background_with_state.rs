use fastkafka::prelude::*;

struct Config;

// State is the one kind of argument a background task takes; this compiles.
#[run_in_background]
async fn ticker(config: State<Config>) -> fastkafka::Result<()> {
    let _ = config;
    Ok(())
}

#[run_in_background]
async fn ticker_too(config: State<Config>, every: u64) -> fastkafka::Result<()> {
    let _ = (config, every);
    Ok(())
}

fn main() {}
