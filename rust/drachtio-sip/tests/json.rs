//! The JSON form: the seed's example INVITE, both directions, and errors.

use drachtio_sip::json::{from_json, headers_from_simple, to_json};
use drachtio_sip::{parse, HeaderName, Message};
use serde_json::{json, Value};

fn seed() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/seed_invite.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn seed_invite_round_trips_through_the_json_form() {
    let seed = seed();
    let msg = from_json(&seed).unwrap();
    assert_eq!(to_json(&msg), seed);
    let Message::Request(r) = &msg else {
        panic!("not a request")
    };
    assert_eq!(r.method.as_str(), "INVITE");
    assert_eq!(r.uri.to_string(), "sip:11@localhost");
    assert_eq!(
        msg.header("via").unwrap(),
        "SIP/2.0/UDP 127.0.0.1:39918;branch=z9hG4bK-d8754z-ce8b6972d37e5b74-1---d8754z-;rport=39918"
    );
    assert_eq!(
        msg.header("from").unwrap(),
        "<sip:1234@localhost>;tag=f66e7e75"
    );
    assert_eq!(msg.header("contact").unwrap(), "<sip:1234@127.0.0.1:39918>");

    // Through the wire form and back: the same JSON, plus the Content-Length
    // the serializer always writes.
    let wire = msg.to_bytes();
    let reparsed = parse(&wire).unwrap();
    let mut expected = seed.clone();
    expected["headers"]["content_length"] = json!("0");
    assert_eq!(to_json(&reparsed), expected);
}

#[test]
fn response_and_payload() {
    let raw = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK1;received=192.0.2.1\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK2\r\nTo: \"Bob\" <sip:bob@b.example>;tag=xyz\r\nFrom: <tel:+15551234;phone-context=example.com>;tag=1\r\n\
Call-ID: c1\r\nCSeq: 2 INVITE\r\nContact: <sip:a@h1>;q=0.5, <sip:b@h2>\r\nX-Thing: one\r\nX-Thing: two\r\n\
Content-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";
    let m = parse(raw).unwrap();
    let j = to_json(&m);
    assert_eq!(
        j["status_line"],
        json!({"version": "SIP/2.0", "status_code": 200, "reason": "OK"})
    );
    assert_eq!(j["headers"]["via"][0]["host"], "[2001:db8::1]");
    assert_eq!(j["headers"]["via"][0]["received"], "192.0.2.1");
    assert_eq!(j["headers"]["via"][1]["protocol"], "SIP/2.0/UDP");
    assert_eq!(j["headers"]["to"]["display"], "Bob");
    assert_eq!(j["headers"]["to"]["tag"], "xyz");
    assert_eq!(
        j["headers"]["from"]["url"],
        json!({"scheme": "tel", "number": "+15551234", "params": ["phone-context=example.com"]})
    );
    assert_eq!(j["headers"]["contact"][0]["params"], json!(["q=0.5"]));
    assert_eq!(j["headers"]["contact"][1]["url"]["host"], "h2");
    assert_eq!(j["headers"]["x_thing"], json!(["one", "two"]));
    assert_eq!(
        j["payload"],
        json!({"type": "application/sdp", "content": "v=0\n"})
    );
    let back = from_json(&j).unwrap();
    assert_eq!(to_json(&back), j);
    assert_eq!(back.body().as_ref(), b"v=0\n");
}

#[test]
fn binary_payload_is_base64() {
    let raw = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\n\xff\x00\x01";
    let m = parse(raw).unwrap();
    let j = to_json(&m);
    assert_eq!(
        j["payload"],
        json!({"type": "application/octet-stream", "content": "/wAB", "encoding": "base64"})
    );
    assert_eq!(from_json(&j).unwrap().body().as_ref(), b"\xff\x00\x01");
}

#[test]
fn simple_header_form() {
    let map = json!({"User-Agent": "Drachtio rocksz", "X-Multi": ["a", "b"], "i": "abc"});
    let hs = headers_from_simple(map.as_object().unwrap()).unwrap();
    assert_eq!(hs.len(), 4);
    assert_eq!(hs[0].name, HeaderName::UserAgent);
    assert_eq!(hs[0].value, "Drachtio rocksz");
    assert_eq!(hs[2].value, "b");
    assert_eq!(hs[3].name, HeaderName::CallId);
    let bad = json!({"Bad Name": "x"});
    assert!(headers_from_simple(bad.as_object().unwrap()).is_err());
    let injected = json!({"X-A": "x\r\nVia: evil"});
    let e = headers_from_simple(injected.as_object().unwrap()).unwrap_err();
    assert_eq!(e.path, "headers.X-A");
}

#[test]
fn errors_name_the_path() {
    let cases = [
        (json!([]), "$"),
        (json!({"headers": {}}), "$"),
        (
            json!({"request_uri": {"method": "INVITE", "url": {"scheme": "sip"}}}),
            "request_uri.url.host",
        ),
        (
            json!({"request_uri": {"method": "IN VITE", "url": "sip:a@b"}}),
            "request_uri.method",
        ),
        (
            json!({"request_uri": {"method": "INVITE", "version": "SIP/3.0", "url": "sip:a@b"}}),
            "request_uri.version",
        ),
        (
            json!({"status_line": {"status_code": 99}}),
            "status_line.status_code",
        ),
        (
            json!({"status_line": {"status_code": 200}, "headers": {"via": [{"host": "h"}]}}),
            "headers.via[0].protocol",
        ),
        (
            json!({"status_line": {"status_code": 200}, "headers": {"user_agent": {"x": 1}}}),
            "headers.user_agent",
        ),
        (
            json!({"status_line": {"status_code": 200}, "payload": {"content": "!!", "encoding": "base64"}}),
            "payload.content",
        ),
    ];
    for (v, path) in cases {
        let e = from_json(&v).unwrap_err();
        assert_eq!(e.path, path, "{v}: {e}");
    }
}

#[test]
fn numbers_accepted_where_strings_are_expected() {
    let v = json!({
        "request_uri": {"method": "OPTIONS", "url": {"scheme": "sip", "host": "example.com", "port": 5070}},
        "headers": {"cseq": {"seq": 7, "method": "OPTIONS"}, "max_forwards": {"count": 70}}
    });
    let m = from_json(&v).unwrap();
    assert_eq!(
        m.as_request().unwrap().uri.to_string(),
        "sip:example.com:5070"
    );
    assert_eq!(m.header("cseq").unwrap(), "7 OPTIONS");
    assert_eq!(m.header("max-forwards").unwrap(), "70");
}
