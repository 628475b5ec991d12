//! The response context of a forking proxy (RFC 3261 §16.7, §16.8, §16.10)
//! on a simulated clock.

use drachtio_sip::proxy::{ContextAction, ResponseContext, TimerC};
use drachtio_sip::transaction::ClientTxId;
use drachtio_sip::{HeaderName, Response};
use std::time::{Duration, Instant};

const A: ClientTxId = ClientTxId(1);
const B: ClientTxId = ClientTxId(2);
const C: ClientTxId = ClientTxId(3);

/// A response of a branch as the proxy core passes it: status, To tag, and
/// `extra` headers.
fn resp(status: u16, tag: &str, extra: &[(HeaderName, &str)]) -> Response {
    let mut r = Response::new(status);
    r.headers
        .push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKup");
    r.headers
        .push(HeaderName::To, format!("<sip:bob@example.com>;tag={tag}"));
    for (name, value) in extra {
        r.headers.push(name.clone(), *value);
    }
    r
}

/// An INVITE context forwarded on `branches` at `t0`.
fn invite(t0: Instant, branches: &[ClientTxId]) -> ResponseContext {
    let mut cx = ResponseContext::new(true, TimerC::DEFAULT);
    for &b in branches {
        assert!(cx.add_branch(t0, b));
    }
    cx
}

fn actions(cx: &mut ResponseContext) -> Vec<ContextAction> {
    std::iter::from_fn(|| cx.poll_action()).collect()
}

/// The statuses forwarded or made, and the branches cancelled.
fn summary(actions: &[ContextAction]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            ContextAction::Forward(r) => format!("forward {}", r.status),
            ContextAction::Respond(s) => format!("respond {s}"),
            ContextAction::CancelBranch(id) => format!("cancel {}", id.0),
        })
        .collect()
}

#[test]
fn rfc3261_s16_7_step5_provisionals_but_100_are_forwarded_at_once() {
    let t0 = Instant::now();
    let mut cx = invite(t0, &[A, B]);
    cx.on_response(t0, A, resp(100, "a", &[]));
    cx.on_response(t0, A, resp(180, "a", &[]));
    cx.on_response(t0, B, resp(183, "b", &[]));
    assert_eq!(summary(&actions(&mut cx)), ["forward 180", "forward 183"]);
}

#[test]
fn rfc3261_s16_7_step5_and_10_a_2xx_goes_at_once_and_cancels_the_others() {
    let t0 = Instant::now();
    let mut cx = invite(t0, &[A, B, C]);
    cx.on_response(t0, C, resp(486, "c", &[]));
    cx.on_response(t0, A, resp(200, "a", &[]));
    assert_eq!(
        summary(&actions(&mut cx)),
        ["forward 200", "cancel 2"],
        "B is pending, C is done"
    );
    // Every 2xx of an INVITE goes upstream, even after a final one
    // (another fork answering before its CANCEL arrived).
    cx.on_response(t0, B, resp(200, "b", &[]));
    assert_eq!(summary(&actions(&mut cx)), ["forward 200"]);
    // Nothing else does, and no branch is added any more.
    cx.on_response(t0, A, resp(180, "a", &[]));
    assert!(actions(&mut cx).is_empty());
    assert!(!cx.add_branch(t0, ClientTxId(9)));
    assert!(cx.is_done());
}

#[test]
fn rfc3261_s16_7_step5_a_6xx_ends_the_search_and_wins() {
    let t0 = Instant::now();
    let mut cx = invite(t0, &[A, B, C]);
    cx.on_response(t0, A, resp(404, "a", &[]));
    cx.on_response(t0, B, resp(603, "b", &[]));
    assert_eq!(summary(&actions(&mut cx)), ["cancel 3"]);
    assert!(
        !cx.add_branch(t0, ClientTxId(9)),
        "no new branch after a 6xx"
    );
    // The cancelled branch answers 487; then the best goes: the 6xx, though
    // 404 is of a lower class.
    cx.on_response(t0, C, resp(487, "c", &[]));
    let sent = actions(&mut cx);
    assert_eq!(summary(&sent), ["forward 603"]);
    assert!(cx.is_done());
}

#[test]
fn rfc3261_s16_7_step6_the_lowest_class_wins_once_every_branch_is_done() {
    let t0 = Instant::now();
    let mut cx = invite(t0, &[A, B, C]);
    cx.on_response(t0, A, resp(500, "a", &[]));
    cx.on_response(t0, B, resp(302, "b", &[]));
    cx.on_response(t0, C, resp(486, "c", &[]));
    assert!(actions(&mut cx).is_empty(), "more targets may come");
    cx.close();
    let sent = actions(&mut cx);
    assert_eq!(summary(&sent), ["forward 302"]);
    let ContextAction::Forward(r) = &sent[0] else {
        unreachable!()
    };
    assert!(r.headers.get(&HeaderName::To).unwrap().ends_with("tag=b"));
}

#[test]
fn rfc3261_s16_7_step6_a_503_becomes_500_and_no_target_is_480() {
    let t0 = Instant::now();
    let mut cx = invite(t0, &[A]);
    cx.close();
    cx.on_response(t0, A, resp(503, "a", &[]));
    assert_eq!(summary(&actions(&mut cx)), ["respond 500"]);

    let mut cx = ResponseContext::new(true, TimerC::DEFAULT);
    cx.close();
    assert_eq!(summary(&actions(&mut cx)), ["respond 480"]);
}

#[test]
fn rfc3261_s16_7_step7_challenges_are_aggregated() {
    let t0 = Instant::now();
    let mut cx = invite(t0, &[A, B, C]);
    let www = [(
        HeaderName::WwwAuthenticate,
        "Digest realm=\"a\", nonce=\"1\"",
    )];
    let proxy = [(
        HeaderName::ProxyAuthenticate,
        "Digest realm=\"b\", nonce=\"2\"",
    )];
    cx.on_response(t0, A, resp(401, "a", &www));
    cx.on_response(t0, B, resp(407, "b", &proxy));
    cx.on_response(t0, C, resp(486, "c", &[]));
    cx.close();
    let sent = actions(&mut cx);
    let [ContextAction::Forward(r)] = &sent[..] else {
        panic!("expected one response, got {sent:?}");
    };
    assert_eq!(r.status, 401);
    let values =
        |name| -> Vec<String> { r.headers.get_all(&name).map(|v| v.to_string()).collect() };
    assert_eq!(values(HeaderName::WwwAuthenticate), [www[0].1]);
    assert_eq!(values(HeaderName::ProxyAuthenticate), [proxy[0].1]);
}

#[test]
fn rfc3261_s16_8_timer_c_cancels_a_ringing_branch_and_times_out_a_silent_one() {
    let t0 = Instant::now();
    let c = TimerC::DEFAULT;
    let mut cx = invite(t0, &[A, B]);
    cx.close();
    assert_eq!(cx.poll_timeout(), Some(t0 + c));
    // A rings at 60 s: its Timer C restarts (§16.7 step 2).
    cx.on_response(t0 + Duration::from_secs(60), A, resp(180, "a", &[]));
    assert_eq!(summary(&actions(&mut cx)), ["forward 180"]);
    // B never answered: at t0 + C it counts as a 408; A is still pending.
    cx.handle_timeout(t0 + c);
    assert!(actions(&mut cx).is_empty());
    assert_eq!(cx.poll_timeout(), Some(t0 + Duration::from_secs(60) + c));
    // A's Timer C: CANCEL it; its 487 completes the context, and 408 (B)
    // is of the lowest class.
    cx.handle_timeout(t0 + Duration::from_secs(60) + c);
    assert_eq!(summary(&actions(&mut cx)), ["cancel 1"]);
    cx.on_response(t0 + Duration::from_secs(61) + c, A, resp(487, "a", &[]));
    assert_eq!(summary(&actions(&mut cx)), ["respond 408"]);
    assert!(cx.is_done());
    assert_eq!(cx.poll_timeout(), None);
}

#[test]
fn rfc3261_s16_9_and_16_10_failures_and_an_upstream_cancel() {
    let t0 = Instant::now();
    let mut cx = invite(t0, &[A, B]);
    // §16.9: a branch that could not be sent counts as a 503 (sent as 500).
    cx.on_branch_failure(A, 503);
    // §16.10: a CANCEL from upstream cancels every pending branch; the
    // layer has answered 487, so nothing else goes upstream.
    cx.on_cancel_received();
    assert_eq!(summary(&actions(&mut cx)), ["cancel 2"]);
    cx.on_response(t0, B, resp(487, "b", &[]));
    cx.close();
    assert!(actions(&mut cx).is_empty());
    assert!(cx.is_done());
}

#[test]
fn a_non_invite_context_has_no_timer_c_and_cancels_nothing() {
    let t0 = Instant::now();
    let mut cx = ResponseContext::new(false, TimerC::DEFAULT);
    assert!(cx.add_branch(t0, A));
    assert!(cx.add_branch(t0, B));
    assert_eq!(cx.poll_timeout(), None);
    cx.on_response(t0, A, resp(200, "a", &[]));
    cx.on_response(t0, B, resp(200, "b", &[]));
    // Only the first 2xx goes: the server transaction has its final response.
    assert_eq!(summary(&actions(&mut cx)), ["forward 200"]);
}
