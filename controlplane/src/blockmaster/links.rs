//! Which relay link is which. The hub names a link it made by the configured address and an
//! accepted link by the remote socket address, so the configured lists tell them apart.
//!
//! Accepted links carry the jobmaster and the other sites' blockmasters (whose compact blocks
//! come over links they made); they cannot be told apart by address, and need not be: what comes
//! in says what it is.

use crate::relay_link::LinkId;
use std::collections::HashSet;

/// What is at the other end of a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A local bitpeer (we connected): full blocks go there.
    Bitpeer,
    /// Another site's blockmaster (we connected): our compact blocks go there.
    PeerBlockmaster,
    /// A link made to us: the jobmaster or another site's blockmaster.
    Accepted,
}

impl LinkKind {
    /// Lower-case name, for logs and the status file.
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Bitpeer => "bitpeer",
            LinkKind::PeerBlockmaster => "peer_blockmaster",
            LinkKind::Accepted => "accepted",
        }
    }
}

/// The configured addresses.
#[derive(Debug, Clone, Default)]
pub struct LinkRoles {
    bitpeers: HashSet<String>,
    peers: HashSet<String>,
}

impl LinkRoles {
    /// From the config's `bitpeers` and `peers` (disjoint, checked by the config).
    pub fn new(bitpeers: &[String], peers: &[String]) -> LinkRoles {
        LinkRoles {
            bitpeers: bitpeers.iter().cloned().collect(),
            peers: peers.iter().cloned().collect(),
        }
    }

    /// The kind of the link whose peer is named `peer`.
    pub fn kind(&self, peer: &str) -> LinkKind {
        if self.bitpeers.contains(peer) {
            LinkKind::Bitpeer
        } else if self.peers.contains(peer) {
            LinkKind::PeerBlockmaster
        } else {
            LinkKind::Accepted
        }
    }

    /// The links of `kind` among `links` (from `RelayHub::links`), except `skip`.
    pub fn select(
        &self,
        links: &[(LinkId, String)],
        kind: LinkKind,
        skip: Option<LinkId>,
    ) -> Vec<LinkId> {
        links
            .iter()
            .filter(|(id, peer)| Some(*id) != skip && self.kind(peer) == kind)
            .map(|(id, _)| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_told_apart_by_the_configured_addresses() {
        let roles = LinkRoles::new(
            &["bp:1".to_owned()],
            &["eu:2".to_owned(), "us:2".to_owned()],
        );
        let links = vec![
            (1, "bp:1".to_owned()),
            (2, "eu:2".to_owned()),
            (3, "us:2".to_owned()),
            (4, "10.0.0.9:51234".to_owned()),
        ];
        assert_eq!(roles.kind("bp:1"), LinkKind::Bitpeer);
        assert_eq!(roles.kind("10.0.0.9:51234"), LinkKind::Accepted);
        assert_eq!(roles.select(&links, LinkKind::Bitpeer, None), vec![1]);
        let mut peers = roles.select(&links, LinkKind::PeerBlockmaster, Some(3));
        peers.sort_unstable();
        assert_eq!(peers, vec![2]);
        assert_eq!(roles.select(&links, LinkKind::Accepted, None), vec![4]);
    }
}
