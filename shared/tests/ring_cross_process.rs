//! Rings across real processes. Each test spawns this test binary again
//! (`current_exe --exact child --nocapture`) with `IRONPOOL_RING_CHILD_ROLE` set; the `child`
//! test then plays that role and returns at once when the variable is absent. Children report
//! through their exit status (they assert) and marker files in the test directory; the parent
//! waits for markers and exits with deadlines, so a hang fails instead of blocking the suite.

mod support;
use support::{job_config, share_config, TestDir};

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ironpool_shared::ring::{
    job_ring_path, share_ring_path, JobRing, JobRingOpened, JobRingReader, PushError,
    SenderCounters, Sent, ShareConsumer, ShareKind, ShareProducer, ShareRecord, ShareSender,
    ShareSenderConfig, WaitOutcome,
};

const ROLE_ENV: &str = "IRONPOOL_RING_CHILD_ROLE";
const DIR_ENV: &str = "IRONPOOL_RING_CHILD_DIR";
const DEADLINE: Duration = Duration::from_secs(60);

/// A child process that is killed (SIGKILL) and reaped if the test fails before it exits, so a
/// failing test leaves nothing running.
struct Proc {
    child: Option<Child>,
    what: String,
}

fn spawn(role: &str, dir: &Path) -> Proc {
    let child = Command::new(env::current_exe().expect("test binary path"))
        .args([
            "--exact",
            "child",
            "--nocapture",
            "--quiet",
            "--test-threads",
            "1",
        ])
        .env(ROLE_ENV, role)
        .env(DIR_ENV, dir)
        .stdin(Stdio::null())
        // The child's own "test result" line would read as a second run of the test in the
        // parent's output; its panics still reach stderr.
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child test process");
    Proc {
        child: Some(child),
        what: format!("child `{role}`"),
    }
}

impl Proc {
    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child not yet reaped")
    }

    fn exited(&mut self) -> bool {
        self.child().try_wait().expect("try_wait").is_some()
    }

    /// Waits for the exit, killing the child (and failing) after the deadline.
    fn finish(mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not finish within {DEADLINE:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn assert_success(self) {
        let what = self.what.clone();
        let status = self.finish();
        assert!(status.success(), "{what} failed: {status}");
    }

    /// SIGKILL, then reap; returns the exit status.
    fn kill(mut self) -> ExitStatus {
        self.child().kill().expect("SIGKILL");
        let status = self.child().wait().expect("reap");
        self.child = None;
        status
    }

    /// Waits for the marker file `name` the child writes.
    fn await_marker(&mut self, dir: &Path, name: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !dir.join(name).exists() {
            if let Some(status) = self.child().try_wait().expect("try_wait") {
                panic!(
                    "{} exited ({status}) before writing marker {name}",
                    self.what
                );
            }
            assert!(Instant::now() < deadline, "marker {name} never appeared");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn mark(dir: &Path, name: &str) {
    std::fs::write(dir.join(name), b"").expect("write marker");
}

/// Waits in the child for a marker written by the parent.
fn await_parent_marker(dir: &Path, name: &str) {
    let deadline = Instant::now() + DEADLINE;
    while !dir.join(name).exists() {
        assert!(Instant::now() < deadline, "marker {name} never appeared");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A payload whose length and bytes both depend on `sequence`, so a torn or stale copy shows.
fn job_payload(sequence: u64) -> Vec<u8> {
    let len = 8 + usize::try_from(sequence * 37 % 2000).expect("small");
    let mut payload = sequence.to_le_bytes().to_vec();
    payload.extend((0..len - 8).map(|i| (sequence as u8).wrapping_mul(31) ^ (i as u8)));
    payload
}

fn share(i: u32, kind: ShareKind) -> ShareRecord {
    ShareRecord {
        kind,
        shard_id: 9,
        session_id: u64::from(i) << 20 | 0xabc,
        job_id: i / 3,
        extranonce1: vec![0, 0, 0, 9],
        extranonce2: i.to_be_bytes().to_vec(),
        ntime: 0x6800_0000 + i,
        nonce: i.wrapping_mul(2_654_435_761),
        version: 0x2000_0000 | (i & 0x1fff) << 13,
        share_difficulty: 512.0 + f64::from(i),
        accepted_at_ms: 1_800_000_000_000 + u64::from(i),
        user: format!("user{}", i % 17),
        worker: format!("w{}", i % 3),
        network_difficulty: 0.0,
        detail: ironpool_shared::ring::RecordDetail::zero_for(kind),
    }
}

/// Reads the next record, waiting up to the deadline; returns (sequence, resync, epoch).
fn read_next(reader: &mut JobRingReader) -> (u64, bool, u64) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(read) = reader.try_read().expect("try_read") {
            assert_eq!(
                read.payload,
                job_payload(read.sequence).as_slice(),
                "payload of sequence {}",
                read.sequence
            );
            return (read.sequence, read.resync, read.writer_epoch);
        }
        assert!(Instant::now() < deadline, "no record within {DEADLINE:?}");
        reader.wait(Duration::from_secs(1)).expect("wait");
    }
}

fn arg<T: std::str::FromStr>(args: &[&str], index: usize) -> T {
    args.get(index)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("child argument {index} in {args:?}"))
}

/// The entry point of every child process; does nothing in a normal test run.
#[test]
fn child() {
    let (Ok(role), Ok(dir)) = (env::var(ROLE_ENV), env::var(DIR_ENV)) else {
        return;
    };
    // Die with the parent test thread, so a failing or killed parent leaves no child behind.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes integer arguments and touches no memory of ours.
    let result = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    assert_eq!(result, 0, "prctl(PR_SET_PDEATHSIG)");
    let dir = PathBuf::from(dir);
    let args: Vec<&str> = role.split(':').collect();
    match args[0] {
        "job_writer_range" => child_job_writer_range(&dir, &args),
        "job_writer_fast" => child_job_writer_fast(&dir, &args),
        "job_reader_all" => child_job_reader_all(&dir, &args),
        "job_reader_newest" => child_job_reader_newest(&dir, &args),
        "share_producer" => child_share_producer(&dir, &args),
        "share_consumer_partial" => child_share_consumer_partial(&dir, &args),
        "share_consumer_expect" => child_share_consumer_expect(&dir, &args),
        "share_consumer_scenario" => child_share_consumer_scenario(&dir),
        "share_sender_crash" => child_share_sender_crash(&dir),
        other => panic!("unknown child role {other}"),
    }
}

/// `job_writer_range:first:last:slots:capacity[:replace]`: opens the writer, checks the head is
/// `first - 1`, publishes `first..=last`, exits.
fn child_job_writer_range(dir: &Path, args: &[&str]) {
    let (first, last): (u64, u64) = (arg(args, 1), arg(args, 2));
    let mut writer =
        JobRing::open(job_ring_path(dir), &job_config(arg(args, 3), arg(args, 4))).expect("writer");
    if args.get(5) == Some(&"replace") {
        assert!(
            matches!(writer.opened(), JobRingOpened::Replaced { .. }),
            "{:?}",
            writer.opened()
        );
    }
    assert_eq!(
        writer.head(),
        first - 1,
        "a re-attached writer continues from the head"
    );
    for sequence in first..=last {
        assert_eq!(
            writer.publish(&job_payload(sequence)).expect("publish"),
            sequence
        );
    }
}

/// `job_writer_fast:count:slots`: creates the ring, marks `ready`, waits for `go`, publishes
/// `count` records back to back.
fn child_job_writer_fast(dir: &Path, args: &[&str]) {
    let count: u64 = arg(args, 1);
    let mut writer =
        JobRing::open(job_ring_path(dir), &job_config(arg(args, 2), 4096)).expect("writer");
    mark(dir, "ready");
    await_parent_marker(dir, "go");
    for sequence in 1..=count {
        writer.publish(&job_payload(sequence)).expect("publish");
    }
}

/// `job_reader_all:count`: attaches to the (empty) ring, marks `ready`, then must read every
/// sequence 1..=count in order, without resync.
fn child_job_reader_all(dir: &Path, args: &[&str]) {
    let count: u64 = arg(args, 1);
    let mut reader = JobRingReader::attach(job_ring_path(dir)).expect("reader");
    mark(dir, "ready");
    for expected in 1..=count {
        let (sequence, resync, _) = read_next(&mut reader);
        assert_eq!((sequence, resync), (expected, false));
    }
    mark(dir, "done");
}

/// `job_reader_newest:newest`: a restarted reader; must first get `newest` with resync, then
/// (after marking `ready`) `newest + 1` without.
fn child_job_reader_newest(dir: &Path, args: &[&str]) {
    let newest: u64 = arg(args, 1);
    let mut reader = JobRingReader::attach(job_ring_path(dir)).expect("reader");
    assert_eq!(read_next(&mut reader).0..=newest, newest..=newest);
    mark(dir, "ready");
    let (sequence, resync, _) = read_next(&mut reader);
    assert_eq!((sequence, resync), (newest + 1, false));
}

/// `share_producer:count:capacity`: creates the ring, marks `ready`, pushes share 0..count,
/// yielding while the ring is full.
fn child_share_producer(dir: &Path, args: &[&str]) {
    let count: u32 = arg(args, 1);
    let mut producer = ShareProducer::open(share_ring_path(dir, 0), &share_config(arg(args, 2), 8))
        .expect("producer");
    mark(dir, "ready");
    let deadline = Instant::now() + DEADLINE;
    for i in 0..count {
        let record = share(i, ShareKind::Share);
        loop {
            match producer.try_push(&record) {
                Ok(()) => break,
                Err(PushError::Full { .. }) => {
                    assert!(Instant::now() < deadline, "ring stayed full at record {i}");
                    std::thread::yield_now();
                }
                Err(error) => panic!("push {i}: {error}"),
            }
        }
    }
}

/// `share_consumer_partial:commit_after:pop`: pops `pop` records, commits after the first
/// `commit_after`, marks `popped`, then hangs until killed.
fn child_share_consumer_partial(dir: &Path, args: &[&str]) {
    let (commit_after, pop): (u32, u32) = (arg(args, 1), arg(args, 2));
    let mut consumer = ShareConsumer::open(share_ring_path(dir, 0)).expect("consumer");
    for i in 0..pop {
        let record = consumer
            .pop()
            .expect("record available")
            .expect("valid record");
        assert_eq!(record, share(i, ShareKind::Share));
        if i + 1 == commit_after {
            consumer.commit();
        }
    }
    mark(dir, "popped");
    std::thread::sleep(DEADLINE);
}

/// `share_consumer_expect:first:end`: must pop exactly shares first..end, then nothing.
fn child_share_consumer_expect(dir: &Path, args: &[&str]) {
    let (first, end): (u32, u32) = (arg(args, 1), arg(args, 2));
    let mut consumer = ShareConsumer::open(share_ring_path(dir, 0)).expect("consumer");
    for i in first..end {
        let record = consumer
            .pop()
            .expect("record available")
            .expect("valid record");
        assert_eq!(record, share(i, ShareKind::Share));
    }
    assert!(
        consumer.pop().is_none(),
        "more records than pushed and uncommitted"
    );
    consumer.commit();
}

/// The record order of the full-ring scenario: 56 shares, the block candidate, 46 shares.
fn scenario_expected() -> Vec<ShareRecord> {
    (0..56)
        .map(|i| share(i, ShareKind::Share))
        .chain([share(1000, ShareKind::BlockCandidate)])
        .chain((56..102).map(|i| share(i, ShareKind::Share)))
        .collect()
}

/// Consumer of the full-ring scenario: receives exactly `scenario_expected`, committing after
/// each batch, then checks that nothing more (no duplicate) arrives.
fn child_share_consumer_scenario(dir: &Path) {
    let expected = scenario_expected();
    let mut consumer = ShareConsumer::open(share_ring_path(dir, 0)).expect("consumer");
    let mut received = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    while received.len() < expected.len() {
        while let Some(record) = consumer.pop() {
            received.push(record.expect("valid record"));
        }
        consumer.commit();
        assert!(
            Instant::now() < deadline,
            "received only {} records",
            received.len()
        );
        consumer.wait(Duration::from_millis(100)).expect("wait");
    }
    assert_eq!(received, expected);
    assert_eq!(
        consumer.wait(Duration::from_millis(300)).expect("wait"),
        WaitOutcome::TimedOut
    );
    assert!(consumer.pop().is_none(), "a record arrived twice");
    mark(dir, "received");
}

/// Producer that fills ring, backlog and spool, then hangs until killed (see
/// `share_spool_is_replayed_after_the_producer_is_killed`).
fn child_share_sender_crash(dir: &Path) {
    let producer =
        ShareProducer::open(share_ring_path(dir, 0), &share_config(16, 2)).expect("producer");
    let config = ShareSenderConfig {
        spool_dir: dir.join("spool"),
        backlog_max: 4,
    };
    let mut sender = ShareSender::new(producer, &config).expect("sender");
    for i in 0..30 {
        let expected = match i {
            0..14 => Sent::Pushed,
            14..18 => Sent::Backlogged,
            _ => Sent::Spooled,
        };
        assert_eq!(
            sender.send(&share(i, ShareKind::Share)).expect("send"),
            expected,
            "share {i}"
        );
    }
    assert_eq!(
        sender
            .send(&share(1000, ShareKind::BlockCandidate))
            .expect("send"),
        Sent::Pushed
    );
    assert_eq!(
        sender
            .send(&share(1001, ShareKind::BlockCandidate))
            .expect("send"),
        Sent::Pushed
    );
    assert_eq!(
        sender
            .send(&share(1002, ShareKind::BlockCandidate))
            .expect("send"),
        Sent::BlockHeld
    );
    mark(dir, "sent");
    std::thread::sleep(DEADLINE);
}

#[test]
fn job_records_reach_a_reader_process_all_in_order() {
    // 1. The parent writes; a reader process attaches to the empty ring and marks `ready`.
    // 2. The parent publishes 1000 records back to back (1024 slots: no lapping possible).
    // 3. The reader must see 1..=1000 in order, no resync, every payload intact.
    let dir = TestDir::new("job-order");
    let mut writer =
        JobRing::open(job_ring_path(dir.path()), &job_config(1024, 4096)).expect("writer");
    let mut reader = spawn("job_reader_all:1000", dir.path());
    reader.await_marker(dir.path(), "ready");
    for sequence in 1..=1000 {
        writer.publish(&job_payload(sequence)).expect("publish");
    }
    reader.assert_success();
    assert!(dir.path().join("done").exists());
}

#[test]
fn job_late_attach_across_processes_gets_the_newest_with_resync() {
    let dir = TestDir::new("job-late");
    let writer = spawn("job_writer_range:1:50:64:16384", dir.path());
    writer.assert_success();
    let mut reader = JobRingReader::attach(job_ring_path(dir.path())).expect("reader");
    let (sequence, resync, epoch) = read_next(&mut reader);
    assert_eq!((sequence, resync, epoch), (50, true, 1));
    assert!(
        reader.try_read().expect("read").is_none(),
        "only the newest record"
    );
}

#[test]
fn job_slow_reader_is_lapped_and_resyncs_without_torn_or_stale_records() {
    // 1. A writer process publishes 20,000 records back to back into 8 slots.
    // 2. This reader is slowed down, so the writer laps it many times.
    // 3. Every record read has the payload of its sequence (no torn copy), sequences only grow,
    //    a step other than +1 is flagged resync, and the last record read is the last published.
    let dir = TestDir::new("job-slow");
    let count = 20_000u64;
    let mut writer = spawn(&format!("job_writer_fast:{count}:8"), dir.path());
    writer.await_marker(dir.path(), "ready");
    let mut reader = JobRingReader::attach(job_ring_path(dir.path())).expect("reader");
    mark(dir.path(), "go");
    let (mut last, mut reads, mut resyncs) = (0u64, 0u64, 0u64);
    let deadline = Instant::now() + DEADLINE;
    let mut writer_done = false;
    loop {
        match reader.try_read().expect("try_read") {
            Some(read) => {
                assert_eq!(
                    read.payload,
                    job_payload(read.sequence).as_slice(),
                    "torn read of {}",
                    read.sequence
                );
                assert!(
                    read.sequence > last,
                    "sequence went from {last} to {}",
                    read.sequence
                );
                if read.resync {
                    resyncs += 1;
                } else {
                    assert_eq!(read.sequence, last + 1, "a skip without resync");
                }
                last = read.sequence;
                reads += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            None if writer_done => break,
            None => {
                writer_done = writer.exited();
                if !writer_done {
                    reader.wait(Duration::from_millis(50)).expect("wait");
                }
            }
        }
        assert!(Instant::now() < deadline, "reader stuck at {last}");
    }
    writer.assert_success();
    assert_eq!(last, count, "the reader ends on the newest record");
    assert!(
        resyncs > 0,
        "the writer never lapped the reader ({reads} reads)"
    );
    assert!(
        reads < count,
        "a lapped reader reads fewer records than published"
    );
}

#[test]
fn job_writer_restart_reader_keeps_reading_with_a_new_epoch() {
    let dir = TestDir::new("job-restart");
    let path = job_ring_path(dir.path());
    drop(JobRing::open(&path, &job_config(64, 16384)).expect("create the ring"));
    let mut reader = JobRingReader::attach(&path).expect("reader");
    spawn("job_writer_range:1:10:64:16384", dir.path()).assert_success();
    for expected in 1..=10 {
        assert_eq!(read_next(&mut reader), (expected, false, 2));
    }
    spawn("job_writer_range:11:15:64:16384", dir.path()).assert_success();
    for expected in 11..=15 {
        assert_eq!(
            read_next(&mut reader),
            (expected, false, 3),
            "records continue after the restart"
        );
    }
    assert_eq!(reader.reattach_count(), 0);
}

#[test]
fn job_incompatible_layout_is_replaced_and_the_reader_reattaches() {
    let dir = TestDir::new("job-replace");
    spawn("job_writer_range:1:3:8:1024", dir.path()).assert_success();
    let mut reader = JobRingReader::attach(job_ring_path(dir.path())).expect("reader");
    assert_eq!(read_next(&mut reader), (3, true, 1));
    let old_inode = reader.inode();
    // The new writer asks for 2048-byte slots: it must replace the file, and publishes 1..=2.
    let writer = spawn("job_writer_range:1:2:8:2048:replace", dir.path());
    let (sequence, resync, _) = read_next(&mut reader);
    assert!(resync, "the first record of the new file is a resync");
    assert!(
        sequence == 1 || sequence == 2,
        "sequence {sequence} of the new file"
    );
    assert_eq!(reader.slot_capacity(), 2048);
    assert_ne!(reader.inode(), old_inode);
    assert_eq!(reader.reattach_count(), 1);
    writer.assert_success();
    if sequence == 1 {
        assert_eq!(read_next(&mut reader), (2, false, 2));
    }
    assert!(reader.try_read().expect("read").is_none());
}

#[test]
fn job_reader_restart_attaches_late_and_continues() {
    let dir = TestDir::new("job-reader-restart");
    let mut writer =
        JobRing::open(job_ring_path(dir.path()), &job_config(8, 4096)).expect("writer");
    let mut first = spawn("job_reader_all:5", dir.path());
    first.await_marker(dir.path(), "ready");
    for sequence in 1..=5 {
        writer.publish(&job_payload(sequence)).expect("publish");
    }
    first.assert_success();
    std::fs::remove_file(dir.path().join("ready")).expect("reset marker");
    for sequence in 6..=9 {
        writer.publish(&job_payload(sequence)).expect("publish");
    }
    let mut second = spawn("job_reader_newest:9", dir.path());
    second.await_marker(dir.path(), "ready");
    writer.publish(&job_payload(10)).expect("publish");
    second.assert_success();
}

#[test]
fn share_records_cross_processes_in_order() {
    // A producer process pushes 20,000 records through a 256-slot ring; this consumer pops them
    // with futex waits and batch commits and checks each one.
    let dir = TestDir::new("share-order");
    let count = 20_000u32;
    let mut producer = spawn(&format!("share_producer:{count}:256"), dir.path());
    producer.await_marker(dir.path(), "ready");
    let mut consumer = ShareConsumer::open(share_ring_path(dir.path(), 0)).expect("consumer");
    let deadline = Instant::now() + DEADLINE;
    let mut next = 0u32;
    while next < count {
        while let Some(record) = consumer.pop() {
            assert_eq!(
                record.expect("valid record"),
                share(next, ShareKind::Share),
                "record {next}"
            );
            next += 1;
            if next.is_multiple_of(64) {
                consumer.commit();
            }
        }
        consumer.commit();
        assert!(Instant::now() < deadline, "stalled at {next}");
        consumer.wait(Duration::from_millis(100)).expect("wait");
    }
    producer.assert_success();
    assert!(consumer.pop().is_none());
}

#[test]
fn share_consumer_killed_before_commit_rereads_on_restart() {
    // 1. The parent pushes shares 0..100.
    // 2. A consumer process pops 70, commits after 40, and is SIGKILLed.
    // 3. A new consumer process must get exactly 40..100.
    let dir = TestDir::new("share-kill");
    let mut producer = ShareProducer::open(share_ring_path(dir.path(), 0), &share_config(128, 8))
        .expect("producer");
    for i in 0..100 {
        producer
            .try_push(&share(i, ShareKind::Share))
            .expect("push");
    }
    let mut consumer = spawn("share_consumer_partial:40:70", dir.path());
    consumer.await_marker(dir.path(), "popped");
    let status = consumer.kill();
    assert!(!status.success(), "the consumer was killed");
    assert_eq!(producer.len(), 60, "only the committed 40 were freed");
    spawn("share_consumer_expect:40:100", dir.path()).assert_success();
    assert!(
        producer.is_empty(),
        "the restarted consumer committed everything"
    );
}

#[test]
fn share_block_enters_a_full_ring_and_overflow_reaches_a_late_consumer() {
    // 1. No consumer runs. 56 shares fill the share slots of a 64-slot ring (8 reserved).
    // 2. A block candidate still enters (a reserved slot).
    // 3. 46 more shares: 16 go to the backlog, 30 to the spool.
    // 4. A consumer process starts; the parent flushes as it frees space. The consumer must get
    //    all 103 records in order, exactly once; the spool ends truncated.
    let dir = TestDir::new("share-full");
    let producer = ShareProducer::open(share_ring_path(dir.path(), 0), &share_config(64, 8))
        .expect("producer");
    let config = ShareSenderConfig {
        spool_dir: dir.path().join("spool"),
        backlog_max: 16,
    };
    let mut sender = ShareSender::new(producer, &config).expect("sender");
    for i in 0..56 {
        assert_eq!(
            sender.send(&share(i, ShareKind::Share)).expect("send"),
            Sent::Pushed
        );
    }
    assert_eq!(
        sender.send(&share(56, ShareKind::Share)).expect("send"),
        Sent::Backlogged,
        "share slots are full"
    );
    assert_eq!(
        sender
            .send(&share(1000, ShareKind::BlockCandidate))
            .expect("send"),
        Sent::Pushed
    );
    for i in 57..102 {
        let expected = if i < 72 {
            Sent::Backlogged
        } else {
            Sent::Spooled
        };
        assert_eq!(
            sender.send(&share(i, ShareKind::Share)).expect("send"),
            expected,
            "share {i}"
        );
    }
    let counters = sender.counters();
    assert_eq!(
        (counters.pushed, counters.backlogged, counters.spooled),
        (57, 16, 30),
        "ring, backlog and spool before the consumer starts"
    );
    let mut consumer = spawn("share_consumer_scenario", dir.path());
    let deadline = Instant::now() + DEADLINE;
    while !sender.is_drained() {
        sender.flush().expect("flush");
        assert!(Instant::now() < deadline, "never drained");
        if consumer.exited() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    consumer.assert_success();
    assert!(dir.path().join("received").exists());
    assert!(sender.is_drained());
    assert_eq!(
        sender.spool_file_bytes(),
        32,
        "the drained spool is truncated"
    );
    let SenderCounters {
        pushed, replayed, ..
    } = sender.counters();
    assert_eq!((pushed, replayed), (103, 30));
}

#[test]
fn share_spool_is_replayed_after_the_producer_is_killed() {
    // 1. A producer process fills the ring (14 shares + 2 blocks in 16 slots, 2 reserved), puts
    //    shares 14..18 in its memory backlog, spools 18..30, and holds block 1002 (backlog front +
    //    synced spool copy). It is SIGKILLed.
    // 2. A new sender on the same ring and spool replays the spool as a consumer frees space.
    // 3. Received: the ring's 16 records, then 18..30 and block 1002 from the spool. Shares
    //    14..18 were only in the dead process's memory (the documented limit of the backlog).
    let dir = TestDir::new("share-replay");
    let mut child = spawn("share_sender_crash", dir.path());
    child.await_marker(dir.path(), "sent");
    let _ = child.kill();

    let producer = ShareProducer::open(share_ring_path(dir.path(), 0), &share_config(16, 2))
        .expect("producer");
    let config = ShareSenderConfig {
        spool_dir: dir.path().join("spool"),
        backlog_max: 4,
    };
    let mut sender = ShareSender::new(producer, &config).expect("sender");
    assert_eq!(sender.counters().spool_entries_at_start, 13);
    let mut consumer = ShareConsumer::open(share_ring_path(dir.path(), 0)).expect("consumer");
    let mut received = Vec::new();
    for _ in 0..100 {
        while let Some(record) = consumer.pop() {
            received.push(record.expect("valid record"));
        }
        consumer.commit();
        sender.flush().expect("flush");
        if sender.is_drained() && consumer.available() == 0 {
            break;
        }
    }
    let expected: Vec<ShareRecord> = (0..14)
        .map(|i| share(i, ShareKind::Share))
        .chain([
            share(1000, ShareKind::BlockCandidate),
            share(1001, ShareKind::BlockCandidate),
        ])
        .chain((18..30).map(|i| share(i, ShareKind::Share)))
        .chain([share(1002, ShareKind::BlockCandidate)])
        .collect();
    assert_eq!(received, expected);
    assert_eq!(sender.counters().replayed, 13);
    assert_eq!(sender.spool_file_bytes(), 32);
}
