//! The AsyncAPI document of an app with the less common shapes: generic and nested
//! types, raw payloads, pinned and secure brokers, ids that need cleaning, keyless
//! producers, dead letters. It must stay valid for the official parser.

use std::path::Path;

use fastkafka::prelude::*;
use fastkafka::security::{OAuth, Oidc, Security};
use serde_json::{json, Value};

/// A wrapper shared by two messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
struct Envelope<T> {
    /// When it was sent (ms since the epoch).
    sent_at: u64,
    /// What it carries.
    body: T,
}

/// A temperature reading. <b>bold</b> & "quoted"
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
struct Reading {
    /// Degrees Celsius.
    #[schemars(example = 21.5)]
    celsius: f64,
    /// The sensor's kind.
    kind: Kind,
}

/// What measured it.
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Indoor,
    Outdoor,
}

/// Forwards readings, wrapped, without a key.
#[produces(topic = "sensors.readings.v2", broker = "secure")]
async fn to_readings(r: Reading) -> Envelope<Reading> {
    Envelope {
        sent_at: 0,
        body: r,
    }
}

#[produces(topic = "sensors_readings_v2")]
async fn to_same_id_once_cleaned(n: u32) -> u32 {
    n
}

/// Reads the raw firmware blobs.
#[consumes(topic = "firmware", dead_letter = "firmware_dlq")]
async fn on_firmware(blob: Vec<u8>) {
    let _ = blob;
}

/// Text sent as a JSON string (`"on"`, quotes included).
#[consumes(topic = "switches", decoder = "json")]
async fn on_switch(_state: String) {}

#[consumes(topic = "sensors.readings.v2", broker = "secure")]
async fn on_readings(batch: Vec<Envelope<Reading>>) {
    let _ = batch;
}

// Headers declared on both sides of one topic: one message, both sets of headers.

/// Alerts, with why they fired in a header.
#[produces(
    topic = "alerts",
    header(name = "reason", description = "Why the alert fired", enum = ["hot", "cold"], required),
    header(name = "sensor.kind", description = "What measured it", schema = Kind),
)]
async fn to_alerts(celsius: f64) -> KafkaEvent<f64> {
    KafkaEvent::new(celsius).header("reason", "hot")
}

#[consumes(
    topic = "alerts",
    header(name = "trace-id", description = "Set by the tracing proxy <b>"),
    header(name = "attempt", schema = u32),
    header(name = "reason", description = "Read to route the alert")
)]
async fn on_alerts(celsius: f64, meta: EventMetadata) {
    let _ = (celsius, meta);
}

// Producers that place their records by different rules.

/// Even numbers to partition 0, odd ones to 1; no key: 0.
fn by_parity(key: Option<&[u8]>, _partition_count: i32) -> i32 {
    key.map_or(0, |k| i32::from(k.last().copied().unwrap_or(0) % 2))
}

#[produces(topic = "placement.keyed")]
async fn to_keyed(n: u32) -> KafkaEvent<u32> {
    KafkaEvent::new(n).key(n.to_string())
}

#[produces(topic = "placement.partitioned", partitioner = by_parity)]
async fn to_partitioned(n: u32) -> KafkaEvent<u32> {
    KafkaEvent::new(n).key(n.to_string())
}

#[produces(topic = "placement.keyless", keyless = "round_robin")]
async fn to_round_robin(n: u32) -> u32 {
    n
}

#[produces(topic = "placement.keyless_partitioned", partitioner = by_parity)]
async fn to_keyless_partitioned(n: u32) -> u32 {
    n
}

#[produces(topic = "placement.mixed")]
async fn to_mixed_by_hash(n: u32) -> KafkaEvent<u32> {
    KafkaEvent::new(n).key(n.to_string())
}

#[produces(topic = "placement.mixed", partitioner = by_parity)]
async fn to_mixed_by_parity(n: u32) -> KafkaEvent<u32> {
    KafkaEvent::new(n).key(n.to_string())
}

fn app() -> FastKafka {
    FastKafka::builder()
        .title("Sensors <script>")
        .broker(
            "secure",
            Broker::new("kafka.example.com", 9093)
                .address("kafka2.example.com", 9093)
                .description("TLS and SASL")
                .security(Security::SaslSsl {
                    mechanism: "SCRAM-SHA-512".into(),
                    username: "u".into(),
                    password: "p".into(),
                }),
        )
        .broker("local.dev", Broker::new("localhost", 9092))
        .broker(
            "cloud",
            Broker::new("kafka.cloud.example", 9092).security(Security::OAuthBearer(OAuth::Oidc(
                Oidc::new(
                    "https://idp.example/oauth2/token",
                    "sensors",
                    "hunter2-oidc",
                )
                .scope("kafka"),
            ))),
        )
        .broker(
            "company",
            Broker::new("kafka.company.example", 9092).security(Security::OAuthBearer(
                OAuth::callback(|_| Err("not called by the docs".into())),
            )),
        )
        .broker(
            "mtls",
            Broker::new("kafka.mtls.example", 9093)
                .security(Security::Ssl)
                .client_certificate_pem("-----BEGIN CERTIFICATE-----", "hunter2-private-key")
                .key_password("hunter2-key-password"),
        )
        .broker(
            "legacy",
            Broker::new("kafka.legacy.example", 9094).security(Security::SaslSsl {
                mechanism: "PLAIN".into(),
                username: "u".into(),
                password: "hunter2-plain".into(),
            }),
        )
        .build()
}

#[test]
fn uncommon_shapes_are_documented_and_valid() {
    let doc = app().asyncapi();

    // Servers: ids cleaned, TLS shown as kafka-secure.
    assert_eq!(doc["servers"]["secure"]["protocol"], "kafka-secure");
    assert_eq!(doc["servers"]["secure"]["host"], "kafka.example.com:9093");
    // A broker with two bootstrap addresses: one server per address, alike but for
    // the host, each saying which it is.
    let second = &doc["servers"]["secure_2"];
    assert_eq!(second["host"], "kafka2.example.com:9093");
    assert_eq!(second["protocol"], "kafka-secure");
    assert_eq!(second["security"], doc["servers"]["secure"]["security"]);
    assert_eq!(
        second["description"],
        "TLS and SASL (Bootstrap address 2 of 2 of broker `secure`.)"
    );
    assert_eq!(doc["servers"]["local_dev"]["protocol"], "kafka");

    // Two topics whose ids would clash get distinct ids and keep their addresses.
    let channels = doc["channels"].as_object().unwrap();
    let address = |id: &str| channels[id]["address"].as_str().unwrap().to_string();
    assert_eq!(address("sensors_readings_v2"), "sensors.readings.v2");
    assert_eq!(address("sensors_readings_v2_2"), "sensors_readings_v2");
    assert_eq!(
        channels["sensors_readings_v2"]["bindings"]["kafka"]["topic"],
        "sensors.readings.v2"
    );
    // Pinned to the secure broker.
    assert_eq!(
        channels["sensors_readings_v2"]["servers"],
        json!([{"$ref": "#/servers/secure"}, {"$ref": "#/servers/secure_2"}])
    );

    // (A documented field of a named type: draft-07 keeps the description beside an
    // `allOf` around the `$ref`.)
    // The generic wrapper is one message (produced and consumed as a batch) and its
    // types are defined once.
    let messages = channels["sensors_readings_v2"]["messages"]
        .as_object()
        .unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let (name, message) = messages.iter().next().unwrap();
    assert_eq!(name, "Envelope");
    assert_eq!(
        message["payload"],
        json!({"$ref": "#/components/schemas/Envelope"})
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert_eq!(
        schemas["Envelope"]["properties"]["body"]["allOf"][0]["$ref"],
        "#/components/schemas/Reading"
    );
    assert_eq!(
        schemas["Reading"]["properties"]["kind"]["allOf"][0]["$ref"],
        "#/components/schemas/Kind"
    );
    assert_eq!(
        message["examples"][0]["payload"],
        json!({"sent_at": 0, "body": {"celsius": 21.5, "kind": "indoor"}})
    );
    // The producer sets no key but a consumer reads the topic: the key is optional.
    assert_eq!(
        message["bindings"]["kafka"]["key"]["type"],
        json!(["string", "null"])
    );
    // A keyless producer alone: no key.
    let plain = &channels["sensors_readings_v2_2"]["messages"]["u32"];
    assert_eq!(plain["bindings"]["kafka"]["key"]["type"], "null");
    assert_eq!(plain["payload"]["type"], "integer");

    // Raw bytes, and the dead-letter topic noted on the consumer.
    let firmware = &channels["firmware"]["messages"]["Bytes"];
    assert_eq!(firmware["contentType"], "application/octet-stream");
    let on_firmware = &doc["operations"]["on_firmware"];
    assert_eq!(on_firmware["action"], "receive");
    assert!(on_firmware["description"]
        .as_str()
        .unwrap()
        .contains("dead-letter topic `firmware_dlq`"));
    assert_eq!(
        on_firmware["bindings"]["kafka"]["groupId"]["enum"],
        json!(["sensors-script"])
    );

    // The dead-letter topic is a channel the app writes.
    let dead = &channels["firmware_dlq"]["messages"]["DeadLetter"];
    assert_eq!(
        dead["headers"]["properties"]["fastkafka.error.stage"]["enum"],
        json!(["decode", "handler", "output"])
    );
    assert_eq!(
        doc["operations"]["on_firmware_dead_letter"]["action"],
        "send"
    );

    // `decoder = "json"` on a String: a JSON string, not plain text.
    let switch = &channels["switches"]["messages"]["JsonText"];
    assert_eq!(switch["contentType"], "application/json");
    assert_eq!(switch["payload"]["type"], "string");

    // Secured servers name their scheme; the schemes hold no secret.
    let security = |server: &str| doc["servers"][server]["security"].clone();
    let scheme = |id: &str| doc["components"]["securitySchemes"][id].clone();
    assert_eq!(
        security("secure"),
        json!([{"$ref": "#/components/securitySchemes/scramSha512"}])
    );
    assert_eq!(scheme("scramSha512")["type"], "scramSha512");
    assert_eq!(
        security("legacy"),
        json!([{"$ref": "#/components/securitySchemes/plain"}])
    );
    assert_eq!(
        security("mtls"),
        json!([{"$ref": "#/components/securitySchemes/X509"}])
    );
    assert_eq!(
        security("cloud"),
        json!([{"$ref": "#/components/securitySchemes/oauth2"}])
    );
    assert_eq!(
        scheme("oauth2")["flows"]["clientCredentials"]["tokenUrl"],
        "https://idp.example/oauth2/token"
    );
    assert_eq!(scheme("oauth2")["scopes"], json!(["kafka"]));
    // Another OAuth broker, with another token source: a scheme of its own.
    assert_eq!(
        security("company"),
        json!([{"$ref": "#/components/securitySchemes/oauth2_company"}])
    );
    assert!(security("local_dev").is_null());
    let text = serde_json::to_string(&doc).unwrap();
    assert!(!text.contains("hunter2"), "a secret is in the document");

    // Valid for the official parser.
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("asyncapi-uncommon.json");
    std::fs::write(&file, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    fastkafka_test_support::asyncapi::validate(&[file]);

    // The document is the same every time.
    assert_eq!(doc, app().asyncapi());
    let _: Value = doc;
}

#[test]
fn declared_headers_are_the_messages_headers_schema() {
    let doc = app().asyncapi();
    let messages = doc["channels"]["alerts"]["messages"].as_object().unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    // The producer's headers and the consumer's; a header both declare is described
    // as the producer declares it, since its records carry it. `schema = T` of a named type refers to its definition.
    assert_eq!(
        messages["f64"]["headers"],
        json!({
            "type": "object",
            "properties": {
                "reason": {
                    "type": "string",
                    "enum": ["hot", "cold"],
                    "description": "Why the alert fired"
                },
                "sensor.kind": {
                    "allOf": [{"$ref": "#/components/schemas/Kind"}],
                    "description": "What measured it"
                },
                "trace-id": {"type": "string", "description": "Set by the tracing proxy <b>"},
                "attempt": {"type": "integer", "format": "uint32", "minimum": 0}
            },
            "required": ["reason"]
        })
    );
    assert_eq!(
        doc["components"]["schemas"]["Kind"]["enum"],
        json!(["indoor", "outdoor"])
    );
    // A message without declared headers has no `headers`.
    assert!(doc["channels"]["placement_keyed"]["messages"]["u32"]
        .get("headers")
        .is_none());
}

#[test]
fn each_producer_documents_where_its_records_go() {
    let doc = app().asyncapi();
    let says = |operation: &str| {
        doc["operations"][operation]["description"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let key = |channel: &str, message: &str| {
        doc["channels"][channel]["messages"][message]["bindings"]["kafka"]["key"]["description"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // Keyed, default rule: pinned, else murmur2 of the key, else the keyless strategy
    // (the app's default, sticky).
    let keyed = says("to_keyed");
    assert!(
        keyed.contains("pinned with KafkaEvent::partition goes to that partition"),
        "{keyed}"
    );
    assert!(
        keyed.contains("murmur2(key) modulo the partition count, as the Java client"),
        "{keyed}"
    );
    assert!(
        keyed.contains("records without a key are placed by the keyless strategy `sticky`"),
        "{keyed}"
    );
    assert!(key("placement_keyed", "u32").contains("murmur2"));

    // A custom partitioner: named, and no murmur2 promise anywhere.
    let partitioned = says("to_partitioned");
    assert!(
        partitioned.contains("pinned with KafkaEvent::partition"),
        "{partitioned}"
    );
    assert!(
        partitioned.contains("the custom partitioner `by_parity`"),
        "{partitioned}"
    );
    assert!(!partitioned.contains("murmur2"), "{partitioned}");
    let partitioned_key = key("placement_partitioned", "u32");
    assert!(partitioned_key.contains("`by_parity`"), "{partitioned_key}");
    assert!(!partitioned_key.contains("murmur2"), "{partitioned_key}");

    // Keyless producers: their strategy, and no key promise.
    let round_robin = says("to_round_robin");
    assert!(round_robin.contains("carry no key"), "{round_robin}");
    assert!(
        round_robin.contains("`round_robin`: to partitions 0, 1, 2, … in turn"),
        "{round_robin}"
    );
    assert!(!round_robin.contains("murmur2"), "{round_robin}");
    let sticky = says("to_readings");
    assert!(sticky.contains("carry no key"), "{sticky}");
    assert!(sticky.contains("`sticky`"), "{sticky}");
    let keyless_partitioned = says("to_keyless_partitioned");
    assert!(
        keyless_partitioned
            .contains("the custom partitioner `by_parity` chooses each record's partition"),
        "{keyless_partitioned}"
    );
    assert!(
        !keyless_partitioned.contains("keyless strategy"),
        "{keyless_partitioned}"
    );

    // Two producers with different rules on one topic: the shared key says neither.
    let mixed = key("placement_mixed", "u32");
    assert!(mixed.contains("different rules"), "{mixed}");
    assert!(says("to_mixed_by_hash").contains("murmur2"));
    assert!(says("to_mixed_by_parity").contains("`by_parity`"));

    // The app's keyless strategy is the default of producers that do not choose one.
    let random = FastKafka::builder()
        .keyless_strategy(fastkafka::KeylessStrategy::Random)
        .build()
        .asyncapi();
    let keyed = random["operations"]["to_keyed"]["description"]
        .as_str()
        .unwrap();
    assert!(
        keyed.contains("keyless strategy `random`: each to a random partition"),
        "{keyed}"
    );
    let own = random["operations"]["to_round_robin"]["description"]
        .as_str()
        .unwrap();
    assert!(own.contains("`round_robin`"), "{own}");
}
