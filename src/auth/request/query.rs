//! Query-string parsing for signed requests: percent decoding, lower-cased keys, duplicate
//! keys merged, and a sorted view for the canonical string to sign.

use std::borrow::Cow;

use super::RequestAuthError;

/// A byte range of [`QueryParams::buf`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

/// One parameter: key and value spans.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Span,
    value: Span,
}

/// Percent-decoded query parameters, keys lower-cased, in the order received.
///
/// Duplicate keys are merged into their first position, values joined with `,` in the order
/// received (the same value the signature covers). All text lives in one buffer.
#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    /// Decoded keys and values, back to back.
    buf: String,
    /// Parameters in the order received, one per distinct key.
    entries: Vec<Entry>,
    /// Indices into `entries`, sorted by key.
    sorted: Vec<usize>,
}

impl QueryParams {
    /// Parses a raw query string (the part after `?`).
    ///
    /// Pairs are split on `&`, then at the first `=` (a pair without `=` has an empty value);
    /// empty pairs are skipped. `%XX` escapes are decoded, `+` is kept as is.
    pub fn parse(raw_query: &str) -> Result<Self, RequestAuthError> {
        let pairs = raw_query.bytes().filter(|&b| b == b'&').count() + 1;
        let mut params = Self::with_capacity(raw_query.len(), pairs);
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            params.push(&percent_decode(key)?, &percent_decode(value)?);
        }
        params.finish();
        Ok(params)
    }

    /// The value of `key` (matched ASCII case-insensitively), if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        let wanted = || key.bytes().map(|b| b.to_ascii_lowercase());
        let pos = self
            .sorted
            .binary_search_by(|&i| self.key_at(i).bytes().cmp(wanted()))
            .ok()?;
        self.sorted.get(pos).map(|&i| self.value_at(i))
    }

    /// The parameters as `(key, value)` in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries
            .iter()
            .map(|e| (self.text(e.key), self.text(e.value)))
    }

    /// Total bytes of decoded keys and values.
    pub(super) fn text_len(&self) -> usize {
        self.buf.len()
    }

    /// Number of distinct keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An empty set with room for `bytes` of text and `pairs` parameters.
    pub(super) fn with_capacity(bytes: usize, pairs: usize) -> Self {
        Self {
            buf: String::with_capacity(bytes),
            entries: Vec::with_capacity(pairs),
            sorted: Vec::with_capacity(pairs),
        }
    }

    /// Appends one already-decoded pair, lower-casing the key. Call [`Self::finish`] after.
    pub(super) fn push(&mut self, key: &str, value: &str) {
        let start = self.buf.len();
        self.buf.push_str(key);
        self.buf[start..].make_ascii_lowercase();
        let key = Span {
            start,
            end: self.buf.len(),
        };
        self.buf.push_str(value);
        let value = Span {
            start: key.end,
            end: self.buf.len(),
        };
        self.entries.push(Entry { key, value });
    }

    /// Builds the sorted index and merges duplicate keys.
    pub(super) fn finish(&mut self) {
        self.sort();
        let has_duplicates = self
            .sorted
            .windows(2)
            .any(|w| self.key_at(w[0]) == self.key_at(w[1]));
        if has_duplicates {
            self.merge_duplicates();
            self.sort();
        }
    }

    /// Rebuilds `sorted` (stable, so equal keys stay in the order received).
    fn sort(&mut self) {
        let (buf, entries) = (&self.buf, &self.entries);
        let key = |i: usize| entries.get(i).map_or("", |e| span_text(buf, e.key));
        self.sorted.clear();
        self.sorted.extend(0..entries.len());
        self.sorted.sort_by(|&a, &b| key(a).cmp(key(b)));
    }

    /// Joins the values of each run of equal keys into its first entry; drops the others.
    fn merge_duplicates(&mut self) {
        let mut keep = vec![true; self.entries.len()];
        let mut run_start = 0;
        while run_start < self.sorted.len() {
            let first = self.sorted[run_start];
            let run_len = self.sorted[run_start..]
                .iter()
                .take_while(|&&i| self.key_at(i) == self.key_at(first))
                .count();
            let run = &self.sorted[run_start..run_start + run_len];
            if run_len > 1 {
                let joined = run
                    .iter()
                    .map(|&i| self.value_at(i))
                    .collect::<Vec<_>>()
                    .join(",");
                for &i in &run[1..] {
                    keep[i] = false;
                }
                let start = self.buf.len();
                self.buf.push_str(&joined);
                self.entries[first].value = Span {
                    start,
                    end: self.buf.len(),
                };
            }
            run_start += run_len.max(1);
        }
        let mut index = 0;
        self.entries.retain(|_| {
            index += 1;
            keep[index - 1]
        });
    }

    /// Text of a span of the buffer.
    fn text(&self, span: Span) -> &str {
        span_text(&self.buf, span)
    }

    /// Key of entry `i`.
    fn key_at(&self, i: usize) -> &str {
        self.entries.get(i).map_or("", |e| self.text(e.key))
    }

    /// Value of entry `i`.
    fn value_at(&self, i: usize) -> &str {
        self.entries.get(i).map_or("", |e| self.text(e.value))
    }

    /// `(key, value)` pairs sorted by key.
    pub(super) fn sorted_pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.sorted
            .iter()
            .map(|&i| (self.key_at(i), self.value_at(i)))
    }
}

/// Text of `span` within `buf` (spans always lie on character boundaries).
fn span_text(buf: &str, span: Span) -> &str {
    buf.get(span.start..span.end).unwrap_or("")
}

/// Decodes `%XX` escapes; borrows when there are none. `+` is left alone.
fn percent_decode(s: &str) -> Result<Cow<'_, str>, RequestAuthError> {
    if !s.contains('%') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = bytes.next().and_then(hex_digit);
            let lo = bytes.next().and_then(hex_digit);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err(RequestAuthError::BadQuery),
            }
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| RequestAuthError::BadQuery)
}

/// Value of one ASCII hex digit.
fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Appends `s`, percent-encoding everything except RFC 3986 unreserved characters and `,`.
pub(super) fn percent_encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b',') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}
