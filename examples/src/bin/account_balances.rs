//! Per-partition state done right: account balances that stay right across restarts,
//! rebalances and redeliveries.
//!
//! A `State<T>` lives in this process's memory only: it starts empty at every start,
//! and a rebalance moves partitions to another worker without it. So this app keeps
//! the balances of the partitions it owns, keyed by account (the payments' key), and:
//!
//! - writes each new balance, with the offset of the payment it applied, to the
//!   compacted topic `balances`, keyed by account, as the output of that payment: an
//!   input is committed only once its outputs are acknowledged, so what is committed
//!   is always in `balances`;
//! - rebuilds a partition's balances from `balances` when the group assigns it the
//!   partition (`on_partitions_assigned`), and forgets them when the partition is
//!   revoked (`on_partitions_revoked`), as another worker may change them meanwhile;
//! - skips a payment whose offset its account's balance has already applied: at least
//!   once means a payment can be delivered again (after a crash, or a commit a
//!   rebalance refused), and adding it twice would be wrong.
//!
//! Create `balances` with `cleanup.policy=compact` on a real cluster, with as many
//! partitions as `payments`, so that it keeps the last balance of each account.
//!
//! ```shell
//! fastkafka run --num-workers 2 --kafka-broker embedded account_balances
//! ```

use std::collections::HashMap;
use std::sync::Mutex;

use fastkafka::prelude::*;
use fastkafka::rdkafka::consumer::{BaseConsumer, Consumer};
use fastkafka::rdkafka::message::Message;
use fastkafka::rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// A payment into (or, when negative, out of) an account, keyed by the account.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct Payment {
    /// The account.
    #[schemars(example = &"ann")]
    pub account: String,
    /// In cents.
    #[schemars(example = 1250)]
    pub amount: i64,
}

/// An account's balance after a payment, keyed by the account.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct Balance {
    /// The account.
    pub account: String,
    /// In cents.
    pub balance: i64,
    /// The `payments` partition of the account.
    pub partition: i32,
    /// The offset of the last payment applied.
    pub offset: i64,
}

/// The compacted topic the balances are rebuilt from.
pub const BALANCES: &str = "balances";

/// The balances of the partitions this process owns: partition -> account -> balance.
/// Only partitions in the map are owned and loaded.
#[derive(Default)]
pub struct Books(Mutex<HashMap<i32, HashMap<String, Balance>>>);

impl Books {
    // ANCHOR: apply
    /// Applies `payment`, read at `offset` of `partition`; `None` if the account's
    /// balance has applied it already (a redelivery), else the new balance.
    pub fn apply(&self, partition: i32, offset: i64, payment: &Payment) -> Option<Balance> {
        let mut books = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let book = books.entry(partition).or_default();
        let balance = book
            .entry(payment.account.clone())
            .or_insert_with(|| Balance {
                account: payment.account.clone(),
                balance: 0,
                partition,
                offset: -1,
            });
        if offset <= balance.offset {
            return None;
        }
        balance.balance += payment.amount;
        balance.offset = offset;
        Some(balance.clone())
    }
    // ANCHOR_END: apply

    /// The balance of `account` as this process has it, if it owns its partition.
    pub fn balance(&self, account: &str) -> Option<i64> {
        let books = self.0.lock().unwrap_or_else(|e| e.into_inner());
        books
            .values()
            .find_map(|b| b.get(account).map(|b| b.balance))
    }

    /// The partitions this process owns, in order.
    pub fn partitions(&self) -> Vec<i32> {
        let books = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut partitions: Vec<i32> = books.keys().copied().collect();
        partitions.sort_unstable();
        partitions
    }

    fn load(&self, partitions: &[i32], mut found: HashMap<i32, HashMap<String, Balance>>) {
        let mut books = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for p in partitions {
            books.insert(*p, found.remove(p).unwrap_or_default());
        }
    }

    fn forget(&self, partitions: &[i32]) {
        let mut books = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for p in partitions {
            books.remove(p);
        }
    }
}

// ANCHOR: hooks
pub fn app() -> FastKafka {
    FastKafka::builder()
        .title("Account balances")
        .description("Keeps a balance per account, right across restarts and rebalances")
        .topic("payments", 3)
        .topic(BALANCES, 3)
        .state(Books::default())
        .on_partitions_assigned(|event: RebalanceEvent, books: State<Books>| async move {
            // Before any payment of these partitions is handled: their balances as
            // the last owner left them. (If this fails, the error is logged and the
            // partitions are consumed from empty balances: an app that must not can
            // load a partition in the handler when it finds it missing.)
            let config = event.client_config();
            let partitions = event.partitions.clone();
            let found =
                tokio::task::spawn_blocking(move || read_balances(config, &partitions)).await??;
            books.load(&event.partitions, found);
            Ok::<_, fastkafka::BoxError>(())
        })
        .on_partitions_revoked(|event: RebalanceEvent, books: State<Books>| async move {
            // Their balances are in `balances` already; the next owner reads them there.
            books.forget(&event.partitions);
        })
        .build()
}

/// Applies a payment, unless it was applied before, and writes the new balance.
#[consumes(topic = "payments")]
pub async fn on_payments(
    payment: Payment,
    meta: EventMetadata,
    books: State<Books>,
) -> fastkafka::Result<()> {
    let Some(balance) = books.apply(meta.partition, meta.offset, &payment) else {
        tracing::info!(offset = meta.offset, account = %payment.account, "payment applied before; skipped");
        return Ok(());
    };
    to_balances(balance).await?;
    Ok(())
}

/// A new balance, keyed by its account.
#[produces(topic = "balances")]
async fn to_balances(balance: Balance) -> KafkaEvent<Balance> {
    let key = balance.account.clone();
    KafkaEvent::new(balance).key(key)
}
// ANCHOR_END: hooks

/// The last balance of every account of `partitions` (of `payments`) in `balances`.
fn read_balances(
    config: ClientConfig,
    partitions: &[i32],
) -> Result<HashMap<i32, HashMap<String, Balance>>, fastkafka::BoxError> {
    let timeout = Duration::from_secs(10);
    let reader: BaseConsumer = config
        .clone()
        .set("group.id", "account-balances-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = reader.fetch_metadata(Some(BALANCES), timeout)?;
    let count = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len()) as i32;
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for p in 0..count {
        let (low, high) = reader.fetch_watermarks(BALANCES, p, timeout)?;
        if high > low {
            assignment.add_partition_offset(BALANCES, p, Offset::Beginning)?;
            ends.insert(p, high);
        }
    }
    let mut found: HashMap<i32, HashMap<String, Balance>> = HashMap::new();
    if ends.is_empty() {
        return Ok(found);
    }
    reader.assign(&assignment)?;
    let deadline = std::time::Instant::now() + timeout;
    while !ends.is_empty() {
        if std::time::Instant::now() > deadline {
            return Err(
                format!("could not read `{BALANCES}` to its end within {timeout:?}").into(),
            );
        }
        let Some(message) = reader.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        if let Some(balance) = message
            .payload()
            .and_then(|p| serde_json::from_slice::<Balance>(p).ok())
            .filter(|b| partitions.contains(&b.partition))
        {
            found
                .entry(balance.partition)
                .or_default()
                .insert(balance.account.clone(), balance);
        }
        if ends
            .get(&message.partition())
            .is_some_and(|end| message.offset() + 1 >= *end)
        {
            ends.remove(&message.partition());
        }
    }
    Ok(found)
}

fastkafka::main!(app);
