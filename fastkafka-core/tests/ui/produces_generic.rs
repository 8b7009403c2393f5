use fastkafka::prelude::*;

#[produces]
async fn to_greetings<T: Serialize + JsonSchema>(msg: T) -> T {
    msg
}

fn main() {}
