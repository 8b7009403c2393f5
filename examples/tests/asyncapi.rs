//! Every example app's AsyncAPI document, as `APP asyncapi` prints it: valid for the
//! official AsyncAPI parser, free of Rust wrappers, and matching the annotated functions
//! and the message types.

use std::path::Path;
use std::process::Command;

use fastkafka_test_support::asyncapi::validate;
use serde_json::{json, Value};

/// Every example app binary; `every_example_is_checked` keeps this list complete.
const EXAMPLES: &[(&str, &str)] = &[
    ("account_balances", env!("CARGO_BIN_EXE_account_balances")),
    ("byte_keys", env!("CARGO_BIN_EXE_byte_keys")),
    (
        "custom_partitioner",
        env!("CARGO_BIN_EXE_custom_partitioner"),
    ),
    (
        "explicit_partitions",
        env!("CARGO_BIN_EXE_explicit_partitions"),
    ),
    ("greeting_counter", env!("CARGO_BIN_EXE_greeting_counter")),
    ("hello_app", env!("CARGO_BIN_EXE_hello_app")),
    (
        "multi_partition_writer",
        env!("CARGO_BIN_EXE_multi_partition_writer"),
    ),
    ("order_service", env!("CARGO_BIN_EXE_order_service")),
    ("routing_table", env!("CARGO_BIN_EXE_routing_table")),
    ("string_keys", env!("CARGO_BIN_EXE_string_keys")),
    ("uppercase_app", env!("CARGO_BIN_EXE_uppercase_app")),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn asyncapi(binary: &str, format: &str) -> String {
    let out = Command::new(binary)
        .args(["asyncapi", "--format", format])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{binary} asyncapi: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn document(name: &str) -> Value {
    let (_, binary) = EXAMPLES.iter().find(|(n, _)| *n == name).unwrap();
    serde_json::from_str(&asyncapi(binary, "json")).unwrap()
}

#[test]
fn every_example_is_checked() {
    let mut bins: Vec<String> = std::fs::read_dir(root().join("src/bin"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    bins.sort();
    let listed: Vec<&str> = EXAMPLES.iter().map(|(n, _)| *n).collect();
    assert_eq!(bins, listed, "add the new example to EXAMPLES");
}

#[test]
fn every_example_document_is_valid_asyncapi_3_in_json_and_yaml() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("asyncapi-examples");
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (name, binary) in EXAMPLES {
        for (format, ext) in [("json", "json"), ("yaml", "yml")] {
            let text = asyncapi(binary, format);
            assert_eq!(
                text,
                asyncapi(binary, format),
                "{name}: the document changes between runs"
            );
            let file = dir.join(format!("{name}.{ext}"));
            std::fs::write(&file, text).unwrap();
            files.push(file);
        }
    }
    validate(&files);
}

#[test]
fn documents_show_messages_never_their_rust_wrappers() {
    // Descriptions are prose (a doc comment may well say `Vec<u8>`); everything else,
    // names, titles, schemas and ids, must show the message type.
    fn without_descriptions(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("description");
                map.values_mut().for_each(without_descriptions);
            }
            Value::Array(items) => items.iter_mut().for_each(without_descriptions),
            _ => {}
        }
    }
    for (name, _) in EXAMPLES {
        let mut doc = document(name);
        without_descriptions(&mut doc);
        let text = doc.to_string();
        for wrapper in ["KafkaEvent", "Vec<", "Vec_", "PendingDelivery", "Result"] {
            assert!(
                !text.contains(wrapper),
                "{name} mentions `{wrapper}`:\n{text}"
            );
        }
    }
    // The batch producer `-> KafkaEvent<Vec<OrderLine>>` and the batch consumer
    // `Vec<Confirmation>` show the element's message.
    let doc = document("order_service");
    assert_eq!(
        doc["channels"]["order-lines"]["messages"]["OrderLine"]["payload"],
        json!({"$ref": "#/components/schemas/OrderLine"})
    );
    assert_eq!(
        doc["channels"]["confirmations"]["messages"]["Confirmation"]["payload"],
        json!({"$ref": "#/components/schemas/Confirmation"})
    );
}

/// `(function, "send" | "receive", topic)` for each `#[produces]` / `#[consumes]` in
/// an example's source, plus `(function_dead_letter, "send", topic)` for a consumer's
/// `dead_letter = "topic"`: what its document must show.
fn annotated_functions(source: &str) -> Vec<(String, &'static str, String)> {
    let mut found = Vec::new();
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        let action = if line.starts_with("#[produces") {
            "send"
        } else if line.starts_with("#[consumes") {
            "receive"
        } else {
            continue;
        };
        let rest = &lines[i..];
        let end = rest.iter().position(|l| l.contains("fn ")).unwrap();
        let attribute = rest[..end].join(" ");
        let function = rest[end]
            .split("fn ")
            .nth(1)
            .unwrap()
            .split('(')
            .next()
            .unwrap()
            .to_string();
        let topic = match attribute.split("topic = \"").nth(1) {
            Some(t) => t.split('"').next().unwrap().to_string(),
            None => function
                .strip_prefix("to_")
                .or_else(|| function.strip_prefix("on_"))
                .unwrap()
                .to_string(),
        };
        if let Some(dlq) = attribute.split("dead_letter = \"").nth(1) {
            let dlq = dlq.split('"').next().unwrap().to_string();
            found.push((format!("{function}_dead_letter"), "send", dlq));
        }
        found.push((function, action, topic));
    }
    found
}

#[test]
fn topics_and_operations_match_the_annotated_functions() {
    for (name, _) in EXAMPLES {
        let source = std::fs::read_to_string(root().join(format!("src/bin/{name}.rs"))).unwrap();
        let expected = annotated_functions(&source);
        assert!(!expected.is_empty(), "{name} has no annotated function");
        let doc = document(name);
        let operations = doc["operations"].as_object().unwrap();
        assert_eq!(operations.len(), expected.len(), "{name}: {operations:?}");
        let mut topics: Vec<&str> = expected.iter().map(|(_, _, t)| t.as_str()).collect();
        topics.sort();
        topics.dedup();
        let mut addresses: Vec<&str> = doc["channels"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c["address"].as_str().unwrap())
            .collect();
        addresses.sort();
        assert_eq!(addresses, topics, "{name}: one channel per topic");
        for (function, action, topic) in &expected {
            let op = &operations[function.as_str()];
            assert_eq!(op["action"], *action, "{name}::{function}");
            let channel_ref = op["channel"]["$ref"].as_str().unwrap();
            let channel_id = channel_ref.strip_prefix("#/channels/").unwrap();
            assert_eq!(doc["channels"][channel_id]["address"], *topic);
            // The operation's message is one of its channel's messages.
            let message_ref = op["messages"][0]["$ref"].as_str().unwrap();
            assert!(message_ref.starts_with(&format!("{channel_ref}/messages/")));
        }
    }
}

#[test]
fn messages_carry_the_fields_descriptions_and_examples_of_the_rust_types() {
    let hello = document("hello_app");
    assert_eq!(hello["info"]["title"], "Demo Kafka producer app");
    assert_eq!(
        hello["info"]["description"],
        "Sends a keyed greeting every second"
    );
    assert_eq!(hello["servers"]["demo_broker"]["host"], "localhost:9092");
    assert_eq!(hello["servers"]["demo_broker"]["protocol"], "kafka");
    assert_eq!(
        hello["servers"]["demo_broker"]["description"],
        "local demo kafka broker"
    );
    let message = &hello["channels"]["hello_world"]["messages"]["HelloWorld"];
    assert_eq!(message["description"], "A greeting.");
    assert_eq!(
        message["examples"],
        json!([{"name": "example1", "payload": {"msg": "Hello"}}])
    );
    assert_eq!(message["bindings"]["kafka"]["key"]["type"], "string");
    let schema = &hello["components"]["schemas"]["HelloWorld"];
    assert_eq!(
        schema["properties"]["msg"],
        json!({"type": "string", "description": "Demo hello world message", "examples": ["Hello"]})
    );
    assert_eq!(schema["required"], json!(["msg"]));
    assert!(hello["operations"]["to_hello_world"]["description"]
        .as_str()
        .unwrap()
        .starts_with("Sends a greeting to the `hello_world` topic, always with the key `my_key`.\n\nWhere records go: "));

    let orders = document("order_service");
    assert_eq!(
        orders["info"]["contact"],
        json!({"name": "Orders team", "url": "https://example.com/orders", "email": "orders@example.com"})
    );
    assert_eq!(orders["info"]["version"], "1.2.0");
    let schemas = orders["components"]["schemas"].as_object().unwrap();
    let mut names: Vec<&str> = schemas.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["Confirmation", "Order", "OrderLine"]);
    // OrderLine is defined once and referenced from Order and from its own message.
    assert_eq!(
        schemas["Order"]["properties"]["lines"]["items"],
        json!({"$ref": "#/components/schemas/OrderLine"})
    );
    assert_eq!(
        schemas["Order"]["properties"]["id"]["description"],
        "The order's id, unique per customer."
    );
    assert_eq!(
        schemas["Order"]["properties"]["id"]["examples"],
        json!([42])
    );
    let order = &orders["channels"]["orders_v1"];
    assert_eq!(order["address"], "orders.v1");
    assert_eq!(order["bindings"]["kafka"]["partitions"], 3);
    assert_eq!(
        order["messages"]["Order"]["examples"][0]["payload"],
        json!({"id": 42, "customer": "alice", "lines": [{"sku": "BOOK-1", "quantity": 2}]})
    );
    // A consumer's key is optional.
    assert_eq!(
        order["messages"]["Order"]["bindings"]["kafka"]["key"]["type"],
        json!(["string", "null"])
    );
    // The type's own example becomes the message example.
    assert_eq!(
        orders["channels"]["confirmations"]["messages"]["Confirmation"]["examples"][0]["payload"],
        json!({"order_id": 42, "accepted": true, "reason": null})
    );
    // The header `to_confirmations` declares, and sets with `KafkaEvent::header`.
    assert_eq!(
        orders["channels"]["confirmations"]["messages"]["Confirmation"]["headers"],
        json!({
            "type": "object",
            "properties": {
                "order-status": {
                    "type": "string",
                    "enum": ["accepted", "refused"],
                    "description": "The answer, readable without decoding the payload."
                }
            }
        })
    );
    assert_eq!(
        orders["operations"]["on_orders"]["bindings"]["kafka"]["groupId"],
        json!({"type": "string", "enum": ["order-service"]})
    );
    assert_eq!(
        orders["operations"]["on_confirmations"]["bindings"]["kafka"]["groupId"]["enum"],
        json!(["order-audit"])
    );
    assert!(orders["operations"]["to_order_lines"]["description"]
        .as_str()
        .unwrap()
        .starts_with("The lines of an accepted order, for the warehouse"));

    // The app's own group, when a consumer names none.
    let upper = document("uppercase_app");
    assert_eq!(
        upper["operations"]["on_hello_world"]["bindings"]["kafka"]["groupId"]["enum"],
        json!(["uppercase-app"])
    );
    // No named broker: the default one.
    assert_eq!(upper["servers"]["localhost"]["host"], "localhost:9092");
    // The dead-letter topic is documented with the headers the consumer really adds.
    let dead = &upper["channels"]["hello_world_dlq"]["messages"]["DeadLetter"];
    assert_eq!(dead["contentType"], "application/octet-stream");
    let headers = dead["headers"]["properties"].as_object().unwrap();
    {
        use fastkafka::dead_letter_headers as h;
        let all = [
            h::ERROR,
            h::STAGE,
            h::TOPIC,
            h::PARTITION,
            h::OFFSET,
            h::TOMBSTONE,
            h::ORIGINAL_SIZE,
            h::DEAD_LETTER_ERROR,
        ];
        for name in all {
            assert!(
                headers.contains_key(name),
                "{name} missing from {headers:?}"
            );
        }
        assert_eq!(headers.len(), all.len(), "{headers:?}");
        assert_eq!(headers[h::STAGE]["enum"], json!(h::STAGES));
        // Only the headers every dead letter carries are required.
        assert_eq!(
            dead["headers"]["required"],
            json!([h::ERROR, h::STAGE, h::TOPIC, h::PARTITION, h::OFFSET])
        );
    }
    assert!(
        upper["operations"]["on_hello_world_dead_letter"]["description"]
            .as_str()
            .unwrap()
            .contains("`hello_world_dlq`")
    );
    // Raw payloads are text and bytes, not JSON.
    let bytes = document("byte_keys");
    let message = &bytes["channels"]["hello-world-2"]["messages"]["Bytes"];
    assert_eq!(message["contentType"], "application/octet-stream");
    assert_eq!(message["payload"]["format"], "binary");
}

#[test]
fn each_example_producer_says_where_its_records_go() {
    let says = |example: &str, operation: &str| -> String {
        document(example)["operations"][operation]["description"]
            .as_str()
            .unwrap_or_else(|| panic!("{example} has no operation {operation}"))
            .to_string()
    };
    // Keyed by the Java rule.
    let hello = says("hello_app", "to_hello_world");
    assert!(
        hello.contains("murmur2(key) modulo the partition count, as the Java client"),
        "{hello}"
    );
    // A custom partitioner, by name, and no murmur2 promise.
    let custom = says("custom_partitioner", "send_numbered");
    assert!(
        custom.contains("the custom partitioner `by_number`"),
        "{custom}"
    );
    assert!(!custom.contains("murmur2"), "{custom}");
    let key = &document("custom_partitioner")["channels"]["hello-world-4"]["messages"]["Text"]
        ["bindings"]["kafka"]["key"]["description"];
    assert!(!key.as_str().unwrap().contains("murmur2"), "{key}");
    // Pinned partitions come first.
    let pinned = says("explicit_partitions", "send_to_partition");
    assert!(
        pinned.contains("a record pinned with KafkaEvent::partition goes to that partition"),
        "{pinned}"
    );
    // The app's keyless strategy for producers that do not choose one.
    let routing = says("routing_table", "to_user_events");
    assert!(
        routing.contains("keyless strategy `round_robin`"),
        "{routing}"
    );
    assert!(says("string_keys", "send_keyed").contains("keyless strategy `sticky`"));
}
