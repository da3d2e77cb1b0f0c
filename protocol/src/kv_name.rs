//! The file name under which a key-value store on disk (edge-host's) keeps each key.
//!
//! A name is the key with every byte outside `[A-Za-z0-9_-]` written as `%XX` (upper-case hex),
//! so `/`, `.` and `%` never appear raw: no key can name a path outside the store's directory, and
//! names starting with `.` stay free for temporary files. The empty key, which would name the
//! directory itself, is [`EMPTY_KEY_NAME`]. Decoding accepts exactly the names encoding produces,
//! so each key has one name.

/// File name of the empty key; `=` is never produced for a non-empty key.
pub const EMPTY_KEY_NAME: &str = "=";

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The file name for `key`.
pub fn encode_key(key: &str) -> String {
    if key.is_empty() {
        return EMPTY_KEY_NAME.to_owned();
    }
    let mut name = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        if is_plain(b) {
            name.push(b as char);
        } else {
            name.push('%');
            name.push_str(&format!("{b:02X}"));
        }
    }
    name
}

/// The key a file name stands for, or `None` if [`encode_key`] cannot have produced it.
pub fn decode_key(name: &str) -> Option<String> {
    if name == EMPTY_KEY_NAME {
        return Some(String::new());
    }
    if name.is_empty() {
        return None;
    }
    let bytes = name.as_bytes();
    let mut key = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = name.get(i + 1..i + 3)?;
                if !hex
                    .bytes()
                    .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(&h))
                {
                    return None;
                }
                let b = u8::from_str_radix(hex, 16).ok()?;
                if is_plain(b) {
                    return None;
                }
                key.push(b);
                i += 3;
            }
            b if is_plain(b) => {
                key.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(key).ok()
}
