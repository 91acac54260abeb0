//! Split-feeding equivalence: feeding the frame decoder the input in pieces
//! (sizes taken from the first byte) gives what feeding it whole gives, and
//! never consumes a byte past the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshtel_wire::frame::{FrameConfig, FrameDecoder, Status};

/// The decoder's verdict on a cumulative buffer, as comparable text, plus
/// the bytes consumed.
fn verdict(decoder: &mut FrameDecoder, held: &[u8], eof: bool) -> Option<(String, usize)> {
    let result = if eof {
        decoder.finish(held)
    } else {
        decoder.decode(held)
    };
    match result {
        Ok(Status::NeedMore { .. }) => None,
        Ok(Status::Frame {
            metadata: record,
            metadata_struct: peer,
            id,
            consumed,
        }) => Some((format!("frame {record:?} {peer:?} {id:?}"), consumed)),
        Ok(Status::NoPeer { id, consumed }) => Some((format!("nopeer {id:?}"), consumed)),
        Ok(Status::NotAFrame) => Some(("notaframe".into(), 0)),
        Ok(other) => Some((format!("{other:?}"), 0)),
        // An oversize frame's payload skipping depends on arrival; compare
        // the verdict only.
        Err(e) => Some((format!("error {:?}", e.kind), 0)),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(step % 32) + 1;
    let config = FrameConfig::default().with_max_payload(1024).unwrap();

    let whole = verdict(&mut FrameDecoder::new(config), input, true).expect("finish always decides");
    assert!(whole.1 <= input.len());

    let mut decoder = FrameDecoder::new(config);
    let mut end = 0;
    let split = loop {
        end = (end + step).min(input.len());
        let eof = end == input.len();
        if let Some(v) = verdict(&mut decoder, &input[..end], eof) {
            break v;
        }
        assert!(!eof, "finish must decide");
    };
    assert_eq!(whole, split);
});
