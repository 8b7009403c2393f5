//! The routing walkthrough: `user1` and `user2` are hashed, one keyless message goes
//! round-robin, over 3 partitions; the app prints where each message went.

use fastkafka::prelude::*;

/// An event of a user.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct UserEvent {
    /// What happened.
    pub msg: String,
}

pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Routing table")
        .topic("user_events", 3)
        // Three copies of each partition: one broker can fail (1 for a single-broker Kafka).
        .replication_factor(3)
        .keyless_strategy(fastkafka::KeylessStrategy::RoundRobin)
        .build()
}

// ANCHOR: producer
/// Keyed by user when there is one; keyless messages rotate over the partitions.
#[produces]
pub async fn to_user_events(
    user: Option<&'static str>,
    msg: &'static str,
) -> KafkaEvent<UserEvent> {
    let event = KafkaEvent::new(UserEvent { msg: msg.into() });
    match user {
        Some(user) => event.key(user),
        None => event,
    }
}
// ANCHOR_END: producer

/// The three messages: key and payload.
pub const PLAN: [(Option<&str>, &str); 3] = [
    (Some("user1"), "msg1"),
    (Some("user2"), "msg2"),
    (None, "msg3"),
];

#[run_in_background(restart = "never")]
async fn route_three() -> fastkafka::Result<()> {
    println!("{:<6} {:<6} {:>9}  rule", "msg", "key", "partition");
    for (user, msg) in PLAN {
        let d = to_user_events(user, msg).await?.await?;
        let rule = if user.is_some() {
            "murmur2(key) % 3"
        } else {
            "round-robin"
        };
        println!(
            "{msg:<6} {:<6} {:>9}  {rule}",
            user.unwrap_or("-"),
            d.partition
        );
    }
    Ok(())
}

fastkafka::main!(app);
