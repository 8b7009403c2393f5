use fastkafka::prelude::*;

#[run_in_background]
async fn ticker(interval: u64) -> fastkafka::Result<()> {
    let _ = interval;
    Ok(())
}

fn main() {}
