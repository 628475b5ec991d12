//! Any bytes given to the parser: no panic, and whatever parses survives a
//! serialize / parse round trip, the second serialization byte-identical to
//! the first.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = drachtio_sip::parse(data) else {
        return;
    };
    let first = message.to_bytes();
    let again = match drachtio_sip::parse(&first) {
        Ok(m) => m,
        Err(e) => panic!(
            "serialized message does not parse again: {e}\n{}",
            String::from_utf8_lossy(&first)
        ),
    };
    let second = again.to_bytes();
    assert!(
        first == second,
        "re-serialization differs:\n{}\n---\n{}",
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second)
    );
});
