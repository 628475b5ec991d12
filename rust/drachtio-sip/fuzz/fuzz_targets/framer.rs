//! Any byte stream cut into any reads: the framer never panics, never holds
//! more than its limits allow, and yields the same items (and the same
//! error) as when the whole stream arrives in one read.
//!
//! Input layout: bytes 0-1 and 2-3 are the header and body limits, byte 4
//! seeds the read sizes, the rest is the stream.

#![no_main]

use drachtio_sip::{FrameLimits, ParseError, StreamFramer, StreamItem};
use libfuzzer_sys::fuzz_target;

/// Drains the framer; `Err` ends the stream.
fn drain(f: &mut StreamFramer, out: &mut Vec<Result<StreamItem, ParseError>>) -> bool {
    loop {
        match f.next_item() {
            // The parser has its own target: keep this one on framing.
            Ok(Some(item)) => out.push(Ok(item)),
            Ok(None) => return true,
            Err(e) => {
                // Poisoned: the same error again, nothing buffered.
                assert_eq!(f.next_item(), Err(e.clone()));
                assert_eq!(f.buffered(), 0);
                out.push(Err(e));
                return false;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let limits = FrameLimits {
        max_header_bytes: usize::from(u16::from_le_bytes([data[0], data[1]])).max(4),
        max_body_bytes: usize::from(u16::from_le_bytes([data[2], data[3]])),
    };
    let mut rng = u32::from(data[4]) | 0x100;
    let stream = &data[5..];

    let mut whole = StreamFramer::new(limits);
    whole.feed(stream);
    let mut expected = Vec::new();
    drain(&mut whole, &mut expected);

    let mut framer = StreamFramer::new(limits);
    let mut got = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        // xorshift: read sizes from 1 byte to a few hundred.
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let n = match rng % 4 {
            0 => 1,
            1 => 1 + (rng >> 8) as usize % 8,
            _ => 1 + (rng >> 8) as usize % 512,
        }
        .min(rest.len());
        framer.feed(&rest[..n]);
        rest = &rest[n..];
        let alive = drain(&mut framer, &mut got);
        assert!(
            framer.buffered() < limits.max_header_bytes + limits.max_body_bytes,
            "buffered {} with limits {limits:?}",
            framer.buffered()
        );
        if !alive {
            break;
        }
    }
    assert_eq!(got, expected);
    for item in &got {
        if let Ok(StreamItem::Message(m)) = item {
            assert!(m.len() <= limits.max_header_bytes + limits.max_body_bytes);
        }
    }
});
