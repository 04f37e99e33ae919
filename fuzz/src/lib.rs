//! Helpers shared by the fuzz targets: splitting a text-like fuzz input into fields, and a tiny
//! byte-mutation language that lets the fuzzer edit a request the target has signed itself.

/// Splits `data` into `n` newline-terminated fields and the rest (which may contain newlines).
/// Missing fields are empty.
pub fn fields(data: &[u8], n: usize) -> (Vec<&[u8]>, &[u8]) {
    let mut out = Vec::with_capacity(n);
    let mut rest = data;
    for _ in 0..n {
        let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        out.push(line);
        rest = tail;
    }
    (out, rest)
}

/// A field as text; bytes that are not UTF-8 are replaced, so every input is usable.
pub fn text(field: &[u8]) -> String {
    String::from_utf8_lossy(field).into_owned()
}

/// Applies a mutation program to `target`: each 4-byte group `(op, pos_lo, pos_hi, value)`
/// edits one byte (`pos`, little-endian, taken modulo the length). Ops: 0 replace, 1 insert, 2 delete, 3 flip ASCII case.
/// The result may no longer be UTF-8; callers decide what to do with that.
pub fn mutate(target: &mut Vec<u8>, program: &[u8]) {
    for op in program.chunks_exact(4) {
        let pos = usize::from(u16::from_le_bytes([op[1], op[2]]));
        let (kind, value) = (op[0] % 4, op[3]);
        if kind == 1 {
            let at = pos % (target.len() + 1);
            target.insert(at, value);
            continue;
        }
        if target.is_empty() {
            continue;
        }
        let at = pos % target.len();
        match kind {
            0 => target[at] = value,
            2 => {
                target.remove(at);
            }
            _ => {
                if target[at].is_ascii_alphabetic() {
                    target[at] ^= 0x20;
                }
            }
        }
    }
}

/// The byte string as UTF-8, or `None`.
pub fn utf8(bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes).ok()
}
