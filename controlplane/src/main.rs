//! `ironpool-control`: one subcommand per control-plane role.

use clap::{Parser, Subcommand};
use ironpool_controlplane::config::jobmaster::JobmasterConfig;
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
    }
}
