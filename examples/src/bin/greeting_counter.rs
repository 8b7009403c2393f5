//! App state instead of statics: a consumer counts greetings per name in a state the
//! app holds, and answers each with the running count; a background task reports the
//! totals. The settings are given to the app; the counts are built at start.
//!
//! ```shell
//! fastkafka run --kafka-broker embedded greeting_counter
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use fastkafka::prelude::*;

/// A greeting to count.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct Greeting {
    /// Who is greeted.
    #[schemars(example = &"alice")]
    pub name: String,
}

/// How many greetings a name has had so far.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct GreetingCount {
    /// Who was greeted.
    pub name: String,
    /// How many times, this one included.
    pub count: u64,
}

// ANCHOR: state
/// The app's settings: given to the builder.
pub struct Settings {
    /// How often the background task logs the totals.
    pub report_every: Duration,
}

/// Greetings per name: built at start, shared by every task of the app.
#[derive(Default)]
pub struct Counts(Mutex<HashMap<String, u64>>);

impl Counts {
    /// Counts one more greeting of `name`; returns its count.
    pub fn add(&self, name: &str) -> u64 {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(name.to_string()).or_default();
        *count += 1;
        *count
    }

    /// The count of `name`.
    pub fn of(&self, name: &str) -> u64 {
        let counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(name).copied().unwrap_or(0)
    }
}

pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Greeting counter")
        .description("Counts greetings per name")
        .state(Settings {
            report_every: Duration::from_secs(10),
        })
        // Built at start, before the consumers: a database pool would open here.
        .state_with(|| async { Ok::<_, std::io::Error>(Counts::default()) })
        .build()
}

/// Counts a greeting and answers with its name's count so far.
#[consumes]
pub async fn on_greetings(greeting: Greeting, counts: State<Counts>) -> fastkafka::Result<()> {
    let count = counts.add(&greeting.name);
    to_greeting_counts(GreetingCount {
        name: greeting.name,
        count,
    })
    .await?;
    Ok(())
}

/// A name's count, keyed by the name.
#[produces]
async fn to_greeting_counts(count: GreetingCount) -> KafkaEvent<GreetingCount> {
    let key = count.name.clone();
    KafkaEvent::new(count).key(key)
}

/// Logs how many names were greeted, now and then.
#[run_in_background]
async fn report(counts: State<Counts>, settings: State<Settings>) {
    loop {
        tokio::time::sleep(settings.report_every).await;
        let names = counts.0.lock().map(|c| c.len()).unwrap_or(0);
        tracing::info!(names, "greeted so far");
    }
}
// ANCHOR_END: state

fastkafka::main!(app);
