//! Golden conversations: a miner's bytes, cut into awkward chunks, go through `LineBuffer`,
//! `parse_request`, `WorkerName`, `Vardiff` and the reply writers of a minimal session written in
//! this test (the shape the gateway's session takes, without sockets), and the bytes the pool
//! sends back are compared whole. One conversation covers every method and every error code;
//! others cover what closes a session (abuse) and what does not.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bitcoin::hashes::Hash;
use ironpool_shared::stratum::{
    configure_reply, parse_request, reply_error, reply_error_default, reply_true,
    set_difficulty_line, subscribe_reply, ConfigureAnswer, LineBuffer, NotifyLine, Request,
    StratumError, VersionRollingAnswer, WorkerName, WorkerNameRules,
};
use ironpool_shared::vardiff::{Vardiff, VardiffConfig};
use ironpool_shared::work::{header_for_solution, ExtranonceSizes, JobRecord, Solution};

const POOL_MASK: u32 = 0x1fff_e000;
const EXTRANONCE1: [u8; 4] = [0x00, 0x00, 0x00, 0x2a];

fn job() -> JobRecord {
    JobRecord {
        job_id: 0x1f,
        clean: true,
        height: 101,
        prev_hash: [0x11; 32],
        version: 0x2000_0000,
        version_mask: POOL_MASK,
        bits: 0x207f_ffff,
        ntime: 0x6650_0000,
        ntime_min: 0x6650_0000,
        ntime_max: 0x6650_1000,
        extranonce: ExtranonceSizes::default(),
        coinb1: vec![0x01, 0x02, 0x03],
        coinb2: vec![0x04, 0x05],
        merkle_branch: vec![[0x22; 32]],
        created_at_us: 0,
    }
}

/// The difficulty a header achieves (difficulty-1 target over its hash).
fn achieved(job: &JobRecord, solution: &Solution) -> f64 {
    let header = header_for_solution(job, solution).expect("sizes");
    let hash = header.block_hash().to_byte_array();
    bitcoin::Target::from_le_bytes(hash).difficulty_float()
}

/// A minimal session: what the gateway does per line, reduced to the codec's uses.
struct Session {
    lines: LineBuffer,
    subscribed: bool,
    worker: Option<WorkerName>,
    version_mask: u32,
    vardiff: Vardiff,
    job: JobRecord,
    seen: HashSet<(u32, Vec<u8>, u32, u32, u32)>,
    closed: Option<String>,
    now: Instant,
}

impl Session {
    fn new(now: Instant) -> Self {
        let config = VardiffConfig {
            min: 0.000_000_01,
            initial: 1.0,
            ..VardiffConfig::default()
        };
        Session {
            lines: LineBuffer::new(1024),
            subscribed: false,
            worker: None,
            version_mask: 0,
            vardiff: Vardiff::new(config, now),
            job: job(),
            seen: HashSet::new(),
            closed: None,
            now,
        }
    }

    fn receive(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.closed.is_some() {
            return;
        }
        self.lines.push(bytes);
        loop {
            let line = match self.lines.next_line() {
                Ok(Some(line)) => line.to_vec(),
                Ok(None) => return,
                Err(e) => {
                    self.closed = Some(e.to_string());
                    return;
                }
            };
            match parse_request(&line) {
                Ok(request) => self.handle(request, out),
                Err(e) if e.is_abuse() => {
                    self.closed = Some(e.to_string());
                    return;
                }
                Err(e) => {
                    e.write_reply(out);
                }
            }
        }
    }

    fn send_difficulty(&self, out: &mut Vec<u8>) {
        set_difficulty_line(out, self.vardiff.current()).expect("difficulty in range");
    }

    fn handle(&mut self, request: Request<'_>, out: &mut Vec<u8>) {
        match request {
            Request::Subscribe { id, .. } => {
                self.subscribed = true;
                subscribe_reply(out, id, "00000000000000a1", &EXTRANONCE1, 8);
            }
            Request::Configure { id, configure } => {
                let version_rolling = configure.version_rolling.map(|r| r.negotiate(POOL_MASK));
                if let Some(VersionRollingAnswer::Granted { mask, .. }) = version_rolling {
                    self.version_mask = mask;
                }
                let minimum_difficulty = configure.minimum_difficulty.map(|m| match m.value {
                    Some(value) => {
                        self.vardiff.set_minimum(self.now, value);
                        true
                    }
                    None => false,
                });
                configure_reply(
                    out,
                    id,
                    &ConfigureAnswer {
                        version_rolling,
                        minimum_difficulty,
                        subscribe_extranonce: configure.subscribe_extranonce.then_some(true),
                        unknown: &configure.unknown,
                    },
                );
            }
            Request::Authorize { id, user, .. } => {
                // Authorize before subscribe is tolerated.
                match WorkerName::parse(&user, &WorkerNameRules::default()) {
                    Ok(name) => {
                        let first = self.worker.is_none();
                        self.worker = Some(name);
                        reply_true(out, id);
                        if first && self.subscribed {
                            self.send_difficulty(out);
                            out.extend_from_slice(NotifyLine::new(&self.job, true).as_bytes());
                        }
                    }
                    Err(e) => reply_error(out, id, StratumError::Unauthorized, &e.to_string()),
                }
            }
            Request::SuggestDifficulty { id, difficulty } => {
                reply_true(out, id);
                if self.vardiff.suggest(self.now, difficulty).is_some() {
                    self.send_difficulty(out);
                }
            }
            Request::ExtranonceSubscribe { id } => reply_true(out, id),
            Request::Submit { id, submit } => {
                if !self.subscribed {
                    return reply_error_default(out, id, StratumError::NotSubscribed);
                }
                let Some(worker) = self.worker.filter(|w| {
                    submit.worker == w.user() || submit.worker == w.to_string().as_str()
                }) else {
                    return reply_error_default(out, id, StratumError::Unauthorized);
                };
                let _ = worker;
                if submit.job_id != self.job.job_id {
                    return reply_error_default(out, id, StratumError::JobNotFound);
                }
                if submit.extranonce2.len() != self.job.extranonce.extranonce2 {
                    return reply_error(
                        out,
                        id,
                        StratumError::Other,
                        "extranonce2 of 8 bytes expected",
                    );
                }
                let bits = submit.version_bits.unwrap_or(0);
                if bits & !self.version_mask != 0 {
                    return reply_error(
                        out,
                        id,
                        StratumError::Other,
                        "version bits outside the mask",
                    );
                }
                let key = (
                    submit.job_id,
                    submit.extranonce2.as_slice().to_vec(),
                    submit.ntime,
                    submit.nonce,
                    bits,
                );
                if self.seen.contains(&key) {
                    return reply_error_default(out, id, StratumError::Duplicate);
                }
                let solution = Solution {
                    extranonce1: EXTRANONCE1.to_vec(),
                    extranonce2: submit.extranonce2.as_slice().to_vec(),
                    ntime: submit.ntime,
                    nonce: submit.nonce,
                    version: (self.job.version & !self.version_mask) | (bits & self.version_mask),
                };
                let Some(credited) = self
                    .vardiff
                    .credit(achieved(&self.job, &solution), self.now)
                else {
                    return reply_error_default(out, id, StratumError::LowDifficulty);
                };
                self.seen.insert(key);
                reply_true(out, id);
                if self.vardiff.on_share(self.now, credited).is_some() {
                    self.send_difficulty(out);
                }
            }
            Request::Unknown { id, method } => {
                reply_error(
                    out,
                    id,
                    StratumError::Other,
                    &format!("unknown method {method}"),
                );
            }
        }
    }
}

/// Feeds `input` to a new session in chunks of `chunk` bytes; returns what the pool sent.
fn converse(input: &str, chunk: usize) -> (String, Option<String>) {
    let mut session = Session::new(Instant::now());
    let mut out = Vec::new();
    for piece in input.as_bytes().chunks(chunk) {
        session.receive(piece, &mut out);
    }
    (String::from_utf8(out).expect("utf-8"), session.closed)
}

/// A nonce (with version bits 0) whose share meets `wanted` and one that does not.
fn nonces(wanted: f64) -> (u32, u32) {
    let solution = |nonce| Solution {
        extranonce1: EXTRANONCE1.to_vec(),
        extranonce2: vec![0, 0, 0, 0, 0, 0, 0, 7],
        ntime: 0x6650_0001,
        nonce,
        version: 0x2000_0000,
    };
    let job = job();
    let good = (0..)
        .find(|&n| achieved(&job, &solution(n)) >= wanted)
        .expect("a share");
    let low = (0..)
        .find(|&n| achieved(&job, &solution(n)) < wanted)
        .expect("a low share");
    (good, low)
}

#[test]
fn every_method_and_every_error_code_in_one_conversation() {
    let (good, low) = nonces(0.000_01);
    let submit = |id: u32, worker: &str, job: &str, nonce: u32| {
        format!(
            r#"{{"id":{id},"method":"mining.submit","params":["{worker}","{job}","0000000000000007","66500001","{nonce:08x}"]}}"#
        )
    };
    let input = [
        submit(1, "alice.rig1", "1f", good), // 25: not subscribed
        r#"{"id":2,"method":"mining.configure","params":[["version-rolling","minimum-difficulty","info"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":16,"minimum-difficulty.value":0.000005}]}"#.into(),
        r#"{"id":3,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}"#.into(),
        r#"{"id":4,"method":"mining.authorize","params":["alice.rig/1","x"]}"#.into(), // 24
        r#"{"id":5,"method":"mining.authorize","params":["alice.rig1",null]}"#.into(),
        r#"{"id":6,"method":"mining.suggest_difficulty","params":[0.00001]}"#.into(),
        r#"{"id":7,"method":"mining.extranonce.subscribe","params":[]}"#.into(),
        submit(8, "alice.rig1", "1f", good),
        submit(9, "alice.rig1", "1f", good), // 22: duplicate
        submit(10, "alice.rig1", "2a", good), // 21: job not found
        submit(11, "alice.rig1", "1f", low), // 23: low difficulty
        submit(12, "bob.rig1", "1f", good), // 24: unauthorized worker
        r#"{"id":13,"method":"mining.submit","params":["alice.rig1","1f","07","66500001","00000000"]}"#.into(), // 20: session rule
        r#"{"id":14,"method":"mining.submit","params":["alice.rig1","1f","0000000000000007","665","00000000"]}"#.into(), // 20: params
        r#"{"id":15,"method":"mining.get_transactions","params":[]}"#.into(), // 20: unknown
        r#"[1,2]"#.into(), // 20: not a request
    ]
    .join("\r\n")
        + "\n";
    let expected = concat!(
        "{\"id\":1,\"result\":null,\"error\":[25,\"Not subscribed\",null]}\n",
        "{\"id\":2,\"result\":{\"version-rolling\":true,\"version-rolling.mask\":\"1fffe000\",\"minimum-difficulty\":true,\"info\":false},\"error\":null}\n",
        "{\"id\":3,\"result\":[[[\"mining.set_difficulty\",\"00000000000000a1\"],[\"mining.notify\",\"00000000000000a1\"]],\"0000002a\",8],\"error\":null}\n",
        "{\"id\":4,\"result\":null,\"error\":[24,\"worker name has '/' at byte 9; allowed: [-.0-9A-Z_a-z]\",null]}\n",
        "{\"id\":5,\"result\":true,\"error\":null}\n",
        "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[1]}\n",
        "{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"1f\",\"1111111111111111111111111111111111111111111111111111111111111111\",\"010203\",\"0405\",[\"2222222222222222222222222222222222222222222222222222222222222222\"],\"20000000\",\"207fffff\",\"66500000\",true]}\n",
        "{\"id\":6,\"result\":true,\"error\":null}\n",
        "{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[0.00001]}\n",
        "{\"id\":7,\"result\":true,\"error\":null}\n",
        "{\"id\":8,\"result\":true,\"error\":null}\n",
        "{\"id\":9,\"result\":null,\"error\":[22,\"Duplicate share\",null]}\n",
        "{\"id\":10,\"result\":null,\"error\":[21,\"Job not found\",null]}\n",
        "{\"id\":11,\"result\":null,\"error\":[23,\"Low difficulty share\",null]}\n",
        "{\"id\":12,\"result\":null,\"error\":[24,\"Unauthorized worker\",null]}\n",
        "{\"id\":13,\"result\":null,\"error\":[20,\"extranonce2 of 8 bytes expected\",null]}\n",
        "{\"id\":14,\"result\":null,\"error\":[20,\"mining.submit: param 3 (ntime): expected 8 hex digits, got 3\",null]}\n",
        "{\"id\":15,\"result\":null,\"error\":[20,\"unknown method mining.get_transactions\",null]}\n",
        "{\"id\":null,\"result\":null,\"error\":[20,\"line is not a json-rpc request: expected one object with unique keys\",null]}\n",
    );
    // Whatever the chunking, the same bytes come back and the session stays open.
    for chunk in [1, 2, 3, 7, 64, 100_000] {
        let (output, closed) = converse(&input, chunk);
        assert_eq!(output, expected, "chunks of {chunk}");
        assert_eq!(closed, None);
    }
}

#[test]
fn bytes_that_are_not_json_close_the_session_after_earlier_replies() {
    let (output, closed) = converse(
        "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n\x16\x03\x01\x02\x00\n{\"id\":2,\"method\":\"mining.subscribe\"}\n",
        5,
    );
    assert_eq!(
        output,
        "{\"id\":1,\"result\":[[[\"mining.set_difficulty\",\"00000000000000a1\"],[\"mining.notify\",\"00000000000000a1\"]],\"0000002a\",8],\"error\":null}\n"
    );
    assert!(closed.unwrap().starts_with("line is not json"));
}

#[test]
fn a_line_over_the_limit_closes_the_session_before_its_newline() {
    let long = format!("{{\"id\":1,\"method\":\"{}\"", "x".repeat(2000));
    let (output, closed) = converse(&long, 512);
    assert_eq!(output, "");
    assert_eq!(
        closed.as_deref(),
        Some("line of at least 1536 bytes exceeds the limit of 1024 bytes"),
        "closed on the first read that takes the unterminated line past the limit"
    );
}

#[test]
fn vardiff_changes_are_sent_as_set_difficulty_between_replies() {
    // A strong miner at difficulty 0.0000001 (about 430 hashes a share): thirty quick shares
    // raise the difficulty, and the new value goes out right after the share that triggered it.
    let mut session = Session::new(Instant::now());
    let mut out = Vec::new();
    session.receive(
        b"{\"id\":1,\"method\":\"mining.subscribe\"}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"alice\"]}\n{\"id\":3,\"method\":\"mining.suggest_difficulty\",\"params\":[0.0000001]}\n",
        &mut out,
    );
    out.clear();
    let job = job();
    let mut nonce = 0u32;
    let mut sent = 0;
    while sent < 30 {
        let solution = Solution {
            extranonce1: EXTRANONCE1.to_vec(),
            extranonce2: vec![0, 0, 0, 0, 0, 0, 0, 7],
            ntime: 0x6650_0001,
            nonce,
            version: 0x2000_0000,
        };
        if achieved(&job, &solution) >= 0.000_000_1 {
            session.now += Duration::from_millis(10);
            let line = format!(
                "{{\"id\":{sent},\"method\":\"mining.submit\",\"params\":[\"alice\",\"1f\",\"0000000000000007\",\"66500001\",\"{nonce:08x}\"]}}\n"
            );
            session.receive(line.as_bytes(), &mut out);
            sent += 1;
        }
        nonce += 1;
    }
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.ends_with(
            "{\"id\":29,\"result\":true,\"error\":null}\n{\"id\":null,\"method\":\"mining.set_difficulty\",\"params\":[0.0000004]}\n"
        ),
        "{text}"
    );
    assert_eq!(session.vardiff.current(), 0.000_000_4);
}
