use fastkafka::prelude::*;

fn by_length(key: &[u8]) -> usize {
    key.len()
}

#[produces(partitioner = by_length)]
async fn to_greetings(msg: String) -> String {
    msg
}

fn main() {}
