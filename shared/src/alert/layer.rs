//! The `tracing` layer: each ERROR event → one line → an `Alert` in the sender's channel.

use super::{is_own_target, Counters, LINE_BYTES_MAX};
use crate::meta::Alert;
use std::fmt::{self, Write as _};
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Turns ERROR events into alerts (see [`alert_layer`](super::alert_layer)). Works under any
/// subscriber; never blocks, never grows without bound.
pub struct AlertLayer {
    host: String,
    process: String,
    tx: SyncSender<Alert>,
    counters: Arc<Counters>,
}

impl fmt::Debug for AlertLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertLayer")
            .field("host", &self.host)
            .field("process", &self.process)
            .finish_non_exhaustive()
    }
}

impl AlertLayer {
    pub(super) fn new(
        host: String,
        process: String,
        tx: SyncSender<Alert>,
        counters: Arc<Counters>,
    ) -> AlertLayer {
        AlertLayer {
            host,
            process,
            tx,
            counters,
        }
    }
}

impl<S: Subscriber> Layer<S> for AlertLayer {
    // `enabled` and `register_callsite` keep their defaults: a layer that said "never" there would
    // switch the callsite off for the other layers (the log output) as well.

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let metadata = event.metadata();
        if *metadata.level() != Level::ERROR || is_own_target(metadata.target()) {
            return;
        }
        let alert = Alert {
            host: self.host.clone(),
            process: self.process.clone(),
            message: format_event(event),
        };
        // Pending before the send, so the sender can never settle an alert not yet counted.
        self.counters.pending.fetch_add(1, Ordering::AcqRel);
        if self.tx.try_send(alert).is_err() {
            // Full (alertcenter slow or gone for long) or no sender thread: count, never wait.
            self.counters.settle();
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `target: message key=value key=value`, on one line, at most [`LINE_BYTES_MAX`] bytes.
pub(super) fn format_event(event: &Event<'_>) -> String {
    let mut visitor = LineVisitor::default();
    event.record(&mut visitor);
    let mut line = String::new();
    let mut out = Bounded(&mut line);
    let _ = out.write_str(event.metadata().target());
    if !visitor.message.is_empty() {
        let _ = out.write_str(": ");
        let _ = out.write_str(&visitor.message);
    }
    if !visitor.fields.is_empty() {
        let _ = out.write_str(" ");
        let _ = out.write_str(&visitor.fields);
    }
    line
}

/// Collects the `message` field and the others (`key=value`, space-separated), each bounded.
#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl LineVisitor {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if field.name() == "message" {
            let _ = Bounded(&mut self.message).write_fmt(value);
            return;
        }
        let mut out = Bounded(&mut self.fields);
        if !out.0.is_empty() {
            let _ = out.write_str(" ");
        }
        let _ = write!(out, "{}={}", field.name(), value);
    }
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        // Display, not Debug: no quotes and escapes around plain text.
        self.field(field, format_args!("{value}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // The message arrives here as `fmt::Arguments`, whose Debug prints the text itself.
        self.field(field, format_args!("{value:?}"));
    }
}

/// Appends to a string up to [`LINE_BYTES_MAX`] bytes, cut on a character boundary; control
/// characters (newlines of multi-line errors) become spaces so the alert stays one line.
struct Bounded<'a>(&'a mut String);

impl fmt::Write for Bounded<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.0.len() + c.len_utf8() > LINE_BYTES_MAX {
                // Still Ok: an error would make some Debug impls panic, and a cut line is fine.
                return Ok(());
            }
            self.0.push(if c.is_control() { ' ' } else { c });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{sync_channel, Receiver};
    use tracing_subscriber::layer::SubscriberExt;

    fn layer(capacity: usize) -> (AlertLayer, Receiver<Alert>, Arc<Counters>) {
        let (tx, rx) = sync_channel(capacity);
        let counters = Arc::new(Counters::default());
        let layer = AlertLayer::new(
            "h1".to_owned(),
            "gateway".to_owned(),
            tx,
            Arc::clone(&counters),
        );
        (layer, rx, counters)
    }

    #[test]
    fn errors_become_one_line_alerts_and_other_levels_do_not() {
        let (layer, rx, counters) = layer(16);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "pool::disk", "only a warning");
            tracing::error!(target: "pool::disk", path = "/var/lib", free_mib = 12, "disk\nfull");
            let e = std::io::Error::other("refused");
            tracing::error!(target: "pool::node", error = &e as &(dyn std::error::Error + 'static), "rpc failed");
            // The module's own errors never become alerts.
            tracing::error!(target: "ironpool_shared::alert::sender", "cannot connect");
        });
        let alerts: Vec<Alert> = rx.try_iter().collect();
        assert_eq!(alerts.len(), 2, "{alerts:?}");
        assert_eq!(alerts[0].host, "h1");
        assert_eq!(alerts[0].process, "gateway");
        assert_eq!(
            alerts[0].message,
            "pool::disk: disk full path=/var/lib free_mib=12"
        );
        assert_eq!(alerts[1].message, "pool::node: rpc failed error=refused");
        assert_eq!(counters.pending.load(Ordering::Relaxed), 2);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_full_channel_drops_and_counts() {
        let (layer, rx, counters) = layer(2);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..5 {
                tracing::error!(target: "pool", "burst {i}");
            }
        });
        assert_eq!(rx.try_iter().count(), 2);
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(counters.pending.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let (layer, rx, _) = layer(1);
        let subscriber = tracing_subscriber::registry().with(layer);
        let long = "é".repeat(LINE_BYTES_MAX);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "t", "{long}");
        });
        let alert = rx.try_recv().expect("one alert");
        assert!(alert.message.len() <= LINE_BYTES_MAX);
        assert!(alert.message.starts_with("t: éé"));
        assert!(alert.message.len() > LINE_BYTES_MAX - 4);
    }
}
