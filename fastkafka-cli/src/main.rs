//! `fastkafka`: run apps as supervised workers, serve the embedded broker, explain
//! partition routing.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod app;
mod commands;
mod console;
mod exit;

pub(crate) use exit::UsageError;

#[derive(Parser)]
#[command(
    name = "fastkafka",
    version,
    about = "Run fastkafka apps as supervised workers, serve an embedded Kafka broker, explain partition routing",
    after_help = "Examples:\n  fastkafka run --num-workers 2 --kafka-broker embedded hello_app\n  fastkafka broker --port 9092 --partitions 3\n  fastkafka partition --partitions 3 user1 user2"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(commands::run::RunArgs),
    Broker(commands::broker::BrokerArgs),
    Partition(commands::partition::PartitionArgs),
    Docs(commands::docs::DocsArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::SUCCESS
            });
        }
    };
    // Library warnings and errors (RUST_LOG=info for more), on stderr.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            console::err(&format!("error: cannot start the async runtime: {e}"));
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => commands::run::run(args).await,
            Command::Broker(args) => commands::broker::run(args).await,
            Command::Partition(args) => commands::partition::run(args).map(|()| ExitCode::SUCCESS),
            Command::Docs(args) => commands::docs::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            console::err(&format!("error: {e:#}"));
            ExitCode::from(exit::code_of(&e))
        }
    }
}
