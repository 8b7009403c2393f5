//! `fastkafka docs generate|serve`, as a user runs them: the files written, the page a
//! browser shows, the publish button reaching the broker, and the errors.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{example_bin, fastkafka_bin, Watched};
use fastkafka::embedded::EmbeddedBroker;
use fastkafka::testing::read_topic;
use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn generate(app: &Path, out: &Path) -> std::process::Output {
    Command::new(fastkafka_bin())
        .args(["docs", "generate"])
        .arg(app)
        .arg("--output-dir")
        .arg(out)
        .output()
        .unwrap()
}

/// `fastkafka docs serve ... --port 0`, and the URL it prints.
fn serve(app: &str, out: &Path, extra: &[&str]) -> (Watched, String) {
    let watched = Watched::spawn(
        Command::new(fastkafka_bin())
            .args(["docs", "serve"])
            .arg(example_bin(app))
            .arg("--output-dir")
            .arg(out)
            .args(["--port", "0"])
            .args(extra),
    );
    let line = watched
        .wait_for_lines(
            |l| l.contains("serving the docs at"),
            1,
            Duration::from_secs(30),
        )
        .remove(0);
    let url = line
        .split("at ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    (watched, url)
}

/// A plain HTTP/1.1 request; returns the status code and the body.
fn http(url: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

/// Sends `request` as written; returns the whole response (status line, headers, body).
fn http_raw(url: &str, request: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn generate_writes_the_spec_and_a_self_contained_page() {
    let out = temp_dir("docs-generate");
    let result = generate(&example_bin("order_service"), &out);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let stdout = String::from_utf8_lossy(&result.stdout);
    for file in ["spec/asyncapi.yml", "spec/asyncapi.json", "docs/index.html"] {
        assert!(out.join(file).is_file(), "{file} missing");
        assert!(stdout.contains(file), "{stdout}");
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("spec/asyncapi.json")).unwrap())
            .unwrap();
    assert_eq!(json["asyncapi"], "3.0.0");
    let yaml = std::fs::read_to_string(out.join("spec/asyncapi.yml")).unwrap();
    assert!(yaml.starts_with("asyncapi: \"3.0.0\"\n"), "{yaml}");

    let page = std::fs::read_to_string(out.join("docs/index.html")).unwrap();
    // Nothing is loaded from anywhere: no external scripts, styles or fonts.
    for external in ["<script src", "<link", "@import", "url("] {
        assert!(!page.contains(external), "the page loads `{external}`");
    }
    for visible in [
        "Order service",
        "Topic <code>orders.v1</code>",
        "<code>on_orders</code>",
        "consumer group <code>order-service</code>",
        "Message <code>Order</code>",
        "The order&#39;s id, unique per customer.",
        "<code>lines[].sku</code>",
        "Kafka on your machine",
        // The header `to_confirmations` declares.
        "<h5>Headers</h5>",
        "<td><code>order-status</code></td><td><code>one of &quot;accepted&quot;, &quot;refused&quot;</code></td><td>no</td><td>The answer, readable without decoding the payload.</td>",
    ] {
        assert!(page.contains(visible), "the page lacks {visible}");
    }
    // Read-only unless served with --kafka-broker.
    assert!(page.contains(r#"id="fastkafka-publish">null</script>"#));
}

fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    assert!(
        path.is_file(),
        "headless Chromium is missing: install it with `apt-get update && apt-get install -y chromium`"
    );
    path
}

/// Loads `url` in headless Chromium; returns the DOM after scripts ran.
fn browse(url: &str, screenshot: Option<&Path>) -> String {
    let profile = temp_dir(&format!(
        "chromium-profile-{}",
        screenshot.map_or("dom", |_| "shot")
    ));
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    match screenshot {
        Some(file) => command
            .arg(format!("--screenshot={}", file.display()))
            .arg("--window-size=1280,1500"),
        None => command.args(["--virtual-time-budget=3000", "--dump-dom"]),
    };
    let out = command.arg(url).output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn served_page_shows_channels_messages_and_fields_in_a_browser() {
    let broker = EmbeddedBroker::start().unwrap();
    let out = temp_dir("docs-browser");
    let (mut server, url) = serve(
        "order_service",
        &out,
        &["--kafka-broker", broker.bootstrap_servers()],
    );

    let dom = browse(&format!("{url}/"), None);
    for visible in [
        "orders.v1",
        "Message <code>Order</code>",
        "on_orders",
        "The order's id, unique per customer.",
        "Who placed the order.",
        "Publish example",
    ] {
        assert!(dom.contains(visible), "the page lacks {visible}:\n{dom}");
    }
    // The script showed the publish form on the consumed topic, naming the broker.
    let form = dom
        .split("<form class=\"publish\"")
        .nth(1)
        .expect("a publish form");
    let form_tag = form.split('>').next().unwrap();
    assert!(
        !form_tag.contains("hidden"),
        "the form is still hidden: {form_tag}"
    );
    assert!(form.contains(&format!(
        "<span class=\"broker\">{}</span>",
        broker.bootstrap_servers()
    )));

    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target/asyncapi-docs.png");
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&screenshot);
    browse(&format!("{url}/"), Some(&screenshot));
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);

    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(10)).success());
}

#[test]
fn publish_button_sends_the_example_to_the_topic_the_app_consumes() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("orders.v1", 3).unwrap();
    let out = temp_dir("docs-publish");
    let (mut server, url) = serve(
        "order_service",
        &out,
        &["--kafka-broker", broker.bootstrap_servers()],
    );
    let (_, page) = http(&url, "GET", "/", "text/plain", "");
    assert!(page.contains(&format!(
        r#"id="fastkafka-publish">{{"broker":"{}"}}</script>"#,
        broker.bootstrap_servers()
    )));

    // What the button sends: the message example, edited, with a key.
    let example = r#"{"id": 7, "customer": "bob", "lines": []}"#;
    let request = serde_json::json!({"topic": "orders.v1", "key": "bob", "payload": example});
    let (status, body) = http(
        &url,
        "POST",
        "/publish",
        "application/json",
        &request.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let delivery: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(delivery["topic"], "orders.v1");

    let records = read_topic(
        broker.bootstrap_servers(),
        "orders.v1",
        1,
        Duration::from_secs(15),
    )
    .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].payload_text(), example);
    assert_eq!(records[0].key.as_deref(), Some(&b"bob"[..]));
    assert_eq!(Value::from(records[0].partition), delivery["partition"]);
    assert_eq!(Value::from(records[0].offset), delivery["offset"]);

    // Only the topics the app consumes, and only JSON requests.
    let (status, body) = http(
        &url,
        "POST",
        "/publish",
        "application/json",
        r#"{"topic": "order-lines", "payload": "{}"}"#,
    );
    assert_eq!(status, 400);
    assert!(body.contains("does not consume `order-lines`"), "{body}");
    let (status, _) = http(&url, "POST", "/publish", "text/plain", &request.to_string());
    assert_eq!(status, 415);

    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(10)).success());
}

#[test]
fn without_a_broker_the_page_is_read_only() {
    let out = temp_dir("docs-read-only");
    let (mut server, url) = serve("order_service", &out, &[]);
    let (status, page) = http(&url, "GET", "/", "text/plain", "");
    assert_eq!(status, 200);
    assert!(page.contains(r#"id="fastkafka-publish">null</script>"#));
    let (status, body) = http(
        &url,
        "POST",
        "/publish",
        "application/json",
        r#"{"topic": "orders.v1", "payload": "{}"}"#,
    );
    assert_eq!(status, 404);
    assert!(body.contains("--kafka-broker"), "{body}");
    let (status, _) = http(&url, "GET", "/../spec/asyncapi.json", "text/plain", "");
    assert_eq!(status, 404);
    let (status, spec) = http(&url, "GET", "/asyncapi.json", "text/plain", "");
    assert_eq!(status, 200);
    assert!(spec.contains("\"asyncapi\": \"3.0.0\""));
    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(10)).success());
}

fn stderr_lines(output: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_taken_port_is_one_clear_line_and_exit_code_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(fastkafka_bin())
        .args(["docs", "serve"])
        .arg(example_bin("hello_app"))
        .arg("--output-dir")
        .arg(temp_dir("docs-taken-port"))
        .args(["--port", &port])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("error: cannot listen on 127.0.0.1:{port}:")),
        "{lines:?}"
    );
    assert!(lines[0].contains("choose another --port"), "{lines:?}");
}

#[test]
fn an_unwritable_output_dir_is_one_clear_line_and_exit_code_1() {
    let blocker = temp_dir("docs-not-a-dir");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, "a file, not a directory").unwrap();
    let out = generate(&example_bin("hello_app"), &blocker);
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("error: cannot write the docs to `"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("choose another --output-dir"),
        "{lines:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = generate(Path::new("./no/such/app"), &temp_dir("docs-usage"));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr_lines(&out).len(), 1);

    let out = Command::new(fastkafka_bin())
        .args(["docs", "serve"])
        .arg(example_bin("hello_app"))
        .arg("--output-dir")
        .arg(temp_dir("docs-usage-broker"))
        .args(["--port", "0", "--kafka-broker", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("demo_broker"), "{lines:?}");
}

#[test]
fn publishing_to_the_embedded_broker_creates_the_declared_topics_first() {
    let out = temp_dir("docs-embedded");
    let (mut server, url) = serve("order_service", &out, &["--kafka-broker", "embedded"]);
    server.wait_for_lines(
        |l| l.contains("created topic orders.v1 with 3 partitions"),
        1,
        Duration::from_secs(10),
    );
    let bootstrap = server.embedded_bootstrap(Duration::from_secs(10));
    let request = serde_json::json!({"topic": "orders.v1", "payload": r#"{"id": 1, "customer": "c", "lines": []}"#});
    let (status, body) = http(
        &url,
        "POST",
        "/publish",
        "application/json",
        &request.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let records = read_topic(&bootstrap, "orders.v1", 1, Duration::from_secs(15)).unwrap();
    assert_eq!(records.len(), 1);
    assert!(records[0].key.is_none());
    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(10)).success());
}

#[test]
fn a_chunked_publish_request_reaches_the_broker() {
    let broker = EmbeddedBroker::start().unwrap();
    broker.create_topic("orders.v1", 3).unwrap();
    let out = temp_dir("docs-chunked");
    let (mut server, url) = serve(
        "order_service",
        &out,
        &["--kafka-broker", broker.bootstrap_servers()],
    );
    let example = r#"{"id": 9, "customer": "carol", "lines": []}"#;
    let body =
        serde_json::json!({"topic": "orders.v1", "key": "carol", "payload": example}).to_string();
    // The body in two chunks, as a streaming client sends it: no Content-Length.
    let (first, second) = body.split_at(body.len() / 2);
    let addr = url.trim_start_matches("http://");
    let response = http_raw(
        &url,
        &format!(
            "POST /publish HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
            first.len(),
            second.len()
        ),
    );
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    let records = read_topic(
        broker.bootstrap_servers(),
        "orders.v1",
        1,
        Duration::from_secs(15),
    )
    .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].payload_text(), example);
    assert_eq!(records[0].key.as_deref(), Some(&b"carol"[..]));
    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(10)).success());
}

#[test]
fn percent_encoded_paths_are_served_and_unknown_ones_are_not_found() {
    let out = temp_dir("docs-paths");
    let (mut server, url) = serve("order_service", &out, &[]);
    std::fs::write(out.join("docs/read me.txt"), "notes beside the page").unwrap();

    let (status, body) = http(&url, "GET", "/read%20me.txt", "text/plain", "");
    assert_eq!(status, 200);
    assert_eq!(body, "notes beside the page");
    let (_, page) = http(&url, "GET", "/", "text/plain", "");
    let (status, encoded) = http(&url, "GET", "/index%2Ehtml", "text/plain", "");
    assert_eq!(status, 200);
    assert_eq!(encoded, page);

    let addr = url.trim_start_matches("http://");
    let response = http_raw(
        &url,
        &format!("GET /no/such/file.css HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    );
    assert!(
        response.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{response}"
    );
    // A body over the limit is refused before it is read, with the status that says so.
    let response = http_raw(
        &url,
        &format!(
            "POST /publish HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 << 20
        ),
    );
    assert!(
        response.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{response}"
    );
    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(10)).success());
}

/// `APP topics` says which topics the app consumes (the ones the page publishes to) and
/// creates, from the functions and declarations themselves: order_service creates
/// `orders.v1` and consumes it, and consumes `confirmations` without creating it.
#[test]
fn the_app_lists_the_topics_it_consumes_beside_those_it_creates() {
    use fastkafka::protocol::DeclaredTopic;
    let out = Command::new(example_bin("order_service"))
        .arg("topics")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let topics: Vec<DeclaredTopic> = serde_json::from_slice(&out.stdout).unwrap();
    let topic = |topic: &str, partitions, consumed| DeclaredTopic {
        topic: topic.into(),
        partitions,
        consumed,
    };
    assert_eq!(
        topics,
        [
            topic("orders.v1", Some(3), true),
            topic("confirmations", None, true)
        ]
    );
    let out = Command::new(example_bin("uppercase_app"))
        .arg("topics")
        .output()
        .unwrap();
    let topics: Vec<DeclaredTopic> = serde_json::from_slice(&out.stdout).unwrap();
    let consumed: Vec<&str> = topics
        .iter()
        .filter(|t| t.consumed)
        .map(|t| t.topic.as_str())
        .collect();
    assert_eq!(
        consumed,
        ["hello_world"],
        "not its output or its dead letters"
    );
}
