use fastkafka::prelude::*;

#[produces]
async fn to_greetings(msg: String) {
    let _ = msg;
}

// The call site type-checks: the only error is the one about the attribute.
async fn caller() -> fastkafka::Result<()> {
    let pending = to_greetings("hi".into()).await?;
    pending.await?;
    Ok(())
}

fn main() {
    let _ = caller();
}
