use std::time::{Duration, Instant};

use super::*;

fn keys(k: &[&str]) -> BTreeSet<String> {
    k.iter().map(|s| s.to_string()).collect()
}

fn pairs(p: &[(&str, usize)]) -> Counts {
    p.iter().map(|(c, n)| (c.to_string(), *n)).collect()
}

#[test]
fn questions_round_trip() {
    for question in [
        Question::Channels { prefix: None },
        Question::Channels {
            prefix: Some("presence-\"x".into()),
        },
        Question::Channel {
            name: "private-a".into(),
        },
    ] {
        let mut out = Vec::new();
        encode_question("9f.1/7", "app-id", &question, &mut out);
        let text = std::str::from_utf8(&out).unwrap();
        let q = decode_question(text).unwrap();
        assert_eq!(q.question, question, "{text}");
        assert_eq!(q.app, "app-id");
        assert_eq!(q.asker(), Some("9f.1"));
    }
    assert_eq!(
        decode_question(r#"{"k":"q","id":"a/1","a":"x","q":"channel"}"#),
        None,
        "a channel question names its channel"
    );
    assert_eq!(
        decode_question(r#"{"k":"q","id":"a/1","a":"x","q":"weather"}"#),
        None
    );
    let q = decode_question(r#"{"k":"q","id":"/1","a":"x","q":"channels"}"#).unwrap();
    assert_eq!(q.asker(), None);
}

#[test]
fn answers_round_trip_inside_an_envelope() {
    let env = encode_answer("b.1", "a.1/3", &pairs(&[("x", 2), ("y\"z", 5)]));
    let v: serde_json::Value = serde_json::from_slice(&env).unwrap();
    assert_eq!(v["v"], 1);
    assert_eq!(v["n"], "b.1");
    let rec = v["r"][0].to_string();
    let a = decode_answer(&rec).unwrap();
    assert_eq!(a.id, "a.1/3");
    assert_eq!(a.counts, pairs(&[("x", 2), ("y\"z", 5)]));
    let empty = encode_answer("b.1", "a.1/4", &[]);
    let v: serde_json::Value = serde_json::from_slice(&empty).unwrap();
    assert_eq!(decode_answer(&v["r"][0].to_string()).unwrap().counts, []);
}

#[test]
fn gathers_until_every_expected_node_answered() {
    let mut g = Gather::default();
    let deadline = Instant::now() + Duration::from_secs(1);
    assert!(g
        .start("q/1".into(), 2, 9, keys(&["b", "c"]), deadline)
        .is_none());
    assert_eq!(g.answer("q/1", "b", pairs(&[("x", 2)])), None);
    assert_eq!(
        g.answer("q/1", "b", pairs(&[("x", 2)])),
        None,
        "counted once"
    );
    assert_eq!(g.answer("q/1", "stranger", pairs(&[("x", 50)])), None);
    let (shard, done) = g.answer("q/1", "c", pairs(&[("x", 1), ("y", 4)])).unwrap();
    assert_eq!(shard, 2);
    assert_eq!(done.token, 9);
    assert_eq!(done.missing, Missing::None);
    assert_eq!(done.counts.get("x"), Some(&3));
    assert_eq!(done.counts.get("y"), Some(&4));
    assert_eq!(
        g.answer("q/1", "c", pairs(&[("x", 1)])),
        None,
        "late answer"
    );
    assert_eq!(g.next_deadline(), None);
}

#[test]
fn nobody_expected_finishes_at_once() {
    let mut g = Gather::default();
    let (_, done) = g
        .start("q/1".into(), 0, 1, keys(&[]), Instant::now())
        .unwrap();
    assert_eq!(done.missing.header(), None);
}

#[test]
fn the_deadline_names_the_late_nodes_and_keeps_the_others_shares() {
    let mut g = Gather::default();
    let now = Instant::now();
    let soon = now + Duration::from_millis(500);
    let later = now + Duration::from_secs(5);
    g.start("q/1".into(), 0, 1, keys(&["c", "b", "d"]), soon);
    g.start("q/2".into(), 1, 2, keys(&["b"]), later);
    g.answer("q/1", "b", pairs(&[("x", 2)]));
    assert_eq!(g.next_deadline(), Some(soon));
    assert!(g.expire(now).is_empty());
    let done = g.expire(soon);
    assert_eq!(done.len(), 1);
    let (shard, q1) = &done[0];
    assert_eq!(*shard, 0);
    assert_eq!(q1.missing.header().as_deref(), Some("c,d"));
    assert_eq!(q1.counts.get("x"), Some(&2));
    assert_eq!(g.next_deadline(), Some(later));
    let left = g.abandon();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1.missing.header().as_deref(), Some("unavailable"));
    assert_eq!(g.next_deadline(), None);
}

#[test]
fn an_encoded_question_starts_with_its_kind() {
    let mut out = Vec::new();
    encode_question("a/1", "x", &Question::Channels { prefix: None }, &mut out);
    assert!(
        out.starts_with(br#"{"k":"q""#),
        "the link tells questions by this"
    );
}
