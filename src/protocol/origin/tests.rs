//! Unit tests of origin patterns and allow-lists.

use super::*;

fn list(entries: &[&str]) -> AllowedOrigins {
    AllowedOrigins::parse(entries).unwrap()
}

#[test]
fn an_empty_list_accepts_everything() {
    let open = list(&[]);
    assert!(open.is_empty());
    for o in [
        Some("https://evil.example"),
        Some("null"),
        Some("junk"),
        None,
    ] {
        assert!(open.allows(o), "{o:?}");
    }
}

#[test]
fn exact_origins_are_scheme_and_port_aware() {
    let l = list(&["https://app.example.com", "http://localhost:3000"]);
    for ok in [
        "https://app.example.com",
        "HTTPS://App.Example.COM",
        "https://app.example.com:443",
        "http://localhost:3000",
    ] {
        assert!(l.allows(Some(ok)), "{ok}");
    }
    for bad in [
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://example.com",
        "https://xapp.example.com",
        "https://app.example.com.evil.net",
        "http://localhost",
        "http://localhost:3001",
        "https://localhost:3000",
    ] {
        assert!(!l.allows(Some(bad)), "{bad}");
    }
}

#[test]
fn scheme_less_patterns_accept_any_scheme_on_its_default_port() {
    let l = list(&["app.example.com", "localhost:3000"]);
    assert!(l.allows(Some("http://app.example.com")));
    assert!(l.allows(Some("https://app.example.com")));
    assert!(!l.allows(Some("http://app.example.com:8080")));
    assert!(l.allows(Some("http://localhost:3000")));
    assert!(l.allows(Some("https://localhost:3000")));
    assert!(!l.allows(Some("http://localhost")));
}

#[test]
fn wildcards_accept_subdomains_at_any_depth_but_not_the_domain() {
    let l = list(&["*.example.com"]);
    assert!(l.allows(Some("https://a.example.com")));
    assert!(l.allows(Some("http://a.b.EXAMPLE.com")));
    assert!(!l.allows(Some("https://example.com")));
    assert!(!l.allows(Some("https://badexample.com")));
    assert!(!l.allows(Some("https://a.example.com:8443")));
    let l = list(&["https://*.example.com:8443"]);
    assert!(l.allows(Some("https://a.example.com:8443")));
    assert!(!l.allows(Some("https://a.example.com")));
    assert!(!l.allows(Some("http://a.example.com:8443")));
}

#[test]
fn opaque_or_malformed_origins_match_only_the_star() {
    let l = list(&["https://app.example.com"]);
    for bad in [
        "null",
        "",
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://user@app.example.com",
        "app.example.com",
        "https://app.example.com:0",
        "https://app.example.com:99999",
        "https://app.exa mple.com",
        "https://app.例え.com",
    ] {
        assert!(!l.allows(Some(bad)), "{bad:?}");
    }
    let star = list(&["https://app.example.com", "*"]);
    assert!(star.allows(Some("null")));
    assert!(star.allows(Some("https://anything.example")));
}

#[test]
fn a_missing_origin_is_accepted() {
    assert!(list(&["https://app.example.com"]).allows(None));
    assert!(list(&["https://app.example.com"]).allows_header(None));
}

#[test]
fn a_header_that_is_not_utf8_is_present_and_not_an_origin() {
    let l = list(&["https://app.example.com"]);
    assert!(l.allows_header(Some(b"https://app.example.com")));
    assert!(!l.allows_header(Some(b"https://app.example.com\xff")));
    assert!(!l.allows_header(Some(b"\xff")));
    assert!(list(&["https://app.example.com", "*"]).allows_header(Some(b"\xff")));
    assert!(list(&[]).allows_header(Some(b"\xff")));
}

#[test]
fn other_schemes_and_ipv6_hosts() {
    let l = list(&["chrome-extension://abcdefgh", "http://[::1]:8080"]);
    assert!(l.allows(Some("chrome-extension://abcdefgh")));
    assert!(!l.allows(Some("chrome-extension://other")));
    assert!(l.allows(Some("http://[::1]:8080")));
    assert!(!l.allows(Some("http://[::1]")));
}

#[test]
fn bad_patterns_are_refused_with_the_reason() {
    let cases: [(&str, OriginError); 13] = [
        ("", OriginError::Empty),
        ("  ", OriginError::Empty),
        ("1http://a.com", OriginError::Scheme),
        ("://a.com", OriginError::Scheme),
        ("https://a.com/", OriginError::NotAnOrigin),
        ("https://u@a.com", OriginError::NotAnOrigin),
        ("https://a.com:", OriginError::Port),
        ("a.com:http", OriginError::Port),
        ("https://a*.com", OriginError::Wildcard),
        ("*.*.com", OriginError::Wildcard),
        ("*.[::1]", OriginError::Wildcard),
        ("https://a..com", OriginError::Host),
        ("https://", OriginError::Host),
    ];
    for (pattern, err) in cases {
        assert_eq!(pattern.parse::<OriginPattern>(), Err(err), "{pattern:?}");
    }
    assert_eq!(
        AllowedOrigins::parse(&["a.com", "b c"]),
        Err((1, OriginError::Host))
    );
}

#[test]
fn patterns_display_normalized() {
    for (input, shown) in [
        ("*", "*"),
        ("HTTPS://App.Example.com", "https://app.example.com"),
        (" *.Example.com:8080 ", "*.example.com:8080"),
    ] {
        assert_eq!(input.parse::<OriginPattern>().unwrap().to_string(), shown);
    }
}
