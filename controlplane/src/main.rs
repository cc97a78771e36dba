//! `ironpool-control`: one subcommand per control-plane role.

use clap::{Parser, Subcommand};
use ironpool_controlplane::alertcenter::AlertcenterConfig;
use ironpool_controlplane::config::jobmaster::JobmasterConfig;
use ironpool_controlplane::config::meta::{MetarelayConfig, MetawriterConfig};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ironpool-control", version, about = "ironpool control plane")]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Templates from the nodes → jobs on the job ring; found blocks → every node.
    Jobmaster {
        /// The jobmaster's TOML configuration (see conf/jobmaster.toml).
        #[arg(long, short)]
        config: PathBuf,
        /// Check the configuration and exit.
        #[arg(long)]
        check: bool,
    },
    /// Share rings and batches from other hosts → spool → per-minute aggregates in Redis.
    Metawriter {
        /// The metawriter's TOML configuration (see conf/metawriter.toml).
        #[arg(long, short)]
        config: PathBuf,
        /// Check the configuration (and read the key file) and exit.
        #[arg(long)]
        check: bool,
    },
    /// A remote site's share rings and batches → spool → the metawriter.
    Metarelay {
        /// The metarelay's TOML configuration (see conf/metarelay.toml).
        #[arg(long, short)]
        config: PathBuf,
        /// Check the configuration (and read the key files) and exit.
        #[arg(long)]
        check: bool,
    },
    /// Error-level events of every process → the Redis list, de-duplicated and rate-limited.
    Alertcenter {
        /// alertcenter's TOML configuration (see conf/alertcenter.toml).
        #[arg(long, short)]
        config: PathBuf,
        /// Check the configuration (and read the key file) and exit.
        #[arg(long)]
        check: bool,
    },
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
    match cli.role {
        Role::Jobmaster { config, check } => {
            let settings = match JobmasterConfig::load(&config) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("ironpool-control: {e}");
                    return ExitCode::from(2);
                }
            };
            if check {
                println!("config {}: ok", config.display());
                return ExitCode::SUCCESS;
            }
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("ironpool-control: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(ironpool_controlplane::jobmaster::run(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ironpool-control: jobmaster: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Role::Metawriter { config, check } => {
            let settings = match MetawriterConfig::load(&config) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("ironpool-control: {e}");
                    return ExitCode::from(2);
                }
            };
            if check {
                println!("config {}: ok", config.display());
                return ExitCode::SUCCESS;
            }
            on_runtime(
                "metawriter",
                ironpool_controlplane::metawriter::run(settings),
            )
        }
        Role::Metarelay { config, check } => {
            let settings = match MetarelayConfig::load(&config) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("ironpool-control: {e}");
                    return ExitCode::from(2);
                }
            };
            if check {
                println!("config {}: ok", config.display());
                return ExitCode::SUCCESS;
            }
            on_runtime("metarelay", ironpool_controlplane::metarelay::run(settings))
        }
        Role::Alertcenter { config, check } => {
            let settings = match AlertcenterConfig::load(&config) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("ironpool-control: {e}");
                    return ExitCode::from(2);
                }
            };
            if check {
                println!("config {}: ok", config.display());
                return ExitCode::SUCCESS;
            }
            on_runtime(
                "alertcenter",
                ironpool_controlplane::alertcenter::run(settings),
            )
        }
    }
}

/// Runs a role's future on a two-thread runtime; its error becomes a failing exit.
fn on_runtime(
    role: &str,
    future: impl std::future::Future<Output = Result<(), String>>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ironpool-control: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ironpool-control: {role}: {e}");
            ExitCode::FAILURE
        }
    }
}
