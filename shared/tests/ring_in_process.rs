//! Ring behaviour inside one process: job ring order, late attach, lapping, restart and
//! replacement; share ring reserve, commit and restart; `ShareSender` backlog, spool and replay;
//! and that corrupt files give precise errors, not panics.
//!
//! Every test works in its own directory under /dev/shm and removes it at the end.

mod support;
use support::{job_config, share_config, TestDir};

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use ironpool_shared::ring::{
    job_ring_path, share_ring_path, JobRing, JobRingOpened, JobRingReader, PopError, PushError,
    RingError, Sent, ShareConsumer, ShareKind, ShareProducer, ShareRecord, ShareSender,
    ShareSenderConfig, WaitOutcome,
};

/// A payload whose length and bytes both depend on `sequence`, so a torn or stale copy shows.
fn job_payload(sequence: u64) -> Vec<u8> {
    let len = 8 + usize::try_from(sequence * 37 % 500).expect("small");
    let mut payload = sequence.to_le_bytes().to_vec();
    payload.extend((0..len - 8).map(|i| (sequence as u8).wrapping_mul(31) ^ (i as u8)));
    payload
}

fn share(i: u32, kind: ShareKind) -> ShareRecord {
    ShareRecord {
        kind,
        shard_id: 7,
        session_id: u64::from(i) * 1000 + 1,
        job_id: i / 7,
        extranonce1: vec![0xde, 0xad, 0xbe, 0xef],
        extranonce2: i.to_le_bytes().to_vec(),
        ntime: 0x6800_0000 + i,
        nonce: i,
        version: 0x2000_0000 | (i & 0x1fff) << 13,
        share_difficulty: 1.0 + f64::from(i),
        accepted_at_ms: 1_800_000_000_000 + u64::from(i),
        user: format!("user{}", i % 13),
        worker: format!("rig{}", i % 5),
        network_difficulty: 0.0,
        detail: ironpool_shared::ring::RecordDetail::zero_for(kind),
    }
}

fn pop_all(consumer: &mut ShareConsumer) -> Vec<ShareRecord> {
    let mut out = Vec::new();
    while let Some(record) = consumer.pop() {
        out.push(record.expect("valid record"));
    }
    out
}

fn stride(slot_capacity: u64) -> u64 {
    (16 + slot_capacity.div_ceil(8) * 8).div_ceil(64) * 64
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for corruption");
    file.write_all_at(bytes, offset).expect("corrupt");
}

#[test]
fn job_records_arrive_in_order_with_their_payloads() {
    let dir = TestDir::new("job-order");
    let path = job_ring_path(dir.path());
    let mut writer = JobRing::open(&path, &job_config(16, 1024)).expect("writer");
    assert!(matches!(writer.opened(), JobRingOpened::Created));
    assert_eq!(writer.writer_epoch(), 1);
    let mut reader = JobRingReader::attach(&path).expect("reader");
    assert!(reader.try_read().expect("read").is_none(), "empty ring");
    for sequence in 1..=10 {
        assert_eq!(
            writer.publish(&job_payload(sequence)).expect("publish"),
            sequence
        );
    }
    for sequence in 1..=10 {
        let read = reader.try_read().expect("read").expect("record");
        assert_eq!(
            (read.sequence, read.resync, read.writer_epoch),
            (sequence, false, 1)
        );
        assert_eq!(read.payload, job_payload(sequence).as_slice());
    }
    assert!(reader.try_read().expect("read").is_none());
}

#[test]
fn job_payload_limits() {
    let dir = TestDir::new("job-limits");
    let path = job_ring_path(dir.path());
    let mut writer = JobRing::open(&path, &job_config(4, 100)).expect("writer");
    let mut reader = JobRingReader::attach(&path).expect("reader");
    match writer.publish(&[7u8; 101]) {
        Err(RingError::PayloadTooLarge {
            len: 101,
            capacity: 100,
        }) => {}
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert_eq!(writer.head(), 0, "a refused payload publishes nothing");
    writer.publish(&[9u8; 100]).expect("exactly the capacity");
    writer.publish(&[]).expect("empty payload");
    assert_eq!(
        reader.try_read().expect("read").expect("record").payload,
        &[9u8; 100][..]
    );
    assert_eq!(
        reader.try_read().expect("read").expect("record").payload,
        &[] as &[u8]
    );
    assert!(matches!(
        JobRing::open(dir.path().join("bad"), &job_config(3, 100)),
        Err(RingError::Config {
            field: "slot_count",
            value: 3,
            ..
        })
    ));
    assert!(matches!(
        JobRing::open(dir.path().join("bad"), &job_config(4, 0)),
        Err(RingError::Config {
            field: "slot_capacity",
            ..
        })
    ));
}

#[test]
fn late_reader_gets_only_the_newest_with_resync() {
    let dir = TestDir::new("job-late");
    let path = job_ring_path(dir.path());
    let mut writer = JobRing::open(&path, &job_config(8, 1024)).expect("writer");
    for sequence in 1..=5 {
        writer.publish(&job_payload(sequence)).expect("publish");
    }
    let mut reader = JobRingReader::attach(&path).expect("reader");
    let read = reader.try_read().expect("read").expect("record");
    assert_eq!((read.sequence, read.resync), (5, true));
    assert_eq!(read.payload, job_payload(5).as_slice());
    assert!(reader.try_read().expect("read").is_none());
    writer.publish(&job_payload(6)).expect("publish");
    let read = reader.try_read().expect("read").expect("record");
    assert_eq!((read.sequence, read.resync), (6, false));
}

#[test]
fn lapped_reader_skips_to_the_newest_with_resync() {
    let dir = TestDir::new("job-lapped");
    let path = job_ring_path(dir.path());
    let mut writer = JobRing::open(&path, &job_config(4, 1024)).expect("writer");
    let mut reader = JobRingReader::attach(&path).expect("reader");
    writer.publish(&job_payload(1)).expect("publish");
    assert_eq!(
        reader.try_read().expect("read").expect("record").sequence,
        1
    );
    for sequence in 2..=20 {
        writer.publish(&job_payload(sequence)).expect("publish");
    }
    let read = reader.try_read().expect("read").expect("record");
    assert_eq!((read.sequence, read.resync), (20, true));
    assert_eq!(read.payload, job_payload(20).as_slice());
    // Behind by less than a ring: no skip.
    for sequence in 21..=23 {
        writer.publish(&job_payload(sequence)).expect("publish");
    }
    for sequence in 21..=23 {
        let read = reader.try_read().expect("read").expect("record");
        assert_eq!((read.sequence, read.resync), (sequence, false));
    }
}

#[test]
fn writer_reattach_keeps_head_and_bumps_epoch_and_a_second_writer_is_refused() {
    let dir = TestDir::new("job-reattach");
    let path = job_ring_path(dir.path());
    let mut writer = JobRing::open(&path, &job_config(8, 1024)).expect("writer");
    let mut reader = JobRingReader::attach(&path).expect("reader");
    writer.publish(&job_payload(1)).expect("publish");
    writer.publish(&job_payload(2)).expect("publish");
    match JobRing::open(&path, &job_config(8, 1024)) {
        Err(error @ RingError::Busy { .. }) => {
            assert!(error.to_string().contains("job ring writer"), "{error}");
        }
        other => panic!("a second live writer must be refused, got {other:?}"),
    }
    drop(writer);
    let mut writer = JobRing::open(&path, &job_config(8, 1024)).expect("writer again");
    assert!(matches!(writer.opened(), JobRingOpened::Attached));
    assert_eq!((writer.head(), writer.writer_epoch()), (2, 2));
    assert_eq!(writer.publish(&job_payload(3)).expect("publish"), 3);
    for sequence in 1..=3 {
        let read = reader.try_read().expect("read").expect("record");
        assert_eq!((read.sequence, read.resync), (sequence, false));
        assert_eq!(read.payload, job_payload(sequence).as_slice());
    }
    assert_eq!(reader.writer_epoch(), 2);
    assert_eq!(reader.reattach_count(), 0);
}

#[test]
fn incompatible_file_is_replaced_and_readers_reattach() {
    let dir = TestDir::new("job-replace");
    let path = job_ring_path(dir.path());
    let mut writer = JobRing::open(&path, &job_config(8, 1024)).expect("writer");
    writer.publish(b"old-1").expect("publish");
    let mut reader = JobRingReader::attach(&path).expect("reader");
    assert_eq!(
        reader.try_read().expect("read").expect("record").payload,
        b"old-1"
    );
    let old_inode = reader.inode();
    drop(writer);

    let mut writer = JobRing::open(&path, &job_config(8, 2048)).expect("replacing writer");
    match writer.opened() {
        JobRingOpened::Replaced {
            reason:
                RingError::Mismatch {
                    field,
                    expected,
                    found,
                    ..
                },
        } => {
            assert_eq!((*field, *expected, *found), ("slot_capacity", 2048, 1024));
        }
        other => panic!("expected a replacement for the capacity, got {other:?}"),
    }
    assert_eq!(
        writer.writer_epoch(),
        2,
        "the epoch continues across a replacement"
    );
    writer.publish(b"new-1").expect("publish");
    writer.publish(b"new-2").expect("publish");
    assert_eq!(
        reader.wait(Duration::from_secs(5)).expect("wait"),
        WaitOutcome::Ready,
        "retirement wakes readers"
    );
    let read = reader
        .try_read()
        .expect("read")
        .expect("record after re-attach");
    assert_eq!(
        (read.sequence, read.resync, read.payload),
        (2, true, &b"new-2"[..])
    );
    assert_eq!(reader.slot_capacity(), 2048);
    assert_ne!(reader.inode(), old_inode);
    assert_eq!(reader.reattach_count(), 1);
    writer.publish(b"new-3").expect("publish");
    let read = reader.try_read().expect("read").expect("record");
    assert_eq!(
        (read.sequence, read.resync, read.payload),
        (3, false, &b"new-3"[..])
    );
}

#[test]
fn file_replaced_without_retirement_is_noticed_by_inode() {
    let dir = TestDir::new("job-inode");
    let path = job_ring_path(dir.path());
    let mut writer = JobRing::open(&path, &job_config(8, 1024)).expect("writer");
    writer.publish(b"first").expect("publish");
    let mut reader = JobRingReader::attach(&path).expect("reader");
    assert_eq!(
        reader.try_read().expect("read").expect("record").payload,
        b"first"
    );
    drop(writer);
    std::fs::remove_file(&path).expect("remove");
    let mut writer = JobRing::open(&path, &job_config(8, 1024)).expect("new writer");
    assert!(matches!(writer.opened(), JobRingOpened::Created));
    writer.publish(b"second").expect("publish");
    let deadline = Instant::now() + Duration::from_secs(5);
    let read = loop {
        if let Some(read) = reader.try_read().expect("read") {
            break (read.sequence, read.resync, read.payload.to_vec());
        }
        assert!(
            Instant::now() < deadline,
            "the reader never noticed the new file"
        );
        reader.wait(Duration::from_millis(20)).expect("wait");
    };
    assert_eq!(read, (1, true, b"second".to_vec()));
}

#[test]
fn corrupt_job_ring_headers_give_precise_errors() {
    let dir = TestDir::new("job-corrupt");
    let path = job_ring_path(dir.path());

    std::fs::write(&path, vec![0xabu8; 4096]).expect("write garbage");
    let error = JobRingReader::attach(&path).expect_err("garbage");
    assert!(
        matches!(
            error,
            RingError::Magic {
                found: 0xabab_abab_abab_abab,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "message names the file: {error}"
    );

    std::fs::write(&path, b"short").expect("write short");
    assert!(matches!(
        JobRingReader::attach(&path),
        Err(RingError::TooSmall {
            expected: 128,
            found: 5,
            ..
        })
    ));

    std::fs::remove_file(&path).expect("remove");
    let mut writer = JobRing::open(&path, &job_config(8, 1024)).expect("writer");
    writer.publish(&job_payload(1)).expect("publish");
    write_at(&path, 8, &7u32.to_le_bytes());
    assert!(matches!(
        JobRingReader::attach(&path),
        Err(RingError::LayoutVersion {
            expected: 1,
            found: 7,
            ..
        })
    ));
    write_at(&path, 8, &1u32.to_le_bytes());
    write_at(&path, 12, &6u32.to_le_bytes());
    assert!(matches!(
        JobRingReader::attach(&path),
        Err(RingError::Field {
            field: "slot_count",
            found: 6,
            ..
        })
    ));
    write_at(&path, 12, &(1u32 << 15).to_le_bytes());
    assert!(
        matches!(
            JobRingReader::attach(&path),
            Err(RingError::TooSmall { .. })
        ),
        "declared layout beyond the file"
    );
    write_at(&path, 12, &8u32.to_le_bytes());
    write_at(&path, 20, &64u32.to_le_bytes());
    assert!(matches!(
        JobRingReader::attach(&path),
        Err(RingError::Field {
            field: "slot_stride",
            ..
        })
    ));
    write_at(
        &path,
        20,
        &u32::try_from(stride(1024)).expect("small").to_le_bytes(),
    );

    // A stable slot declaring more bytes than the capacity.
    let mut reader = JobRingReader::attach(&path).expect("valid again");
    let slot_1 = 128 + stride(1024);
    write_at(&path, slot_1 + 8, &u64::MAX.to_le_bytes());
    match reader.try_read() {
        Err(RingError::SlotLength {
            sequence: 1,
            capacity: 1024,
            found: u64::MAX,
            ..
        }) => {}
        other => panic!("expected SlotLength, got {other:?}"),
    }
    // A head ahead of what the slots hold.
    write_at(&path, 64, &5u64.to_le_bytes());
    let mut reader = JobRingReader::attach(&path).expect("attach");
    assert!(matches!(
        reader.try_read(),
        Err(RingError::SlotBehindHead {
            head: 5,
            found: 0,
            ..
        })
    ));
    // A stamp claiming a sequence far beyond the head: bounded retries, then an error.
    write_at(&path, 64, &1u64.to_le_bytes());
    write_at(&path, slot_1, &2000u64.to_le_bytes());
    let mut reader = JobRingReader::attach(&path).expect("attach");
    assert!(matches!(
        reader.try_read(),
        Err(RingError::SlotBusy { sequence: 1, .. })
    ));
    drop(writer);
}

#[test]
fn wait_sleeps_without_spinning_and_wakes_on_publish() {
    let dir = TestDir::new("job-wait");
    let path = job_ring_path(dir.path());
    let mut writer = JobRing::open(&path, &job_config(8, 1024)).expect("writer");
    let mut reader = JobRingReader::attach(&path).expect("reader");
    assert!(reader.try_read().expect("read").is_none());

    let cpu_before = thread_cpu_time();
    let start = Instant::now();
    assert_eq!(
        reader.wait(Duration::from_millis(300)).expect("wait"),
        WaitOutcome::TimedOut
    );
    let waited = start.elapsed();
    let cpu = thread_cpu_time() - cpu_before;
    assert!(
        waited >= Duration::from_millis(290),
        "returned early: {waited:?}"
    );
    assert!(
        cpu < Duration::from_millis(30),
        "a 300 ms wait burned {cpu:?} of CPU"
    );

    let publisher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        writer.publish(b"wake").expect("publish");
        writer
    });
    let start = Instant::now();
    assert_eq!(
        reader.wait(Duration::from_secs(10)).expect("wait"),
        WaitOutcome::Ready
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        reader.try_read().expect("read").expect("record").payload,
        b"wake"
    );
    // A publish between try_read and wait is not slept through.
    let mut writer = publisher.join().expect("publisher");
    assert!(reader.try_read().expect("read").is_none());
    writer.publish(b"between").expect("publish");
    let start = Instant::now();
    assert_eq!(
        reader.wait(Duration::from_secs(10)).expect("wait"),
        WaitOutcome::Ready
    );
    assert!(start.elapsed() < Duration::from_millis(100));
}

fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec the call writes into; the clock id is a constant.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut now) };
    assert_eq!(result, 0, "clock_gettime");
    Duration::new(
        u64::try_from(now.tv_sec).expect("positive"),
        u32::try_from(now.tv_nsec).expect("< 1e9"),
    )
}

#[test]
fn share_ring_reserves_slots_for_block_candidates() {
    let dir = TestDir::new("share-reserve");
    let path = share_ring_path(dir.path(), 0);
    let config = share_config(8, 2);
    let mut producer = ShareProducer::open(&path, &config).expect("producer");
    let mut consumer = ShareConsumer::open(&path).expect("consumer");
    for i in 0..6 {
        producer
            .try_push(&share(i, ShareKind::Share))
            .expect("share fits");
    }
    match producer.try_push(&share(6, ShareKind::Share)) {
        Err(PushError::Full {
            kind: ShareKind::Share,
            used: 6,
            limit: 6,
        }) => {}
        other => panic!("expected Full for shares, got {other:?}"),
    }
    producer
        .try_push(&share(100, ShareKind::BlockCandidate))
        .expect("block uses a reserved slot");
    producer
        .try_push(&share(101, ShareKind::BlockCandidate))
        .expect("block uses a reserved slot");
    assert!(matches!(
        producer.try_push(&share(102, ShareKind::BlockCandidate)),
        Err(PushError::Full {
            kind: ShareKind::BlockCandidate,
            used: 8,
            limit: 8
        })
    ));
    let popped = pop_all(&mut consumer);
    let expected: Vec<ShareRecord> = (0..6)
        .map(|i| share(i, ShareKind::Share))
        .chain([
            share(100, ShareKind::BlockCandidate),
            share(101, ShareKind::BlockCandidate),
        ])
        .collect();
    assert_eq!(popped, expected);
    // Popped but not committed: the slots are still taken.
    assert!(matches!(
        producer.try_push(&share(7, ShareKind::Share)),
        Err(PushError::Full { .. })
    ));
    consumer.commit();
    producer
        .try_push(&share(7, ShareKind::Share))
        .expect("room after commit");
    assert_eq!(pop_all(&mut consumer), vec![share(7, ShareKind::Share)]);
    assert!(matches!(
        ShareProducer::open(dir.path().join("x"), &share_config(8, 8)),
        Err(RingError::Config {
            field: "reserved_for_blocks",
            ..
        })
    ));
}

#[test]
fn uncommitted_records_are_read_again_by_a_new_consumer() {
    let dir = TestDir::new("share-commit");
    let path = share_ring_path(dir.path(), 1);
    let mut producer = ShareProducer::open(&path, &share_config(16, 2)).expect("producer");
    for i in 0..10 {
        producer
            .try_push(&share(i, ShareKind::Share))
            .expect("push");
    }
    let mut consumer = ShareConsumer::open(&path).expect("consumer");
    assert!(
        matches!(
            ShareConsumer::open(&path),
            Err(RingError::Busy { byte: 1, .. })
        ),
        "one consumer at a time"
    );
    for i in 0..4 {
        assert_eq!(pop_one(&mut consumer), share(i, ShareKind::Share));
    }
    consumer.commit();
    for i in 4..7 {
        assert_eq!(pop_one(&mut consumer), share(i, ShareKind::Share));
    }
    assert_eq!(consumer.uncommitted(), 3);
    drop(consumer);
    let mut consumer = ShareConsumer::open(&path).expect("consumer again");
    assert_eq!(consumer.epoch(), 2);
    assert_eq!(
        pop_all(&mut consumer),
        (4..10)
            .map(|i| share(i, ShareKind::Share))
            .collect::<Vec<_>>()
    );
    consumer.rewind();
    assert_eq!(
        pop_one(&mut consumer),
        share(4, ShareKind::Share),
        "rewind re-reads"
    );
    // A restarted producer continues from the index in the header.
    drop(producer);
    let mut producer = ShareProducer::open(&path, &share_config(16, 2)).expect("producer again");
    assert_eq!((producer.epoch(), producer.pushed_total()), (2, 10));
    producer
        .try_push(&share(10, ShareKind::Share))
        .expect("push");
    assert_eq!(
        pop_all(&mut consumer),
        (5..11)
            .map(|i| share(i, ShareKind::Share))
            .collect::<Vec<_>>()
    );
    assert!(matches!(
        ShareProducer::open(&path, &share_config(32, 2)),
        Err(RingError::Busy { .. })
    ));
    drop(producer);
    assert!(matches!(
        ShareProducer::open(&path, &share_config(32, 2)),
        Err(RingError::Mismatch {
            field: "capacity",
            expected: 32,
            found: 16,
            ..
        })
    ));
}

#[test]
fn corrupt_share_ring_gives_errors_not_panics() {
    let dir = TestDir::new("share-corrupt");
    let path = share_ring_path(dir.path(), 2);
    let mut producer = ShareProducer::open(&path, &share_config(8, 1)).expect("producer");
    for i in 0..3 {
        producer
            .try_push(&share(i, ShareKind::Share))
            .expect("push");
    }
    // Flip a byte inside the second record: that pop reports it, the others are fine.
    write_at(&path, 512 + 256 + 100, &[0x5a]);
    let mut consumer = ShareConsumer::open(&path).expect("consumer");
    assert_eq!(pop_one(&mut consumer), share(0, ShareKind::Share));
    match consumer.pop() {
        Some(Err(PopError::Decode { index: 1, source })) => {
            assert!(source.to_string().contains("checksum"), "{source}");
        }
        other => panic!("expected a decode error at index 1, got {other:?}"),
    }
    assert_eq!(pop_one(&mut consumer), share(2, ShareKind::Share));
    consumer.commit();
    // A producer index far beyond the consumer's.
    write_at(&path, 128, &1000u64.to_le_bytes());
    assert!(matches!(
        consumer.pop(),
        Some(Err(PopError::Ring(RingError::Indexes {
            producer: 1000,
            ..
        })))
    ));
    drop(consumer);
    drop(producer);
    assert!(matches!(
        ShareConsumer::open(&path),
        Err(RingError::Indexes {
            producer: 1000,
            consumer: 3,
            capacity: 8,
            ..
        })
    ));
    write_at(&path, 16, &128u32.to_le_bytes());
    assert!(matches!(
        ShareConsumer::open(&path),
        Err(RingError::Field {
            field: "record_size",
            found: 128,
            ..
        })
    ));
    write_at(&path, 0, b"NOTARING");
    let error = ShareConsumer::open(&path).expect_err("bad magic");
    assert!(
        matches!(
            error,
            RingError::Magic {
                ring: "share ring",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn sender_backlogs_then_spools_and_flushes_in_order() {
    let dir = TestDir::new("sender-order");
    let path = share_ring_path(dir.path(), 3);
    let producer = ShareProducer::open(&path, &share_config(8, 2)).expect("producer");
    let mut sender = ShareSender::new(
        producer,
        &ShareSenderConfig {
            spool_dir: dir.path().join("spool"),
            backlog_max: 4,
        },
    )
    .expect("sender");
    let mut consumer = ShareConsumer::open(&path).expect("consumer");
    let mut outcomes = Vec::new();
    for i in 0..20 {
        outcomes.push(sender.send(&share(i, ShareKind::Share)).expect("send"));
    }
    let expected: Vec<Sent> = (0..20)
        .map(|i| match i {
            0..6 => Sent::Pushed,
            6..10 => Sent::Backlogged,
            _ => Sent::Spooled,
        })
        .collect();
    assert_eq!(outcomes, expected);
    let counters = sender.counters();
    assert_eq!(
        (
            counters.pushed,
            counters.backlogged,
            counters.spooled,
            counters.replayed
        ),
        (6, 4, 10, 0)
    );
    assert!(sender.spool_file_bytes() > 32);

    let mut received = Vec::new();
    while received.len() < 20 {
        let batch = pop_all(&mut consumer);
        assert!(
            !batch.is_empty(),
            "stalled after {} records",
            received.len()
        );
        received.extend(batch);
        consumer.commit();
        sender.flush().expect("flush");
    }
    assert_eq!(
        received,
        (0..20)
            .map(|i| share(i, ShareKind::Share))
            .collect::<Vec<_>>()
    );
    assert!(sender.is_drained());
    assert_eq!(
        sender.spool_file_bytes(),
        32,
        "the drained spool is truncated to its header"
    );
    let counters = sender.counters();
    assert_eq!((counters.pushed, counters.replayed), (20, 10));
    // New shares go straight to the ring again.
    assert_eq!(
        sender.send(&share(20, ShareKind::Share)).expect("send"),
        Sent::Pushed
    );
}

#[test]
fn block_candidate_in_a_full_ring_is_held_first_and_spooled_durably() {
    let dir = TestDir::new("sender-block");
    let path = share_ring_path(dir.path(), 4);
    let spool_dir = dir.path().join("spool");
    let ring = share_config(4, 1);
    let producer = ShareProducer::open(&path, &ring).expect("producer");
    let mut sender = ShareSender::new(
        producer,
        &ShareSenderConfig {
            spool_dir: spool_dir.clone(),
            backlog_max: 8,
        },
    )
    .expect("sender");
    for i in 0..3 {
        assert_eq!(
            sender.send(&share(i, ShareKind::Share)).expect("send"),
            Sent::Pushed
        );
    }
    assert_eq!(
        sender.send(&share(3, ShareKind::Share)).expect("send"),
        Sent::Backlogged
    );
    assert_eq!(
        sender
            .send(&share(50, ShareKind::BlockCandidate))
            .expect("send"),
        Sent::Pushed,
        "reserved slot"
    );
    assert_eq!(
        sender
            .send(&share(51, ShareKind::BlockCandidate))
            .expect("send"),
        Sent::BlockHeld
    );
    assert_eq!(sender.backlog_len(), 2);
    // The held block is the first thing to leave the backlog.
    let mut consumer = ShareConsumer::open(&path).expect("consumer");
    let first = pop_all(&mut consumer);
    consumer.commit();
    assert_eq!(first.len(), 4);
    sender.flush().expect("flush");
    let second = pop_all(&mut consumer);
    consumer.commit();
    assert_eq!(
        second,
        vec![
            share(51, ShareKind::BlockCandidate),
            share(3, ShareKind::Share)
        ]
    );
    sender.flush().expect("flush");
    assert!(
        sender.is_drained(),
        "the block copy in the spool is not delivered twice"
    );
    assert!(pop_all(&mut consumer).is_empty());
    assert_eq!(sender.spool_file_bytes(), 32);
}

#[test]
fn shutdown_spools_the_backlog_and_the_next_sender_replays_everything_in_order() {
    let dir = TestDir::new("sender-shutdown");
    let path = share_ring_path(dir.path(), 5);
    let spool_dir = dir.path().join("spool");
    let ring = share_config(4, 1);
    let sender_config = ShareSenderConfig {
        spool_dir,
        backlog_max: 3,
    };
    let mut sender = ShareSender::new(
        ShareProducer::open(&path, &ring).expect("producer"),
        &sender_config,
    )
    .expect("sender");
    for i in 0..10 {
        sender.send(&share(i, ShareKind::Share)).expect("send");
    }
    assert_eq!((sender.backlog_len(), sender.counters().spooled), (3, 4));
    sender.shutdown().expect("shutdown");

    let mut sender = ShareSender::new(
        ShareProducer::open(&path, &ring).expect("producer"),
        &sender_config,
    )
    .expect("sender");
    assert_eq!(sender.counters().spool_entries_at_start, 7);
    let mut consumer = ShareConsumer::open(&path).expect("consumer");
    let mut received = Vec::new();
    for _ in 0..10 {
        received.extend(pop_all(&mut consumer));
        consumer.commit();
        sender.flush().expect("flush");
    }
    assert_eq!(
        received,
        (0..10)
            .map(|i| share(i, ShareKind::Share))
            .collect::<Vec<_>>()
    );
    assert_eq!(sender.counters().replayed, 7);
}

/// The next record, which the test knows is there and valid.
fn pop_one(consumer: &mut ShareConsumer) -> ShareRecord {
    consumer.pop().expect("some").expect("valid")
}
