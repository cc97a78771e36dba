//! What the integration tests of `shared` share: a seeded random generator and the Bitcoin Core
//! regtest templates of `../shared/fixtures/` with the job parameters the tests build them with.

#![allow(dead_code)]

use bitcoin::Network;
use ironpool_shared::work::{BlockTemplate, ExtranonceSizes, JobParams, PayoutRecipient};

/// SplitMix64: deterministic random numbers without a dependency, so every run draws the same.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn u32(&mut self) -> u32 {
        self.next() as u32
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    pub fn array32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for byte in &mut out {
            *byte = self.next() as u8;
        }
        out
    }

    /// Uniform in (0, 1].
    pub fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Exponential with the given rate (events per second).
    pub fn exp(&mut self, rate: f64) -> f64 {
        if rate <= 0.0 {
            return f64::INFINITY;
        }
        -self.unit().ln() / rate
    }
}

/// A Bitcoin Core regtest `getblocktemplate` answer from `../shared/fixtures/`.
pub fn template(name: &str) -> BlockTemplate {
    let path = format!(
        "{}/../../shared/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    BlockTemplate::from_json(&serde_json::from_str(&text).expect("JSON")).expect("valid template")
}

/// Job parameters paying a P2WPKH (weight 3) and a P2WSH (weight 1) regtest address.
pub fn params(tag: &str, extranonce: ExtranonceSizes) -> JobParams {
    JobParams {
        tag: tag.as_bytes().to_vec(),
        payouts: vec![
            PayoutRecipient::parse(
                "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
                3,
                Network::Regtest,
            )
            .expect("p2wpkh"),
            PayoutRecipient::parse(
                "bcrt1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qzf4jry",
                1,
                Network::Regtest,
            )
            .expect("p2wsh"),
        ],
        extranonce,
        version_mask: 0x1fff_e000,
        ntime_roll_secs: 600,
    }
}

static NEXT_DIR: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A fresh directory under /dev/shm for one test, removed on drop.
pub struct TestDir(std::path::PathBuf);

impl TestDir {
    pub fn new(name: &str) -> Self {
        let n = NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::path::PathBuf::from(format!(
            "/dev/shm/ironpool-test-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create test dir");
        TestDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn job_config(slot_count: u32, slot_capacity: u32) -> ironpool_shared::ring::JobRingConfig {
    ironpool_shared::ring::JobRingConfig {
        slot_count,
        slot_capacity,
    }
}

pub fn share_config(
    capacity: u32,
    reserved_for_blocks: u32,
) -> ironpool_shared::ring::ShareRingConfig {
    ironpool_shared::ring::ShareRingConfig {
        capacity,
        reserved_for_blocks,
    }
}
