//! Node RPC client against real regtest nodes, and against tiny fake nodes for the faults a real
//! node cannot be made to show (silence, garbage, huge or truncated answers).
//!
//! Real-node tests start their own nodes through `ironpool_bench::regtest` (each test its own
//! data directories and ports) and stop them on drop. Fake nodes bind `127.0.0.1:0` and hand the
//! bound address over, so no port is guessed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironpool_bench::regtest::{RegtestNode, RegtestNodes, RegtestOptions};
use ironpool_controlplane::node::{
    CookieError, FailoverClient, NodeAuth, NodeClient, NodeEndpoint, RpcError,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------------
// Fake nodes
// ---------------------------------------------------------------------------------------------

/// What a fake node does with one request, given the request's JSON-RPC id and its rank on its
/// connection (1 for the first request).
enum Reply {
    /// Write these bytes and keep the connection open for the next request.
    KeepOpen(Vec<u8>),
    /// Write these bytes and close the connection.
    Close(Vec<u8>),
    /// Never answer; hold the connection open.
    Never,
}

/// A fake node's behaviour.
type Respond = dyn Fn(u64, usize) -> Reply + Send + Sync;

/// A fake node on `127.0.0.1:0`; returns its URL and a counter of accepted connections.
async fn fake_node<F>(respond: F) -> (String, Arc<AtomicUsize>)
where
    F: Fn(u64, usize) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr: SocketAddr = listener.local_addr().expect("bound address");
    let accepted = Arc::new(AtomicUsize::new(0));
    let respond = Arc::new(respond);
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let respond = Arc::clone(&respond);
            tokio::spawn(async move { serve_fake_connection(stream, &*respond).await });
        }
    });
    (format!("http://{addr}/"), accepted)
}

async fn serve_fake_connection(stream: TcpStream, respond: &Respond) {
    let mut reader = BufReader::new(stream);
    let mut nth = 0;
    while let Some(id) = read_request(&mut reader).await {
        nth += 1;
        match respond(id, nth) {
            Reply::KeepOpen(bytes) => {
                if reader.get_mut().write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Close(bytes) => {
                let _ = reader.get_mut().write_all(&bytes).await;
                return;
            }
            Reply::Never => {
                // Hold the socket until the client gives up and closes it.
                let mut sink = Vec::new();
                let _ = reader.read_to_end(&mut sink).await;
                return;
            }
        }
    }
}

/// Reads one HTTP request and returns its JSON-RPC id (0 if none); `None` at EOF or on error.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<u64> {
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body).await.ok()?;
    let request: Value = serde_json::from_slice(&body).ok()?;
    Some(request.get("id").and_then(Value::as_u64).unwrap_or(0))
}

/// An HTTP/1.1 response with a Content-Length.
fn http(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn ok_reply(id: u64, result: &Value) -> Vec<u8> {
    http(
        "200 OK",
        &json!({ "result": result, "error": null, "id": id }).to_string(),
    )
}

fn endpoint(name: &str, url: &str) -> NodeEndpoint {
    NodeEndpoint::new(
        name,
        url,
        NodeAuth::UserPassword {
            user: "u".into(),
            password: "p".into(),
        },
    )
    .with_timeout(Duration::from_secs(5))
}

fn client(name: &str, url: &str) -> NodeClient {
    NodeClient::new(endpoint(name, url)).expect("valid endpoint")
}

/// A loopback URL where nothing listens: bind a port, then drop the listener.
async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("bound address");
    drop(listener);
    format!("http://{addr}/")
}

// ---------------------------------------------------------------------------------------------
// Faults, against fake nodes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn silent_node_times_out_within_the_configured_timeout() {
    let (url, _) = fake_node(|_, _| Reply::Never).await;
    let timeout = Duration::from_millis(300);
    let node =
        NodeClient::new(endpoint("silent", &url).with_timeout(timeout)).expect("valid endpoint");
    let started = Instant::now();
    let err = node
        .get_block_count()
        .await
        .expect_err("a silent node cannot answer");
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, RpcError::Timeout { node, method, after } if node == "silent" && method == "getblockcount" && *after == timeout),
        "{err:?}"
    );
    assert!(err.is_transport());
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_secs(1),
        "took {elapsed:?}"
    );
    assert_eq!(
        err.to_string(),
        "node silent: getblockcount: no answer within 300ms"
    );

    // call_with_timeout overrides the endpoint's timeout.
    let started = Instant::now();
    let err = node
        .call_with_timeout("getblockcount", json!([]), Duration::from_millis(100))
        .await
        .expect_err("silent");
    assert!(matches!(err, RpcError::Timeout { after, .. } if after == Duration::from_millis(100)));
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn garbage_bytes_are_garbage() {
    let (url, _) =
        fake_node(|_, _| Reply::Close(b"\x00\xffSSH-2.0-OpenSSH_9.6\r\n".to_vec())).await;
    let err = client("junk", &url)
        .get_block_count()
        .await
        .expect_err("not http");
    match &err {
        RpcError::Garbage {
            node,
            method,
            detail,
        } => {
            assert_eq!((node.as_str(), method.as_str()), ("junk", "getblockcount"));
            assert!(detail.contains("not an http status line"), "{detail}");
            assert!(detail.contains("\\x00\\xffSSH-2.0"), "{detail}");
        }
        other => panic!("expected garbage, got {other:?}"),
    }
    assert!(err.is_transport());
}

#[tokio::test]
async fn http_200_with_non_json_is_garbage() {
    let (url, _) = fake_node(|_, _| Reply::KeepOpen(http("200 OK", "<html>hello</html>"))).await;
    let err = client("html", &url)
        .get_block_count()
        .await
        .expect_err("not json");
    assert!(
        matches!(&err, RpcError::Garbage { detail, .. } if detail.contains("not json") && detail.contains("<html>hello")),
        "{err:?}"
    );
}

#[tokio::test]
async fn replies_that_are_json_but_not_an_answer_are_garbage() {
    let cases: Vec<(&str, Box<Respond>)> = vec![
        (
            "no result and no error",
            Box::new(|id, _| Reply::KeepOpen(http("200 OK", &json!({ "id": id }).to_string()))),
        ),
        (
            "id mismatch",
            Box::new(|id, _| Reply::KeepOpen(ok_reply(id + 1000, &json!(5)))),
        ),
        (
            "not an object",
            Box::new(|_, _| Reply::KeepOpen(http("200 OK", "[1,2]"))),
        ),
        (
            "malformed error",
            Box::new(|id, _| {
                Reply::KeepOpen(http(
                    "500 x",
                    &json!({ "result": null, "error": "boom", "id": id }).to_string(),
                ))
            }),
        ),
        (
            "wrong result type",
            Box::new(|id, _| Reply::KeepOpen(ok_reply(id, &json!("five")))),
        ),
    ];
    for (case, respond) in cases {
        let (url, _) = fake_node(respond).await;
        let err = client("odd", &url).get_block_count().await.expect_err(case);
        assert!(matches!(err, RpcError::Garbage { .. }), "{case}: {err:?}");
    }
}

#[tokio::test]
async fn huge_declared_body_is_too_large_without_reading_it() {
    // 1 TiB declared: allocating it would abort the test process. The fake sends no body and
    // keeps the connection open, so reading it would end in a timeout, not TooLarge.
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\n\r\n".to_vec();
    let (url, _) = fake_node(move |_, _| Reply::KeepOpen(head.clone())).await;
    let node = NodeClient::new(endpoint("big", &url).with_max_response_bytes(1 << 20))
        .expect("valid endpoint");
    let err = node.get_block_count().await.expect_err("too large");
    assert!(
        matches!(&err, RpcError::TooLarge { node, limit, .. } if node == "big" && *limit == 1 << 20),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "node big: getblockcount: response body exceeds the limit of 1048576 bytes"
    );

    // The same with one huge chunk.
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\n".to_vec();
    let (url, _) = fake_node(move |_, _| Reply::KeepOpen(head.clone())).await;
    let node = NodeClient::new(endpoint("chunky", &url).with_max_response_bytes(1 << 20))
        .expect("valid endpoint");
    assert!(matches!(
        node.get_block_count().await,
        Err(RpcError::TooLarge { .. })
    ));
}

#[tokio::test]
async fn unframed_body_is_cut_at_the_limit() {
    // No Content-Length, no chunking: the body runs to EOF, and the cap applies while reading.
    let mut bytes = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    bytes.extend(std::iter::repeat_n(b' ', 3 << 20));
    let (url, _) = fake_node(move |_, _| Reply::Close(bytes.clone())).await;
    let node = NodeClient::new(endpoint("stream", &url).with_max_response_bytes(1 << 20))
        .expect("valid endpoint");
    assert!(
        matches!(node.get_block_count().await, Err(RpcError::TooLarge { limit, .. }) if limit == 1 << 20)
    );
}

#[tokio::test]
async fn connection_closed_mid_body_is_an_io_error() {
    let (url, _) = fake_node(|_, _| {
        Reply::Close(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"result\":".to_vec())
    })
    .await;
    let err = client("cut", &url)
        .get_block_count()
        .await
        .expect_err("truncated");
    match &err {
        RpcError::Io { node, source, .. } => {
            assert_eq!(node, "cut");
            assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof);
            assert!(source.to_string().contains("after 10 of 100"), "{source}");
        }
        other => panic!("expected an io error, got {other:?}"),
    }
    assert!(err.is_transport());
    assert!(err
        .chain()
        .to_string()
        .contains("connection closed after 10 of 100"));
}

#[tokio::test]
async fn chunked_answers_and_http_errors_without_json() {
    // A valid answer split in chunks, with an extension and a trailer.
    let (url, _) = fake_node(|id, _| {
        let body = json!({ "result": 42, "error": null, "id": id }).to_string();
        let (a, b) = body.split_at(7);
        let text = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x};ext=1\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\nX-Trailer: y\r\n\r\n",
            a.len(),
            b.len()
        );
        Reply::KeepOpen(text.into_bytes())
    })
    .await;
    assert_eq!(
        client("chunked", &url)
            .get_block_count()
            .await
            .expect("chunked answer"),
        42
    );

    // A proxy's 503 page: an HTTP error, retryable, with the start of the body.
    let (url, _) = fake_node(|_, _| {
        Reply::KeepOpen(http("503 Service Unavailable", "<h1>upstream down</h1>"))
    })
    .await;
    let err = client("proxy", &url)
        .get_block_count()
        .await
        .expect_err("503");
    assert!(
        matches!(&err, RpcError::Http { status: 503, body_prefix, .. } if body_prefix == "<h1>upstream down</h1>"),
        "{err:?}"
    );
    assert!(err.is_transport());
}

#[tokio::test]
async fn keep_alive_reuses_one_connection_and_survives_a_node_closing_it() {
    // 1. A node that keeps connections open: three calls, one connection.
    let (url, accepted) = fake_node(|id, _| Reply::KeepOpen(ok_reply(id, &json!(7)))).await;
    let node = client("keep", &url);
    for _ in 0..3 {
        assert_eq!(node.get_block_count().await.expect("answer"), 7);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // 2. A node that closes after every answer without saying so (no `Connection: close`), as a
    //    node does when its idle timeout expires: every call still succeeds, on a new connection.
    let (url, accepted) = fake_node(|id, _| Reply::Close(ok_reply(id, &json!(8)))).await;
    let node = client("closer", &url);
    for _ in 0..3 {
        assert_eq!(node.get_block_count().await.expect("answer"), 8);
        // Let the FIN arrive, so the next call sees a closed idle connection.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);

    // 3. A node that reads the second request on a connection and closes without a byte of
    //    answer (an idle close racing our write): the call is retried once on a new connection.
    let (url, accepted) = fake_node(|id, nth| {
        if nth == 1 {
            Reply::KeepOpen(ok_reply(id, &json!(9)))
        } else {
            Reply::Close(Vec::new())
        }
    })
    .await;
    let node = client("racer", &url);
    for _ in 0..3 {
        assert_eq!(node.get_block_count().await.expect("answer"), 9);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn failover_moves_past_a_silent_node_and_a_dead_port() {
    // 1. Primary accepts and never answers (timeout 300 ms), secondary is a dead port, third answers.
    let (silent, _) = fake_node(|_, _| Reply::Never).await;
    let dead = dead_url().await;
    let (good, _) = fake_node(|id, _| Reply::KeepOpen(ok_reply(id, &json!(11)))).await;
    let failover = FailoverClient::new(vec![
        NodeClient::new(endpoint("silent", &silent).with_timeout(Duration::from_millis(300)))
            .expect("valid"),
        client("dead", &dead),
        client("good", &good),
    ])
    .expect("three nodes");
    assert_eq!(failover.active().name(), "silent");
    let started = Instant::now();
    assert_eq!(
        failover
            .get_block_count()
            .await
            .expect("third node answers"),
        11
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(failover.active().name(), "good");

    // 2. All nodes failing: one error listing each node's failure, in order.
    let failover = FailoverClient::new(vec![
        NodeClient::new(endpoint("silent", &silent).with_timeout(Duration::from_millis(200)))
            .expect("valid"),
        client("dead", &dead),
    ])
    .expect("two nodes");
    let err = failover
        .call("getblockcount", json!([]))
        .await
        .expect_err("nobody answers");
    match &err {
        RpcError::AllFailed { method, failures } => {
            assert_eq!(method, "getblockcount");
            assert!(
                matches!(
                    &failures[..],
                    [RpcError::Timeout { .. }, RpcError::Connect { .. }]
                ),
                "{failures:?}"
            );
        }
        other => panic!("expected AllFailed, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.starts_with("getblockcount: all 2 node(s) failed: node silent: getblockcount: no answer within 200ms; node dead: getblockcount: cannot connect to 127.0.0.1:"), "{text}");
    assert!(err.is_transport());
}

#[test]
fn bad_endpoints_are_refused_at_build_time() {
    let auth = NodeAuth::UserPassword {
        user: "u".into(),
        password: "p".into(),
    };
    for url in [
        "https://h:1/",
        "http://h/",
        "127.0.0.1:8332",
        "http://u:p@h:1/",
    ] {
        let err = NodeClient::new(NodeEndpoint::new("n", url, auth.clone())).expect_err(url);
        assert!(
            err.to_string()
                .starts_with(&format!("node n: invalid url \"{url}\"")),
            "{err}"
        );
    }
    let zero =
        NodeEndpoint::new("n", "http://127.0.0.1:1/", auth.clone()).with_timeout(Duration::ZERO);
    assert!(NodeClient::new(zero).is_err());
    let zero = NodeEndpoint::new("n", "http://127.0.0.1:1/", auth).with_max_response_bytes(0);
    assert!(NodeClient::new(zero).is_err());
    assert!(FailoverClient::new(Vec::new()).is_err());
}

// ---------------------------------------------------------------------------------------------
// Real regtest nodes
// ---------------------------------------------------------------------------------------------

/// Runs a blocking harness call (it runs `bitcoin-cli` or a script) off the runtime's threads,
/// so fake nodes and proxies of the same test keep running.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("harness call panicked")
}

async fn start_nodes(nodes: usize, cookie_auth: bool) -> RegtestNodes {
    let options = RegtestOptions {
        nodes,
        cookie_auth,
        zmq: false,
    };
    blocking(move || RegtestNodes::start(options))
        .await
        .expect("regtest nodes start")
}

/// A client of a harness node with the credentials the harness gave it.
fn real_client(name: &str, node: &RegtestNode) -> NodeClient {
    let auth = match (&node.cookie_path, &node.rpc_user, &node.rpc_password) {
        (Some(path), _, _) => NodeAuth::CookieFile(path.clone()),
        (None, Some(user), Some(password)) => NodeAuth::UserPassword {
            user: user.clone(),
            password: password.clone(),
        },
        _ => panic!("harness node {} has no credentials", node.index),
    };
    NodeClient::new(
        NodeEndpoint::new(name, node.rpc_url(), auth).with_timeout(Duration::from_secs(10)),
    )
    .expect("valid endpoint")
}

#[tokio::test]
async fn real_nodes_with_password_auth() {
    // 1. Three connected nodes (three, so that node 1 still has a peer and hands out templates
    //    after node 0 is stopped in step 8).
    let set = Arc::new(start_nodes(3, false).await);
    let nodes = set.nodes().to_vec();
    let node0 = real_client("node0", &nodes[0]);
    let node1 = real_client("node1", &nodes[1]);

    // 2. User/password auth and the typed helpers, on a chain one block high.
    assert_eq!(node0.get_block_count().await.expect("getblockcount"), 0);
    let generator = nodes[1].clone();
    let mined = blocking(move || generator.generate(1))
        .await
        .expect("generate");
    let waiter = nodes[0].clone();
    blocking(move || waiter.wait_for_height(1, Duration::from_secs(30)))
        .await
        .expect("block relayed");
    let best = node0.get_best_block_hash().await.expect("getbestblockhash");
    assert_eq!(best, mined[0]);
    assert_eq!(node0.get_block_count().await.expect("getblockcount"), 1);
    let header = node0.get_block_header(&best).await.expect("getblockheader");
    assert_eq!(header["height"], json!(1));
    let network = node0.get_network_info().await.expect("getnetworkinfo");
    assert!(network["subversion"].is_string(), "{network}");
    let chain = node0
        .get_blockchain_info()
        .await
        .expect("getblockchaininfo");
    assert_eq!(chain["chain"], json!("regtest"));
    let template = node0
        .get_block_template(&["segwit"])
        .await
        .expect("getblocktemplate");
    assert_eq!(template["previousblockhash"], json!(best));
    assert_eq!(template["height"], json!(2));

    // 3. A wrong password: HTTP 401, not a transport failure, but another node may do better.
    let wrong = NodeClient::new(NodeEndpoint::new(
        "wrong",
        nodes[0].rpc_url(),
        NodeAuth::UserPassword {
            user: "ironpool".into(),
            password: "not-the-password".into(),
        },
    ))
    .expect("valid endpoint");
    let err = wrong.get_block_count().await.expect_err("wrong password");
    assert!(
        matches!(&err, RpcError::Http { status: 401, node, .. } if node == "wrong"),
        "{err:?}"
    );
    assert!(!err.is_transport() && err.fails_over());
    assert!(
        err.to_string()
            .starts_with("node wrong: getblockcount: http status 401"),
        "{err}"
    );

    // 4. Node errors carry the node's code and message verbatim, and do not fail over.
    let unknown = "00".repeat(32);
    let err = node0
        .get_block_header(&unknown)
        .await
        .expect_err("unknown block");
    assert!(
        matches!(&err, RpcError::Node { node, method, code: -5, message } if node == "node0" && method == "getblockheader" && message == "Block not found"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "node node0: getblockheader: node error -5: Block not found"
    );
    assert!(!err.is_transport() && !err.fails_over());
    let err = node0
        .call("nosuchmethod", json!([]))
        .await
        .expect_err("unknown method");
    assert!(
        matches!(&err, RpcError::Node { code: -32601, message, .. } if message == "Method not found"),
        "{err:?}"
    );
    let pair = FailoverClient::new(vec![node0.clone(), node1.clone()]).expect("two nodes");
    let err = pair
        .get_block_header(&unknown)
        .await
        .expect_err("unknown block on the primary");
    assert_eq!(
        err.node(),
        Some("node0"),
        "a node error must not fail over: {err:?}"
    );

    // 5. submitblock: undecodable hex is the node's error; a known block is a rejection reason.
    let err = node0.submit_block("zz").await.expect_err("garbage hex");
    assert!(
        matches!(&err, RpcError::Node { code: -22, message, .. } if message == "Block decode failed"),
        "{err:?}"
    );
    let hash = best.clone();
    let reader = nodes[0].clone();
    let block_hex = blocking(move || reader.cli("getblock", &[hash.as_str(), "0"]))
        .await
        .expect("getblock");
    let block_hex = block_hex.as_str().expect("getblock 0 answers hex");
    assert_eq!(
        node0.submit_block(block_hex).await.expect("submitblock"),
        Some("duplicate".to_owned())
    );

    // 6. Order: a dead port first, then a live node: the live node answers.
    let dead = client("dead", &dead_url().await);
    let failover = FailoverClient::new(vec![dead, node0.clone()]).expect("two nodes");
    assert_eq!(
        failover
            .get_block_count()
            .await
            .expect("second node answers"),
        1
    );
    assert_eq!(failover.active().name(), "node0");

    // 7. The primary goes away and comes back (through a switchable proxy in front of node 0):
    //    the secondary answers meanwhile, and the primary is used again as soon as it is back.
    let (proxy_url, switch) = switchable_proxy(nodes[0].rpc_port).await;
    let auth = NodeAuth::UserPassword {
        user: "ironpool".into(),
        password: "ironpool".into(),
    };
    let primary =
        NodeClient::new(NodeEndpoint::new("primary", proxy_url, auth)).expect("valid endpoint");
    let failover = FailoverClient::new(vec![primary, node1.clone()]).expect("two nodes");
    assert_eq!(
        failover
            .get_best_block_hash()
            .await
            .expect("primary answers"),
        best
    );
    assert_eq!(failover.active().name(), "primary");
    switch.send_replace(false);
    assert_eq!(
        failover
            .get_best_block_hash()
            .await
            .expect("secondary answers"),
        best
    );
    assert_eq!(failover.active().name(), "node1");
    switch.send_replace(true);
    assert_eq!(
        failover
            .get_best_block_hash()
            .await
            .expect("primary answers again"),
        best
    );
    assert_eq!(failover.active().name(), "primary");

    // 8. A real node stopped: the next one answers, templates included.
    let failover = FailoverClient::new(vec![node0.clone(), node1.clone()]).expect("two nodes");
    assert_eq!(failover.get_block_count().await.expect("node0 answers"), 1);
    let stopper = Arc::clone(&set);
    blocking(move || stopper.stop_node(0))
        .await
        .expect("stop node 0");
    assert!(node0
        .get_block_count()
        .await
        .expect_err("node 0 is down")
        .is_transport());
    assert_eq!(failover.get_block_count().await.expect("node1 answers"), 1);
    assert_eq!(failover.active().name(), "node1");
    let template = failover
        .get_block_template(&["segwit"])
        .await
        .expect("template from node1");
    assert_eq!(template["previousblockhash"], json!(best));
}

#[tokio::test]
async fn real_node_with_cookie_auth() {
    // 1. One node with cookie auth (no template needed, so no peer).
    let set = start_nodes(1, true).await;
    let node = &set.nodes()[0];
    let cookie_path = node
        .cookie_path
        .clone()
        .expect("cookie auth gives a cookie path");
    let client = real_client("cookie", node);
    assert_eq!(
        client.get_block_count().await.expect("cookie auth works"),
        0
    );

    // 2. A stale cookie (as after a node restart) is read again on 401: first the file still
    //    holds a wrong cookie, so the 401 stands; then it holds the node's, and the same client
    //    recovers without being rebuilt.
    let stale = set.dir().join("stale.cookie");
    std::fs::write(&stale, "__cookie__:0000").expect("write a cookie copy");
    let endpoint = NodeEndpoint::new(
        "restarted",
        node.rpc_url(),
        NodeAuth::CookieFile(stale.clone()),
    );
    let restarted = NodeClient::new(endpoint).expect("valid endpoint");
    let err = restarted.get_block_count().await.expect_err("wrong cookie");
    assert!(matches!(err, RpcError::Http { status: 401, .. }), "{err:?}");
    std::fs::copy(&cookie_path, &stale).expect("copy the node's cookie");
    assert_eq!(
        restarted
            .get_block_count()
            .await
            .expect("cookie read again after 401"),
        0
    );

    // 3. A missing or malformed cookie is an error naming the path.
    let missing = set.dir().join("missing.cookie");
    let endpoint = NodeEndpoint::new(
        "missing",
        node.rpc_url(),
        NodeAuth::CookieFile(missing.clone()),
    );
    let err = NodeClient::new(endpoint)
        .expect("valid endpoint")
        .get_block_count()
        .await
        .expect_err("no cookie");
    assert!(
        matches!(&err, RpcError::Cookie { path, source: CookieError::Read { .. }, .. } if *path == missing),
        "{err:?}"
    );
    assert!(
        err.chain()
            .to_string()
            .contains(&missing.display().to_string()),
        "{}",
        err.chain()
    );
    let malformed = set.dir().join("malformed.cookie");
    std::fs::write(&malformed, "no colon here\n").expect("write a malformed cookie");
    let endpoint = NodeEndpoint::new(
        "malformed",
        node.rpc_url(),
        NodeAuth::CookieFile(malformed.clone()),
    );
    let err = NodeClient::new(endpoint)
        .expect("valid endpoint")
        .get_block_count()
        .await
        .expect_err("bad cookie");
    match &err {
        RpcError::Cookie {
            source: CookieError::Malformed { path, detail },
            ..
        } => {
            assert_eq!(path, &malformed);
            assert_eq!(detail, "no ':' between user and password");
        }
        other => panic!("expected a malformed cookie, got {other:?}"),
    }
}

/// A TCP proxy to `127.0.0.1:port` that can be switched off: while off it accepts and closes at
/// once, and switching it off cuts the connections it forwards (as a node going down would).
async fn switchable_proxy(port: u16) -> (String, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("bound address");
    let (switch, up) = watch::channel(true);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut up = up.clone();
            if !*up.borrow_and_update() {
                continue; // dropping `inbound` closes it
            }
            tokio::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", port)).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = up.wait_for(|up| !*up) => {}
                }
            });
        }
    });
    (format!("http://{addr}/"), switch)
}
