//! The log set-up every role uses: stderr as `RUST_LOG` says (`info` by default) and, with an
//! `[alert]` table, error events to alertcenter too.

use super::{alert_layer, AlertConfig, AlertHandle};
use std::time::Duration;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the process's subscriber; returns the alert layer's handle, to flush before exiting.
pub fn init_logging(alert: Option<AlertConfig>) -> Option<AlertHandle> {
    let announce = alert.as_ref().map(|a| (a.address.clone(), a.host.clone()));
    let (layer, handle) = alert.map(alert_layer).unzip();
    // `RUST_LOG` filters what goes to stderr only: silencing a module's log lines must not
    // silence its alerts.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        // Per-layer filters give the registry its level hint: below `info` (or what `RUST_LOG`
        // says) callsites stay disabled, as with a global filter.
        .with(layer.map(|layer| layer.with_filter(LevelFilter::ERROR)))
        .init();
    if let Some((address, host)) = announce {
        tracing::info!(%address, %host, "error events go to alertcenter");
    }
    // A panic is an error event too (then the usual message): a crash reaches alertcenter.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(panic = %info, "panic");
        previous(info);
    }));
    handle
}

/// Gives the alerts still queued a moment to reach alertcenter.
pub fn flush_alerts(alerts: Option<AlertHandle>) {
    if let Some(alerts) = alerts {
        if !alerts.flush(Duration::from_secs(2)) {
            tracing::warn!(
                pending = alerts.pending(),
                "exiting with alerts not delivered to alertcenter"
            );
        }
    }
}
