//! `fastkafka broker`: the embedded broker on its own, for other processes to use.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use fastkafka::embedded::EmbeddedBroker;

use crate::UsageError;

/// Serve the embedded Kafka broker (librdkafka's mock cluster) until Ctrl-C.
///
/// Prints `bootstrap.servers=HOST:PORT` as its first line. Every message is kept, in
/// memory, until it stops (memory grows with what is produced; nothing is deleted).
/// Topics are created on first use, or by an app's admin client with the partitions it
/// declares.
#[derive(Args)]
#[command(
    after_help = "Example:\n  fastkafka broker --port 9092 --partitions 3\n  # then: hello_app run --kafka-broker localhost:9092"
)]
pub(crate) struct BrokerArgs {
    /// Listen on this port of 127.0.0.1 (default: a free port chosen by the broker).
    /// The mock cluster itself always picks a random port; a fixed port is served by a
    /// small forwarder in front of it.
    #[arg(long)]
    port: Option<u16>,
    /// Partitions of each topic created on first use.
    #[arg(long, default_value_t = fastkafka::embedded::DEFAULT_PARTITIONS)]
    partitions: i32,
}

pub(crate) async fn run(args: BrokerArgs) -> anyhow::Result<ExitCode> {
    if args.partitions < 1 {
        return Err(UsageError(format!(
            "--partitions must be at least 1, got {}",
            args.partitions
        ))
        .into());
    }
    let mut broker = EmbeddedBroker::with_partitions(args.partitions)?;
    if let Some(port) = args.port {
        broker
            .listen_on(port)
            .map_err(|e| UsageError(e.to_string()))?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "bootstrap.servers={}", broker.bootstrap_servers())?;
    writeln!(
        out,
        "embedded Kafka broker ready: new topics get {} unless an app creates them with its own; every message is kept in memory until Ctrl-C stops it",
        fastkafka::partition::PartitionCount(args.partitions)
    )?;
    out.flush()?;
    drop(out);
    fastkafka::shutdown_signal().await;
    drop(broker);
    Ok(ExitCode::SUCCESS)
}
