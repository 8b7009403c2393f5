//! `fastkafka docs generate|serve APP`: the app's AsyncAPI document and its docs page.

mod html;
mod server;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use self::{html as docs_html, server as docs_server};
use crate::app::{protocol as app_protocol, target as app_target};

/// Write or serve an app's AsyncAPI docs.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  fastkafka docs generate hello_app                  # asyncapi/spec/asyncapi.yml, asyncapi/docs/index.html\n  fastkafka docs serve hello_app --port 8000\n  fastkafka docs serve hello_app --kafka-broker embedded   # with a \"publish example\" button"
)]
pub(crate) struct DocsArgs {
    #[command(subcommand)]
    command: DocsCommand,
}

#[derive(Subcommand)]
enum DocsCommand {
    Generate(GenerateArgs),
    Serve(ServeArgs),
}

/// Write the AsyncAPI document (YAML and JSON) and a self-contained HTML page.
///
/// Writes OUTPUT_DIR/spec/asyncapi.yml, OUTPUT_DIR/spec/asyncapi.json and
/// OUTPUT_DIR/docs/index.html. The page needs no network: open it from disk.
#[derive(Args)]
#[command(after_help = "Example:\n  fastkafka docs generate hello_app --output-dir asyncapi")]
pub(crate) struct GenerateArgs {
    /// The app: a bin or example target of this cargo workspace, or a path to a built app binary.
    app: String,
    /// Where to write `spec/` and `docs/`.
    #[arg(long, default_value = "asyncapi")]
    output_dir: PathBuf,
}

/// Generate the docs, then serve them over HTTP until Ctrl-C.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  fastkafka docs serve hello_app                         # http://127.0.0.1:8000/\n  fastkafka docs serve hello_app --bind 0.0.0.0 --port 9000\n  fastkafka docs serve uppercase_app --kafka-broker localhost:9092"
)]
pub(crate) struct ServeArgs {
    /// The app: a bin or example target of this cargo workspace, or a path to a built app binary.
    app: String,
    /// Where to write `spec/` and `docs/` before serving them.
    #[arg(long, default_value = "asyncapi")]
    output_dir: PathBuf,
    /// The address to listen on; the default keeps the docs on this machine.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Add a "publish example" button to each topic the app consumes, sending to this
    /// broker: one the app names, `embedded` (started here), `localhost` or HOST:PORT.
    /// Without it the page is read-only.
    #[arg(long, value_name = "NAME")]
    kafka_broker: Option<String>,
}

pub(crate) async fn run(args: DocsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DocsCommand::Generate(args) => {
            let binary = app_target::resolve(&args.app)?;
            let doc = app_protocol::asyncapi_document(&binary).await?;
            for file in write_docs(&doc, &args.output_dir)? {
                println!("wrote {}", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        DocsCommand::Serve(args) => {
            let binary = app_target::resolve(&args.app)?;
            let doc = app_protocol::asyncapi_document(&binary).await?;
            write_docs(&doc, &args.output_dir)?;
            let publisher = match &args.kafka_broker {
                Some(name) => Some(docs_server::Publisher::new(&binary, name).await?),
                None => None,
            };
            docs_server::serve(
                (args.bind, args.port).into(),
                args.output_dir.join("docs"),
                args.output_dir.join("spec"),
                publisher,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes `spec/asyncapi.yml`, `spec/asyncapi.json` and `docs/index.html` under `dir`.
fn write_docs(doc: &Value, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let files = [
        (
            dir.join("spec").join("asyncapi.yml"),
            fastkafka::asyncapi::to_yaml(doc),
        ),
        (
            dir.join("spec").join("asyncapi.json"),
            serde_json::to_string_pretty(doc)? + "\n",
        ),
        (dir.join("docs").join("index.html"), docs_html::render(doc)),
    ];
    for (path, text) in &files {
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)
            .and_then(|()| std::fs::write(path, text))
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot write the docs to `{}`: {e}; choose another --output-dir",
                    path.display()
                )
            })?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}
