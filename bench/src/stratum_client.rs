//! A blocking, line-oriented stratum client for tests (of the gateway, of the accounting), and
//! shares ground to a wanted difficulty. It panics on a broken connection: it is test support.

use ironpool_shared::work::{hash_difficulty, header_for_solution, JobRecord, Solution};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A line-oriented stratum client with timeouts.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        Client { stream, reader }
    }

    pub fn send(&mut self, line: &str) {
        // One write: the line and its newline in two small segments would meet Nagle's algorithm
        // and the gateway's delayed ACK (40 ms on Linux) in latency measurements.
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.stream.write_all(&bytes).expect("write");
    }

    /// The next line, without its newline; `None` when the server closed the connection.
    pub fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.trim_end_matches('\n').to_owned()),
            Err(e) => panic!("no line from the gateway: {e}"),
        }
    }

    /// Whether the server closes the connection (EOF or reset) within the timeout.
    pub fn closed(&mut self) -> bool {
        let mut line = String::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    /// configure + subscribe + authorize; returns extranonce1 and skips the replies, the first
    /// difficulty and the first job.
    pub fn handshake(&mut self, worker: &str) -> Vec<u8> {
        self.send(r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff"}]}"#);
        self.line().expect("configure reply");
        self.send(r#"{"id":2,"method":"mining.subscribe","params":["test/1"]}"#);
        let reply: serde_json::Value =
            serde_json::from_str(&self.line().expect("subscribe reply")).expect("json");
        let en1 = bitcoin::hex::FromHex::from_hex(reply["result"][1].as_str().expect("en1"))
            .expect("hex");
        self.send(&format!(
            r#"{{"id":3,"method":"mining.authorize","params":["{worker}","x"]}}"#
        ));
        assert_eq!(
            self.line().as_deref(),
            Some(r#"{"id":3,"result":true,"error":null}"#)
        );
        let diff = self.line().expect("difficulty");
        assert!(diff.contains("mining.set_difficulty"), "{diff}");
        let notify = self.line().expect("notify");
        assert!(notify.contains("mining.notify"), "{notify}");
        en1
    }
}

/// A nonce whose header for `job` has a difficulty within `[min, max)`.
pub fn find_share(
    job: &JobRecord,
    en1: &[u8],
    en2: &[u8],
    version: u32,
    min: f64,
    max: f64,
) -> Solution {
    for nonce in 0..50_000_000u32 {
        let solution = Solution {
            extranonce1: en1.to_vec(),
            extranonce2: en2.to_vec(),
            ntime: job.ntime,
            nonce,
            version,
        };
        let hash = header_for_solution(job, &solution)
            .expect("sizes")
            .block_hash();
        let d = hash_difficulty(&bitcoin::hashes::Hash::to_byte_array(hash));
        if d >= min && d < max {
            return solution;
        }
    }
    panic!("no nonce in range");
}

/// The `mining.submit` line for a solution.
pub fn submit_line(
    id: u64,
    worker: &str,
    job: &JobRecord,
    s: &Solution,
    version_bits: Option<u32>,
) -> String {
    let en2: String = s.extranonce2.iter().map(|b| format!("{b:02x}")).collect();
    let mut params = format!(
        r#""{worker}","{:x}","{en2}","{:08x}","{:08x}""#,
        job.job_id, s.ntime, s.nonce
    );
    if let Some(bits) = version_bits {
        params.push_str(&format!(r#","{bits:08x}""#));
    }
    format!(r#"{{"id":{id},"method":"mining.submit","params":[{params}]}}"#)
}

/// Session difficulty of the test ports: about one nonce in 4,300 meets it (fast in debug builds).
pub const DIFF: f64 = 0.000001;

/// The error code of a reply line (`[code, "message", null]`).
pub fn error_code(line: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    v["error"][0]
        .as_i64()
        .unwrap_or_else(|| panic!("no error code in {line}"))
}
