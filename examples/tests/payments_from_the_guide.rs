//! A "payments" service and its Tester tests, written by a newcomer from docs/testing.md
//! and the other guides alone: what the guide promises a new user can do, kept working.

// As a newcomer's own crate would have it.
#[allow(unreachable_pub)]
mod app {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use fastkafka::prelude::*;

    /// A payment to an account.
    #[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
    pub struct Payment {
        /// The payment's id.
        pub id: u64,
        /// The amount, in cents; negative amounts are rejected.
        pub amount_cents: i64,
        /// The account paid into.
        pub account: String,
    }

    /// Why a payment was refused.
    #[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
    pub struct Rejection {
        /// The refused payment's id.
        pub id: u64,
        /// Its account.
        pub account: String,
        /// Why.
        pub reason: String,
    }

    /// An account's new balance.
    #[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
    pub struct BalanceUpdated {
        /// The account.
        pub account: String,
        /// Its balance after the payment, in cents.
        pub balance_cents: i64,
    }

    /// Balances per account, shared by every task of the app.
    #[derive(Default)]
    pub struct Balances(Mutex<HashMap<String, i64>>);

    impl Balances {
        /// Adds `amount_cents` to `account`; returns its new balance.
        pub fn add(&self, account: &str, amount_cents: i64) -> i64 {
            let mut balances = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let balance = balances.entry(account.to_string()).or_default();
            *balance += amount_cents;
            *balance
        }

        /// The balance of `account` (0 if unknown).
        pub fn of(&self, account: &str) -> i64 {
            let balances = self.0.lock().unwrap_or_else(|e| e.into_inner());
            balances.get(account).copied().unwrap_or(0)
        }
    }

    pub fn app() -> FastKafka {
        FastKafka::builder()
            .title("Payments")
            .description("Applies payments to account balances")
            .state(Balances::default())
            .include_module(module_path!())
            .build()
    }

    /// Applies a payment, or rejects it if its amount is negative. An undecodable
    /// payment goes to `payments_dlq`.
    #[consumes(dead_letter = "payments_dlq")]
    pub async fn on_payments(payment: Payment, balances: State<Balances>) -> fastkafka::Result<()> {
        if payment.amount_cents < 0 {
            to_rejections(Rejection {
                id: payment.id,
                account: payment.account,
                reason: format!("negative amount: {}", payment.amount_cents),
            })
            .await?;
            return Ok(());
        }
        let balance_cents = balances.add(&payment.account, payment.amount_cents);
        to_balances(BalanceUpdated {
            account: payment.account,
            balance_cents,
        })
        .await?;
        Ok(())
    }

    /// A refused payment.
    #[produces]
    pub async fn to_rejections(rejection: Rejection) -> Rejection {
        rejection
    }

    /// An account's new balance, keyed by the account.
    #[produces]
    pub async fn to_balances(update: BalanceUpdated) -> KafkaEvent<BalanceUpdated> {
        let key = update.account.clone();
        KafkaEvent::new(update).key(key)
    }
}

use app::{BalanceUpdated, Balances, Payment, Rejection};
use fastkafka::testing::Tester;
use fastkafka::{KafkaEvent, State};
use std::time::Duration;

fn payment(id: u64, amount_cents: i64, account: &str) -> Payment {
    Payment {
        id,
        amount_cents,
        account: account.into(),
    }
}

#[tokio::test]
async fn an_accepted_payment_updates_the_balance_keyed_by_account() {
    let t = Tester::new(app::app()).await.unwrap();
    t.send_event(
        "payments",
        KafkaEvent::new(payment(1, 1_500, "alice")).key("alice"),
    )
    .await
    .unwrap();
    let expected = BalanceUpdated {
        account: "alice".into(),
        balance_cents: 1_500,
    };
    let sent = t.expect("balances", &expected).await;
    assert_eq!(sent.key_text().as_deref(), Some("alice"));
    t.expect_called_with("on_payments", &payment(1, 1_500, "alice"))
        .await;
    t.expect_called_with("to_balances", &expected).await;
    t.assert_not_called("to_rejections");
    assert_eq!(t.state::<Balances>().unwrap().of("alice"), 1_500);
    let report = t.stop().await.unwrap();
    assert_eq!(report.consumed.handled, 1);
}

#[tokio::test]
async fn a_negative_payment_is_rejected_and_not_applied() {
    let t = Tester::new(app::app()).await.unwrap();
    t.send("payments", payment(2, -300, "bob")).await.unwrap();
    let rejection = t.next::<Rejection>("rejections").await.unwrap();
    assert_eq!(rejection.message.id, 2);
    assert_eq!(rejection.message.account, "bob");
    assert!(rejection.message.reason.contains("negative"));
    t.expect_nothing("balances", Duration::from_millis(500))
        .await;
    t.assert_not_called("to_balances");
    assert_eq!(t.state::<Balances>().unwrap().of("bob"), 0);
    t.stop().await.unwrap();
}

#[tokio::test]
async fn an_undecodable_payment_goes_to_the_dead_letter_topic() {
    let t = Tester::new(app::app()).await.unwrap();
    t.send_raw(
        "payments",
        KafkaEvent::new(b"{\"id\": \"nope\"}".to_vec()).key("carol"),
    )
    .await
    .unwrap();
    let dead = t.next::<Vec<u8>>("payments_dlq").await.unwrap();
    assert_eq!(&dead.message[..], &b"{\"id\": \"nope\"}"[..]);
    assert_eq!(dead.key_text().as_deref(), Some("carol"));
    assert_eq!(
        dead.header(fastkafka::dead_letter_headers::STAGE)
            .as_deref(),
        Some("decode")
    );
    t.assert_not_called("to_balances");
    t.assert_not_called("to_rejections");
    let report = t.stop().await.unwrap();
    assert_eq!(report.consumed.dead_lettered, 1);
}

#[tokio::test]
async fn the_handler_called_directly_uses_the_tests_own_state() {
    let t = Tester::new(app::app()).await.unwrap();
    let balances = State::new(Balances::default());
    balances.add("dave", 1_000);
    t.call(app::on_payments(payment(3, 250, "dave"), balances.clone()))
        .await
        .unwrap()
        .unwrap();
    let expected = BalanceUpdated {
        account: "dave".into(),
        balance_cents: 1_250,
    };
    let call = t.expect_called_with("to_balances", &expected).await;
    assert_eq!(call.key_text().as_deref(), Some("dave"));
    t.expect("balances", &expected).await;
    assert_eq!(balances.of("dave"), 1_250);
    assert_eq!(
        t.state::<Balances>().unwrap().of("dave"),
        0,
        "the app's own state is untouched"
    );
    t.stop().await.unwrap();
}

#[tokio::test]
async fn balances_accumulate_per_account() {
    let t = Tester::new(app::app()).await.unwrap();
    let payments = [
        payment(10, 100, "erin"),
        payment(11, 200, "frank"),
        payment(12, 50, "erin"),
        payment(13, -999, "erin"),
        payment(14, 25, "frank"),
        payment(15, 5, "erin"),
    ];
    for p in payments {
        let key = p.account.clone();
        t.send_event("payments", KafkaEvent::new(p).key(key))
            .await
            .unwrap();
    }
    let mut seen: Vec<(String, i64)> = t
        .take::<BalanceUpdated>("balances", 5)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.message.account, r.message.balance_cents))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("erin".into(), 100),
            ("erin".into(), 150),
            ("erin".into(), 155),
            ("frank".into(), 200),
            ("frank".into(), 225),
        ]
    );
    t.expect(
        "rejections",
        &Rejection {
            id: 13,
            account: "erin".into(),
            reason: "negative amount: -999".into(),
        },
    )
    .await;
    let balances = t.state::<Balances>().unwrap();
    assert_eq!((balances.of("erin"), balances.of("frank")), (155, 225));
    let report = t.stop().await.unwrap();
    assert_eq!(report.consumed.handled, 6);
}
