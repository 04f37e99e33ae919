use super::*;
use crate::ws::frame;

fn apps(i: u32) -> Option<&'static str> {
    ["app-id", "other \"app\""].get(i as usize).copied()
}

fn event(channel: &str, frame: Bytes) -> Record {
    Record::Event(EventRecord {
        app: 0,
        channel: channel.into(),
        frame,
        except: None,
        cached: false,
    })
}

fn encoded(r: &Record) -> String {
    let mut out = Vec::new();
    encode_record(r, apps, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn frame_payload_reads_every_length_form() {
    for len in [0usize, 5, 125, 126, 65535, 65536] {
        let payload = vec![b'a'; len];
        let f = frame::text_frame(&payload);
        assert_eq!(
            frame_payload(&f),
            Some((opcode::TEXT, &payload[..])),
            "{len}"
        );
    }
    let f = frame::binary_frame(&[0, 1, 2]);
    assert_eq!(frame_payload(&f), Some((opcode::BINARY, &[0u8, 1, 2][..])));
    assert_eq!(frame_payload(b""), None);
    assert_eq!(frame_payload(&[0x81, 5, b'a']), None, "short payload");
    assert_eq!(frame_payload(&[0x01, 1, b'a']), None, "not final");
    assert_eq!(
        frame_payload(&[0x81, 0x81, 0, 0, 0, 0, b'a']),
        None,
        "masked"
    );
}

#[test]
fn pusher_events_travel_as_raw_json() {
    let json = r#"{"event":"my-event","channel":"my-channel","data":"{\"hello\":\"world\"}"}"#;
    let mut r = event("my-channel", frame::text_frame(json.as_bytes()));
    let Record::Event(e) = &mut r else {
        unreachable!()
    };
    e.except = Some("123.45".parse().unwrap());
    e.cached = true;
    assert_eq!(
        encoded(&r),
        format!(r#"{{"k":"e","a":"app-id","c":"my-channel","d":{json},"x":"123.45","ca":1}}"#)
    );
}

#[test]
fn raw_channels_travel_as_text_or_base64() {
    let r = event("#raw:room", frame::text_frame("hé \"x\"".as_bytes()));
    assert_eq!(
        encoded(&r),
        r##"{"k":"e","a":"app-id","c":"#raw:room","p":"hé \"x\""}"##
    );
    let r = event("#raw:room", frame::binary_frame(&[0, 255, 7]));
    assert_eq!(
        encoded(&r),
        r##"{"k":"e","a":"app-id","c":"#raw:room","b":"AP8H"}"##
    );
}

#[test]
fn unencodable_records_leave_nothing_behind() {
    let mut out = b"x".to_vec();
    let bad = event("c", Bytes::from_static(b"\x81\x05ab"));
    assert_eq!(
        encode_record(&bad, apps, &mut out),
        Err(EncodeError::BadFrame)
    );
    let mut unknown = event("c", frame::text_frame(b"{}"));
    let Record::Event(e) = &mut unknown else {
        unreachable!()
    };
    e.app = 9;
    assert_eq!(
        encode_record(&unknown, apps, &mut out),
        Err(EncodeError::UnknownApp(9))
    );
    let not_utf8 = event("#raw:c", frame::text_frame(&[0xff]));
    assert_eq!(
        encode_record(&not_utf8, apps, &mut out),
        Err(EncodeError::NotUtf8)
    );
    assert_eq!(out, b"x");
}

#[test]
fn packer_fills_envelopes_and_numbers_them() {
    let mut p = Packer::new("9f2c41d07ab3e615.1", 120);
    let recs: Vec<Vec<u8>> = (0..5)
        .map(|i| format!(r#"{{"k":"z","i":{i}}}"#).into())
        .collect();
    let envs = p.pack(recs.iter().map(Vec::as_slice));
    assert!(envs.len() > 1, "120 bytes hold fewer than 5 records");
    assert_eq!(envs.iter().map(|e| e.records).sum::<usize>(), 5);
    let mut i = 0;
    for (n, env) in envs.iter().enumerate() {
        assert_eq!(env.seq, n as u64 + 1);
        assert!(env.bytes.len() <= 120);
        let got = decode(&env.bytes).unwrap();
        assert_eq!(got.node, "9f2c41d07ab3e615.1");
        assert_eq!(got.seq, Some(env.seq));
        assert_eq!(got.records.len(), env.records);
        i += env.records;
    }
    assert_eq!(i, 5);
    let next = p.pack([&br#"{"k":"e"}"#[..]]);
    assert_eq!(next[0].seq, envs.len() as u64 + 1);
    assert!(p.pack(std::iter::empty()).is_empty());
}

#[test]
fn a_record_larger_than_the_limit_travels_alone() {
    let mut p = Packer::new("n", 64);
    let big = format!(r#"{{"k":"e","z":"{}"}}"#, "z".repeat(100));
    let envs = p.pack([&b"{}"[..], big.as_bytes(), &b"{}"[..]]);
    assert_eq!(
        envs.iter().map(|e| e.records).collect::<Vec<_>>(),
        [1, 1, 1]
    );
}

#[test]
fn decodes_what_it_encodes() {
    let json = r#"{"event":"e","channel":"c","data":"1"}"#;
    let mut recs = Vec::new();
    for r in [
        event("c", frame::text_frame(json.as_bytes())),
        event("#raw:r", frame::text_frame(b"hi")),
        event("#raw:r", frame::binary_frame(&[1, 2])),
    ] {
        let mut out = Vec::new();
        encode_record(&r, apps, &mut out).unwrap();
        recs.push(out);
    }
    let env = Packer::new("me", MAX_ENVELOPE_BYTES).pack(recs.iter().map(Vec::as_slice));
    let got = decode(&env[0].bytes).unwrap();
    assert_eq!(got.invalid, 0);
    let bodies: Vec<&Body<'_>> = got
        .records
        .iter()
        .map(|r| match r {
            Incoming::Event(e) => &e.body,
            other => panic!("not an event: {other:?}"),
        })
        .collect();
    assert_eq!(bodies[0], &Body::Event(json));
    assert_eq!(bodies[1], &Body::Text("hi".into()));
    assert_eq!(bodies[2], &Body::Binary(vec![1, 2]));
}

#[test]
fn the_spec_example_decodes() {
    let text = r#"{"v":1,"n":"9f2c41d07ab3e615.1","s":42,"r":[{"k":"e","a":"app-id","c":"my-channel","d":{"event":"my-event","channel":"my-channel","data":"{\"hello\":\"world\"}"}}]}"#;
    let got = decode(text.as_bytes()).unwrap();
    assert_eq!(got.seq, Some(42));
    let Incoming::Event(e) = &got.records[0] else {
        panic!("not an event")
    };
    assert_eq!(e.app, "app-id");
    assert_eq!(e.channel, "my-channel");
    assert!(!e.cached);
    assert_eq!(e.except, None);
}

#[test]
fn unknown_kinds_and_fields_are_ignored_bad_records_skipped() {
    let text = r#"{"v":1,"n":"","future":true,"r":[
        {"k":"cnt","a":"x","c":[["ch",3]]},
        {"k":"e","a":"app-id","c":"ch","d":{"event":"e"},"zz":[1]},
        {"k":"e","a":"app-id","c":"ch"},
        {"k":"e","a":"app-id","c":"ch","d":"not an object"},
        {"k":"e","a":"app-id","c":"ch","p":"x","x":"nope"},
        {"k":"e","a":"app-id","c":"ch","b":"***"},
        {"no kind":1},
        7
    ]}"#;
    let got = decode(text.as_bytes()).unwrap();
    assert_eq!(got.node, "");
    assert_eq!(got.seq, None);
    assert_eq!(got.records.len(), 2);
    assert_eq!(got.records[0], Incoming::Unknown);
    assert!(matches!(got.records[1], Incoming::Event(_)));
    assert_eq!(got.invalid, 6);
}

#[test]
fn other_versions_and_garbage_are_refused() {
    assert!(matches!(
        decode(br#"{"v":2,"n":"x","r":"whatever"}"#),
        Err(DecodeError::Version(2))
    ));
    assert!(matches!(decode(b"PING"), Err(DecodeError::Json(_))));
    assert!(matches!(decode(br#"{"n":"x"}"#), Err(DecodeError::Json(_))));
    assert!(matches!(
        decode(br#"{"v":1,"r":{"k":"e"}}"#),
        Err(DecodeError::Json(_))
    ));
}
