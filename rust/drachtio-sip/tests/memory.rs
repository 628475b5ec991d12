//! What the transaction layer keeps per call while ended transactions wait
//! out Timers J and L (64*T1): counted with an allocator that tracks live
//! bytes. A server at 1,000 calls/s keeps 32 s of calls, so every byte kept
//! per call is 32 kB of resident memory.

// A global allocator is unsafe to implement; this one only counts and
// forwards to the system allocator.
#![allow(unsafe_code)]

use drachtio_sip::transaction::{Config, Incoming, Peer, TransactionLayer, Transport, TxEvent};
use drachtio_sip::{parse, HeaderName, Response};
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

/// A request as sipp's built-in `uac` scenario sends it.
fn request(method: &str, n: usize, to_tag: &str, cseq: u32, body: &str) -> String {
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".to_string()
    };
    format!(
        "{method} sip:service@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{n}-{cseq}-{method}\r\n\
         From: sipp <sip:sipp@127.0.0.1:5061>;tag={n}SIPpTag00{n}\r\n\
         To: service <sip:service@127.0.0.1:5060>{to_tag}\r\n\
         Call-ID: {n}-12345@127.0.0.1\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: sip:sipp@127.0.0.1:5061\r\n\
         Max-Forwards: 70\r\n\
         Subject: Performance Test\r\n\
         {ct}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn incoming(text: &str) -> Incoming {
    Incoming {
        message: parse(text.as_bytes()).unwrap(),
        peer: Peer {
            transport: Transport::Udp,
            addr: "127.0.0.1:5061".parse().unwrap(),
        },
        local: "127.0.0.1:5060".parse::<SocketAddr>().unwrap(),
    }
}

/// Runs `calls` calls (INVITE, 200 + SDP, ACK, BYE, 200) through `layer`
/// and drains its output; every transaction is then waiting out its timer.
fn run_calls(layer: &mut TransactionLayer, now: Instant, from: usize, calls: usize) {
    for n in from..from + calls {
        layer.handle_incoming(now, incoming(&request("INVITE", n, "", 1, SDP)));
        while layer.poll_transmit().is_some() {}
        let tag = format!(";tag={n}-uas");
        while let Some(event) = layer.poll_event() {
            if let TxEvent::NewRequest { id, request, .. } = event {
                let mut ok = Response::new(200);
                let to = request.headers.get(&HeaderName::To).unwrap();
                ok.headers.push(HeaderName::To, format!("{to}{tag}"));
                ok.headers.push(HeaderName::Contact, "<sip:127.0.0.1:5060>");
                ok.headers.push(HeaderName::ContentType, "application/sdp");
                ok.body = SDP.as_bytes().to_vec().into();
                layer.respond(now, id, ok).unwrap();
            }
        }
        while layer.poll_transmit().is_some() {}
        layer.handle_incoming(now, incoming(&request("ACK", n, &tag, 1, "")));
        layer.handle_incoming(now, incoming(&request("BYE", n, &tag, 2, "")));
        while let Some(event) = layer.poll_event() {
            if let TxEvent::NewRequest { id, .. } = event {
                layer.respond(now, id, Response::new(200)).unwrap();
            }
        }
        while layer.poll_transmit().is_some() {}
    }
}

/// Live bytes and allocations now.
fn live() -> (isize, isize) {
    (LIVE.load(Ordering::Relaxed), BLOCKS.load(Ordering::Relaxed))
}

#[test]
fn ended_calls_keep_little_while_their_timers_run() {
    // From a new layer: the maps and the timer table grow with the calls.
    let now = Instant::now();
    let calls = 3_000;
    let start = live();
    let mut layer = TransactionLayer::new(Config::default());
    run_calls(&mut layer, now, 0, calls);
    let end = live();
    println!(
        "with the tables' growth: {} bytes per ended call",
        (end.0 - start.0) / calls as isize
    );
    drop(layer);

    let mut layer = TransactionLayer::new(Config {
        seed: Some(3),
        ..Config::default()
    });
    // Warm up: the maps and timer table grow to their working size.
    run_calls(&mut layer, now, 0, 4_000);
    layer.handle_timeout(now + Duration::from_secs(3_600));
    while layer.poll_event().is_some() {}
    assert!(layer.is_idle());

    let before = LIVE.load(Ordering::Relaxed);
    let blocks_before = BLOCKS.load(Ordering::Relaxed);
    run_calls(&mut layer, now, 10_000, calls);
    let per_call = (LIVE.load(Ordering::Relaxed) - before) / calls as isize;
    let blocks = (BLOCKS.load(Ordering::Relaxed) - blocks_before) as f64 / calls as f64;
    println!("kept per ended call (INVITE + BYE transactions): {per_call} bytes in {blocks:.1} allocations");
    // Two transactions: an INVITE in Accepted (its 2xx of ~400 bytes for
    // retransmission) and a BYE in Completed (its 200 of ~250 bytes).
    assert!(per_call < 2_500, "{per_call} bytes kept per call");

    layer.handle_timeout(now + Duration::from_secs(3_600));
    while layer.poll_event().is_some() {}
    assert!(layer.is_idle());
}
