//! Stream framer: message boundaries from Content-Length (RFC 3261 §18.3),
//! keep-alives (RFC 5626 §3.5.1), limits and the RFC 4475 torture messages
//! fed in every shape.

use bytes::Bytes;
use drachtio_sip::{parse, parse_bytes, FrameLimits, ParseErrorKind, StreamFramer, StreamItem};
use proptest::prelude::*;
use std::path::PathBuf;

const OPTIONS: &[u8] = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 63104 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

const MESSAGE: &[u8] = b"MESSAGE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK776asdhdt\r\n\
Max-Forwards: 70\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=1928301775\r\n\
Call-ID: a84b4c76e66711\r\n\
CSeq: 1 MESSAGE\r\n\
Content-Type: text/plain\r\n\
Content-Length: 12\r\n\r\n\
hello\r\n\r\nbob";

fn framer() -> StreamFramer {
    StreamFramer::new(FrameLimits::default())
}

fn small(max_header_bytes: usize, max_body_bytes: usize) -> StreamFramer {
    StreamFramer::new(FrameLimits {
        max_header_bytes,
        max_body_bytes,
    })
}

/// Every item available now.
fn drain(f: &mut StreamFramer) -> Vec<StreamItem> {
    let mut out = Vec::new();
    while let Some(item) = f.next_item().expect("no framing error") {
        out.push(item);
    }
    out
}

/// Feeds `data` in chunks of `size` bytes, draining after each.
fn feed_chunked(f: &mut StreamFramer, data: &[u8], size: usize) -> Vec<StreamItem> {
    let mut out = Vec::new();
    for chunk in data.chunks(size) {
        f.feed(chunk);
        out.extend(drain(f));
    }
    out
}

fn msg(b: &[u8]) -> StreamItem {
    StreamItem::Message(Bytes::copy_from_slice(b))
}

/// The first error after feeding `data` in one piece.
fn first_error(f: &mut StreamFramer, data: &[u8]) -> drachtio_sip::ParseError {
    f.feed(data);
    loop {
        match f.next_item() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("expected an error, the framer wants more bytes"),
            Err(e) => return e,
        }
    }
}

#[test]
fn default_limits() {
    let l = FrameLimits::default();
    assert_eq!(l.max_header_bytes, 16 * 1024);
    assert_eq!(l.max_body_bytes, 1024 * 1024);
}

#[test]
fn one_message_in_one_feed() {
    let mut f = framer();
    assert_eq!(f.next_item().unwrap(), None);
    f.feed(MESSAGE);
    assert_eq!(f.buffered(), MESSAGE.len());
    assert_eq!(drain(&mut f), vec![msg(MESSAGE)]);
    assert_eq!(f.buffered(), 0);
    assert_eq!(f.next_item().unwrap(), None);
}

#[test]
fn body_with_empty_lines_is_cut_by_content_length() {
    let mut f = framer();
    let mut data = MESSAGE.to_vec();
    data.extend_from_slice(OPTIONS);
    f.feed(&data);
    let items = drain(&mut f);
    assert_eq!(items, vec![msg(MESSAGE), msg(OPTIONS)]);
    let StreamItem::Message(m) = &items[0] else {
        unreachable!()
    };
    assert_eq!(
        &parse_bytes(m.clone()).unwrap().body()[..],
        b"hello\r\n\r\nbob"
    );
}

#[test]
fn one_byte_feeds() {
    let mut f = framer();
    for (i, b) in MESSAGE.iter().enumerate() {
        f.feed(&[*b]);
        let item = f.next_item().unwrap();
        if i + 1 < MESSAGE.len() {
            assert_eq!(item, None, "message complete after {} bytes", i + 1);
            assert_eq!(f.buffered(), i + 1);
        } else {
            assert_eq!(item, Some(msg(MESSAGE)));
        }
    }
    assert_eq!(f.buffered(), 0);
}

#[test]
fn many_messages_in_one_feed_and_a_partial_one() {
    let mut f = framer();
    let mut data = Vec::new();
    for _ in 0..3 {
        data.extend_from_slice(OPTIONS);
        data.extend_from_slice(MESSAGE);
    }
    data.extend_from_slice(&OPTIONS[..20]);
    f.feed(&data);
    let items = drain(&mut f);
    assert_eq!(items.len(), 6);
    for pair in items.chunks(2) {
        assert_eq!(pair, [msg(OPTIONS), msg(MESSAGE)]);
    }
    assert_eq!(f.buffered(), 20);
    f.feed(&OPTIONS[20..]);
    assert_eq!(drain(&mut f), vec![msg(OPTIONS)]);
}

#[test]
fn every_chunk_size_gives_the_same_items() {
    let mut data = Vec::new();
    data.extend_from_slice(b"\r\n\r\n");
    data.extend_from_slice(MESSAGE);
    data.extend_from_slice(b"\r\n\r\n");
    data.extend_from_slice(OPTIONS);
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(MESSAGE);
    let expected = vec![
        StreamItem::Ping,
        msg(MESSAGE),
        StreamItem::Ping,
        msg(OPTIONS),
        StreamItem::Pong,
        msg(MESSAGE),
    ];
    for size in 1..=data.len() {
        let mut f = framer();
        assert_eq!(
            feed_chunked(&mut f, &data, size),
            expected,
            "chunk size {size}"
        );
        assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn ping_and_pong_between_messages() {
    let mut f = framer();
    f.feed(b"\r\n\r\n");
    assert_eq!(f.next_item().unwrap(), Some(StreamItem::Ping));
    assert_eq!(f.next_item().unwrap(), None);
    f.feed(b"\r\n\r\n\r\n\r\n");
    assert_eq!(drain(&mut f), vec![StreamItem::Ping, StreamItem::Ping]);
    let mut data = OPTIONS.to_vec();
    data.extend_from_slice(b"\r\n");
    data.extend_from_slice(OPTIONS);
    f.feed(&data);
    assert_eq!(
        drain(&mut f),
        vec![msg(OPTIONS), StreamItem::Pong, msg(OPTIONS)]
    );
}

#[test]
fn a_ping_split_across_reads_is_one_ping() {
    let mut f = framer();
    f.feed(b"\r");
    assert_eq!(f.next_item().unwrap(), None);
    f.feed(b"\n");
    assert_eq!(f.next_item().unwrap(), None);
    f.feed(b"\r");
    assert_eq!(f.next_item().unwrap(), None);
    assert_eq!(f.buffered(), 3);
    f.feed(b"\n");
    assert_eq!(f.next_item().unwrap(), Some(StreamItem::Ping));
    assert_eq!(f.buffered(), 0);
}

#[test]
fn a_lone_crlf_is_a_pong_once_the_next_byte_arrives() {
    let mut f = framer();
    f.feed(b"\r\n");
    assert_eq!(f.next_item().unwrap(), None);
    assert_eq!(f.buffered(), 2);
    f.feed(b"O");
    assert_eq!(f.next_item().unwrap(), Some(StreamItem::Pong));
    assert_eq!(f.buffered(), 1);
    f.feed(&OPTIONS[1..]);
    assert_eq!(drain(&mut f), vec![msg(OPTIONS)]);
}

#[test]
fn crlf_then_cr_then_other_byte_is_a_pong() {
    let mut f = framer();
    f.feed(b"\r\n\rX");
    assert_eq!(f.next_item().unwrap(), Some(StreamItem::Pong));
    assert_eq!(f.next_item().unwrap(), None);
    assert_eq!(f.buffered(), 2);
}

#[test]
fn take_pong_consumes_only_a_held_lone_crlf() {
    let mut f = framer();
    assert!(!f.take_pong());
    f.feed(b"\r\n");
    assert_eq!(f.next_item().unwrap(), None);
    assert!(f.take_pong());
    assert_eq!(f.buffered(), 0);
    assert!(!f.take_pong());

    f.feed(b"\r\n\r");
    assert!(!f.take_pong());
    assert_eq!(f.buffered(), 3);

    // Inside a message a CRLF is message bytes, never a pong.
    let mut g = framer();
    g.feed(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\n");
    assert_eq!(g.next_item().unwrap(), None);
    g.feed(b"\r\n");
    assert!(!g.take_pong());
    let items = drain(&mut g);
    assert_eq!(
        items,
        vec![msg(
            b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 2\r\n\r\n\r\n"
        )]
    );
}

fn body_of(head: &str) -> Vec<StreamItem> {
    let mut data = format!("OPTIONS sip:a@b SIP/2.0\r\n{head}\r\n\r\n").into_bytes();
    data.extend_from_slice(b"abcde");
    data.extend_from_slice(OPTIONS);
    let mut f = framer();
    f.feed(&data);
    drain(&mut f)
}

#[test]
fn content_length_spellings() {
    for head in [
        "Content-Length: 5",
        "content-length:5",
        "CONTENT-LENGTH:\t5\t",
        "Content-Length  :   5   ",
        "l: 5",
        "L:5",
        "l \t: 005",
        "Content-Length:\r\n 5",
        "Content-Length: 5\r\nX-Other: 9",
        "Content-Length: 5\r\nl: 5",
        "Subject: l: 7\r\nContent-Length: 5",
    ] {
        let items = body_of(head);
        let expected = format!("OPTIONS sip:a@b SIP/2.0\r\n{head}\r\n\r\nabcde");
        assert_eq!(
            items,
            vec![msg(expected.as_bytes()), msg(OPTIONS)],
            "{head:?}"
        );
    }
}

#[test]
fn headers_that_are_not_content_length() {
    // Names that only contain or start like Content-Length are other headers.
    for head in ["Content-Lengths: 5", "X-Content-Length: 5", "ll: 5"] {
        let mut data = format!("OPTIONS sip:a@b SIP/2.0\r\n{head}\r\n\r\n").into_bytes();
        let first = data.clone();
        data.extend_from_slice(OPTIONS);
        let mut f = framer();
        f.feed(&data);
        assert_eq!(drain(&mut f), vec![msg(&first), msg(OPTIONS)], "{head:?}");
    }
}

#[test]
fn missing_content_length_means_empty_body() {
    let no_length = b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n";
    let mut data = no_length.to_vec();
    data.extend_from_slice(OPTIONS);
    let mut f = framer();
    f.feed(&data);
    assert_eq!(drain(&mut f), vec![msg(no_length), msg(OPTIONS)]);
}

#[test]
fn start_line_only() {
    let mut f = framer();
    f.feed(b"SIP/2.0 200 OK\r\n\r\n");
    assert_eq!(drain(&mut f), vec![msg(b"SIP/2.0 200 OK\r\n\r\n")]);
}

#[test]
fn bad_content_length() {
    for (head, offset) in [
        ("Content-Length: -1", 40),
        ("Content-Length: abc", 40),
        ("Content-Length:", 40),
        ("Content-Length:   ", 40),
        ("l: 1 2", 27),
        ("l: 0x10", 27),
        ("l: +5", 27),
        ("Content-Length: 1\r\n 2", 40),
        ("Content-Length: 5\r\nl: 6", 46),
    ] {
        let data = format!("OPTIONS sip:a@b SIP/2.0\r\n{head}\r\n\r\n");
        let e = first_error(&mut framer(), data.as_bytes());
        assert_eq!(e.kind, ParseErrorKind::BadContentLength, "{head:?}");
        assert_eq!(e.offset, offset, "{head:?}");
    }
}

#[test]
fn header_section_at_the_limit() {
    let head = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n\r\n";
    let mut f = small(head.len(), 0);
    f.feed(head);
    assert_eq!(drain(&mut f), vec![msg(head)]);

    let mut f = small(head.len() - 1, 0);
    let e = first_error(&mut f, head);
    assert_eq!(e.kind, ParseErrorKind::TooLarge);
    assert_eq!(e.offset, head.len() - 1);
    assert_eq!(e.status_code(), 513);
}

#[test]
fn endless_header_section_is_too_large_without_buffering_it() {
    let max = 1000;
    let mut f = small(max, 10);
    let line = b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut fed = 0;
    let err = loop {
        f.feed(line);
        fed += line.len();
        match f.next_item() {
            Ok(None) => assert!(f.buffered() < max, "buffered {}", f.buffered()),
            Ok(Some(item)) => panic!("unexpected {item:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind, ParseErrorKind::TooLarge);
    assert!((max..max + line.len()).contains(&fed), "fed {fed}");
    assert_eq!(f.buffered(), 0);
}

#[test]
fn body_over_the_limit_is_too_large() {
    let ok = b"OPTIONS sip:a@b SIP/2.0\r\nl: 100\r\n\r\n";
    let mut f = small(1000, 100);
    f.feed(ok);
    assert_eq!(f.next_item().unwrap(), None);
    f.feed(&[b'x'; 100]);
    assert_eq!(drain(&mut f).len(), 1);

    let e = first_error(
        &mut small(1000, 100),
        b"OPTIONS sip:a@b SIP/2.0\r\nl: 101\r\n\r\n",
    );
    assert_eq!(e.kind, ParseErrorKind::TooLarge);
    assert_eq!(e.offset, 35);

    // Too many digits for any integer: still just too large.
    let e = first_error(
        &mut framer(),
        b"OPTIONS sip:a@b SIP/2.0\r\nl: 99999999999999999999999999\r\n\r\n",
    );
    assert_eq!(e.kind, ParseErrorKind::TooLarge);
}

#[test]
fn errors_poison_the_framer() {
    let mut f = small(100, 100);
    let e = first_error(&mut f, b"OPTIONS sip:a@b SIP/2.0\r\nl: nope\r\n\r\n");
    assert_eq!(e.kind, ParseErrorKind::BadContentLength);
    assert_eq!(f.buffered(), 0);
    f.feed(OPTIONS);
    assert_eq!(f.buffered(), 0);
    assert_eq!(f.next_item(), Err(e.clone()));
    assert_eq!(f.next_item(), Err(e));
    assert!(!f.take_pong());
}

#[test]
fn buffered_stays_within_the_limits() {
    let limits = FrameLimits {
        max_header_bytes: 200,
        max_body_bytes: 300,
    };
    let head = b"OPTIONS sip:a@b SIP/2.0\r\nl: 300\r\n\r\n";
    for read in [1, 7, 64, 500] {
        let mut f = StreamFramer::new(limits);
        let mut stream = Vec::new();
        for _ in 0..4 {
            stream.extend_from_slice(head);
            stream.extend_from_slice(&[b'x'; 300]);
        }
        let mut messages = 0;
        for chunk in stream.chunks(read) {
            f.feed(chunk);
            messages += drain(&mut f).len();
            assert!(f.buffered() < 200 + 300, "read {read}: {}", f.buffered());
        }
        assert_eq!(messages, 4);
    }
}

#[test]
fn header_section_trickling_in_byte_by_byte_is_linear() {
    // A rescan from the start on every byte would take minutes here.
    let n = 512 * 1024;
    let mut f = small(n + 100, 0);
    let start = std::time::Instant::now();
    f.feed(b"OPTIONS sip:a@b SIP/2.0\r\nX: ");
    for i in 0..n {
        f.feed(b"a");
        assert_eq!(f.next_item().unwrap(), None);
        if i % 4096 == 0 {
            assert!(
                start.elapsed().as_secs() < 30,
                "{i} bytes took {:?}",
                start.elapsed()
            );
        }
    }
    f.feed(b"\r\n\r\n");
    assert_eq!(drain(&mut f).len(), 1);
}

// RFC 4475 §3.1.1: the valid messages, on a stream.

fn rfc4475(name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "../../tests/data/sip/rfc4475",
        name,
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// inv2543 (RFC 4475 §3.1.1... an RFC 2543 request) has no Content-Length, so on a
// stream its body would be read as a second message: it is a datagram-only case.
const VALID: &[&str] = &[
    "wsinv.dat",
    "intmeth.dat",
    "esc01.dat",
    "escnull.dat",
    "esc02.dat",
    "lwsdisp.dat",
    "longreq.dat",
    "dblreq.dat",
    "semiuri.dat",
    "transports.dat",
    "mpart01.dat",
    "unreason.dat",
    "noreason.dat",
];

/// The part of a file a stream carries, and the items it must give. For
/// dblreq: the first request (its Content-Length is 0), the stray CRLF after
/// it, then the second request, whose Content-Length (150) stops short of the
/// end of the file: the bytes after it are not part of any message.
fn stream_of<'a>(name: &str, data: &'a [u8]) -> (&'a [u8], Vec<StreamItem>) {
    if name != "dblreq.dat" {
        return (data, vec![msg(data)]);
    }
    let head_end = |from: usize| {
        from + data[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap()
            + 4
    };
    let split = head_end(0);
    assert_eq!(&data[split..split + 2], b"\r\n");
    let end = head_end(split + 2) + 150;
    let first = &data[..split];
    let second = &data[split + 2..end];
    (
        &data[..end],
        vec![msg(first), StreamItem::Pong, msg(second)],
    )
}

fn check_parses_like_the_file(name: &str, data: &[u8], items: &[StreamItem]) {
    let messages: Vec<&Bytes> = items
        .iter()
        .filter_map(|i| match i {
            StreamItem::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    let whole = parse(data).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(parse_bytes(messages[0].clone()).unwrap(), whole, "{name}");
    if name == "dblreq.dat" {
        let second = parse(&messages[1][..]).unwrap();
        assert_eq!(parse_bytes(messages[1].clone()).unwrap(), second);
        assert_eq!(second.body().len(), 150);
    }
}

#[test]
fn rfc4475_valid_messages_byte_by_byte() {
    for name in VALID {
        let data = rfc4475(name);
        let (stream, expected) = stream_of(name, &data);
        let mut f = framer();
        let items = feed_chunked(&mut f, stream, 1);
        assert_eq!(items, expected, "{name}");
        assert_eq!(f.buffered(), 0, "{name}");
        check_parses_like_the_file(name, &data, &items);
    }
}

#[test]
fn rfc4475_valid_messages_concatenated_in_one_feed() {
    let mut all = Vec::new();
    let mut expected = Vec::new();
    for name in VALID {
        let data = rfc4475(name);
        let (stream, items) = stream_of(name, &data);
        all.extend_from_slice(stream);
        expected.extend(items);
    }
    let mut f = framer();
    f.feed(&all);
    let items = drain(&mut f);
    assert_eq!(items, expected);
    assert_eq!(f.buffered(), 0);
    let mut it = items.iter();
    for name in VALID {
        let data = rfc4475(name);
        let n = stream_of(name, &data).1.len();
        let mine: Vec<StreamItem> = it.by_ref().take(n).cloned().collect();
        check_parses_like_the_file(name, &data, &mine);
    }
}

#[test]
fn rfc4475_two_content_lengths_are_refused() {
    // mcl01: Content-Length 13 then 5 (RFC 4475 §3.1.2.11).
    let e = first_error(&mut framer(), &rfc4475("mcl01.dat"));
    assert_eq!(e.kind, ParseErrorKind::BadContentLength);
    assert_eq!(e.detail, Some("conflicting Content-Length values"));
}

#[test]
fn rfc4475_negative_content_length_is_refused() {
    let e = first_error(&mut framer(), &rfc4475("ncl.dat"));
    assert_eq!(e.kind, ParseErrorKind::BadContentLength);
}

#[test]
fn rfc4475_content_length_past_the_end_waits_for_more() {
    // clerr: Content-Length 9999 on a stream is a body still to come.
    let data = rfc4475("clerr.dat");
    let mut f = framer();
    f.feed(&data);
    assert_eq!(f.next_item().unwrap(), None);
    assert_eq!(f.buffered(), data.len());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_split_points_give_the_same_items(
        order in proptest::collection::vec(0usize..5, 1..8),
        mut cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let pieces: [(&[u8], StreamItem); 5] = [
            (OPTIONS, msg(OPTIONS)),
            (MESSAGE, msg(MESSAGE)),
            (b"\r\n\r\n", StreamItem::Ping),
            (b"\r\nSIP/2.0 200 OK\r\nl:3\r\n\r\nabc", msg(b"SIP/2.0 200 OK\r\nl:3\r\n\r\nabc")),
            (b"INFO sip:x SIP/2.0\r\n\r\n", msg(b"INFO sip:x SIP/2.0\r\n\r\n")),
        ];
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for &i in &order {
            stream.extend_from_slice(pieces[i].0);
            if i == 3 {
                expected.push(StreamItem::Pong);
            }
            expected.push(pieces[i].1.clone());
        }
        let mut points: Vec<usize> = cuts.drain(..).map(|c| c.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let mut f = framer();
        let mut items = Vec::new();
        for w in points.windows(2) {
            f.feed(&stream[w[0]..w[1]]);
            items.extend(drain(&mut f));
        }
        prop_assert_eq!(items, expected);
        prop_assert_eq!(f.buffered(), 0);
    }
}
