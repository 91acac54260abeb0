//! Header round trip: a value that decodes re-encodes (canonically padded)
//! to text that decodes to the same bytes and the same Struct.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshtel_wire::header::{decode_peer_header, decode_peer_header_bytes, encode_peer_header_bytes};
use meshtel_wire::proto::{Struct, StructView, encode_struct};

fuzz_target!(|data: &[u8]| {
    let mut buf = vec![0u8; data.len()];
    let Ok(decoded) = decode_peer_header_bytes(data, &mut buf) else {
        assert!(decode_peer_header(data, &mut buf).is_err());
        return;
    };
    let decoded = decoded.to_vec();
    let text = encode_peer_header_bytes(&decoded);
    // Canonical text is the input with its padding completed.
    assert!(
        text.as_bytes()
            .starts_with(data.strip_suffix(b"==").or(data.strip_suffix(b"=")).unwrap_or(data))
    );
    let mut again = vec![0u8; decoded.len()];
    assert_eq!(decode_peer_header_bytes(text.as_bytes(), &mut again), Ok(&decoded[..]));

    if let Ok(view) = decode_peer_header(data, &mut buf) {
        let owned = Struct::from_view(&view);
        let bytes = encode_struct(&owned);
        let reparsed = Struct::from_view(&StructView::parse(&bytes).expect("our own encoding parses"));
        assert_eq!(encode_struct(&reparsed), bytes);
    }
});
