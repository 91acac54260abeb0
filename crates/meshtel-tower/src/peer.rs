//! The peers of one connection: the decode cache of `x-envoy-peer-metadata` and `baggage`
//! values, and the local node's own header values.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;
use meshtel_wire::baggage::{baggage_header_value, parse_baggage};
use meshtel_wire::header::{decode_peer_metadata, encode_peer_header, max_decoded_len};
use meshtel_wire::workload::WorkloadMetadata;

use crate::error::BuildError;

/// A discovered peer, numbered so that a connection can tell cheaply whether its labels were
/// computed for it.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) generation: u64,
    pub(crate) metadata: WorkloadMetadata,
}

/// Generations of discovered peers; 0 stands for the connection's own facts.
static GENERATION: AtomicU64 = AtomicU64::new(1);

impl Peer {
    fn new(metadata: WorkloadMetadata) -> Arc<Self> {
        Arc::new(Self {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            metadata,
        })
    }
}

/// Which carrier a cached value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Carrier {
    Header,
    Baggage,
}

/// A bounded cache of decoded values keyed by the exact value bytes (W9): a repeated value is
/// decoded once; an undecodable value is remembered as such. When full, the oldest entry goes.
#[derive(Debug)]
pub(crate) struct PeerCache {
    entries: VecDeque<(Carrier, HeaderValue, Option<Arc<Peer>>)>,
    capacity: usize,
    pub(crate) decodes: u64,
}

impl PeerCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity,
            decodes: 0,
        }
    }

    /// The peer `value` carries, decoding it only if it is not cached.
    pub(crate) fn get(&mut self, carrier: Carrier, value: &HeaderValue) -> Option<Arc<Peer>> {
        if let Some((.., peer)) = self
            .entries
            .iter()
            .find(|(c, v, _)| *c == carrier && v.as_bytes() == value.as_bytes())
        {
            return peer.clone();
        }
        self.decodes += 1;
        let peer = decode(carrier, value).map(Peer::new);
        if self.capacity > 0 {
            if self.entries.len() >= self.capacity {
                self.entries.pop_front();
            }
            self.entries.push_back((carrier, value.clone(), peer.clone()));
        }
        peer
    }
}

fn decode(carrier: Carrier, value: &HeaderValue) -> Option<WorkloadMetadata> {
    match carrier {
        Carrier::Header => {
            let mut buf = vec![0u8; max_decoded_len(value.len())];
            let (view, _) = decode_peer_metadata(value.as_bytes(), &mut buf).ok()?;
            Some(WorkloadMetadata::from_view(&view, &[]))
        }
        Carrier::Baggage => {
            let view = parse_baggage(value.to_str().ok()?).ok()?;
            Some(WorkloadMetadata::from_view(&view, &[]))
        }
    }
}

/// `x-envoy-peer-metadata` as a `HeaderName`: inserting by name (not `&str`) allocates nothing.
pub(crate) const PEER_METADATA: http::HeaderName = http::HeaderName::from_static(meshtel_wire::header::PEER_METADATA);
/// `x-envoy-peer-metadata-id`.
pub(crate) const PEER_METADATA_ID: http::HeaderName =
    http::HeaderName::from_static(meshtel_wire::header::PEER_METADATA_ID);
/// `baggage`.
pub(crate) const BAGGAGE: http::HeaderName = http::HeaderName::from_static(meshtel_wire::header::BAGGAGE);

/// The local node's header values, computed once.
#[derive(Clone, Debug)]
pub(crate) struct LocalHeaders {
    pub(crate) metadata: HeaderValue,
    pub(crate) id: HeaderValue,
    pub(crate) baggage: Option<HeaderValue>,
}

impl LocalHeaders {
    pub(crate) fn new(record: &WorkloadMetadata, node_id: &str) -> Result<Self, BuildError> {
        let metadata = HeaderValue::from_str(&encode_peer_header(&record.to_struct())).map_err(|_| {
            BuildError::InvalidHeaderValue {
                header: meshtel_wire::header::PEER_METADATA,
            }
        })?;
        let id = HeaderValue::from_str(node_id).map_err(|_| BuildError::InvalidHeaderValue {
            header: meshtel_wire::header::PEER_METADATA_ID,
        })?;
        Ok(Self {
            metadata,
            id,
            baggage: baggage_header_value(&record.as_view()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "CgwKBkxBQkVMUxICKgAKEQoJTkFNRVNQQUNFEgQaAm5zChQKDVdPUktMT0FEX05BTUUSAxoBdw==";

    #[test]
    fn a_repeated_value_is_decoded_once_and_failures_are_cached() {
        let mut cache = PeerCache::new(2);
        let v = HeaderValue::from_static(MINIMAL);
        let a = cache.get(Carrier::Header, &v).expect("peer");
        let b = cache.get(Carrier::Header, &v).expect("peer");
        assert_eq!(a.generation, b.generation);
        assert_eq!(
            (a.metadata.namespace.as_str(), a.metadata.workload.as_str()),
            ("ns", "w")
        );
        assert_eq!(cache.decodes, 1);
        let bad = HeaderValue::from_static("QQ=");
        assert!(cache.get(Carrier::Header, &bad).is_none());
        assert!(cache.get(Carrier::Header, &bad).is_none());
        assert_eq!(cache.decodes, 2);
        // The same bytes as baggage are another entry; the oldest goes.
        assert!(cache.get(Carrier::Baggage, &v).is_none());
        assert_eq!(cache.decodes, 3);
        assert!(cache.get(Carrier::Header, &v).is_some());
        assert_eq!(cache.decodes, 4);
    }
}
