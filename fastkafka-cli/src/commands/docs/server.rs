//! The docs server of `fastkafka docs serve`: the generated page and spec over HTTP/1.1
//! (axum on hyper), and `POST /publish` for the page's "publish example" button.
//!
//! Routes: `/` and `/index.html` (the page, with the publish settings filled in),
//! `/config`, `/asyncapi.yml`, `/asyncapi.json`, `POST /publish`, and any other file
//! of the docs folder (tower-http's `ServeDir`, which refuses paths that climb out of
//! it). Every response closes its connection and is not cached; request bodies are
//! limited to [`MAX_REQUEST`] bytes and requests to [`REQUEST_TIMEOUT`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fastkafka::embedded::EmbeddedBroker;
use fastkafka::protocol::{BrokerName, DeclaredTopic};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use super::html as docs_html;
use crate::UsageError;

/// Largest request body accepted (413 beyond it).
const MAX_REQUEST: usize = 1 << 20;

/// How long one request may take, publishing included (408 beyond it).
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
    pub(crate) async fn new(binary: &Path, name: &str) -> anyhow::Result<Self> {
        let app = crate::app::protocol::handshake(binary).await?;
        let topics = consumed_topics(
            app.protocol,
            crate::app::protocol::declared_topics(binary).await?,
        )?;
        let (broker_arg, embedded) = match BrokerName::of(name, app.names()) {
            BrokerName::Named | BrokerName::Localhost | BrokerName::Bootstrap => {
                (name.to_string(), None)
            }
            BrokerName::Embedded => {
                let embedded = EmbeddedBroker::start()?;
                let bootstrap = embedded.bootstrap_servers().to_string();
                crate::console::err(&format!(
                    "[fastkafka] started the embedded Kafka broker: bootstrap.servers={bootstrap}"
                ));
                crate::commands::run::create_declared_topics(&embedded, binary).await?;
                (bootstrap, Some(embedded))
            }
            BrokerName::Unknown => {
                let names: Vec<&str> = app.names().collect();
                return Err(UsageError(format!(
                    "--kafka-broker `{name}` is not a broker the app names ({}), `embedded`, `localhost` or HOST:PORT",
                    if names.is_empty() {
                        "it names none".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
                .into());
            }
        };
        Ok(Publisher {
            name: name.to_string(),
            binary: binary.to_path_buf(),
            broker_arg,
            topics,
            _embedded: embedded,
        })
    }

    async fn publish(&self, request: &Value) -> (StatusCode, Value) {
        let Some(topic) = request.get("topic").and_then(Value::as_str) else {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": "the request names no topic"}),
            );
        };
        if !self.topics.contains(topic) {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("the app does not consume `{topic}`; the page publishes only to the topics it consumes")}),
            );
        }
        let Some(payload) = request.get("payload").and_then(Value::as_str) else {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": "the request has no payload"}),
            );
        };
        let key = request.get("key").and_then(Value::as_str);
        let sent =
            crate::app::protocol::publish(&self.binary, &self.broker_arg, topic, key, payload);
        match sent.await {
            Ok(delivery) => (StatusCode::OK, json!(delivery)),
            Err(e) => (
                StatusCode::BAD_GATEWAY,
                json!({"error": format!("broker `{}` did not take the message: {e}", self.name)}),
            ),
        }
    }
}

/// The topics the app consumes, from its answer to `APP topics`. An app that speaks
/// version 1 of the protocol did not say which it consumes: an error that says to
/// rebuild it, rather than a page that refuses every topic.
fn consumed_topics(
    protocol: u32,
    declared: Vec<DeclaredTopic>,
) -> anyhow::Result<BTreeSet<String>> {
    if protocol < 2 {
        return Err(UsageError(format!(
            "the app is built with an older fastkafka (app protocol {protocol}), which does not say which topics it consumes, so the page cannot publish examples to them: rebuild the app with this fastkafka release, or leave out --kafka-broker to serve the docs only"
        ))
        .into());
    }
    Ok(declared
        .into_iter()
        .filter(|t| t.consumed)
        .map(|t| t.topic)
        .collect())
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
    let site = Site {
        docs,
        spec,
        publisher,
    };
    axum::serve(listener, router(site))
        .with_graceful_shutdown(fastkafka::shutdown_signal())
        .await?;
    Ok(())
}

fn router(site: Site) -> Router {
    Router::new()
        .route("/config", get(config))
        .route("/asyncapi.yml", get(spec_yaml))
        .route("/asyncapi.json", get(spec_json))
        .route("/publish", post(publish))
        .fallback(page_or_file)
        .with_state(Arc::new(site))
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        // One request per connection, as a local docs server needs, and nothing cached
        // or sniffed by the browser.
        .layer(SetResponseHeaderLayer::overriding(
            header::CONNECTION,
            HeaderValue::from_static("close"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// The page for `/` and `/index.html` (however percent-encoded); any other path is a
/// file of the docs folder.
async fn page_or_file(State(site): State<Arc<Site>>, request: Request) -> Response {
    let path = percent_encoding::percent_decode_str(request.uri().path()).decode_utf8_lossy();
    let is_page = matches!(&*path, "/" | "/index.html");
    if is_page && matches!(*request.method(), Method::GET | Method::HEAD) {
        return page(&site).await;
    }
    match ServeDir::new(&site.docs).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    }
}

/// `index.html`, with the publish settings when serving with `--kafka-broker`.
async fn page(site: &Site) -> Response {
    let Ok(page) = tokio::fs::read_to_string(site.docs.join("index.html")).await else {
        return not_found();
    };
    let page = match &site.publisher {
        Some(p) => page.replacen(
            docs_html::PUBLISH_CONFIG_SLOT,
            &docs_html::publish_config(&p.name),
            1,
        ),
        None => page,
    };
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

async fn config(State(site): State<Arc<Site>>) -> Json<Value> {
    Json(json!({
        "publish": site.publisher.is_some(),
        "broker": site.publisher.as_ref().map(|p| p.name.clone()),
    }))
}

async fn spec_yaml(State(site): State<Arc<Site>>) -> Response {
    spec_file(&site, "asyncapi.yml", "application/yaml").await
}

async fn spec_json(State(site): State<Arc<Site>>) -> Response {
    spec_file(&site, "asyncapi.json", "application/json").await
}

async fn spec_file(site: &Site, name: &str, content_type: &'static str) -> Response {
    match tokio::fs::read(site.spec.join(name)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(_) => not_found(),
    }
}

/// `POST /publish`: `{"topic", "key"?, "payload"}` as JSON, sent by the app.
async fn publish(State(site): State<Arc<Site>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (status, body) = match &site.publisher {
        None => (
            StatusCode::NOT_FOUND,
            json!({"error": "publishing is off: start `fastkafka docs serve` with --kafka-broker NAME"}),
        ),
        // Only JSON requests: a cross-site form cannot send them without a CORS
        // preflight, which this server never grants.
        Some(_) if !content_type.starts_with("application/json") => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"error": "send the request as application/json"}),
        ),
        Some(publisher) => match serde_json::from_slice::<Value>(&body) {
            Ok(value) => publisher.publish(&value).await,
            Err(e) => (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("the request is not JSON: {e}")}),
            ),
        },
    };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A docs folder with the page, one other file, and a spec folder beside it.
    fn site(name: &str) -> (PathBuf, Router) {
        let dir = std::env::temp_dir().join(format!(
            "fastkafka-docs-server-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("docs/img")).unwrap();
        std::fs::create_dir_all(dir.join("spec")).unwrap();
        std::fs::write(
            dir.join("docs/index.html"),
            format!("<p>page</p>{}", docs_html::PUBLISH_CONFIG_SLOT),
        )
        .unwrap();
        std::fs::write(dir.join("docs/img/a b.svg"), "<svg/>").unwrap();
        std::fs::write(dir.join("spec/asyncapi.json"), "{}").unwrap();
        let router = router(Site {
            docs: dir.join("docs"),
            spec: dir.join("spec"),
            publisher: None,
        });
        (dir, router)
    }

    async fn get(router: &Router, path: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn static_files_stay_inside_the_docs_folder() {
        let (dir, router) = site("inside");
        assert_eq!(
            get(&router, "/img/a%20b.svg").await,
            (StatusCode::OK, "<svg/>".into())
        );
        assert_eq!(
            get(&router, "/../spec/asyncapi.json").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&router, "/%2e%2e/spec/asyncapi.json").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(get(&router, "//etc/passwd").await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            get(&router, "/asyncapi.json").await,
            (StatusCode::OK, "{}".into())
        );
        assert_eq!(get(&router, "/asyncapi.yml").await.0, StatusCode::NOT_FOUND);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn the_page_is_the_same_however_its_path_is_written() {
        let (dir, router) = site("page");
        let (status, page) = get(&router, "/").await;
        assert_eq!(status, StatusCode::OK);
        for path in ["/index.html", "/index%2Ehtml", "/?x=1"] {
            assert_eq!(
                get(&router, path).await,
                (StatusCode::OK, page.clone()),
                "{path}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn only_consumed_topics_are_publishable() {
        let topic = |topic: &str, partitions, consumed| DeclaredTopic {
            topic: topic.into(),
            partitions,
            consumed,
        };
        let declared = vec![
            topic("created.and.read", Some(3), true),
            topic("created.only", Some(1), false),
            topic("read.only", None, true),
        ];
        assert_eq!(
            consumed_topics(2, declared.clone()).unwrap(),
            BTreeSet::from(["created.and.read".to_string(), "read.only".to_string()])
        );
        let err = consumed_topics(1, declared).unwrap_err();
        assert!(err.is::<UsageError>());
        assert!(err.to_string().contains("rebuild the app"), "{err}");
    }
}
