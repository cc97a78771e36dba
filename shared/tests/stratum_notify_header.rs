//! The `mining.notify` byte orders, checked the way that matters: a miner that rebuilds the header
//! from our notify line exactly as cgminer/bfgminer do must hash the same 80 bytes as
//! `work::header_for_solution`, which the block path uses.
//!
//! How a cgminer-family miner builds the header (cgminer `parse_notify` / `gen_stratum_work`):
//! 1. the coinbase is `coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2`, hex-decoded;
//! 2. the merkle root is `sha256d(coinbase)` folded with each branch entry as hex-decoded
//!    (`root = sha256d(root ‖ entry)`), and written into the template with each 4-byte word swapped;
//! 3. the template is the hex of `version ‖ prevhash ‖ (root) ‖ ntime ‖ nbits ‖ nonce`,
//!    hex-decoded, and each 4-byte word is byte-swapped before hashing.
//!
//! Two checks: the example of the original stratum specification (slush pool), whose share meets
//! difficulty 1 only if every byte order is right (2^-32 by chance otherwise), and random jobs.

mod support;
use support::Rng;

use bitcoin::consensus::serialize;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::hex::{DisplayHex, FromHex};
use ironpool_shared::stratum::{parse_request, prev_hash_to_stratum, NotifyLine, Request};
use ironpool_shared::work::{header_for_solution, ExtranonceSizes, JobRecord, Solution};

fn unhex(text: &str) -> Vec<u8> {
    Vec::<u8>::from_hex(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn swap_words(bytes: &[u8]) -> Vec<u8> {
    bytes
        .chunks(4)
        .flat_map(|w| w.iter().rev().copied())
        .collect()
}

/// What the miner sends back in `mining.submit`, as hex text.
struct MinerSolution<'a> {
    extranonce1: &'a [u8],
    extranonce2_hex: String,
    ntime_hex: String,
    nonce_hex: String,
    version_hex: String,
}

/// The 80-byte header a cgminer-family miner hashes, from the notify line's text alone.
fn miner_header(notify_line: &[u8], s: &MinerSolution<'_>) -> Vec<u8> {
    assert_eq!(notify_line.last(), Some(&b'\n'));
    let msg: serde_json::Value = serde_json::from_slice(notify_line).expect("notify is json");
    assert_eq!(msg["method"], "mining.notify");
    assert_eq!(msg["id"], serde_json::Value::Null);
    let p = msg["params"].as_array().expect("params");
    assert_eq!(p.len(), 9);
    let text = |i: usize| p[i].as_str().expect("hex string").to_owned();
    let mut coinbase = unhex(&text(2));
    coinbase.extend_from_slice(s.extranonce1);
    coinbase.extend(unhex(&s.extranonce2_hex));
    coinbase.extend(unhex(&text(3)));
    let mut root = sha256d::Hash::hash(&coinbase).to_byte_array().to_vec();
    for entry in p[4].as_array().expect("branch") {
        root.extend(unhex(entry.as_str().expect("branch entry")));
        root = sha256d::Hash::hash(&root).to_byte_array().to_vec();
    }
    let template = format!(
        "{}{}{}{}{}{}",
        s.version_hex,
        text(1),
        swap_words(&root).to_lower_hex_string(),
        s.ntime_hex,
        text(6),
        s.nonce_hex
    );
    let data = unhex(&template);
    assert_eq!(data.len(), 80);
    swap_words(&data)
}

/// The example of the original stratum specification (slush pool, 2012): `mining.notify`,
/// `extranonce1` 08000002 with a 4-byte extranonce2, and the submitted share.
#[test]
fn the_specification_example_share_meets_difficulty_one() {
    let stratum_prev = unhex("4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000");
    let job = JobRecord {
        job_id: 0xbf,
        clean: false,
        height: 0,
        prev_hash: prev_hash_to_stratum(&stratum_prev.clone().try_into().expect("32 bytes")),
        version: 2,
        version_mask: 0,
        bits: 0x1c2a_c4af,
        ntime: 0x504e_86b9,
        ntime_min: 0x504e_86b9,
        ntime_max: 0x504e_8800,
        extranonce: ExtranonceSizes {
            extranonce1: 4,
            extranonce2: 4,
        },
        coinb1: unhex("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008"),
        coinb2: unhex("072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000"),
        merkle_branch: vec![],
        created_at_us: 0,
    };
    // 1. Our notify line carries the specification's values, byte for byte.
    let line = NotifyLine::new(&job, false);
    assert_eq!(
        std::str::from_utf8(line.as_bytes()).expect("utf-8"),
        "{\"id\":null,\"method\":\"mining.notify\",\"params\":[\"bf\",\
         \"4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000\",\
         \"01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008\",\
         \"072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000\",\
         [],\"00000002\",\"1c2ac4af\",\"504e86b9\",false]}\n"
    );

    // 2. The specification's submit parses into the values the header needs.
    let submit_line = br#"{"params": ["slush.miner1", "bf", "00000001", "504e86ed", "b2957c02"], "id": 4, "method": "mining.submit"}"#;
    let Ok(Request::Submit { id, submit }) = parse_request(submit_line) else {
        panic!("submit parses");
    };
    assert_eq!(id.as_json(), "4");
    assert_eq!(submit.job_id, job.job_id);
    let extranonce1 = [0x08, 0x00, 0x00, 0x02];
    let solution = Solution {
        extranonce1: extranonce1.to_vec(),
        extranonce2: submit.extranonce2.as_slice().to_vec(),
        ntime: submit.ntime,
        nonce: submit.nonce,
        version: job.version,
    };
    let header = header_for_solution(&job, &solution).expect("sizes match");

    // 3. Pool side: the share meets difficulty 1 (target 0x00000000ffff0000…), which happens
    //    by chance with probability 2^-32 if any byte order were wrong.
    let hash = header.block_hash();
    assert_eq!(
        hash.to_string(),
        "000000002076870fe65a2b6eeed84fa892c0db924f1482243a6247d931dcab32"
    );
    assert!(bitcoin::Target::MAX.is_met_by(hash));

    // 4. Miner side: the header rebuilt from our line is the same 80 bytes.
    let rebuilt = miner_header(
        line.as_bytes(),
        &MinerSolution {
            extranonce1: &extranonce1,
            extranonce2_hex: "00000001".into(),
            ntime_hex: "504e86ed".into(),
            nonce_hex: "b2957c02".into(),
            version_hex: "00000002".into(),
        },
    );
    assert_eq!(rebuilt, serialize(&header));
}

/// The genesis block's successor (height 1) as a one-transaction job: the prevhash of a real
/// chain (the genesis hash), and a real block hash out of the rebuilt header.
#[test]
fn block_one_rebuilt_from_a_notify_line_has_its_real_hash() {
    // Block 1's coinbase, cut inside its scriptSig `04ffff001d0104` so that `ffff` is the
    // extranonce1 and `001d` the extranonce2.
    let coinbase = unhex(
        "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff07\
         04ffff001d0104ffffffff0100f2052a0100000043410496b538e853519c726a2c91e61ec11600ae13908\
         13a627c66fb8be7947be63c52da7589379515d4e0a604f8141781e62294721166bf621e73a82cbf2342c8\
         58eeac00000000",
    );
    let cut = 43; // after the scriptSig length and the push opcode 0x04
    assert_eq!(coinbase[cut - 2..cut], [0x07, 0x04]);
    let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Bitcoin);
    let job = JobRecord {
        job_id: 1,
        clean: true,
        height: 1,
        prev_hash: genesis.block_hash().to_byte_array(),
        version: 1,
        version_mask: 0,
        bits: 0x1d00_ffff,
        ntime: 1_231_469_665,
        ntime_min: 1_231_469_665,
        ntime_max: 1_231_469_665,
        extranonce: ExtranonceSizes {
            extranonce1: 2,
            extranonce2: 2,
        },
        coinb1: coinbase[..cut].to_vec(),
        coinb2: coinbase[cut + 4..].to_vec(),
        merkle_branch: vec![],
        created_at_us: 0,
    };
    let line = NotifyLine::new(&job, true);
    let text = std::str::from_utf8(line.as_bytes()).expect("utf-8");
    // The stratum prevhash is the displayed hash with its 4-byte words in reverse order.
    assert!(text.contains("\"0a8ce26f72b3f1b646a2a6c14ff763ae65831e939c085ae10019d66800000000\""));
    assert!(text.ends_with(",\"00000001\",\"1d00ffff\",\"4966bc61\",true]}\n"));
    let rebuilt = miner_header(
        line.as_bytes(),
        &MinerSolution {
            extranonce1: &[0xff, 0xff],
            extranonce2_hex: "001d".into(),
            ntime_hex: "4966bc61".into(),
            nonce_hex: format!("{:08x}", 2_573_394_689u32),
            version_hex: "00000001".into(),
        },
    );
    assert_eq!(
        sha256d::Hash::hash(&rebuilt)
            .to_byte_array()
            .iter()
            .rev()
            .copied()
            .collect::<Vec<u8>>()
            .to_lower_hex_string(),
        "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048"
    );
    let header = header_for_solution(
        &job,
        &Solution {
            extranonce1: vec![0xff, 0xff],
            extranonce2: vec![0x00, 0x1d],
            ntime: 1_231_469_665,
            nonce: 2_573_394_689,
            version: 1,
        },
    )
    .expect("sizes match");
    assert_eq!(rebuilt, serialize(&header));
}

#[test]
fn random_jobs_rebuild_to_the_pool_header() {
    let mut rng = Rng(0x5eed);
    for round in 0..300 {
        let sizes = ExtranonceSizes {
            extranonce1: 2 + rng.below(7),
            extranonce2: 2 + rng.below(15),
        };
        let (coinb1_len, coinb2_len) = (rng.below(140), rng.below(400));
        let version_mask = if round % 2 == 0 { 0x1fff_e000 } else { 0 };
        let job = JobRecord {
            job_id: rng.next() as u32,
            clean: round % 3 == 0,
            height: rng.next() as u32,
            prev_hash: rng.array32(),
            version: 0x2000_0000 | (rng.next() as u32 & 0x1fff_ffff),
            version_mask,
            bits: rng.next() as u32,
            ntime: rng.next() as u32,
            ntime_min: 0,
            ntime_max: u32::MAX,
            extranonce: sizes,
            coinb1: rng.bytes(coinb1_len),
            coinb2: rng.bytes(coinb2_len),
            merkle_branch: (0..rng.below(13)).map(|_| rng.array32()).collect(),
            created_at_us: 0,
        };
        let extranonce1 = rng.bytes(sizes.extranonce1);
        let extranonce2 = rng.bytes(sizes.extranonce2);
        let (ntime, nonce) = (rng.next() as u32, rng.next() as u32);
        let rolled = rng.next() as u32 & version_mask;
        let version = (job.version & !version_mask) | rolled;

        // The miner's submit, through our parser.
        let submit_line = if version_mask != 0 {
            format!(
                r#"{{"id":{round},"method":"mining.submit","params":["w.1","{:x}","{}","{ntime:08x}","{nonce:08x}","{rolled:08x}"]}}"#,
                job.job_id,
                extranonce2.to_lower_hex_string()
            )
        } else {
            format!(
                r#"{{"id":{round},"method":"mining.submit","params":["w.1","{:x}","{}","{ntime:08x}","{nonce:08x}"]}}"#,
                job.job_id,
                extranonce2.to_lower_hex_string()
            )
        };
        let Ok(Request::Submit { submit, .. }) = parse_request(submit_line.as_bytes()) else {
            panic!("round {round}: submit parses: {submit_line}");
        };
        assert_eq!(submit.job_id, job.job_id);
        let pool_version = match submit.version_bits {
            Some(bits) => (job.version & !job.version_mask) | (bits & job.version_mask),
            None => job.version,
        };
        let header = header_for_solution(
            &job,
            &Solution {
                extranonce1: extranonce1.clone(),
                extranonce2: submit.extranonce2.as_slice().to_vec(),
                ntime: submit.ntime,
                nonce: submit.nonce,
                version: pool_version,
            },
        )
        .expect("sizes match");

        for clean in [false, true] {
            let line = NotifyLine::new(&job, clean);
            let rebuilt = miner_header(
                line.as_bytes(),
                &MinerSolution {
                    extranonce1: &extranonce1,
                    extranonce2_hex: extranonce2.to_lower_hex_string(),
                    ntime_hex: format!("{ntime:08x}"),
                    nonce_hex: format!("{nonce:08x}"),
                    version_hex: format!("{version:08x}"),
                },
            );
            assert_eq!(rebuilt, serialize(&header), "round {round}");
            let msg: serde_json::Value = serde_json::from_slice(line.as_bytes()).expect("json");
            assert_eq!(msg["params"][0], format!("{:x}", job.job_id));
            assert_eq!(msg["params"][8], clean);
            assert_eq!(line.as_bytes().iter().filter(|&&b| b == b'\n').count(), 1);
        }
    }
}

#[test]
fn stratum_prevhash_swaps_each_word_and_is_its_own_inverse() {
    let internal: [u8; 32] = std::array::from_fn(|i| i as u8);
    let stratum = prev_hash_to_stratum(&internal);
    assert_eq!(&stratum[..8], &[3, 2, 1, 0, 7, 6, 5, 4]);
    assert_eq!(prev_hash_to_stratum(&stratum), internal);
}
