//! The log set-up every role uses: stderr as `RUST_LOG` says (`info` by default) and, with an
//! `[alert]` table, error events to alertcenter too.

use super::{alert_layer, AlertConfig, AlertHandle};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the process's subscriber; returns the alert layer's handle, to flush before exiting.
pub fn init_logging(alert: Option<AlertConfig>) -> Option<AlertHandle> {
    let announce = alert.as_ref().map(|a| (a.address.clone(), a.host.clone()));
    let (layer, handle) = alert.map(alert_layer).unzip();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with(layer)
        .init();
    if let Some((address, host)) = announce {
        tracing::info!(%address, %host, "error events go to alertcenter");
    }
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
