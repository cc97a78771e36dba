//! `ironpool-gateway`: the stratum server.

use clap::Parser;
use ironpool_dataplane::config::GatewayConfig;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ironpool-gateway", version, about = "ironpool stratum gateway")]
struct Cli {
    /// The gateway's TOML configuration (see conf/gateway.toml).
    #[arg(long, short)]
    config: PathBuf,
    /// Check the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = match GatewayConfig::load(&cli.config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ironpool-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check {
        println!("config {}: ok", cli.config.display());
        return ExitCode::SUCCESS;
    }
    tracing::info!(
        shards = settings.shards,
        process = settings.process_id,
        host = settings.host_id,
        "gateway starting"
    );
    let handles = ironpool_dataplane::shard::start(Arc::new(settings));
    let mut failed = false;
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("ironpool-gateway: {e}");
                failed = true;
            }
            Err(_) => {
                eprintln!("ironpool-gateway: a shard panicked");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
