//! `ironpool-gateway`: the stratum server.

use clap::Parser;
use ironpool_dataplane::config::{Gateway, GatewayConfig};
use ironpool_shared::alert::{flush_alerts, init_logging};
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

/// Set by SIGINT/SIGTERM; a watcher thread passes it on to the shards.
static STOP_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_REQUESTED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// SIGINT and SIGTERM stop the shards cleanly (queued shares are spooled, not lost).
fn stop_on_signals(control: Arc<ironpool_dataplane::shard::GatewayControl>) {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only performs an atomic store, which is async-signal-safe, and it
        // is a plain `extern "C" fn` that lives for the whole program.
        unsafe {
            libc::signal(
                signal,
                on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
    std::thread::spawn(move || loop {
        if STOP_REQUESTED.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!("stop requested; shards stop within a second");
            control
                .stop
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let alerts = init_logging(settings.alert.clone());
    let code = serve(settings);
    flush_alerts(alerts);
    code
}

/// Runs the shards until they stop.
fn serve(settings: Gateway) -> ExitCode {
    tracing::info!(
        shards = settings.shards,
        process = settings.process_id,
        host = settings.host_id,
        "gateway starting"
    );
    let control = Arc::new(ironpool_dataplane::shard::GatewayControl::default());
    stop_on_signals(control.clone());
    let handles = ironpool_dataplane::shard::start(Arc::new(settings), control);
    let mut failed = false;
    for handle in handles {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "shard stopped on an error");
                eprintln!("ironpool-gateway: {e}");
                failed = true;
            }
            Err(_) => {
                // The panic itself was logged at error level by the panic hook.
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
