//! The Redis content the miners' notes imply, in the user's format, computed here from the notes
//! alone; and the comparison with a dump.

use super::miners::{Note, Notes, ShareNote};
use ironpool_bench::redis_server::{without_bookkeeping, RedisDump, RedisValue};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Expected value of one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Ints(BTreeMap<u64, i64>),
    Floats(BTreeMap<u64, f64>),
    /// JSON documents, compared as parsed values.
    List(Vec<serde_json::Value>),
    Set(BTreeSet<String>),
}

/// Keys whose values the notes cannot fix: connection samples depend on when the gateway's
/// timer fired. They are checked for bounds instead (see `check_dump`).
const SAMPLED: [&str; 2] = ["m:connections", "connections"];

#[derive(Debug, Default, Clone)]
pub struct Expected {
    pub keys: BTreeMap<String, Value>,
    pub sessions: usize,
}

impl Expected {
    fn int(&mut self, key: String, minute: u64, by: i64) {
        let entry = self
            .keys
            .entry(key)
            .or_insert_with(|| Value::Ints(BTreeMap::new()));
        if let Value::Ints(map) = entry {
            *map.entry(minute).or_insert(0) += by;
        }
    }

    fn float(&mut self, key: String, minute: u64, by: f64) {
        let entry = self
            .keys
            .entry(key)
            .or_insert_with(|| Value::Floats(BTreeMap::new()));
        if let Value::Floats(map) = entry {
            *map.entry(minute).or_insert(0.0) += by;
        }
    }

    fn push(&mut self, key: &str, value: serde_json::Value) {
        let entry = self
            .keys
            .entry(key.to_owned())
            .or_insert_with(|| Value::List(Vec::new()));
        if let Value::List(list) = entry {
            list.push(value);
        }
    }

    fn add_to_set(&mut self, key: String, member: String) {
        let entry = self
            .keys
            .entry(key)
            .or_insert_with(|| Value::Set(BTreeSet::new()));
        if let Value::Set(set) = entry {
            set.insert(member);
        }
    }

    /// A monitor counter of coin `btc` from gateway host `host`.
    fn monitor(&mut self, host: &str, key: &str, minute: u64, by: f64, float: bool) {
        for name in [format!("btc:m:{key}"), format!("btc:mh:{host}:{key}")] {
            if float {
                self.float(name, minute, by);
            } else {
                self.int(name, minute, by as i64);
            }
        }
        self.add_to_set(format!("btc:mk:{key}"), host.to_owned());
        self.add_to_set("monitor:keys".to_owned(), format!("btc:m:{key}"));
    }

    fn mining(&mut self, kind: &str, user: &str, worker: &str, suffix: &str, minute: u64, by: f64) {
        for key in [
            format!("btc:{kind}:{user}{suffix}"),
            format!("btc:{kind}:{user}:{worker}{suffix}"),
        ] {
            self.add_to_set("mining:keys".to_owned(), key.clone());
            if kind == "s" {
                self.int(key, minute, by as i64);
            } else {
                self.float(key, minute, by);
            }
        }
    }

    /// Adds one share as its miner saw it; `announced` holds the workers announced so far.
    pub fn add_share(
        &mut self,
        share: &ShareNote,
        host: &str,
        announced: &mut BTreeSet<(String, String)>,
    ) {
        let (user, worker, minute) = (&share.user, &share.worker, share.minute);
        if let Some(code) = share.rejected {
            self.mining("s", user, worker, ":reject", minute, 1.0);
            self.monitor(host, "reject", minute, 1.0, false);
            self.monitor(host, &format!("reject_{code}"), minute, 1.0, false);
            return;
        }
        if let Some(hash) = &share.block {
            self.monitor(host, "block", minute, 1.0, false);
            self.push(
                "newblock",
                serde_json::json!({"name": "BTC", "hash": hash, "user": user, "worker": worker}),
            );
        }
        let goal = share.difficulty / share.network_difficulty;
        self.mining("s", user, worker, "", minute, 1.0);
        self.mining("p", user, worker, "", minute, share.difficulty);
        self.mining("g", user, worker, "", minute, goal);
        self.monitor(host, "share", minute, 1.0, false);
        self.monitor(host, "pow", minute, share.difficulty, true);
        self.monitor(host, "goal", minute, goal, true);
        if announced.insert((user.clone(), worker.clone())) {
            self.monitor(host, "new_worker", minute, 1.0, false);
            self.push(
                "newworker",
                serde_json::json!({"user": user, "worker": worker, "coin": "btc"}),
            );
        }
    }

    /// Adds what `notes` imply, for gateway host `host`. Each session's first accepted share
    /// announces its worker (the names of a run are all distinct).
    pub fn add_notes(&mut self, notes: &Notes, host: &str) {
        let mut announced = BTreeSet::new();
        for note in &notes.notes {
            match note {
                Note::Connected {
                    user,
                    worker,
                    minute,
                }
                | Note::Disconnected {
                    user,
                    worker,
                    minute,
                } => {
                    let connected = matches!(note, Note::Connected { .. });
                    if connected {
                        self.sessions += 1;
                    }
                    let key = if connected {
                        "connection_new"
                    } else {
                        "connection_close"
                    };
                    self.monitor(host, key, *minute, 1.0, false);
                    self.push(
                        "newevent",
                        serde_json::json!({
                            "user": user, "worker": worker, "coin": "btc", "peer": "127.0.0.1",
                            "event": if connected { "connected" } else { "disconnected" },
                        }),
                    );
                }
                Note::Share(share) => self.add_share(share, host, &mut announced),
            }
        }
        // Every gateway shard samples its sessions once a minute from its start.
        self.add_to_set("btc:mk:connections".to_owned(), host.to_owned());
        self.add_to_set("monitor:keys".to_owned(), "btc:m:connections".to_owned());
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

fn is_sampled(key: &str) -> bool {
    key.starts_with("btc:")
        && !key.starts_with("btc:mk:")
        && SAMPLED.iter().any(|s| key.ends_with(s))
}

/// Compares `dump` with `expected`; `Err` lists every difference.
pub fn check_dump(dump: &RedisDump, expected: &Expected) -> Result<(), String> {
    let dump = without_bookkeeping(dump);
    let mut problems = Vec::new();
    for (key, value) in &dump {
        if is_sampled(key) {
            // One sample per minute of the gateway's single shard: never more sessions than ran.
            if let RedisValue::Hash(fields) = value {
                for (minute, count) in fields {
                    match count.parse::<usize>() {
                        Ok(n) if n <= expected.sessions => {}
                        _ => problems.push(format!(
                            "{key} {minute} = {count}, at most {} sessions ran",
                            expected.sessions
                        )),
                    }
                }
            }
            continue;
        }
        if !expected.keys.contains_key(key) {
            problems.push(format!("unexpected key {key} = {value:?}"));
        }
    }
    for (key, want) in &expected.keys {
        let Some(got) = dump.get(key) else {
            problems.push(format!("missing key {key}, expected {want:?}"));
            continue;
        };
        let same = match (want, got) {
            (Value::Ints(w), RedisValue::Hash(g)) => {
                g.len() == w.len()
                    && w.iter().all(|(f, v)| {
                        g.get(&f.to_string()).and_then(|s| s.parse::<i64>().ok()) == Some(*v)
                    })
            }
            (Value::Floats(w), RedisValue::Hash(g)) => {
                g.len() == w.len()
                    && w.iter().all(|(f, v)| {
                        g.get(&f.to_string())
                            .and_then(|s| s.parse::<f64>().ok())
                            .is_some_and(|x| close(x, *v))
                    })
            }
            (Value::List(w), RedisValue::List(g)) => {
                let parsed: Vec<serde_json::Value> = g
                    .iter()
                    .filter_map(|s| serde_json::from_str(s).ok())
                    .collect();
                parsed.len() == g.len() && &parsed == w
            }
            (Value::Set(w), RedisValue::Set(g)) => w == g,
            _ => false,
        };
        if !same {
            problems.push(format!("{key}: expected {want:?}, Redis holds {got:?}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Polls `dump` until it matches `expected` or `limit` passes; returns the last mismatch.
pub fn wait_for(
    dump: impl Fn() -> Result<RedisDump, String>,
    expected: &Expected,
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        let outcome = dump().and_then(|d| check_dump(&d, expected));
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}
