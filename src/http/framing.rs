//! Where a request's body ends (RFC 9112 §6): the one framing decision for every request head,
//! REST or WebSocket upgrade, first or pipelined. Anything two parsers could read differently
//! (a proxy in front and this server) is refused, so a request can never be smuggled inside
//! another one's body:
//!
//! - no `Content-Length` and no `Transfer-Encoding`: no body;
//! - exactly one `Content-Length` whose value is one or more ASCII digits: that many bytes;
//! - a lone `Transfer-Encoding: chunked`: [`HeadError::ChunkedBody`] (understood, not supported);
//! - everything else is ambiguous: several `Content-Length` headers (even equal ones), a value
//!   with a sign, a comma list, no digits or other characters, a length that overflows, any other
//!   `Transfer-Encoding` (a list, a repeat, an unknown coding), or `Transfer-Encoding` together
//!   with `Content-Length`.

use super::request::HeadError;

/// The body length `headers` announce, or why the framing is refused.
pub(super) fn content_length(headers: &[(String, Vec<u8>)]) -> Result<usize, HeadError> {
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| trim_ows(v))
    };
    let mut lengths = named("content-length");
    let mut codings = named("transfer-encoding");
    let length = lengths.next();
    match codings.next() {
        Some(_) if length.is_some() => return Err(HeadError::LengthWithTransferEncoding),
        Some(coding) => {
            return if coding.eq_ignore_ascii_case(b"chunked") && codings.next().is_none() {
                Err(HeadError::ChunkedBody)
            } else {
                Err(HeadError::BadTransferEncoding)
            };
        }
        None => {}
    }
    let Some(value) = length else {
        return Ok(0);
    };
    if lengths.next().is_some() {
        return Err(HeadError::DuplicateContentLength);
    }
    parse_digits(value).ok_or(HeadError::BadContentLength)
}

/// `1*DIGIT` as a length; `None` for anything else (sign, spaces, list, empty, overflow).
fn parse_digits(value: &[u8]) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0usize, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(usize::from(b - b'0'))
    })
}

/// A field value without the optional whitespace (spaces, tabs) around it.
fn trim_ows(v: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !is_ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framing(headers: &[(&str, &str)]) -> Result<usize, HeadError> {
        let owned: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        content_length(&owned)
    }

    #[test]
    fn no_framing_headers_means_no_body() {
        assert_eq!(framing(&[("Host", "x")]), Ok(0));
    }

    #[test]
    fn one_plain_length_is_the_body_length() {
        assert_eq!(framing(&[("Content-Length", "42")]), Ok(42));
        assert_eq!(framing(&[("content-length", "0")]), Ok(0));
        assert_eq!(framing(&[("CONTENT-LENGTH", " \t17 ")]), Ok(17));
        assert_eq!(framing(&[("Content-Length", "007")]), Ok(7));
    }

    #[test]
    fn two_length_headers_are_refused_equal_or_not() {
        let two = [("Content-Length", "5"), ("Content-Length", "6")];
        assert_eq!(framing(&two), Err(HeadError::DuplicateContentLength));
        let same = [("Content-Length", "5"), ("content-length", "5")];
        assert_eq!(framing(&same), Err(HeadError::DuplicateContentLength));
    }

    #[test]
    fn lengths_that_are_not_plain_digits_are_refused() {
        for v in [
            "+5",
            "-5",
            "5,5",
            "5, 6",
            "",
            " ",
            "5 5",
            "0x10",
            "5a",
            "١٢",
            "99999999999999999999999",
        ] {
            assert_eq!(
                framing(&[("Content-Length", v)]),
                Err(HeadError::BadContentLength),
                "{v:?}"
            );
        }
        let raw = vec![("Content-Length".to_string(), vec![b'5', 0xff])];
        assert_eq!(content_length(&raw), Err(HeadError::BadContentLength));
    }

    #[test]
    fn a_lone_chunked_coding_is_understood_but_not_supported() {
        assert_eq!(
            framing(&[("Transfer-Encoding", "chunked")]),
            Err(HeadError::ChunkedBody)
        );
        assert_eq!(
            framing(&[("transfer-encoding", " Chunked ")]),
            Err(HeadError::ChunkedBody)
        );
    }

    #[test]
    fn any_other_transfer_coding_is_refused() {
        for v in [
            "gzip, chunked",
            "chunked, chunked",
            "identity",
            "gzip",
            "",
            "chunked;x",
        ] {
            assert_eq!(
                framing(&[("Transfer-Encoding", v)]),
                Err(HeadError::BadTransferEncoding),
                "{v:?}"
            );
        }
        let repeated = [
            ("Transfer-Encoding", "chunked"),
            ("Transfer-Encoding", "chunked"),
        ];
        assert_eq!(framing(&repeated), Err(HeadError::BadTransferEncoding));
    }

    #[test]
    fn transfer_encoding_with_content_length_is_refused() {
        let both = [("Content-Length", "5"), ("Transfer-Encoding", "chunked")];
        assert_eq!(framing(&both), Err(HeadError::LengthWithTransferEncoding));
        let reversed = [("Transfer-Encoding", "chunked"), ("Content-Length", "5")];
        assert_eq!(
            framing(&reversed),
            Err(HeadError::LengthWithTransferEncoding)
        );
        let odd = [("Transfer-Encoding", "gzip"), ("Content-Length", "+1")];
        assert_eq!(framing(&odd), Err(HeadError::LengthWithTransferEncoding));
    }
}
