//! The metawriter's state between the inputs and Redis: the spool, the aggregate of the next
//! batch (built as inputs are stored, so memory grows with distinct keys, not with records), and
//! the batch being applied.

use crate::meta_spool::{Input, Source, Spool, Stored};
use ironpool_shared::meta::{AckOutcome, Aggregate, Batch, CoinNames, NackCode, RedisBatch};
use ironpool_shared::ring::ShareRecord;
use tracing::error;

/// A batch made and marked as started in the spool, being applied.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub batch_seq: u64,
    pub upto: u64,
    pub batch: RedisBatch,
    pub records: u64,
}

pub struct Store {
    spool: Spool,
    coins: CoinNames,
    next: Aggregate,
    /// The last input in `next`.
    next_upto: u64,
    in_flight: Option<InFlight>,
}

/// Checks a batch before it is stored: known coin, names that fit keys.
///
/// # Errors
///
/// The refusal to send back.
pub fn check_batch(coins: &CoinNames, batch: &Batch) -> Result<(), (NackCode, String)> {
    if coins.name(&batch.coin).is_none() {
        return Err((
            NackCode::UnknownCoin,
            format!("coin {:?} is not configured here", batch.coin),
        ));
    }
    check_records(batch)
}

/// Checks what any receiver checks (metawriter and metarelay): a host name and records that fit
/// the Redis keys.
///
/// # Errors
///
/// The refusal to send back, naming the first bad record.
pub fn check_records(batch: &Batch) -> Result<(), (NackCode, String)> {
    Aggregate::check_host(&batch.host).map_err(|e| (NackCode::Malformed, e.to_string()))?;
    for (index, record) in batch.records.iter().enumerate() {
        Aggregate::check_encoded(record)
            .map_err(|e| (NackCode::Malformed, format!("record {index}: {e}")))?;
    }
    Ok(())
}

fn add_input(aggregate: &mut Aggregate, coins: &CoinNames, input: &Input) {
    let name = coins
        .name(&input.batch.coin)
        .unwrap_or(&input.batch.coin)
        .to_owned();
    for encoded in &input.batch.records {
        match encoded.decode() {
            Ok(record) => add_record(
                aggregate,
                &input.batch.coin,
                &name,
                &input.batch.host,
                &record,
            ),
            // Checked before it was stored; a spool written by another version could differ.
            Err(e) => {
                error!(entry = input.entry_seq, error = %e, "stored record does not decode; skipped")
            }
        }
    }
}

fn add_record(aggregate: &mut Aggregate, coin: &str, name: &str, host: &str, record: &ShareRecord) {
    if Aggregate::check(record).is_ok() {
        aggregate.add(coin, name, host, record);
    } else {
        error!(user = %record.user, worker = %record.worker, "stored record has names that do not fit keys; skipped");
    }
}

impl Store {
    /// Rebuilds the state from the spool's pending inputs: those of a batch that was started
    /// form that same batch again, the rest the next one.
    pub fn new(spool: Spool, pending: Vec<Input>, coins: CoinNames) -> Store {
        let mut in_flight_aggregate = Aggregate::default();
        let mut next = Aggregate::default();
        let mut next_upto = spool.state.done_upto;
        let started = spool.state.in_flight;
        for input in &pending {
            match started {
                Some((_, upto)) if input.entry_seq <= upto => {
                    add_input(&mut in_flight_aggregate, &coins, input);
                }
                _ => {
                    add_input(&mut next, &coins, input);
                    next_upto = next_upto.max(input.entry_seq);
                }
            }
        }
        let in_flight = started.map(|(batch_seq, upto)| {
            next_upto = next_upto.max(upto);
            let records = in_flight_aggregate.records();
            InFlight {
                batch_seq,
                upto,
                batch: in_flight_aggregate.into_batch(),
                records,
            }
        });
        Store {
            spool,
            coins,
            next,
            next_upto,
            in_flight,
        }
    }

    pub fn coins(&self) -> &CoinNames {
        &self.coins
    }

    /// Stores a checked batch durably and adds it to the next aggregate.
    ///
    /// # Errors
    ///
    /// The spool write failed: nothing is acknowledged.
    pub fn store(&mut self, source: Source, batch: Batch) -> Result<AckOutcome, String> {
        let (stored, input) = self.spool.store(source, batch)?;
        match (stored, input) {
            (Stored::New { entry_seq, .. }, Some(input)) => {
                add_input(&mut self.next, &self.coins, &input);
                self.next_upto = self.next_upto.max(entry_seq);
                Ok(AckOutcome::Stored)
            }
            _ => Ok(AckOutcome::Duplicate),
        }
    }

    /// The batch to apply now: the one in flight, or the next aggregate (marked as started in
    /// the spool first). `None` when there is nothing to write.
    ///
    /// # Errors
    ///
    /// The spool write failed.
    pub fn take_batch(&mut self) -> Result<Option<InFlight>, String> {
        if let Some(in_flight) = &self.in_flight {
            return Ok(Some(in_flight.clone()));
        }
        if self.next.is_empty() {
            return Ok(None);
        }
        let upto = self.next_upto;
        let batch_seq = self.spool.flush_start(upto)?;
        let aggregate = std::mem::take(&mut self.next);
        let records = aggregate.records();
        let in_flight = InFlight {
            batch_seq,
            upto,
            batch: aggregate.into_batch(),
            records,
        };
        self.in_flight = Some(in_flight.clone());
        Ok(Some(in_flight))
    }

    /// The batch in flight is in Redis.
    ///
    /// # Errors
    ///
    /// The spool write failed (the batch is applied again after a restart, which its markers
    /// make harmless).
    pub fn batch_done(&mut self, batch_seq: u64, upto: u64) -> Result<(), String> {
        self.spool.done(batch_seq, upto)?;
        self.in_flight = None;
        if let Err(e) = self.spool.compact_if_large() {
            error!(error = %e, "spool compaction failed; the file keeps growing until it works");
        }
        Ok(())
    }

    /// Records waiting for Redis (in flight and next).
    pub fn pending_records(&self) -> u64 {
        self.next.records() + self.in_flight.as_ref().map_or(0, |b| b.records)
    }

    pub fn spool_bytes(&self) -> u64 {
        self.spool.bytes()
    }
}
