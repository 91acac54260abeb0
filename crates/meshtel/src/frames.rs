//! Counting gRPC messages as the bytes stream by: the 5-byte length prefix of each
//! length-prefixed message, across arbitrary chunk splits, with no buffer.

/// Counts gRPC length-prefixed messages (1 flag byte, 4 bytes big-endian length, payload) in
/// a byte stream fed in chunks of any size. A message counts once its 5-byte prefix is
/// complete, as Envoy's gRPC message counter does; the payload is skipped, never held.
///
/// ```
/// use meshtel::FrameCounter;
/// let mut counter = FrameCounter::default();
/// // Two messages ("hi" and ""), split inside the first prefix and the first payload.
/// let bytes = [0, 0, 0, 0, 2, b'h', b'i', 0, 0, 0, 0, 0];
/// counter.feed(&bytes[..3]);
/// counter.feed(&bytes[3..6]);
/// counter.feed(&bytes[6..]);
/// assert_eq!(counter.messages(), 2);
/// assert!(counter.at_boundary());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCounter {
    messages: u64,
    /// Prefix bytes seen of the message being read (0 to 4; 5 completes it).
    prefix_len: u8,
    /// The length bytes seen so far, big-endian, while `prefix_len` is 2..=4.
    length: u32,
    /// Payload bytes still to skip.
    skip: u64,
}

impl FrameCounter {
    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = (bytes.len() as u64).min(self.skip);
                self.skip -= n;
                bytes = &bytes[n as usize..];
                continue;
            }
            // A prefix byte: the flag first, then the four length bytes.
            if self.prefix_len > 0 {
                self.length = (self.length << 8) | u32::from(bytes[0]);
            }
            self.prefix_len += 1;
            bytes = &bytes[1..];
            if self.prefix_len == 5 {
                self.messages += 1;
                self.skip = u64::from(self.length);
                self.prefix_len = 0;
                self.length = 0;
            }
        }
    }

    /// Messages whose prefix has been seen.
    pub const fn messages(&self) -> u64 {
        self.messages
    }

    /// Whether the bytes fed end exactly at a message boundary (no partial prefix or payload
    /// pending).
    pub const fn at_boundary(&self) -> bool {
        self.prefix_len == 0 && self.skip == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            out.push(0);
            out.extend_from_slice(&(p.len() as u32).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn every_split_point_counts_the_same() {
        let big = vec![7u8; 300];
        let stream = frames(&[b"abc", b"", &big, b"z"]);
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let mut c = FrameCounter::default();
                c.feed(&stream[..a]);
                c.feed(&stream[a..b]);
                c.feed(&stream[b..]);
                assert_eq!(c.messages(), 4, "split at {a}, {b}");
                assert!(c.at_boundary());
            }
        }
    }

    #[test]
    fn byte_at_a_time_and_partial_prefix() {
        let stream = frames(&[b"hello", b"world"]);
        let mut c = FrameCounter::default();
        for (i, byte) in stream.iter().enumerate() {
            c.feed(std::slice::from_ref(byte));
            let expected = if i >= 14 { 2 } else { u64::from(i >= 4) };
            assert_eq!(c.messages(), expected, "after byte {i}");
        }
        let mut c = FrameCounter::default();
        c.feed(&[0, 0, 0]);
        assert_eq!(c.messages(), 0);
        assert!(!c.at_boundary());
    }

    #[test]
    fn a_huge_declared_length_is_skipped_not_buffered() {
        let mut c = FrameCounter::default();
        c.feed(&[1, 0xff, 0xff, 0xff, 0xff]);
        c.feed(&[0u8; 1024]);
        assert_eq!(c.messages(), 1);
        assert!(!c.at_boundary());
    }
}
