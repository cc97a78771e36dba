//! Blocks assembled from Bitcoin Core's regtest templates (`../shared/fixtures/`) must pass the
//! `bitcoin` crate's own merkle-root and witness-commitment checks, and decode as the block we meant.

mod support;
use support::{params, template};

use bitcoin::consensus::deserialize;
use bitcoin::Block;
use ironpool_shared::work::{
    assemble_block, build_job, check_solution_policy, BlockTemplate, ExtranonceSizes, Solution,
};

/// Grinds nonces until the header meets regtest's target (about one nonce in two).
fn solve(name: &str, tag: &str, version_bits: u32) -> (BlockTemplate, Block) {
    let t = template(name);
    let job = build_job(&t, &params(tag, ExtranonceSizes::default()), 7, true, 0).expect("job");
    for nonce in 0..1_000u32 {
        let solution = Solution {
            extranonce1: vec![0xde, 0xad, 0xbe, 0xef],
            extranonce2: vec![0, 1, 2, 3, 4, 5, 6, 7],
            ntime: t.curtime + 1,
            nonce,
            version: t.version | version_bits,
        };
        let block = assemble_block(&job.record, &job.coinbase, &t.transactions, &solution)
            .expect("assembles");
        if block.meets_target {
            let decoded: Block = deserialize(&block.bytes).expect("the bytes are a block");
            assert_eq!(decoded.block_hash(), block.hash);
            return (t, decoded);
        }
    }
    panic!("no nonce met regtest's target in 1000 tries");
}

#[test]
fn blocks_from_the_fixtures_pass_the_merkle_and_witness_checks() {
    for name in [
        "bitcoin-core-regtest-gbt-10tx.json",
        "bitcoin-core-regtest-gbt-300tx.json",
    ] {
        for tag in ["", "/ironpool/", &"x".repeat(200)] {
            let (t, block) = solve(name, tag, 0x0000_2000);
            assert!(block.check_merkle_root(), "{name}: merkle root");
            assert!(
                block.check_witness_commitment(),
                "{name}: witness commitment"
            );
            assert_eq!(block.header.prev_blockhash, t.previous_block_hash);
            assert_eq!(block.header.bits, t.bits);
            assert_eq!(
                block.header.version.to_consensus() as u32,
                t.version | 0x2000
            );
            assert_eq!(block.txdata.len(), t.transactions.len() + 1);
            let coinbase = &block.txdata[0];
            assert!(coinbase.is_coinbase());
            assert!(coinbase.input[0].script_sig.len() <= 100);
            assert_eq!(coinbase.input[0].witness.len(), 1, "witness reserved value");
            assert_eq!(coinbase.input[0].witness.nth(0).map(<[u8]>::len), Some(32));
            // The outputs pay exactly the template's coinbase value.
            let paid: u64 = coinbase.output.iter().map(|o| o.value.to_sat()).sum();
            assert_eq!(paid, t.coinbase_value);
            // BIP34 height.
            assert_eq!(
                block.bip34_block_height().expect("bip34 height"),
                u64::from(t.height)
            );
            // The template's transactions, in order, byte for byte.
            for (tx, want) in block.txdata[1..].iter().zip(&t.transactions) {
                assert_eq!(bitcoin::consensus::serialize(tx), want.data);
            }
        }
    }
}

#[test]
fn a_changed_transaction_fails_the_checks() {
    // The checks above can fail: drop one transaction from an assembled block and the merkle root
    // no longer matches.
    let (_, mut block) = solve("bitcoin-core-regtest-gbt-10tx.json", "/ironpool/", 0);
    block.txdata.remove(3);
    assert!(!block.check_merkle_root());
}

#[test]
fn the_pool_policy_refuses_version_bits_outside_the_mask_and_late_ntime() {
    let t = template("bitcoin-core-regtest-gbt-10tx.json");
    let job = build_job(&t, &params("", ExtranonceSizes::default()), 1, true, 0).expect("job");
    let solution = Solution {
        extranonce1: vec![0; 4],
        extranonce2: vec![0; 8],
        ntime: t.curtime,
        nonce: 0,
        version: t.version | 0x4000_0000,
    };
    assert!(check_solution_policy(&job.record, &solution).is_err());
    // The node judges blocks: assembly itself does not apply the pool's rules.
    assert!(assemble_block(&job.record, &job.coinbase, &t.transactions, &solution).is_ok());
    let late = Solution {
        ntime: t.curtime + 601,
        version: t.version,
        ..solution
    };
    assert!(check_solution_policy(&job.record, &late).is_err());
    let fine = Solution {
        ntime: t.curtime + 600,
        version: t.version | 0x1fff_e000,
        ..late
    };
    assert_eq!(check_solution_policy(&job.record, &fine), Ok(()));
}

#[test]
fn work_starts_at_mintime_when_the_node_sends_it_after_curtime() {
    let mut t = template("bitcoin-core-regtest-gbt-10tx.json");
    t.mintime = t.curtime + 100;
    let job = build_job(&t, &params("", ExtranonceSizes::default()), 1, true, 0).expect("job");
    assert_eq!(job.record.ntime, t.curtime + 100);
    assert_eq!(job.record.ntime_min, t.curtime + 100);
    assert_eq!(job.record.ntime_max, t.curtime + 700);
}

#[test]
fn the_miner_side_header_equals_the_assembled_blocks_header() {
    // What a miner hashes from the job record alone (coinb1/coinb2/branch) must be the header of
    // the block the jobmaster assembles from the full template.
    let t = template("bitcoin-core-regtest-gbt-300tx.json");
    let job = build_job(
        &t,
        &params("/ironpool/", ExtranonceSizes::default()),
        9,
        true,
        0,
    )
    .expect("job");
    let solution = Solution {
        extranonce1: vec![1, 2, 3, 4],
        extranonce2: vec![9; 8],
        ntime: t.curtime,
        nonce: 12345,
        version: t.version | 0x0004_0000,
    };
    let header = ironpool_shared::work::header_for_solution(&job.record, &solution).expect("sizes");
    let block =
        assemble_block(&job.record, &job.coinbase, &t.transactions, &solution).expect("assembles");
    assert_eq!(header, block.header);
    let short = Solution {
        extranonce2: vec![9; 7],
        ..solution
    };
    assert!(ironpool_shared::work::header_for_solution(&job.record, &short).is_err());
}
