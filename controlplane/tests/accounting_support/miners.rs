//! Simulated miners, driven in turn from one thread so that the order in which the gateway sees
//! their shares and events is the order noted here. Shares are never sent in the last 1.5 s of a
//! unix minute, so each share's minute is known from the miner's clock.

use bitcoin::{CompactTarget, Target};
use ironpool_bench::gateway_harness::TestGateway;
use ironpool_bench::stratum_client::{error_code, find_share, submit_line, Client};
use ironpool_shared::work::{header_for_solution, JobRecord, Solution};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bits whose target every hash meets: every valid share is also a block.
pub const EASY_BITS: u32 = 0x207f_ffff;

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub fn minute_of(ms: u64) -> u64 {
    ms / 60_000 * 60
}

/// A share as the miner saw it.
#[derive(Debug, Clone)]
pub struct ShareNote {
    pub user: String,
    pub worker: String,
    pub minute: u64,
    pub difficulty: f64,
    pub network_difficulty: f64,
    /// `None`: accepted; `Some(code)`: rejected with that stratum error code.
    pub rejected: Option<i64>,
    /// Accepted and meeting the network target: the block hash in display order.
    pub block: Option<String>,
}

/// What the miners saw, in the order the gateway saw it.
#[derive(Debug, Clone)]
pub enum Note {
    Share(ShareNote),
    Connected {
        user: String,
        worker: String,
        minute: u64,
    },
    Disconnected {
        user: String,
        worker: String,
        minute: u64,
    },
}

#[derive(Debug, Default, Clone)]
pub struct Notes {
    pub notes: Vec<Note>,
}

impl Notes {
    pub fn accepted(&self) -> usize {
        self.notes
            .iter()
            .filter(|n| matches!(n, Note::Share(s) if s.rejected.is_none()))
            .count()
    }

    pub fn rejected(&self) -> usize {
        self.notes
            .iter()
            .filter(|n| matches!(n, Note::Share(s) if s.rejected.is_some()))
            .count()
    }
}

struct Miner {
    client: Client,
    user: String,
    worker: String,
    en1: Vec<u8>,
    next_id: u64,
    en2: u64,
    /// The last accepted share (job, solution), to send again as a duplicate.
    last: Option<(JobRecord, Solution)>,
}

/// What the test does at given moments of the run (stop Redis, kill a process…).
pub type Hooks<'a> = Vec<(Duration, Box<dyn FnMut() + 'a>)>;

pub struct Scenario {
    pub sessions: Vec<(String, String)>,
    pub duration: Duration,
    pub seed: u64,
    /// Pause between rounds (each session submits once per round).
    pub round: Duration,
}

fn network_difficulty(bits: u32) -> f64 {
    Target::from_compact(CompactTarget::from_consensus(bits)).difficulty_float()
}

/// Waits out the last `margin_ms` of a unix minute.
fn avoid_minute_edge(margin_ms: u64) {
    let into = unix_ms() % 60_000;
    if into > 60_000 - margin_ms {
        std::thread::sleep(Duration::from_millis(60_000 - into + 300));
    }
}

/// What a share is sent to test: the answer the pool must give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    Valid,
    Duplicate,
    Stale,
    Low,
}

impl Intent {
    /// The stratum error code the pool must answer with (`None`: accepted).
    fn code(self) -> Option<i64> {
        match self {
            Intent::Valid => None,
            Intent::Stale => Some(21),
            Intent::Duplicate => Some(22),
            Intent::Low => Some(23),
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Miner {
    /// Reads until the gateway's `mining.notify` of job `job_id`: a share sent after it is judged
    /// against that job (the shard reads the ring on its own schedule; without this, a share
    /// meant to be stale could still meet the old job).
    fn see_job(&mut self, job_id: u32) {
        loop {
            let line = self.client.line().expect("gateway closed a session");
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["method"] == "mining.notify"
                && v["params"][0]
                    .as_str()
                    .and_then(|id| u32::from_str_radix(id, 16).ok())
                    == Some(job_id)
            {
                return;
            }
        }
    }

    /// Sends `line` and reads until the reply to `id` (skipping notifies and difficulties).
    fn request(&mut self, line: &str, id: u64) -> String {
        self.client.send(line);
        let prefix = format!("{{\"id\":{id},");
        loop {
            let reply = self.client.line().expect("gateway closed a session");
            if reply.starts_with(&prefix) {
                return reply;
            }
        }
    }

    /// Sends a share made to get `intent`'s answer, and requires that answer: the notes hold
    /// what the miner meant, not merely what the pool said.
    fn submit(
        &mut self,
        job: &JobRecord,
        solution: &Solution,
        difficulty: f64,
        intent: Intent,
    ) -> ShareNote {
        self.next_id += 1;
        let id = self.next_id;
        let name = format!("{}.{}", self.user, self.worker);
        let line = submit_line(id, &name, job, solution, None);
        // Checked after the grinding, right before the send.
        avoid_minute_edge(1_500);
        let before = unix_ms();
        let reply = self.request(&line, id);
        let after = unix_ms();
        assert_eq!(
            minute_of(before),
            minute_of(after),
            "a share straddled a minute"
        );
        let rejected = if reply.contains("\"result\":true") {
            None
        } else {
            Some(error_code(&reply))
        };
        assert_eq!(
            rejected,
            intent.code(),
            "a {intent:?} share of {name} was answered {reply}"
        );
        let hash = header_for_solution(job, solution)
            .expect("sizes")
            .block_hash();
        let target = Target::from_compact(CompactTarget::from_consensus(job.bits));
        let block = (rejected.is_none() && target.is_met_by(hash)).then(|| hash.to_string());
        ShareNote {
            user: self.user.clone(),
            worker: self.worker.clone(),
            minute: minute_of(before),
            difficulty,
            network_difficulty: network_difficulty(job.bits),
            rejected,
            block,
        }
    }

    fn next_en2(&mut self) -> Vec<u8> {
        self.en2 += 1;
        self.en2.to_be_bytes().to_vec()
    }
}

impl Scenario {
    /// Runs the miners against `gateway` (whose sessions keep `difficulty`), calling each hook
    /// once when its moment has come; returns the notes.
    pub fn run(&self, gateway: &mut TestGateway, difficulty: f64, mut hooks: Hooks<'_>) -> Notes {
        let mut notes = Notes::default();
        let mut rng = Rng(self.seed);
        let mut job = gateway.publish(true);
        let mut stale: Option<JobRecord> = None;
        let mut miners = Vec::new();
        for (user, worker) in &self.sessions {
            avoid_minute_edge(1_500);
            let mut client = Client::connect(gateway.addr);
            let before = unix_ms();
            let en1 = client.handshake(&format!("{user}.{worker}"));
            assert_eq!(minute_of(before), minute_of(unix_ms()));
            notes.notes.push(Note::Connected {
                user: user.clone(),
                worker: worker.clone(),
                minute: minute_of(before),
            });
            miners.push(Miner {
                client,
                user: user.clone(),
                worker: worker.clone(),
                en1,
                next_id: 10,
                en2: 0,
                last: None,
            });
        }
        let start = Instant::now();
        let mut last_clean = Instant::now();
        let mut block_phase_until: Option<Instant> = None;
        let mut blocks_done = 0u32;
        while start.elapsed() < self.duration {
            let elapsed = start.elapsed();
            for (at, hook) in hooks.iter_mut() {
                if *at <= elapsed {
                    // Run once: push the moment past the end.
                    *at = Duration::MAX;
                    hook();
                }
            }
            // A new tip every 20 s (the old job becomes stale); a short phase with easy bits
            // (every share a block) once every 50 s.
            if last_clean.elapsed() > Duration::from_secs(20) {
                stale = Some(job.clone());
                let block_phase = elapsed.as_secs() / 50 >= u64::from(blocks_done + 1);
                job = if block_phase {
                    blocks_done += 1;
                    block_phase_until = Some(Instant::now() + Duration::from_secs(3));
                    gateway.publish_bits(true, EASY_BITS)
                } else {
                    gateway.publish(true)
                };
                last_clean = Instant::now();
                for miner in &mut miners {
                    miner.last = None;
                    miner.see_job(job.job_id);
                }
            }
            if block_phase_until.is_some_and(|until| Instant::now() > until) {
                stale = Some(job.clone());
                job = gateway.publish(true);
                block_phase_until = None;
                for miner in &mut miners {
                    miner.last = None;
                    miner.see_job(job.job_id);
                }
            }
            let in_block_phase = block_phase_until.is_some();
            for miner in &mut miners {
                let roll = rng.next() % 100;
                let note = if roll < 7 && miner.last.is_some() {
                    let (j, s) = miner.last.clone().expect("checked");
                    miner.submit(&j, &s, difficulty, Intent::Duplicate)
                } else if roll < 14 && stale.is_some() {
                    let old = stale.clone().expect("checked");
                    let en2 = miner.next_en2();
                    let s = find_share(
                        &old,
                        &miner.en1,
                        &en2,
                        old.version,
                        difficulty,
                        f64::INFINITY,
                    );
                    miner.submit(&old, &s, difficulty, Intent::Stale)
                } else if roll < 20 && !in_block_phase {
                    let en2 = miner.next_en2();
                    let s = find_share(&job, &miner.en1, &en2, job.version, 0.0, difficulty);
                    miner.submit(&job, &s, difficulty, Intent::Low)
                } else {
                    let en2 = miner.next_en2();
                    let s = find_share(
                        &job,
                        &miner.en1,
                        &en2,
                        job.version,
                        difficulty,
                        f64::INFINITY,
                    );
                    let note = miner.submit(&job, &s, difficulty, Intent::Valid);
                    if note.rejected.is_none() {
                        miner.last = Some((job.clone(), s));
                    }
                    note
                };
                notes.notes.push(Note::Share(note));
            }
            std::thread::sleep(self.round);
        }
        // Sessions end one at a time, each seen closed before the next.
        for miner in miners {
            // The gateway's open-session count is published once a second: a wide margin.
            avoid_minute_edge(4_000);
            let open = gateway.control.totals().connections_open;
            let before = unix_ms();
            drop(miner.client);
            let deadline = Instant::now() + Duration::from_secs(10);
            while gateway.control.totals().connections_open >= open {
                assert!(
                    Instant::now() < deadline,
                    "the gateway never saw the session end"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            let after = unix_ms();
            assert_eq!(
                minute_of(before),
                minute_of(after),
                "a disconnect straddled a minute"
            );
            notes.notes.push(Note::Disconnected {
                user: miner.user,
                worker: miner.worker,
                minute: minute_of(before),
            });
        }
        notes
    }
}
