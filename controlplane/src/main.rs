//! `ironpool-control`: one subcommand per control-plane role.

use clap::{Parser, Subcommand};
use ironpool_controlplane::alertcenter::AlertcenterConfig;
use ironpool_controlplane::config::bitpeer::BitpeerConfig;
use ironpool_controlplane::config::blockmaster::BlockmasterConfig;
use ironpool_controlplane::config::jobmaster::JobmasterConfig;
use ironpool_controlplane::config::meta::{MetarelayConfig, MetawriterConfig};
use ironpool_controlplane::config::poolbench::PoolbenchConfig;
use ironpool_controlplane::config::ConfigError;
use ironpool_shared::alert::{flush_alerts, init_logging};
use std::path::{Path, PathBuf};
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
    /// P2P client of many nodes: new blocks as early as possible, our blocks to every peer.
    Bitpeer {
        /// bitpeer's TOML configuration (see conf/bitpeer.toml).
        #[arg(long, short)]
        config: PathBuf,
        /// Check the configuration (and read the key file) and exit.
        #[arg(long)]
        check: bool,
    },
    /// One per site, next to its node: blocks to the node, the local bitpeers and the other
    /// sites (compact blocks).
    Blockmaster {
        /// The blockmaster's TOML configuration (see conf/blockmaster.toml).
        #[arg(long, short)]
        config: PathBuf,
        /// Check the configuration (and read the key file) and exit.
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
    /// Other pools' stratum jobs → an early tip to the jobmaster when another pool moves first.
    Poolbench {
        /// poolbench's TOML configuration (see conf/poolbench.toml).
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
    // Each role's file is read before logging starts: its `[alert]` table decides where error
    // events go besides stderr. alertcenter sends none.
    match cli.role {
        Role::Jobmaster { config, check } => {
            let settings = match load(&config, check, JobmasterConfig::load) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let alerts = init_logging(settings.alert.clone());
            let code = on_runtime("jobmaster", ironpool_controlplane::jobmaster::run(settings));
            flush_alerts(alerts);
            code
        }
        Role::Bitpeer { config, check } => {
            let settings = match load(&config, check, BitpeerConfig::load) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let alerts = init_logging(settings.alert.clone());
            let code = on_runtime("bitpeer", ironpool_controlplane::bitpeer::run(settings));
            flush_alerts(alerts);
            code
        }
        Role::Blockmaster { config, check } => {
            let settings = match load(&config, check, BlockmasterConfig::load) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let alerts = init_logging(settings.alert.clone());
            let code = on_runtime(
                "blockmaster",
                ironpool_controlplane::blockmaster::run(settings),
            );
            flush_alerts(alerts);
            code
        }
        Role::Metawriter { config, check } => {
            let settings = match load(&config, check, MetawriterConfig::load) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let alerts = init_logging(settings.alert.clone());
            let code = on_runtime(
                "metawriter",
                ironpool_controlplane::metawriter::run(settings),
            );
            flush_alerts(alerts);
            code
        }
        Role::Metarelay { config, check } => {
            let settings = match load(&config, check, MetarelayConfig::load) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let alerts = init_logging(settings.alert.clone());
            let code = on_runtime("metarelay", ironpool_controlplane::metarelay::run(settings));
            flush_alerts(alerts);
            code
        }
        Role::Poolbench { config, check } => {
            let settings = match load(&config, check, PoolbenchConfig::load) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let alerts = init_logging(settings.alert.clone());
            let code = on_runtime("poolbench", ironpool_controlplane::poolbench::run(settings));
            flush_alerts(alerts);
            code
        }
        Role::Alertcenter { config, check } => {
            let settings = match load(&config, check, AlertcenterConfig::load) {
                Ok(s) => s,
                Err(code) => return code,
            };
            init_logging(None);
            on_runtime(
                "alertcenter",
                ironpool_controlplane::alertcenter::run(settings),
            )
        }
    }
}

/// Loads a role's file with `loader`. `Err` is the exit code when there is nothing to run: the
/// file is refused (the error printed, code 2) or only a check was asked for (code 0).
fn load<T>(
    path: &Path,
    check: bool,
    loader: impl FnOnce(&Path) -> Result<T, ConfigError>,
) -> Result<T, ExitCode> {
    match loader(path) {
        Err(e) => {
            eprintln!("ironpool-control: {e}");
            Err(ExitCode::from(2))
        }
        Ok(_) if check => {
            println!("config {}: ok", path.display());
            Err(ExitCode::SUCCESS)
        }
        Ok(settings) => Ok(settings),
    }
}

/// Runs a role's future on a two-thread runtime; its error becomes a failing exit.
fn on_runtime<E: std::fmt::Display>(
    role: &str,
    future: impl std::future::Future<Output = Result<(), E>>,
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
            // Logged at error level: with `[alert]` it reaches alertcenter before the exit.
            tracing::error!(role, error = %e, "role stopped on an error");
            eprintln!("ironpool-control: {role}: {e}");
            ExitCode::FAILURE
        }
    }
}
