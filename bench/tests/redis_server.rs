//! The Redis harness against a real redis-server and a real 3-master Redis Cluster: what `dump`
//! reads, durability across stop and restart, and a cluster node leaving and rejoining. Each test
//! starts its own server or cluster in its own directory, so they run in parallel.

use std::collections::{BTreeMap, BTreeSet};

use ironpool_bench::redis_server::{
    without_bookkeeping, RedisCluster, RedisDump, RedisServer, RedisValue,
};
use redis::Value;

fn strings<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn hash<const N: usize>(pairs: [(&str, &str); N]) -> RedisValue {
    RedisValue::Hash(
        pairs
            .iter()
            .map(|(field, value)| ((*field).to_owned(), (*value).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn set<const N: usize>(members: [&str; N]) -> RedisValue {
    RedisValue::Set(strings(members).into_iter().collect::<BTreeSet<_>>())
}

/// The four types, one key each, plus one bookkeeping key.
fn sample() -> RedisDump {
    [
        ("share:1", hash([("worker", "w1"), ("difficulty", "8")])),
        ("blocks", RedisValue::List(strings(["b3", "b1", "b2"]))),
        ("workers", set(["w2", "w1"])),
        ("round", RedisValue::String("17".to_owned())),
        ("ironpool:cursor", RedisValue::String("42".to_owned())),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

#[test]
fn server_dump_reads_every_type_and_survives_a_restart() {
    let mut server = RedisServer::start().expect("start redis-server");
    assert_eq!(
        server.url(),
        format!("redis://127.0.0.1:{}/", server.port())
    );
    assert_eq!(
        server.dump().expect("dump of an empty server"),
        RedisDump::new()
    );

    // 1. One key of each type, through `command`, with the replies Redis gives.
    let writes: Vec<(Vec<&str>, Value)> = vec![
        (
            vec!["HSET", "share:1", "worker", "w1", "difficulty", "8"],
            Value::Int(2),
        ),
        (vec!["RPUSH", "blocks", "b3", "b1", "b2"], Value::Int(3)),
        (vec!["SADD", "workers", "w1", "w2", "w1"], Value::Int(2)),
        (vec!["SET", "round", "17"], Value::Okay),
        (vec!["SET", "ironpool:cursor", "42"], Value::Okay),
    ];
    for (args, reply) in writes {
        assert_eq!(server.command(&args).expect("write"), reply, "{args:?}");
    }
    assert!(server.command(&["NOSUCHCOMMAND"]).is_err());
    assert!(server.command(&[]).is_err());

    // 2. The dump is exactly those keys; without bookkeeping, all but ironpool:cursor.
    let expected = sample();
    let dump = server.dump().expect("dump");
    assert_eq!(dump, expected);
    let data = without_bookkeeping(&dump);
    assert_eq!(data.len(), 4);
    assert!(!data.contains_key("ironpool:cursor"));
    assert_eq!(
        data["blocks"],
        RedisValue::List(strings(["b3", "b1", "b2"]))
    );

    // 3. Stopped, it answers nothing; restarted on its port, it has every key back from its AOF.
    let port = server.port();
    server.stop().expect("stop");
    assert!(
        server.command(&["PING"]).is_err(),
        "still answering after stop"
    );
    assert!(server.dump().is_err());
    server.restart().expect("restart");
    assert_eq!(server.port(), port);
    assert_eq!(server.dump().expect("dump after restart"), expected);
}

#[test]
fn server_dump_refuses_a_type_it_cannot_hold() {
    let server = RedisServer::start().expect("start redis-server");
    assert_eq!(
        server
            .command(&["ZADD", "scores", "1", "w1"])
            .expect("zadd"),
        Value::Int(1)
    );
    let err = server.dump().expect_err("a zset is not a RedisValue");
    assert!(err.contains("\"scores\"") && err.contains("zset"), "{err}");
}

#[test]
fn cluster_dump_is_the_union_of_the_masters_and_survives_a_node_restart() {
    let mut cluster = RedisCluster::start(3).expect("start a 3-master cluster");
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    assert!(RedisCluster::start(2).is_err());

    // 1. Keys written through a cluster connection, spread over the slots of all three masters.
    let mut expected = RedisDump::new();
    {
        let client = redis::cluster::ClusterClient::new(urls.clone()).expect("cluster client");
        let mut con = client.get_connection().expect("cluster connection");
        for i in 0..30 {
            let (key, value) = (format!("share:{i}"), format!("value-{i}"));
            redis::cmd("SET")
                .arg(&key)
                .arg(&value)
                .query::<()>(&mut con)
                .expect("SET through the cluster");
            expected.insert(key, RedisValue::String(value));
        }
        redis::cmd("HSET")
            .arg("worker:w1")
            .arg("shares")
            .arg("30")
            .query::<()>(&mut con)
            .expect("HSET through the cluster");
        redis::cmd("RPUSH")
            .arg("blocks")
            .arg("b1")
            .arg("b2")
            .query::<()>(&mut con)
            .expect("RPUSH through the cluster");
        redis::cmd("SADD")
            .arg("ironpool:applied")
            .arg("batch-1")
            .query::<()>(&mut con)
            .expect("SADD through the cluster");
    }
    expected.insert("worker:w1".to_owned(), hash([("shares", "30")]));
    expected.insert("blocks".to_owned(), RedisValue::List(strings(["b1", "b2"])));
    expected.insert("ironpool:applied".to_owned(), set(["batch-1"]));

    // Each node holds some of them: the dump really is a union, not one node's keys.
    for url in &urls {
        let mut con = redis::Client::open(url.as_str())
            .and_then(|client| client.get_connection())
            .expect("connect to one node");
        let keys: u64 = redis::cmd("DBSIZE").query(&mut con).expect("DBSIZE");
        assert!(keys > 0, "node {url} holds no key");
    }
    assert_eq!(cluster.dump().expect("cluster dump"), expected);

    // 2. Node 1 down: its keys cannot be read, so the dump fails rather than come back short.
    cluster.stop_node(1).expect("stop node 1");
    assert!(cluster.dump().is_err(), "dump with node 1 stopped");

    // 3. Node 1 back (its AOF and nodes.conf): the same keys, readable through the cluster too.
    cluster.start_node(1).expect("start node 1");
    assert_eq!(
        cluster.dump().expect("cluster dump after restart"),
        expected
    );
    let client = redis::cluster::ClusterClient::new(urls).expect("cluster client");
    let mut con = client
        .get_connection()
        .expect("cluster connection after restart");
    for i in 0..30 {
        let value: String = redis::cmd("GET")
            .arg(format!("share:{i}"))
            .query(&mut con)
            .expect("GET through the cluster");
        assert_eq!(value, format!("value-{i}"));
    }
    assert!(cluster.stop_node(3).is_err(), "node 3 of 3");
}
