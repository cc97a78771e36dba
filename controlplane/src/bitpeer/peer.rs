//! One P2P connection: handshake, what the peer tells us, and what we spread to it.

use super::chain_view::{HeaderOutcome, HeaderRefused};
use super::{lock, PeerCommand, PeerHandle, Shared};
use bitcoin::bip152::BlockTransactionsRequest;
use bitcoin::block::Header;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use bitcoin::p2p::message_compact_blocks::{BlockTxn, CmpctBlock, SendCmpct};
use bitcoin::{Block, BlockHash};
use ironpool_shared::p2p::{
    answer_block_txn_request, compact_block, encode_message, version_message, CompactVersion,
    P2pDecoder,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The handshake must complete within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(30);
/// A peer silent this long (it answers pings) is gone.
const SILENCE_MAX: Duration = Duration::from_secs(120);
/// `inv` messages a peer may send per second on average, and in a burst.
const INV_PER_SEC: f64 = 50.0;
const INV_BURST: f64 = 500.0;
/// `inv` messages beyond the budget tolerated before the peer is dropped.
const INV_IGNORED_MAX: u64 = 1_000;
/// Protocol version that knows `sendcmpct` and `wtxidrelay`.
const WTXID_RELAY_VERSION: u32 = 70016;
const USER_AGENT: &str = "/ironpool-bitpeer:0.1/";

/// Keeps a connection to `addr` up, reconnecting `reconnect` after every end.
pub async fn keep_connected(addr: String, shared: Arc<Shared>, reconnect: Duration) {
    loop {
        let reason = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
            Ok(Ok(stream)) => session(&addr, stream, &shared).await,
            Ok(Err(e)) => format!("connect: {e}"),
            Err(_) => "connect timed out".to_owned(),
        };
        warn!(peer = %addr, %reason, retry_in_s = reconnect.as_secs(), "peer connection ended");
        lock(&shared.status).peer_down(&addr, &reason);
        tokio::time::sleep(reconnect).await;
    }
}

/// A token bucket for `inv` messages.
struct InvBudget {
    tokens: f64,
    at: Instant,
    ignored: u64,
}

impl InvBudget {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * INV_PER_SEC).min(INV_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.ignored += 1;
            false
        }
    }
}

struct Peer<'a> {
    addr: &'a str,
    id: u64,
    shared: &'a Shared,
    writer: OwnedWriteHalf,
    handshaken: bool,
    got_version: bool,
    wants_headers: bool,
    /// The compact-block version the peer wants new blocks pushed in (high-bandwidth mode).
    high_bandwidth: Option<u64>,
    /// The highest compact-block version the peer understands.
    compact_version: Option<u64>,
    inv: InvBudget,
    last_received: Instant,
    ping_nonce: u64,
}

fn unix_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn session(addr: &str, stream: TcpStream, shared: &Shared) -> String {
    let _ = stream.set_nodelay(true);
    let (mut reader, writer) = stream.into_split();
    let id = shared.next_peer.fetch_add(1, Ordering::Relaxed);
    let (commands_tx, mut commands) = mpsc::channel(64);
    let mut peer = Peer {
        addr,
        id,
        shared,
        writer,
        handshaken: false,
        got_version: false,
        wants_headers: false,
        high_bandwidth: None,
        compact_version: None,
        inv: InvBudget {
            tokens: INV_BURST,
            at: Instant::now(),
            ignored: 0,
        },
        last_received: Instant::now(),
        ping_nonce: 0,
    };
    let mut decoder = P2pDecoder::new(shared.magic, shared.max_message_bytes as usize);
    let start_height = lock(&shared.chain).best().map_or(0, |(_, h)| h as i32);
    let version = version_message(shared.nonce, start_height, USER_AGENT, unix_secs());
    if let Err(e) = peer.send(NetworkMessage::Version(version)).await {
        return e;
    }
    let started = Instant::now();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let reason = loop {
        tokio::select! {
            read = reader.read(&mut buffer) => {
                let n = match read {
                    Ok(0) => break "closed by peer".to_owned(),
                    Ok(n) => n,
                    Err(e) => break format!("read: {e}"),
                };
                peer.last_received = Instant::now();
                decoder.push(&buffer[..n]);
                let mut failed = None;
                loop {
                    match decoder.next_message() {
                        Ok(Some(decoded)) => {
                            if let Err(e) = peer.handle(decoded.message, &commands_tx).await {
                                failed = Some(e);
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            failed = Some(format!("bad message: {e}"));
                            break;
                        }
                    }
                }
                if let Some(reason) = failed {
                    break reason;
                }
            }
            Some(command) = commands.recv() => {
                if let Err(e) = peer.command(command).await {
                    break e;
                }
            }
            _ = ping.tick() => {
                if !peer.handshaken && started.elapsed() > HANDSHAKE_TIMEOUT {
                    break "handshake timed out".to_owned();
                }
                if peer.last_received.elapsed() > SILENCE_MAX {
                    break format!("silent for {} s", SILENCE_MAX.as_secs());
                }
                peer.ping_nonce = ironpool_shared::random::unique_u64();
                if let Err(e) = peer.send(NetworkMessage::Ping(peer.ping_nonce)).await {
                    break e;
                }
            }
        }
    };
    lock(&shared.peers).remove(&id);
    reason
}

impl Peer<'_> {
    async fn send(&mut self, message: NetworkMessage) -> Result<(), String> {
        let bytes = encode_message(self.shared.magic, message);
        self.writer
            .write_all(&bytes)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    async fn handle(
        &mut self,
        message: NetworkMessage,
        commands: &mpsc::Sender<PeerCommand>,
    ) -> Result<(), String> {
        match message {
            NetworkMessage::Version(version) => {
                if version.nonce == self.shared.nonce {
                    return Err("connected to ourselves".to_owned());
                }
                if self.got_version {
                    return Err("second version message".to_owned());
                }
                self.got_version = true;
                info!(peer = self.addr, agent = %version.user_agent, version = version.version, height = version.start_height, "peer says hello");
                if version.version >= WTXID_RELAY_VERSION {
                    // Must come between version and verack (BIP339).
                    self.send(NetworkMessage::WtxidRelay).await?;
                }
                self.send(NetworkMessage::Verack).await?;
            }
            NetworkMessage::Verack => {
                if self.handshaken {
                    return Ok(());
                }
                self.handshaken = true;
                self.send(NetworkMessage::SendHeaders).await?;
                // Both versions: Bitcoin Core speaks 2 (wtxids), older and other nodes 1.
                for version in [2, 1] {
                    self.send(NetworkMessage::SendCmpct(SendCmpct {
                        send_compact: true,
                        version,
                    }))
                    .await?;
                }
                let locator = lock(&self.shared.chain).locator();
                if !locator.is_empty() {
                    self.get_headers(
                        locator,
                        BlockHash::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
                    )
                    .await?;
                }
                lock(&self.shared.peers).insert(
                    self.id,
                    PeerHandle {
                        addr: self.addr.to_owned(),
                        commands: commands.clone(),
                    },
                );
                lock(&self.shared.status).peer_up(self.addr);
                info!(peer = self.addr, "peer connected");
            }
            NetworkMessage::SendHeaders => self.wants_headers = true,
            NetworkMessage::SendCmpct(s) if s.version == 1 || s.version == 2 => {
                self.compact_version =
                    Some(self.compact_version.map_or(s.version, |v| v.max(s.version)));
                if s.send_compact {
                    self.high_bandwidth =
                        Some(self.high_bandwidth.map_or(s.version, |v| v.max(s.version)));
                }
            }
            NetworkMessage::Ping(nonce) => self.send(NetworkMessage::Pong(nonce)).await?,
            NetworkMessage::Headers(headers) => {
                let mut orphan = false;
                for header in &headers {
                    if self.header(header, None, "headers")? == HeaderOutcome::Orphan {
                        orphan = true;
                    }
                }
                if orphan {
                    let locator = lock(&self.shared.chain).locator();
                    if !locator.is_empty() && self.inv.take() {
                        self.get_headers(
                            locator,
                            BlockHash::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
                        )
                        .await?;
                    }
                }
            }
            NetworkMessage::CmpctBlock(CmpctBlock { compact_block }) => {
                // The coinbase is always prefilled: its BIP34 push gives the height.
                let height = compact_block
                    .prefilled_txs
                    .first()
                    .filter(|p| p.idx == 0)
                    .and_then(|p| ironpool_shared::chain::height_from_coinbase(&p.tx).ok());
                self.header(&compact_block.header, height, "cmpctblock")?;
            }
            NetworkMessage::Block(block) => {
                let height = block
                    .txdata
                    .first()
                    .and_then(|tx| ironpool_shared::chain::height_from_coinbase(tx).ok());
                self.header(&block.header, height, "block")?;
            }
            NetworkMessage::Inv(items) => {
                if !self.inv.take() {
                    lock(&self.shared.status).inv_ignored(self.addr);
                    if self.inv.ignored > INV_IGNORED_MAX {
                        return Err(format!(
                            "floods inv ({} messages over the budget)",
                            self.inv.ignored
                        ));
                    }
                    return Ok(());
                }
                let unknown = items.iter().find_map(|item| match item {
                    Inventory::Block(h)
                    | Inventory::WitnessBlock(h)
                    | Inventory::CompactBlock(h) => {
                        (lock(&self.shared.chain).get(h).is_none()).then_some(*h)
                    }
                    _ => None,
                });
                if let Some(hash) = unknown {
                    let locator = lock(&self.shared.chain).locator();
                    if !locator.is_empty() {
                        debug!(peer = self.addr, block = %hash, "inv of an unknown block: asking for its header");
                        self.get_headers(locator, hash).await?;
                    }
                }
            }
            NetworkMessage::GetData(items) => {
                let mut not_found = Vec::new();
                for item in items {
                    match item {
                        Inventory::Block(hash) | Inventory::WitnessBlock(hash) => {
                            match self.shared.recent_block(&hash) {
                                Some(block) => {
                                    let block = if matches!(item, Inventory::Block(_)) {
                                        without_witness(&block)
                                    } else {
                                        (*block).clone()
                                    };
                                    self.send(NetworkMessage::Block(block)).await?;
                                }
                                None => not_found.push(item),
                            }
                        }
                        Inventory::CompactBlock(hash) => match self.shared.recent_block(&hash) {
                            Some(block) => {
                                let version = self.compact_version.unwrap_or(1);
                                self.send_compact(&block, version).await?;
                            }
                            None => not_found.push(item),
                        },
                        other => not_found.push(other),
                    }
                }
                if !not_found.is_empty() {
                    self.send(NetworkMessage::NotFound(not_found)).await?;
                }
            }
            NetworkMessage::GetHeaders(request) => {
                // We hold only the blocks we spread: answer with the newest one the locator
                // leads to, or with nothing.
                let recent: Vec<Header> =
                    lock(&self.shared.recent).iter().map(|b| b.header).collect();
                let answer: Vec<Header> = recent
                    .into_iter()
                    .filter(|h| request.locator_hashes.contains(&h.prev_blockhash))
                    .take(1)
                    .collect();
                self.send(NetworkMessage::Headers(answer)).await?;
            }
            NetworkMessage::GetBlockTxn(request) => {
                let request: BlockTransactionsRequest = request.txs_request;
                match self.shared.recent_block(&request.block_hash) {
                    Some(block) => match answer_block_txn_request(
                        &block,
                        &request,
                        CompactVersion::from_number(self.compact_version.unwrap_or(1))
                            .unwrap_or(CompactVersion::Txid),
                    ) {
                        Ok(transactions) => {
                            self.send(NetworkMessage::BlockTxn(BlockTxn { transactions }))
                                .await?
                        }
                        Err(e) => return Err(format!("getblocktxn: {e}")),
                    },
                    None => {
                        debug!(peer = self.addr, block = %request.block_hash, "getblocktxn for a block we do not hold")
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn get_headers(
        &mut self,
        locator: Vec<BlockHash>,
        stop: BlockHash,
    ) -> Result<(), String> {
        self.send(NetworkMessage::GetHeaders(GetHeadersMessage::new(
            locator, stop,
        )))
        .await
    }

    /// A header from this peer: a refused one ends the connection.
    fn header(
        &mut self,
        header: &Header,
        claimed_height: Option<u32>,
        how: &str,
    ) -> Result<HeaderOutcome, String> {
        let outcome = lock(&self.shared.chain).accept(header, claimed_height);
        match outcome {
            Ok(outcome @ HeaderOutcome::New { height, best: true }) => {
                self.shared.announce(header, height, how, self.addr);
                Ok(outcome)
            }
            Ok(outcome) => Ok(outcome),
            Err(refused) => {
                lock(&self.shared.status).header_refused(self.addr);
                let reason = match &refused {
                    HeaderRefused::ProofOfWork { .. } => "proof of work",
                    HeaderRefused::Bits { .. } => "bits",
                    HeaderRefused::Height { .. } => "height",
                };
                warn!(peer = self.addr, how, check = reason, error = %refused, "header refused; disconnecting");
                Err(format!("sent an invalid header: {refused}"))
            }
        }
    }

    async fn send_compact(&mut self, block: &Block, version: u64) -> Result<(), String> {
        let version = CompactVersion::from_number(version).unwrap_or(CompactVersion::Txid);
        match compact_block(block, ironpool_shared::random::unique_u64(), version) {
            Ok(compact_block) => {
                self.send(NetworkMessage::CmpctBlock(CmpctBlock { compact_block }))
                    .await
            }
            Err(e) => {
                warn!(peer = self.addr, block = %block.block_hash(), error = %e, "cannot build a compact block; sending it whole");
                self.send(NetworkMessage::Block(block.clone())).await
            }
        }
    }

    async fn command(&mut self, command: PeerCommand) -> Result<(), String> {
        match command {
            PeerCommand::Spread { block, full } => {
                if let Some(version) = self.high_bandwidth {
                    self.send_compact(&block, version).await
                } else if full {
                    self.send(NetworkMessage::Block((*block).clone())).await
                } else if self.wants_headers {
                    self.send(NetworkMessage::Headers(vec![block.header])).await
                } else {
                    self.send(NetworkMessage::Inv(vec![Inventory::Block(
                        block.block_hash(),
                    )]))
                    .await
                }
            }
        }
    }
}

/// The block as a peer that did not ask for witnesses must get it.
fn without_witness(block: &Block) -> Block {
    let mut stripped = block.clone();
    for tx in &mut stripped.txdata {
        for input in &mut tx.input {
            input.witness.clear();
        }
    }
    stripped
}
