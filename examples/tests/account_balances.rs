//! The account-balance example across restarts: balances kept in a `State` alone would
//! start again from zero, and payments delivered again would be added twice. Checked
//! at the broker, in the `balances` topic.

use std::collections::HashMap;
use std::time::Duration;

use fastkafka::embedded::{EmbeddedBroker, KafkaRequest};
use fastkafka::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use fastkafka::rdkafka::types::RDKafkaRespErr;
use fastkafka::rdkafka::ClientConfig;
use fastkafka::testing::{committed_offsets, eventually, read_to_end};

// The example is a binary whose items are public for the guides.
#[allow(dead_code, unreachable_pub)]
#[path = "../src/bin/account_balances.rs"]
mod account_balances;

use account_balances::{app, Balance};

const WAIT: Duration = Duration::from_secs(30);

fn pay(bootstrap: &str, payments: &[(&str, i64)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (account, amount) in payments {
        let payload = format!(r#"{{"account":"{account}","amount":{amount}}}"#);
        producer
            .send(BaseRecord::to("payments").key(*account).payload(&payload))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Every balance written, in order per account.
fn balances(bootstrap: &str) -> Vec<Balance> {
    read_to_end(bootstrap, "balances", WAIT)
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(r.payload.as_deref().unwrap()).unwrap())
        .collect()
}

/// The last balance of each account.
fn last_balances(bootstrap: &str) -> HashMap<String, i64> {
    balances(bootstrap)
        .into_iter()
        .map(|b| (b.account, b.balance))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn balances_stay_right_after_a_restart_and_redelivered_payments() {
    let broker = EmbeddedBroker::start().unwrap();
    let bootstrap = broker.bootstrap_servers().to_string();
    let group = app().group_id();
    let first = [
        ("ann", 100),
        ("bob", 50),
        ("ann", -30),
        ("cy", 7),
        ("bob", 5),
    ];

    let running = app().start(&bootstrap).await.unwrap();
    pay(&bootstrap, &first);
    let b = bootstrap.clone();
    eventually("5 balances", WAIT, move || balances(&b).len() == 5).await;
    let (b, g) = (bootstrap.clone(), group.clone());
    eventually("5 payments committed", WAIT, move || committed(&b, &g) == 5).await;
    // Now the broker refuses every commit, as if the app crashed before committing
    // the next payments: the second run gets them again.
    let refused = RDKafkaRespErr::RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
    broker.fail_requests(KafkaRequest::OffsetCommit, &[refused; 1000]);
    pay(&bootstrap, &[("ann", 20), ("bob", -5)]);
    let b = bootstrap.clone();
    eventually("7 balances", WAIT, move || balances(&b).len() == 7).await;
    running.stop().await.unwrap();
    broker.clear_request_errors(KafkaRequest::OffsetCommit);
    assert_eq!(committed(&bootstrap, &group), 5);
    assert_eq!(
        last_balances(&bootstrap),
        HashMap::from([("ann".into(), 90), ("bob".into(), 50), ("cy".into(), 7)])
    );

    // A new process: its state starts empty, the last two payments come again, then
    // new ones.
    let running = app().start(&bootstrap).await.unwrap();
    pay(&bootstrap, &[("ann", 1), ("cy", 3)]);
    let b = bootstrap.clone();
    eventually("2 more balances", WAIT, move || balances(&b).len() >= 9).await;
    running.stop().await.unwrap();
    assert_eq!(
        last_balances(&bootstrap),
        HashMap::from([("ann".into(), 91), ("bob".into(), 50), ("cy".into(), 10)]),
        "the balances went on from where they were, and no payment counted twice"
    );
    assert_eq!(
        balances(&bootstrap).len(),
        9,
        "the redelivered payments were skipped"
    );
    assert_eq!(committed(&bootstrap, &group), 9);
}

/// The sum of the group's committed offsets over the 3 partitions of `payments`.
fn committed(bootstrap: &str, group: &str) -> i64 {
    committed_offsets(bootstrap, group, "payments", 3)
        .unwrap()
        .into_iter()
        .flatten()
        .sum()
}
