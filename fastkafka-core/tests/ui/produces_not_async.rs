use fastkafka::prelude::*;

#[produces]
fn to_greetings(msg: String) -> String {
    msg
}

fn main() {}
