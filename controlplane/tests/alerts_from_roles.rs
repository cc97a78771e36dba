//! Error events of a running role reach alertcenter and its Redis list: a metawriter (the real
//! binary, with an `[alert]` table) loses its Redis; its error-level log line is shipped over the
//! authenticated link to alertcenter (the real binary), which pushes it to `alert:message` on
//! another redis-server. When Redis returns, the batch that waited lands.

mod accounting_support;

use accounting_support::process::RoleProcess;
use accounting_support::process::{free_address, write_key};
use ironpool_bench::redis_server::{RedisServer, RedisValue};
use ironpool_controlplane::meta_link::{BatchClient, Reply};
use ironpool_shared::meta::{Batch, PresharedKey};
use ironpool_shared::ring::{RecordDetail, ShareKind, ShareRecord};
use std::time::{Duration, Instant};

fn batch(seq: u64) -> Batch {
    let record = ShareRecord {
        kind: ShareKind::Share,
        shard_id: 0,
        session_id: 1,
        job_id: 1,
        extranonce1: vec![],
        extranonce2: vec![],
        ntime: 0,
        nonce: seq as u32,
        version: 0,
        share_difficulty: 1.0,
        accepted_at_ms: accounting_support::miners::unix_ms(),
        user: "dora".to_owned(),
        worker: "w".to_owned(),
        network_difficulty: 2.0,
        detail: RecordDetail::None,
    };
    Batch {
        origin: 9,
        seq,
        coin: "btc".into(),
        host: "site".into(),
        records: vec![record.encode().expect("fits")],
    }
}

/// Polls `check` until it gives a value; on timeout the logs of both processes are shown.
fn poll<T>(
    what: &str,
    limit: Duration,
    logs: &dyn Fn() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {limit:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn shares_of_dora(redis: &RedisServer) -> usize {
    match redis.dump().ok().and_then(|d| d.get("btc:s:dora").cloned()) {
        Some(RedisValue::Hash(fields)) => fields
            .values()
            .filter_map(|v| v.parse::<usize>().ok())
            .sum(),
        _ => 0,
    }
}

#[test]
fn a_metawriter_that_loses_redis_raises_an_alert_that_reaches_the_alert_list() {
    let dir = std::env::temp_dir().join(format!("ironpool-alerts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let alerts_redis = RedisServer::start().expect("redis for alerts");
    let mut data_redis = RedisServer::start().expect("redis for shares");
    let alert_key = write_key(&dir, "alert.key", 0x5a);
    let meta_key = write_key(&dir, "meta.key", 0x6b);
    let alert_address = free_address();
    let meta_address = free_address();

    let alertcenter_config = dir.join("alertcenter.toml");
    std::fs::write(
        &alertcenter_config,
        format!(
            "listen = \"{alert_address}\"\nkey_file = {:?}\nredis = [{:?}]\n",
            alert_key.display().to_string(),
            alerts_redis.url()
        ),
    )
    .expect("config");
    let alertcenter = RoleProcess::start("alertcenter", alertcenter_config);

    let writer_config = dir.join("metawriter.toml");
    std::fs::write(
        &writer_config,
        format!(
            "writer_id = \"alerts\"\nspool_dir = {:?}\nflush_interval_ms = 300\n[redis]\nurls = [{:?}]\ntimeout_ms = 1000\n\
             [[coins]]\nkey = \"btc\"\nname = \"BTC\"\n\
             [listen]\naddress = \"{meta_address}\"\nkey_file = {:?}\n\
             [alert]\naddress = \"{alert_address}\"\nkey_file = {:?}\nhost = \"mw-host\"\n",
            dir.join("spool").display().to_string(),
            data_redis.url(),
            meta_key.display().to_string(),
            alert_key.display().to_string()
        ),
    )
    .expect("config");
    let writer = RoleProcess::start("metawriter", writer_config);
    let logs = || {
        format!(
            "metawriter log:\n{}\nalertcenter log:\n{}",
            writer.log(),
            alertcenter.log()
        )
    };
    let key = PresharedKey::new(&[0x6b; 32]).expect("key");
    let mut link = poll(
        "the metawriter listening",
        Duration::from_secs(20),
        &logs,
        || BatchClient::connect(&meta_address, key.clone(), Duration::from_secs(5)).ok(),
    );
    assert!(matches!(link.send(&batch(0)), Ok(Reply::Ack(_))));
    poll(
        "the first batch in Redis",
        Duration::from_secs(20),
        &logs,
        || (shares_of_dora(&data_redis) == 1).then_some(()),
    );

    data_redis.stop().expect("stop redis");
    assert!(
        matches!(link.send(&batch(1)), Ok(Reply::Ack(_))),
        "stored in the spool meanwhile"
    );
    let alert = poll(
        "the alert in alert:message",
        Duration::from_secs(30),
        &logs,
        || {
            let list = match alerts_redis.dump().ok()?.get("alert:message")? {
                RedisValue::List(items) => items.clone(),
                _ => return None,
            };
            list.into_iter()
                .find(|line| line.contains("Redis write failed"))
        },
    );
    assert!(alert.starts_with("mw-host metawriter: "), "{alert}");

    data_redis.restart().expect("restart redis");
    poll(
        "the waiting batch in Redis",
        Duration::from_secs(30),
        &logs,
        || (shares_of_dora(&data_redis) == 2).then_some(()),
    );
}
