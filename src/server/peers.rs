//! What one peer (a source IP address) holds before it has authenticated:
//! connections, and public streams (health Watch, reflection). Counted so
//! that no single peer can take every slot of the connection cap.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

/// What a peer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Held {
    /// A connection that has not (yet) carried an authenticated call.
    Connection,
    /// A public stream on such a connection.
    Stream,
}

#[derive(Debug, Default)]
struct Counts {
    connections: usize,
    streams: usize,
}

impl Counts {
    fn of(&mut self, held: Held) -> &mut usize {
        match held {
            Held::Connection => &mut self.connections,
            Held::Stream => &mut self.streams,
        }
    }
}

/// The peer holds its maximum already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerFull;

/// Counts per peer; a peer holding nothing has no entry.
#[derive(Clone, Debug, Default)]
pub struct Peers(Arc<Mutex<HashMap<IpAddr, Counts>>>);

impl Peers {
    /// One more of `held` for `ip`, unless it holds `max` already (0: no
    /// limit); the count drops when the guard does.
    pub fn take(&self, ip: IpAddr, held: Held, max: usize) -> Option<PeerGuard> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = map.entry(ip).or_default().of(held);
        if max > 0 && *count >= max {
            return None;
        }
        *count += 1;
        Some(PeerGuard {
            peers: self.clone(),
            ip,
            held,
        })
    }

    /// How many of `held` `ip` holds now.
    pub fn count(&self, ip: IpAddr, held: Held) -> usize {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get_mut(&ip).map_or(0, |c| *c.of(held))
    }
}

/// One connection or stream of a peer, counted until dropped.
#[derive(Debug)]
pub struct PeerGuard {
    peers: Peers,
    ip: IpAddr,
    held: Held,
}

impl Drop for PeerGuard {
    fn drop(&mut self) {
        let mut map = self.peers.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(counts) = map.get_mut(&self.ip) {
            let count = counts.of(self.held);
            *count = count.saturating_sub(1);
            if counts.connections == 0 && counts.streams == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_peer_and_kind_and_forgets_empty_peers() {
        let peers = Peers::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let one = peers.take(a, Held::Connection, 2).unwrap();
        let two = peers.take(a, Held::Connection, 2).unwrap();
        assert!(peers.take(a, Held::Connection, 2).is_none());
        assert!(peers.take(b, Held::Connection, 2).is_some());
        let stream = peers.take(a, Held::Stream, 1).unwrap();
        assert!(peers.take(a, Held::Stream, 1).is_none());
        drop(one);
        assert_eq!(peers.count(a, Held::Connection), 1);
        drop((two, stream));
        assert!(peers.0.lock().unwrap().is_empty());
        assert!(peers.take(a, Held::Stream, 0).is_some(), "0: no limit");
    }
}
