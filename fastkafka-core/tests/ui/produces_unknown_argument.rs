use fastkafka::prelude::*;

#[produces(topik = "greetings")]
async fn to_greetings(msg: String) -> String {
    msg
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
