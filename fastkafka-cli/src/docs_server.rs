//! The docs server of `fastkafka docs serve`: the generated page and spec over plain
//! HTTP/1.1, and `POST /publish` for the page's "publish example" button.
//!
//! A minimal handler on tokio's `TcpListener` rather than an HTTP framework: it serves
//! a handful of local files and one JSON endpoint to a browser on this machine, one
//! request per connection, which is about a hundred lines; hyper or axum would add a
//! dependency tree for nothing the docs need.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fastkafka::EmbeddedBroker;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::docs_html;
use crate::UsageError;

/// Largest request accepted (headers and body).
const MAX_REQUEST: usize = 1 << 20;

/// How long one request may take, publishing included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the page's examples to a broker, to the topics the app consumes only.
///
/// The app itself sends each one (`APP publish`): a broker the app names may need
/// credentials, and those never leave the app (its handshake gives the CLI names and
/// addresses only).
pub(crate) struct Publisher {
    /// The broker as the user named it, for the page and the messages.
    name: String,
    binary: PathBuf,
    /// What `APP publish --kafka-broker` gets: the name, or the embedded broker's address.
    broker_arg: String,
    topics: BTreeSet<String>,
    /// Kept alive while serving, when the broker is `embedded`.
    _embedded: Option<EmbeddedBroker>,
}

impl Publisher {
    /// Resolves `--kafka-broker NAME` as `fastkafka run` does: a broker the app names,
    /// `embedded`, `localhost` or HOST:PORT.
    pub(crate) async fn new(binary: &Path, name: &str, doc: &Value) -> anyhow::Result<Self> {
        let app = crate::app_target::handshake(binary).await?;
        let (broker_arg, embedded) = if app.names.iter().any(|n| n == name) {
            (name.to_string(), None)
        } else {
            match name {
                "embedded" => {
                    let embedded = EmbeddedBroker::start()?;
                    let bootstrap = embedded.bootstrap_servers().to_string();
                    crate::console::err(&format!(
                        "[fastkafka] started the embedded Kafka broker: bootstrap.servers={bootstrap}"
                    ));
                    crate::supervisor::create_declared_topics(&embedded, binary).await?;
                    (bootstrap, Some(embedded))
                }
                "localhost" => ("localhost".to_string(), None),
                _ if looks_like_bootstrap(name) => (name.to_string(), None),
                _ => {
                    return Err(UsageError(format!(
                        "--kafka-broker `{name}` is not a broker the app names ({}), `embedded`, `localhost` or HOST:PORT",
                        if app.names.is_empty() {
                            "it names none".to_string()
                        } else {
                            app.names.join(", ")
                        }
                    ))
                    .into())
                }
            }
        };
        Ok(Publisher {
            name: name.to_string(),
            binary: binary.to_path_buf(),
            broker_arg,
            topics: consumed_topics(doc),
            _embedded: embedded,
        })
    }

    async fn publish(&self, request: &Value) -> (u16, Value) {
        let Some(topic) = request.get("topic").and_then(Value::as_str) else {
            return (400, json!({"error": "the request names no topic"}));
        };
        if !self.topics.contains(topic) {
            return (
                400,
                json!({"error": format!("the app does not consume `{topic}`; the page publishes only to the topics it consumes")}),
            );
        }
        let Some(payload) = request.get("payload").and_then(Value::as_str) else {
            return (400, json!({"error": "the request has no payload"}));
        };
        let key = request.get("key").and_then(Value::as_str);
        match self.send(topic, key, payload).await {
            Ok(delivery) => (200, delivery),
            Err(e) => (
                502,
                json!({"error": format!("broker `{}` did not take the message: {e}", self.name)}),
            ),
        }
    }

    /// `APP publish`, the payload on its stdin; what it printed, or its error line.
    async fn send(&self, topic: &str, key: Option<&str>, payload: &str) -> anyhow::Result<Value> {
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .args([
                "publish",
                "--kafka-broker",
                &self.broker_arg,
                "--topic",
                topic,
            ])
            .args(key.map(|k| ["--key", k]).into_iter().flatten())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot run `{}`", self.binary.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(payload.as_bytes()).await?;
        }
        let out = child.wait_with_output().await?;
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).with_context(|| {
                format!("`{} publish` printed no delivery", self.binary.display())
            });
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("error: "))
            .unwrap_or("the app could not send it");
        anyhow::bail!("{line}")
    }
}

/// The topics of channels with a `receive` operation.
fn consumed_topics(doc: &Value) -> BTreeSet<String> {
    let mut topics = BTreeSet::new();
    for op in doc["operations"].as_object().into_iter().flatten() {
        if op.1["action"] != "receive" {
            continue;
        }
        let id = op.1["channel"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/channels/"))
            .unwrap_or_default();
        if let Some(address) = doc["channels"][id]["address"].as_str() {
            topics.insert(address.to_string());
        }
    }
    topics
}

/// `host:port` (or several, comma-separated), as opposed to a broker's name.
fn looks_like_bootstrap(s: &str) -> bool {
    s.split(',').all(|part| {
        part.rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
    })
}

struct Site {
    docs: PathBuf,
    spec: PathBuf,
    publisher: Option<Publisher>,
}

/// Serves until SIGINT/SIGTERM.
pub(crate) async fn serve(
    addr: SocketAddr,
    docs: PathBuf,
    spec: PathBuf,
    publisher: Option<Publisher>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr}: {e}; choose another --port or --bind")
    })?;
    let local = listener.local_addr()?;
    match &publisher {
        Some(p) => println!(
            "serving the docs at http://{local}/ with \"publish example\" to broker `{}` (Ctrl-C stops)",
            p.name
        ),
        None => println!("serving the docs at http://{local}/ (Ctrl-C stops)"),
    }
    let site = Arc::new(Site {
        docs,
        spec,
        publisher,
    });
    let shutdown = fastkafka::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let site = Arc::clone(&site);
                tokio::spawn(async move {
                    // A client that never finishes its request does not hold a task forever.
                    match tokio::time::timeout(REQUEST_TIMEOUT, handle(stream, &site)).await {
                        Ok(Err(e)) => tracing::debug!(error = %e, "docs request failed"),
                        Err(_) => tracing::debug!("docs request timed out"),
                        Ok(Ok(())) => {}
                    }
                });
            }
        }
    }
}

struct Request {
    method: String,
    path: String,
    content_type: String,
    body: Vec<u8>,
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_REQUEST {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split(' ');
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let mut content_length = 0usize;
    let mut content_type = String::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => content_length = value.trim().parse().unwrap_or(0),
                "content-type" => content_type = value.trim().to_ascii_lowercase(),
                _ => {}
            }
        }
    }
    if content_length > MAX_REQUEST {
        return Ok(None);
    }
    let mut body = buf[header_end..].to_vec();
    while body.len() < content_length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(content_length);
    Ok(Some(Request {
        method,
        path,
        content_type,
        body,
    }))
}

async fn handle(mut stream: TcpStream, site: &Site) -> std::io::Result<()> {
    let Some(request) = read_request(&mut stream).await? else {
        return respond(&mut stream, 400, "text/plain", b"bad request").await;
    };
    let path = request.path.split(['?', '#']).next().unwrap_or("/");
    match (request.method.as_str(), path) {
        ("GET", "/" | "/index.html") => {
            match tokio::fs::read_to_string(site.docs.join("index.html")).await {
                Ok(page) => {
                    let page = match &site.publisher {
                        Some(p) => page.replacen(
                            docs_html::PUBLISH_CONFIG_SLOT,
                            &docs_html::publish_config(&p.name),
                            1,
                        ),
                        None => page,
                    };
                    respond(
                        &mut stream,
                        200,
                        "text/html; charset=utf-8",
                        page.as_bytes(),
                    )
                    .await
                }
                Err(_) => respond(&mut stream, 404, "text/plain", b"not found").await,
            }
        }
        ("GET", "/config") => {
            let config = json!({
                "publish": site.publisher.is_some(),
                "broker": site.publisher.as_ref().map(|p| p.name.clone()),
            });
            respond(
                &mut stream,
                200,
                "application/json",
                config.to_string().as_bytes(),
            )
            .await
        }
        ("GET", "/asyncapi.yml" | "/asyncapi.json") => {
            let file = site.spec.join(&path[1..]);
            let kind = if path.ends_with("json") {
                "application/json"
            } else {
                "application/yaml"
            };
            match tokio::fs::read(file).await {
                Ok(bytes) => respond(&mut stream, 200, kind, &bytes).await,
                Err(_) => respond(&mut stream, 404, "text/plain", b"not found").await,
            }
        }
        ("GET", _) => match static_file(&site.docs, path) {
            Some(file) => match tokio::fs::read(&file).await {
                Ok(bytes) => respond(&mut stream, 200, content_type_of(&file), &bytes).await,
                Err(_) => respond(&mut stream, 404, "text/plain", b"not found").await,
            },
            None => respond(&mut stream, 404, "text/plain", b"not found").await,
        },
        ("POST", "/publish") => {
            let (status, body) = match &site.publisher {
                None => (
                    404,
                    json!({"error": "publishing is off: start `fastkafka docs serve` with --kafka-broker NAME"}),
                ),
                // Only JSON requests: a cross-site form cannot send them without a CORS
                // preflight, which this server never grants.
                Some(_) if !request.content_type.starts_with("application/json") => (
                    415,
                    json!({"error": "send the request as application/json"}),
                ),
                Some(publisher) => match serde_json::from_slice::<Value>(&request.body) {
                    Ok(value) => publisher.publish(&value).await,
                    Err(e) => (
                        400,
                        json!({"error": format!("the request is not JSON: {e}")}),
                    ),
                },
            };
            respond(
                &mut stream,
                status,
                "application/json",
                body.to_string().as_bytes(),
            )
            .await
        }
        _ => respond(&mut stream, 405, "text/plain", b"method not allowed").await,
    }
}

/// A file under `root` for a URL path, refusing anything that climbs out of it.
fn static_file(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| root.join(relative))
}

fn content_type_of(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        _ => "Bad Gateway",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_files_stay_inside_the_docs_folder() {
        let root = Path::new("/srv/docs");
        assert_eq!(
            static_file(root, "/img/a.png"),
            Some(root.join("img/a.png"))
        );
        assert_eq!(static_file(root, "/../spec/x"), None);
        assert_eq!(
            static_file(root, "//etc/passwd"),
            Some(root.join("etc/passwd"))
        );
    }

    #[test]
    fn only_consumed_topics_are_publishable() {
        let doc = json!({
            "channels": {"a_b": {"address": "a.b"}, "c": {"address": "c"}},
            "operations": {
                "on_a": {"action": "receive", "channel": {"$ref": "#/channels/a_b"}},
                "to_c": {"action": "send", "channel": {"$ref": "#/channels/c"}}
            }
        });
        assert_eq!(consumed_topics(&doc), BTreeSet::from(["a.b".to_string()]));
    }
}
