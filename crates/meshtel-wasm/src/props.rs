//! Host property values as the proxy-wasm ABI returns them, read into the plugin's facts:
//! integers are 8 bytes little-endian, booleans 1 byte, strings raw UTF-8, messages
//! serialized protobuf (`docs/wasm.md`, "Properties read").

use meshtel::OwnedClusterService;
use meshtel_wire::proto::{Limits, StructView};

/// An integer property (`response.code`, `destination.port`, `request.total_size`, ...).
///
/// ```
/// assert_eq!(meshtel_wasm::props::int(&200i64.to_le_bytes()), Some(200));
/// assert_eq!(meshtel_wasm::props::int(b"200"), None);
/// ```
#[must_use]
pub fn int(bytes: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(bytes.try_into().ok()?))
}

/// A boolean property (`connection.mtls`).
#[must_use]
pub fn boolean(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [b] => Some(*b != 0),
        _ => None,
    }
}

/// A string property; `None` if empty or not UTF-8.
#[must_use]
pub fn string(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

/// `xds.cluster_metadata.filter_metadata.istio` (a serialized `Struct`): its
/// `services[0]`, the service the cluster stands for.
///
/// ```
/// use meshtel_wire::proto::{Struct, Value, encode_struct};
/// let service: Struct = [("host", "reviews.default.svc.cluster.local"), ("name", "reviews"), ("namespace", "default")].into_iter().collect();
/// let mut istio = Struct::new();
/// istio.insert("services", Value::List(vec![Value::Struct(service)]));
/// let s = meshtel_wasm::props::cluster_service(&encode_struct(&istio)).expect("service");
/// assert_eq!(s.name.as_deref(), Some("reviews"));
/// ```
#[must_use]
pub fn cluster_service(istio: &[u8]) -> Option<OwnedClusterService> {
    let view = StructView::parse_with(istio, &Limits::default()).ok()?;
    let first = view.get("services")?.as_list()?.iter().next()?.as_struct()?;
    let text = |key: &str| first.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    Some(OwnedClusterService {
        host: text("host"),
        name: text("name"),
        namespace: text("namespace"),
    })
}

/// Field `number` of a serialized protobuf message, if it is length-delimited (a string, bytes
/// or a sub-message): its last occurrence, as protobuf reads a non-repeated field. `None` on
/// malformed input.
///
/// Envoy returns a message property (`node`, `xds.cluster_metadata`) serialized, but a
/// `google.protobuf.Struct` inside one only as a CEL map it cannot serialize: the module
/// reads the enclosing message and takes the `Struct` out of it here.
///
/// ```
/// // field 1: "id", field 3: a sub-message with one byte.
/// let msg = [0x0a, 2, b'i', b'd', 0x1a, 1, 0x08];
/// assert_eq!(meshtel_wasm::props::field(&msg, 3), Some(&[0x08][..]));
/// assert_eq!(meshtel_wasm::props::field(&msg, 2), None);
/// ```
#[must_use]
pub fn field(message: &[u8], number: u64) -> Option<&[u8]> {
    let mut found = None;
    each_field(message, |n, value| {
        if n == number {
            found = Some(value);
        }
    })?;
    found
}

/// Entry `key` of map field `number` (`map<string, M>`): the serialized value.
///
/// ```
/// // filter_metadata (field 1) entry {key: "istio", value: <1 byte>}.
/// let msg = [0x0a, 10, 0x0a, 5, b'i', b's', b't', b'i', b'o', 0x12, 1, 0x08];
/// assert_eq!(meshtel_wasm::props::map_entry(&msg, 1, "istio"), Some(&[0x08][..]));
/// assert_eq!(meshtel_wasm::props::map_entry(&msg, 1, "other"), None);
/// ```
#[must_use]
pub fn map_entry<'a>(message: &'a [u8], number: u64, key: &str) -> Option<&'a [u8]> {
    let mut found = None;
    each_field(message, |n, entry| {
        if n == number && field(entry, 1) == Some(key.as_bytes()) {
            found = Some(field(entry, 2).unwrap_or_default());
        }
    })?;
    found
}

/// Calls `f` with each length-delimited field; skips the others. `None` if malformed.
fn each_field<'a>(mut bytes: &'a [u8], mut f: impl FnMut(u64, &'a [u8])) -> Option<()> {
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        match key & 7 {
            0 => {
                varint(&mut bytes)?;
            }
            1 => bytes = bytes.get(8..)?,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                let value = bytes.get(..len)?;
                bytes = bytes.get(len..)?;
                f(key >> 3, value);
            }
            5 => bytes = bytes.get(4..)?,
            _ => return None,
        }
    }
    Some(())
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Envoy's response flags, by bit of the `response.flags` property (the order of Envoy's
/// `ResponseFlag` enum), with the short codes Envoy's access log prints.
pub const RESPONSE_FLAGS: [&str; 30] = [
    "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC", "URX", "SI", "IH",
    "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR", "UDO",
];

/// The short codes of a `response.flags` bitmask, lowest bit first, into `out` (cleared);
/// unknown bits are skipped.
///
/// ```
/// let mut codes = Vec::new();
/// meshtel_wasm::props::response_flags(0b10_0010, &mut codes);
/// assert_eq!(codes, ["UH", "UF"]);
/// ```
pub fn response_flags(mask: u64, out: &mut Vec<&'static str>) {
    out.clear();
    out.extend(
        RESPONSE_FLAGS
            .iter()
            .enumerate()
            .filter(|(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, code)| *code),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_values_are_none() {
        assert_eq!(int(&[1, 2, 3]), None);
        assert_eq!(boolean(&[]), None);
        assert_eq!(boolean(&[1]), Some(true));
        assert_eq!(string(&[0xff]), None);
        assert_eq!(string(b""), None);
        assert!(cluster_service(&[0xff, 0x01]).is_none());
        assert!(cluster_service(b"").is_none());
        let mut codes = Vec::new();
        response_flags(u64::MAX, &mut codes);
        for bad in [&[0x0a, 5, 1][..], &[0xff; 11], &[0x0b], &[0x09, 1], &[0x0a]] {
            assert_eq!(field(bad, 1), None, "{bad:?}");
            assert_eq!(map_entry(bad, 1, "k"), None);
        }
        // A varint field and a fixed64 field are skipped.
        assert_eq!(
            field(&[0x08, 0x96, 0x01, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0], 2),
            Some(&[][..])
        );
        assert_eq!(codes.len(), RESPONSE_FLAGS.len());
    }
}
