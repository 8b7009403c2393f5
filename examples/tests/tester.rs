//! Every example app tested through `fastkafka::testing::Tester`: each test runs its
//! app on an embedded broker of its own (or on the broker `FASTKAFKA_TEST_BROKER`
//! names), in parallel with the others, in this one test binary.

#![allow(dead_code)]
// The example bins, included below as modules, keep the `pub` items their guides show.
#![allow(unreachable_pub)]

use std::collections::HashSet;

use fastkafka::partition::partition_for_key;
use fastkafka::prelude::*;
use fastkafka::testing::Tester;

#[path = "../src/bin/account_balances.rs"]
mod account_balances;
#[path = "../src/bin/byte_keys.rs"]
mod byte_keys;
#[path = "../src/bin/custom_partitioner.rs"]
mod custom_partitioner;
#[path = "../src/bin/explicit_partitions.rs"]
mod explicit_partitions;
#[path = "../src/bin/greeting_counter.rs"]
mod greeting_counter;
#[path = "../src/bin/hello_app.rs"]
mod hello_app;
#[path = "../src/bin/multi_partition_writer.rs"]
mod multi_partition_writer;
#[path = "../src/bin/order_service.rs"]
mod order_service;
#[path = "../src/bin/routing_table.rs"]
mod routing_table;
#[path = "../src/bin/string_keys.rs"]
mod string_keys;
#[path = "../src/bin/uppercase_app.rs"]
mod uppercase_app;

// ANCHOR: macro
/// A Tester for example `$example`, running only that example's functions: this
/// binary links every example.
macro_rules! tester {
    ($example:ident) => {
        Tester::builder($example::app()).include_module(concat!(
            env!("CARGO_CRATE_NAME"),
            "::",
            stringify!($example)
        ))
    };
}
// ANCHOR_END: macro

mod uppercase {
    use super::*;
    use uppercase_app::HelloWorld;

    fn hello(msg: &str) -> HelloWorld {
        HelloWorld { msg: msg.into() }
    }

    #[tokio::test]
    async fn a_greeting_is_upper_cased_with_its_key() {
        let t = tester!(uppercase_app).start().await.unwrap();
        t.send_event("hello_world", KafkaEvent::new(hello("hi there")).key("k1"))
            .await
            .unwrap();
        let out = t.expect("hello_world_upper", &hello("HI THERE")).await;
        assert_eq!(out.key_text().as_deref(), Some("k1"));
        t.stop().await.unwrap();
    }

    // ANCHOR: dead_letter
    #[tokio::test]
    async fn an_undecodable_greeting_goes_to_the_dead_letter_topic() {
        let t = tester!(uppercase_app).start().await.unwrap();
        t.send_raw(
            "hello_world",
            KafkaEvent::new(b"not json".to_vec()).key("bad"),
        )
        .await
        .unwrap();
        let dead = t.next::<Vec<u8>>("hello_world_dlq").await.unwrap();
        assert_eq!(
            (&dead.message[..], dead.key_text()),
            (&b"not json"[..], Some("bad".into()))
        );
        assert_eq!(
            dead.header(fastkafka::dead_letter_headers::STAGE)
                .as_deref(),
            Some("decode")
        );
        assert!(dead
            .header(fastkafka::dead_letter_headers::ERROR)
            .unwrap()
            .contains("invalid JSON"));
        t.assert_not_called("to_hello_world_upper");
        t.stop().await.unwrap();
    }
    // ANCHOR_END: dead_letter

    #[tokio::test]
    async fn a_keyless_greeting_stays_keyless() {
        let t = tester!(uppercase_app).start().await.unwrap();
        t.send("hello_world", hello("no key")).await.unwrap();
        let out = t.expect("hello_world_upper", &hello("NO KEY")).await;
        assert_eq!(out.key, None);
        t.stop().await.unwrap();
    }

    // ANCHOR: direct_call
    #[tokio::test]
    async fn on_hello_world_called_directly_has_its_output_captured() {
        let t = tester!(uppercase_app).start().await.unwrap();
        let meta = EventMetadata {
            topic: "hello_world".into(),
            partition: 0,
            offset: 0,
            key: Some(b"k".to_vec()),
            headers: Vec::new(),
            timestamp: None,
        };
        t.call(uppercase_app::on_hello_world(hello("direct"), meta))
            .await
            .unwrap()
            .unwrap();
        let call = t
            .expect_called_with("to_hello_world_upper", &hello("DIRECT"))
            .await;
        assert_eq!(call.key_text().as_deref(), Some("k"));
        t.expect("hello_world_upper", &hello("DIRECT")).await;
        t.stop().await.unwrap();
    }
    // ANCHOR_END: direct_call

    #[tokio::test]
    async fn three_hundred_greetings_keep_their_keys_and_order() {
        let t = tester!(uppercase_app).start().await.unwrap();
        for i in 0..300 {
            let event =
                KafkaEvent::new(hello(&format!("hello number {i}"))).key(format!("key-{}", i % 7));
            t.send_event("hello_world", event).await.unwrap();
        }
        let mut last = std::collections::HashMap::new();
        for out in t
            .take::<HelloWorld>("hello_world_upper", 300)
            .await
            .unwrap()
        {
            let n: u64 = out
                .message
                .msg
                .strip_prefix("HELLO NUMBER ")
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(out.key_text(), Some(format!("key-{}", n % 7)), "key kept");
            let before = last.insert(out.key_text(), n);
            assert!(
                before.is_none_or(|b| b < n),
                "order of key-{}: {before:?} then {n}",
                n % 7
            );
        }
        t.expect_nothing("hello_world_upper", Duration::from_millis(500))
            .await;
        t.stop().await.unwrap();
    }
}

mod counter {
    use super::*;
    use greeting_counter::{Counts, Greeting, GreetingCount};

    // ANCHOR: state
    #[tokio::test]
    async fn each_greeting_is_counted_in_the_apps_state() {
        let t = tester!(greeting_counter).start().await.unwrap();
        for name in ["ann", "bob", "ann"] {
            let g = Greeting { name: name.into() };
            t.send_event("greetings", KafkaEvent::new(g).key(name))
                .await
                .unwrap();
        }
        let mut seen: Vec<(String, u64)> = t
            .take::<GreetingCount>("greeting_counts", 3)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.message.name, c.message.count))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [("ann".into(), 1), ("ann".into(), 2), ("bob".into(), 1)]
        );
        let counts = t.state::<Counts>().unwrap();
        assert_eq!((counts.of("ann"), counts.of("bob")), (2, 1));
        t.stop().await.unwrap();
    }
    // ANCHOR_END: state

    #[tokio::test]
    async fn the_counts_of_one_name_arrive_in_order() {
        let t = tester!(greeting_counter).start().await.unwrap();
        for i in 0..20 {
            let name = if i % 2 == 0 { "dee" } else { "eli" };
            let g = Greeting { name: name.into() };
            t.send_event("greetings", KafkaEvent::new(g).key(name))
                .await
                .unwrap();
        }
        let counts = t
            .take::<GreetingCount>("greeting_counts", 20)
            .await
            .unwrap();
        for name in ["dee", "eli"] {
            let mine: Vec<u64> = counts
                .iter()
                .filter(|c| c.message.name == name)
                .map(|c| c.message.count)
                .collect();
            assert_eq!(mine, (1..=10).collect::<Vec<u64>>(), "counts of {name}");
        }
        t.stop().await.unwrap();
    }

    // ANCHOR: unit_state
    #[tokio::test]
    async fn a_handler_takes_a_state_of_the_tests_own_in_a_unit_test() {
        let t = tester!(greeting_counter).start().await.unwrap();
        let counts = State::new(Counts::default());
        counts.add("cy");
        let greeting = Greeting { name: "cy".into() };
        t.call(greeting_counter::on_greetings(greeting, counts.clone()))
            .await
            .unwrap()
            .unwrap();
        let expected = GreetingCount {
            name: "cy".into(),
            count: 2,
        };
        let call = t.expect_called_with("to_greeting_counts", &expected).await;
        assert_eq!(call.key_text().as_deref(), Some("cy"));
        assert_eq!(
            t.state::<Counts>().unwrap().of("cy"),
            0,
            "the app's own state is untouched"
        );
        t.stop().await.unwrap();
    }
    // ANCHOR_END: unit_state
}

mod orders {
    use super::*;
    use order_service::{Confirmation, Order, OrderLine};

    fn line(sku: &str, quantity: u32) -> OrderLine {
        OrderLine {
            sku: sku.into(),
            quantity,
        }
    }

    #[tokio::test]
    async fn an_accepted_order_is_confirmed_by_id_and_split_into_lines() {
        let t = tester!(order_service).start().await.unwrap();
        let lines = vec![line("BOOK-1", 2), line("PEN-3", 1)];
        t.send(
            "orders.v1",
            Order {
                id: 1,
                customer: "alice".into(),
                lines: lines.clone(),
            },
        )
        .await
        .unwrap();
        let confirmation = Confirmation {
            order_id: 1,
            accepted: true,
            reason: None,
        };
        let c = t.expect("confirmations", &confirmation).await;
        assert_eq!(c.key_text().as_deref(), Some("1"));
        let written = t.take::<OrderLine>("order-lines", 2).await.unwrap();
        assert_eq!(
            written
                .iter()
                .map(|l| l.message.clone())
                .collect::<Vec<_>>(),
            lines
        );
        assert!(written.iter().all(|l| l.key_text().as_deref() == Some("1")));
        t.stop().await.unwrap();
    }

    #[tokio::test]
    async fn an_empty_order_is_refused_and_writes_no_lines() {
        let t = tester!(order_service).start().await.unwrap();
        t.send(
            "orders.v1",
            Order {
                id: 2,
                customer: "bob".into(),
                lines: vec![],
            },
        )
        .await
        .unwrap();
        let refused = Confirmation {
            order_id: 2,
            accepted: false,
            reason: Some("the order has no lines".into()),
        };
        t.expect("confirmations", &refused).await;
        // The audit consumer reads the confirmation back.
        t.expect_called_with("on_confirmations", &refused).await;
        t.assert_not_called("to_order_lines");
        t.stop().await.unwrap();
    }
}

mod hello {
    use super::*;
    use hello_app::HelloWorld;

    #[tokio::test]
    async fn the_background_task_sends_keyed_greetings() {
        let t = tester!(hello_app).background_tasks().start().await.unwrap();
        for greeting in t.take::<HelloWorld>("hello_world", 2).await.unwrap() {
            assert_eq!(greeting.message.msg, "Hello world!");
            assert_eq!(greeting.key_text().as_deref(), Some("my_key"));
        }
        t.stop().await.unwrap();
    }

    #[tokio::test]
    async fn without_background_tasks_nothing_is_sent_until_the_test_calls_the_producer() {
        let t = tester!(hello_app).start().await.unwrap();
        t.expect_nothing("hello_world", Duration::from_millis(300))
            .await;
        let delivery = t
            .call(async {
                hello_app::to_hello_world("from the test".into())
                    .await?
                    .await
            })
            .await
            .unwrap()
            .unwrap();
        let got = t.next::<HelloWorld>("hello_world").await.unwrap();
        assert_eq!(
            (got.partition, got.offset),
            (delivery.partition, delivery.offset)
        );
        assert_eq!(got.message.msg, "from the test");
        t.stop().await.unwrap();
    }
}

mod routing {
    use super::*;

    #[tokio::test]
    async fn byte_keys_share_one_partition_and_stay_raw() {
        let t = tester!(byte_keys).background_tasks().start().await.unwrap();
        for r in t.take::<Vec<u8>>("hello-world-2", 2).await.unwrap() {
            assert_eq!((r.message, r.key), (b"bar".to_vec(), Some(b"foo".to_vec())));
            assert_eq!(r.partition, partition_for_key(b"foo", 3));
        }
        t.stop().await.unwrap();
    }

    #[tokio::test]
    async fn a_custom_partitioner_sends_keys_3_2_369_301_to_partitions_0_2_0_1() {
        let t = tester!(custom_partitioner)
            .background_tasks()
            .start()
            .await
            .unwrap();
        let records = t.take::<String>("hello-world-4", 4).await.unwrap();
        for (key, text, partition) in custom_partitioner::PLAN {
            let r = records
                .iter()
                .find(|r| r.key_text().as_deref() == Some(key))
                .unwrap();
            assert_eq!(
                (r.partition, r.message.as_str()),
                (partition, text),
                "key {key}"
            );
        }
        t.stop().await.unwrap();
    }

    #[tokio::test]
    async fn a_partitioner_result_out_of_range_is_an_error_and_nothing_is_sent() {
        assert_eq!(custom_partitioner::by_number(Some(b"not a number"), 3), -1);
        let t = tester!(custom_partitioner).start().await.unwrap();
        let err = t
            .call(custom_partitioner::send_numbered("not a number", "lost?"))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("chose partition -1 for topic `hello-world-4`, which has 3 partitions"),
            "{err}"
        );
        t.expect_nothing("hello-world-4", Duration::from_millis(500))
            .await;
        t.stop().await.unwrap();
    }

    #[tokio::test]
    async fn a_pinned_partition_the_topic_lacks_is_an_error_and_nothing_is_sent() {
        let t = tester!(explicit_partitions).start().await.unwrap();
        let err = t
            .call(explicit_partitions::send_to_partition(7, 3))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("partition 3 does not exist in topic `hello-world-1`"),
            "{err}"
        );
        t.expect_nothing("hello-world-1", Duration::from_millis(500))
            .await;
        assert!(t.calls("send_to_partition").is_empty(), "nothing was sent");
        t.stop().await.unwrap();
    }

    #[tokio::test]
    async fn pinned_partitions_are_kept() {
        let t = tester!(explicit_partitions)
            .background_tasks()
            .start()
            .await
            .unwrap();
        let records = t
            .take::<explicit_partitions::Numbered>("hello-world-1", 6)
            .await
            .unwrap();
        for (number, partition) in explicit_partitions::PLAN {
            let r = records.iter().find(|r| r.message.number == number).unwrap();
            assert_eq!(
                (r.partition, r.key.as_ref()),
                (partition, None),
                "message {number}"
            );
        }
        t.stop().await.unwrap();
    }

    #[tokio::test]
    async fn counter_keys_spread_over_both_partitions_as_the_java_client_would() {
        let t = tester!(multi_partition_writer).start().await.unwrap();
        let mut used = HashSet::new();
        for n in 1000..1040u64 {
            let d = t
                .call(async { multi_partition_writer::to_counter(n).await?.await })
                .await
                .unwrap()
                .unwrap();
            let r = t
                .next::<multi_partition_writer::Count>("counter")
                .await
                .unwrap();
            assert_eq!(r.message.count, n);
            assert_eq!((r.partition, r.offset), (d.partition, d.offset));
            assert_eq!(
                r.partition,
                partition_for_key(n.to_string().as_bytes(), 2),
                "key {n}"
            );
            used.insert(r.partition);
        }
        assert_eq!(used.len(), 2, "both partitions are used");
        t.stop().await.unwrap();
    }

    #[tokio::test]
    async fn keyed_messages_follow_the_hash_and_the_keyless_one_rotates() {
        let t = tester!(routing_table)
            .background_tasks()
            .start()
            .await
            .unwrap();
        let records = t
            .take::<routing_table::UserEvent>("user_events", 3)
            .await
            .unwrap();
        for (user, msg) in routing_table::PLAN {
            let r = records.iter().find(|r| r.message.msg == msg).unwrap();
            match user {
                Some(user) => {
                    assert_eq!(r.partition, partition_for_key(user.as_bytes(), 3), "{user}")
                }
                // The first keyless message of a round-robin producer goes to partition 0.
                None => assert_eq!((r.key.as_ref(), r.partition), (None, 0)),
            }
        }
        t.stop().await.unwrap();
    }

    #[tokio::test]
    async fn each_string_key_stays_on_its_partition_in_order() {
        let t = tester!(string_keys)
            .background_tasks()
            .start()
            .await
            .unwrap();
        let records = t
            .take::<string_keys::Numbered>("hello-world-3", 6)
            .await
            .unwrap();
        for key in ["ping", "pong"] {
            let mine: Vec<_> = records
                .iter()
                .filter(|r| r.key_text().as_deref() == Some(key))
                .collect();
            assert!(mine
                .iter()
                .all(|r| r.partition == partition_for_key(key.as_bytes(), 3)));
            let numbers: Vec<u32> = mine.iter().map(|r| r.message.number).collect();
            let planned: Vec<u32> = string_keys::PLAN
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(numbers, planned, "order of {key}");
        }
        t.stop().await.unwrap();
    }
}

mod balances {
    use super::*;
    use account_balances::{Balance, Books, Payment};

    // ANCHOR: balances
    #[tokio::test]
    async fn balances_are_kept_per_account_in_the_partitions_the_app_owns() {
        let t = tester!(account_balances).start().await.unwrap();
        for (account, amount) in [("ann", 100), ("bob", 50), ("ann", -30)] {
            let payment = Payment {
                account: account.into(),
                amount,
            };
            t.send_event("payments", KafkaEvent::new(payment).key(account))
                .await
                .unwrap();
        }
        let mut last = std::collections::HashMap::new();
        for b in t.take::<Balance>("balances", 3).await.unwrap() {
            last.insert(b.message.account, b.message.balance);
        }
        assert_eq!((last["ann"], last["bob"]), (70, 50));
        // The partitions-assigned hook ran under the Tester too: the app owns and
        // loaded every partition of `payments`.
        let books = t.state::<Books>().unwrap();
        assert_eq!(books.partitions(), [0, 1, 2]);
        assert_eq!(books.balance("ann"), Some(70));
        t.stop().await.unwrap();
    }
    // ANCHOR_END: balances
}
