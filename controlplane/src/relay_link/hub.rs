//! The set of live relay links of one role.

use super::connection;
use super::{CONNECTIONS_MAX, OUTBOUND_QUEUE_FRAMES};
use ironpool_shared::meta::{encode_frame, FrameKind, PresharedKey};
use ironpool_shared::relay::RelayMessage;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// A link's number, unique within its hub.
pub type LinkId = u64;

/// A message received on a link.
#[derive(Debug)]
pub struct Inbound {
    pub link: LinkId,
    /// The peer's address.
    pub peer: String,
    pub message: RelayMessage,
}

/// What the hub's links did.
#[derive(Debug, Default)]
pub struct LinkCounters {
    pub received: AtomicU64,
    pub sent: AtomicU64,
    /// Connections closed for a bad frame (header, kind or tag).
    pub refused: AtomicU64,
    /// Authenticated frames whose body was not a relay message.
    pub undecodable: AtomicU64,
    /// Links closed because they could not keep up.
    pub slow_closed: AtomicU64,
}

pub(super) struct HubInner {
    pub(super) key: PresharedKey,
    pub(super) max_body: u32,
    pub(super) inbound: mpsc::Sender<Inbound>,
    pub(super) counters: LinkCounters,
    links: Mutex<HashMap<LinkId, LinkEntry>>,
    next_id: AtomicU64,
}

struct LinkEntry {
    peer: String,
    outbound: mpsc::Sender<Arc<Vec<u8>>>,
}

/// The relay links of one role; cheap to clone.
#[derive(Clone)]
pub struct RelayHub {
    inner: Arc<HubInner>,
}

impl RelayHub {
    /// A hub with no link yet, and the channel of everything its links will receive.
    pub fn new(key: PresharedKey, max_body: u32) -> (RelayHub, mpsc::Receiver<Inbound>) {
        let (inbound, receiver) = mpsc::channel(4096);
        let hub = RelayHub {
            inner: Arc::new(HubInner {
                key,
                max_body,
                inbound,
                counters: LinkCounters::default(),
                links: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
        };
        (hub, receiver)
    }

    pub fn counters(&self) -> &LinkCounters {
        &self.inner.counters
    }

    /// Live links.
    pub fn link_count(&self) -> usize {
        self.lock().len()
    }

    /// The peers of the live links.
    pub fn peers(&self) -> Vec<String> {
        self.lock().values().map(|l| l.peer.clone()).collect()
    }

    /// The live links with their peers, so a role can tell which link is which: a link made by
    /// [`connect`](Self::connect) is named by the address string given to it, an accepted link by
    /// the remote socket address.
    pub fn links(&self) -> Vec<(LinkId, String)> {
        self.lock()
            .iter()
            .map(|(id, link)| (*id, link.peer.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LinkId, LinkEntry>> {
        self.inner
            .links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn frame(&self, message: &RelayMessage) -> Arc<Vec<u8>> {
        Arc::new(encode_frame(
            &self.inner.key,
            FrameKind::Relay,
            &message.encode(),
        ))
    }

    /// Queues `message` on every live link; returns on how many.
    pub fn broadcast(&self, message: &RelayMessage) -> usize {
        let frame = self.frame(message);
        let mut slow = Vec::new();
        let mut queued = 0;
        {
            let links = self.lock();
            for (id, link) in links.iter() {
                match link.outbound.try_send(frame.clone()) {
                    Ok(()) => queued += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => slow.push(*id),
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        self.close_slow(&slow);
        self.inner
            .counters
            .sent
            .fetch_add(queued as u64, Ordering::Relaxed);
        queued
    }

    /// Queues `message` on one link; false if it is gone (or was too slow and is now closed).
    pub fn send(&self, link: LinkId, message: &RelayMessage) -> bool {
        let frame = self.frame(message);
        let result = self.lock().get(&link).map(|l| l.outbound.try_send(frame));
        match result {
            Some(Ok(())) => {
                self.inner.counters.sent.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(Err(mpsc::error::TrySendError::Full(_))) => {
                self.close_slow(&[link]);
                false
            }
            _ => false,
        }
    }

    fn close_slow(&self, ids: &[LinkId]) {
        if ids.is_empty() {
            return;
        }
        let mut links = self.lock();
        for id in ids {
            // Dropping the sender ends the writer, which ends the link.
            if let Some(link) = links.remove(id) {
                self.inner
                    .counters
                    .slow_closed
                    .fetch_add(1, Ordering::Relaxed);
                warn!(peer = %link.peer, queued = OUTBOUND_QUEUE_FRAMES, "relay link cannot keep up; closed");
            }
        }
    }

    fn register(&self, peer: &str) -> (LinkId, mpsc::Receiver<Arc<Vec<u8>>>) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (outbound, receiver) = mpsc::channel(OUTBOUND_QUEUE_FRAMES);
        self.lock().insert(
            id,
            LinkEntry {
                peer: peer.to_owned(),
                outbound,
            },
        );
        (id, receiver)
    }

    fn unregister(&self, id: LinkId) {
        self.lock().remove(&id);
    }

    /// Binds `addr` and accepts links from then on; returns the bound address.
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub async fn listen(&self, addr: &str) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let hub = self.clone();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        warn!(error = %e, "relay accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if hub.link_count() >= CONNECTIONS_MAX {
                    warn!(%peer, max = CONNECTIONS_MAX, "relay connection refused: too many links");
                    continue;
                }
                let hub = hub.clone();
                tokio::spawn(async move {
                    let peer = peer.to_string();
                    let (id, outbound) = hub.register(&peer);
                    let reason =
                        connection::run(hub.inner.clone(), id, peer.clone(), stream, outbound)
                            .await;
                    hub.unregister(id);
                    info!(%peer, %reason, "relay link closed");
                });
            }
        });
        info!(%local, "relay links accepted");
        Ok(local)
    }

    /// Keeps a link to `addr` up for as long as the process runs, reconnecting after failures.
    pub fn connect(&self, addr: String) {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            let mut reported = false;
            loop {
                match TcpStream::connect(&addr).await {
                    Ok(stream) => {
                        backoff = Duration::from_millis(100);
                        reported = false;
                        let (id, outbound) = hub.register(&addr);
                        let hello = Arc::new(connection::hello_frame(&hub.inner.key));
                        if let Some(link) = hub.lock().get(&id) {
                            let _ = link.outbound.try_send(hello);
                        }
                        info!(peer = %addr, "relay link up");
                        let reason =
                            connection::run(hub.inner.clone(), id, addr.clone(), stream, outbound)
                                .await;
                        hub.unregister(id);
                        warn!(peer = %addr, %reason, "relay link down; reconnecting");
                    }
                    Err(e) => {
                        if !reported {
                            warn!(peer = %addr, error = %e, "cannot reach relay peer; retrying");
                            reported = true;
                        }
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpool_shared::relay::{TipAnnouncement, TipSource};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn key(byte: u8) -> PresharedKey {
        PresharedKey::new(&[byte; 32]).expect("key")
    }

    fn tip(height: u32) -> RelayMessage {
        RelayMessage::Tip(TipAnnouncement {
            source: TipSource::Poolbench,
            via: "test".to_owned(),
            height,
            hash: [height as u8; 32],
            time: 1_700_000_000,
            header: None,
            next_bits: Some(0x207f_ffff),
            seen_at_us: 1,
        })
    }

    async fn next(rx: &mut mpsc::Receiver<Inbound>) -> Option<RelayMessage> {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .ok()
            .flatten()
            .map(|i| i.message)
    }

    /// Waits until `hub` has at least `links` live links.
    async fn linked(hub: &RelayHub, links: usize) {
        for _ in 0..250 {
            if hub.link_count() >= links {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} links, expected {links}", hub.link_count());
    }

    /// Reads until the server closes the connection; false if it stays open 5 s.
    async fn closed(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 256];
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn a_wrong_key_or_garbage_closes_only_that_link_and_a_bad_body_is_skipped() {
        let (server, mut inbound) = RelayHub::new(key(1), 1 << 20);
        let addr = server
            .listen("127.0.0.1:0")
            .await
            .expect("listen")
            .to_string();

        // A client with another key: its hello is refused and nothing it sends arrives.
        let (intruder, _) = RelayHub::new(key(2), 1 << 20);
        intruder.connect(addr.clone());
        for _ in 0..10 {
            // Whenever its (re)connected link is up.
            intruder.broadcast(&tip(1));
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        // Garbage that is not a frame at all.
        let mut garbage = TcpStream::connect(&addr).await.expect("connect");
        garbage
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        assert!(closed(&mut garbage).await, "garbage must close the link");

        // A holder of the key: an undecodable body is skipped, the link stays, and the next
        // message arrives.
        let mut raw = TcpStream::connect(&addr).await.expect("connect");
        raw.write_all(&encode_frame(&key(1), FrameKind::Relay, &[99, 1, 2]))
            .await
            .expect("write");
        raw.write_all(&encode_frame(&key(1), FrameKind::Relay, &tip(7).encode()))
            .await
            .expect("write");
        assert_eq!(next(&mut inbound).await, Some(tip(7)));
        // A frame of another kind ends that link.
        raw.write_all(&encode_frame(&key(1), FrameKind::Batch, &[0; 8]))
            .await
            .expect("write");
        assert!(
            closed(&mut raw).await,
            "a batch frame on a relay link closes it"
        );

        // A well-keyed hub client is undisturbed, both ways.
        let (friend, mut friend_inbound) = RelayHub::new(key(1), 1 << 20);
        friend.connect(addr.clone());
        linked(&friend, 1).await;
        friend.broadcast(&tip(8));
        assert_eq!(next(&mut inbound).await, Some(tip(8)));
        // The friend's hello was taken by now: the server knows the link.
        server.broadcast(&tip(9));
        assert_eq!(next(&mut friend_inbound).await, Some(tip(9)));

        let counters = server.counters();
        assert!(
            counters.refused.load(Ordering::Relaxed) >= 3,
            "{counters:?}"
        );
        assert_eq!(counters.undecodable.load(Ordering::Relaxed), 1);
        assert!(inbound.try_recv().is_err(), "nothing from the intruder");
    }
}
