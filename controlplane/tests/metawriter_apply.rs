//! Applying batches to a real redis-server, call by call: a batch applied twice writes once; a
//! batch interrupted after some of its calls is completed by applying it again; a call that
//! meets a key it cannot write (wrong type, a field that is not a number) writes nothing at all.

use ironpool_bench::redis_server::{without_bookkeeping, RedisServer};
use ironpool_controlplane::metawriter::apply::{apply, apply_script};
use ironpool_controlplane::metawriter::redis_target::RedisTarget;
use ironpool_shared::meta::{Op, RedisBatch};
use std::time::Duration;

fn batch(users: u32) -> RedisBatch {
    let mut ops = Vec::new();
    for u in 0..users {
        ops.push(Op::HIncrBy {
            key: format!("btc:s:u{u}"),
            field: 60,
            by: 3,
        });
        ops.push(Op::HIncrByFloat {
            key: format!("btc:p:u{u}"),
            field: 60,
            by: 1.5,
        });
    }
    ops.push(Op::RPush {
        key: "newevent".into(),
        value: "{\"n\":1}".into(),
    });
    RedisBatch {
        ops,
        set_members: vec![("mining:keys".into(), "btc:s:u0".into())],
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn twice_applied_writes_once_and_an_interrupted_batch_is_completed_exactly() {
    let rt = runtime();
    let (once, twice) = (
        RedisServer::start().expect("redis"),
        RedisServer::start().expect("redis"),
    );
    let script = apply_script();
    let whole = batch(200);
    let calls = whole.script_calls("w-1", 7);
    assert!(
        calls.len() > 20,
        "the batch spans many slots: {}",
        calls.len()
    );

    // Reference: applied once.
    let target = rt
        .block_on(RedisTarget::connect(&[once.url()], Duration::from_secs(5)))
        .expect("connect");
    let applied = rt
        .block_on(apply(&target, &script, "w-1", 7, &whole, 8))
        .expect("apply");
    assert_eq!(applied.calls_applied as usize, calls.len());
    let again = rt
        .block_on(apply(&target, &script, "w-1", 7, &whole, 8))
        .expect("apply again");
    assert_eq!(
        (again.calls_applied, again.calls_skipped as usize),
        (0, calls.len())
    );

    // Interrupted: only the first half of the calls reached Redis, then the whole batch again.
    let other = rt
        .block_on(RedisTarget::connect(&[twice.url()], Duration::from_secs(5)))
        .expect("connect");
    for call in &calls[..calls.len() / 2] {
        assert_eq!(
            rt.block_on(other.invoke(&script, &call.keys, &call.args))
                .expect("call"),
            1
        );
    }
    let replay = rt
        .block_on(apply(&other, &script, "w-1", 7, &whole, 8))
        .expect("replay");
    assert_eq!(replay.calls_skipped as usize, calls.len() / 2);
    assert_eq!(replay.calls_applied as usize, calls.len() - calls.len() / 2);

    let (a, b) = (once.dump().expect("dump"), twice.dump().expect("dump"));
    assert_eq!(without_bookkeeping(&a), without_bookkeeping(&b));
    assert_eq!(
        a.get("btc:s:u5"),
        Some(&ironpool_bench::redis_server::RedisValue::Hash(
            [("60".to_owned(), "3".to_owned())].into()
        ))
    );
    // A later batch of the same writer is not mistaken for a replay.
    let next = rt
        .block_on(apply(&target, &script, "w-1", 8, &whole, 8))
        .expect("next batch");
    assert_eq!(next.calls_applied as usize, calls.len());
}

#[test]
fn a_call_that_cannot_write_one_key_writes_none_and_says_why() {
    let rt = runtime();
    let redis = RedisServer::start().expect("redis");
    let target = rt
        .block_on(RedisTarget::connect(&[redis.url()], Duration::from_secs(5)))
        .expect("connect");
    let script = apply_script();
    // Two keys in one slot (hash tag): one holds garbage in the field the batch adds to.
    redis
        .command(&["HSET", "{t}:bad", "60", "not-a-number"])
        .expect("seed");
    let batch = RedisBatch {
        ops: vec![
            Op::HIncrBy {
                key: "{t}:good".into(),
                field: 60,
                by: 1,
            },
            Op::HIncrBy {
                key: "{t}:bad".into(),
                field: 60,
                by: 1,
            },
        ],
        set_members: vec![],
    };
    let error = rt
        .block_on(apply(&target, &script, "w", 1, &batch, 1))
        .expect_err("refused");
    assert!(error.contains("{t}:bad"), "{error}");
    let dump = redis.dump().expect("dump");
    assert!(
        !dump.contains_key("{t}:good"),
        "nothing of the call was written: {dump:?}"
    );
    // A list where a hash is expected: the same.
    redis.command(&["DEL", "{t}:bad"]).expect("del");
    redis.command(&["RPUSH", "{t}:bad", "x"]).expect("seed");
    let error = rt
        .block_on(apply(&target, &script, "w", 1, &batch, 1))
        .expect_err("refused");
    assert!(error.contains("WRONGTYPE"), "{error}");
    assert!(!redis.dump().expect("dump").contains_key("{t}:good"));
}
