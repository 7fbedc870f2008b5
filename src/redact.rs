//! What gander writes and prints keeps secrets out and hostile text harmless.
//!
//! Secrets, masked as `***` where a text is made (a failure's reason, the
//! recorded host and command line, a launched SUT's argv, a metrics URL):
//! - a URL's userinfo (`http://user:pass@host` becomes `http://***@host`) and
//!   the value of each query parameter (`?key=abc` becomes `?key=***`; names stay);
//! - the values the plan read from the environment (`${env.NAME}`), and the
//!   fixed values of headers named like credentials (`Authorization`, `Cookie`,
//!   `X-Api-Key`, `*token*`, `*secret*`, `*password*`), wherever they appear.
//!
//! Text the SUT controls (reasons, bodies, profile frame names) may hold ANSI
//! escapes or Markdown: `control` and `markdown` make it inert where it is shown.

use std::borrow::Cow;
use std::sync::Arc;

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// `url` with its userinfo and the value of each query (and fragment)
/// parameter masked. Works on relative URLs (`/a?key=x`) too.
pub fn url(text: &str) -> String {
    let (rest, fragment) = match text.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (text, None),
    };
    let (base, query) = match rest.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (rest, None),
    };
    let mut out = without_userinfo(base);
    for (mark, params) in [('?', query), ('#', fragment)] {
        if let Some(params) = params {
            out.push(mark);
            out.push_str(&mask_values(params));
        }
    }
    out
}

/// `scheme://user:pass@host/path` as `scheme://***@host/path`.
fn without_userinfo(base: &str) -> String {
    let Some(i) = base.find("://") else {
        return base.to_string();
    };
    let after = &base[i + 3..];
    let authority_end = after.find('/').unwrap_or(after.len());
    match after[..authority_end].rfind('@') {
        Some(at) => format!("{}://{MASK}@{}", &base[..i], &after[at + 1..]),
        None => base.to_string(),
    }
}

/// `a=1&b&c=` as `a=***&b&c=`: names stay, values go.
fn mask_values(params: &str) -> String {
    params
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() => format!("{name}={MASK}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `text` with every absolute URL in it (`http://…`, `ws://…`) passed through `url`.
pub fn urls_in(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(sep) = rest.find("://") {
        // The scheme starts after the last character that cannot be in one
        // (which may be several bytes long: "詳細はhttps://…").
        let start = rest[..sep]
            .char_indices()
            .rev()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let len = rest[sep..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(rest.len() - sep, |n| n);
        // Punctuation that ends a sentence, a parenthesis or a quotation is
        // not the URL's (trimmed from its end only: a URL cut short inside
        // would leave the rest of it, and its secrets, unmasked).
        let span = rest[start..sep + len]
            .trim_end_matches([')', '.', ',', ';', ':', ']', '”', '’', '»', '」']);
        out.push_str(&rest[..start]);
        if start == sep {
            // "://" with no scheme before it: not a URL.
            out.push_str(span);
        } else {
            out.push_str(&url(span));
        }
        rest = &rest[start + span.len()..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Whether a header's value is a credential by its name: `Authorization`,
/// `Cookie`, `X-Api-Key`, `X-Auth-Token`, `X-Client-Secret`...
pub fn is_secret_header(name: &str) -> bool {
    const WORDS: [&str; 9] = [
        "auth",
        "cookie",
        "token",
        "key",
        "secret",
        "password",
        "passwd",
        "session",
        "credential",
    ];
    let name = name.to_ascii_lowercase();
    WORDS.iter().any(|w| name.contains(w))
}

/// The parts of credential header `name`'s value to hide: the whole, and the
/// credential after an auth scheme (`Bearer abc` hides `abc`, not `Bearer`) or
/// each value of a `Cookie` (`sid=abc; theme=x` hides `abc` and `x`).
pub fn credential_parts(name: &str, value: &str) -> Vec<String> {
    let mut parts = vec![value.trim().to_string()];
    if name.eq_ignore_ascii_case("cookie") {
        parts.extend(
            value
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .map(|(_, v)| v.trim().to_string()),
        );
    } else if let Some(credential) = value.split_whitespace().last() {
        parts.push(credential.to_string());
    }
    parts
}

/// Values known to be secret: masked wherever they appear in a text gander writes.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// Longest first, so a value that contains another is masked whole.
    values: Arc<[String]>,
}

impl Secrets {
    /// Values shorter than this, and plain numbers (ports, counts), would mask
    /// innocent text and hide little: they are left alone.
    pub const MIN_LEN: usize = 4;

    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| {
                v.chars().count() >= Self::MIN_LEN && !v.chars().all(|c| c.is_ascii_digit())
            })
            .collect();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Secrets {
            values: values.into(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every known secret value masked.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in self.values.iter() {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        out
    }

    /// Bytes (a SUT's output) with every known secret value masked.
    pub fn bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for value in self.values.iter() {
            let value = value.as_bytes();
            if !out.windows(value.len()).any(|w| w == value) {
                continue;
            }
            let mut masked = Vec::with_capacity(out.len());
            let mut i = 0;
            while i < out.len() {
                if out[i..].starts_with(value) {
                    masked.extend_from_slice(MASK.as_bytes());
                    i += value.len();
                } else {
                    masked.push(out[i]);
                    i += 1;
                }
            }
            out = masked;
        }
        out
    }

    /// A URL with known secrets, userinfo and query values masked.
    pub fn url(&self, text: &str) -> String {
        url(&self.text(text))
    }

    /// Free text (a reason, an argument, a body excerpt) with known secrets
    /// masked, and every URL in it as `url` shows it.
    pub fn message(&self, text: &str) -> String {
        urls_in(&self.text(text)).into_owned()
    }
}

/// `text` with control characters (ANSI escapes, CR, LF, BEL, C1 codes) and
/// bidirectional overrides written as visible escapes such as `\x1b` or
/// `\u{202e}`, so text from the SUT cannot move the cursor, recolour the
/// terminal, forge lines or reorder what is shown.
pub fn control(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c == '\n' || is_hostile(c))
}

/// As `control`, but line breaks stay: for a whole report whose lines are gander's.
pub fn control_keeping_lines(text: &str) -> Cow<'_, str> {
    escape_where(text, is_hostile)
}

fn is_hostile(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !escape(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

/// `text` as literal Markdown: the punctuation that makes links and images
/// (`[`), emphasis, code, HTML, autolinks (`<`) or table cells is
/// backslash-escaped, and control characters are escaped as `control` does.
pub fn markdown(text: &str) -> String {
    let text = control(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '~' | '<' | '>' | '|'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_userinfo_and_query_values_but_keep_names() {
        assert_eq!(
            url("http://user:SECRET@h:8080/p/a?key=SECRET&page=2&flag&empty="),
            "http://***@h:8080/p/a?key=***&page=***&flag&empty="
        );
        assert_eq!(url("/x?key=SECRET#tok=SECRET"), "/x?key=***#tok=***");
        assert_eq!(
            url("http://h/a@b"),
            "http://h/a@b",
            "an @ in the path is not userinfo"
        );
        assert_eq!(url("https://h"), "https://h");
    }

    #[test]
    fn urls_inside_text_are_masked() {
        assert_eq!(
            urls_in("error sending request for url (http://u:p@h/x?key=SECRET): refused"),
            "error sending request for url (http://***@h/x?key=***): refused"
        );
        assert_eq!(
            urls_in("--host=https://me:SECRET@example.com"),
            "--host=https://***@example.com"
        );
        assert_eq!(
            urls_in("\"ws://h/s?t=SECRET\" and http://h/?a=1."),
            "\"ws://h/s?t=***\" and http://h/?a=***."
        );
        assert_eq!(urls_in("no urls here"), "no urls here");
        // A multi-byte character just before the scheme (a Japanese error
        // page, curly quotes) ends the text before the URL.
        assert_eq!(
            urls_in("詳細はhttps://h/x?token=SECRET を参照"),
            "詳細はhttps://h/x?token=*** を参照"
        );
        assert_eq!(urls_in("“http://h/?k=SECRET”"), "“http://h/?k=***”");
        assert_eq!(urls_in("odd :// alone"), "odd :// alone");
    }

    #[test]
    fn known_values_are_masked_wherever_they_appear() {
        let s = Secrets::new([
            "hunter22".into(),
            "hunter2233".into(),
            "8080".into(),
            "abc".into(),
        ]);
        assert_eq!(s.text("pw=hunter2233 then hunter22"), "pw=*** then ***");
        // Short values and plain numbers would mask innocent text.
        assert_eq!(s.text("port 8080, abc"), "port 8080, abc");
        assert_eq!(
            s.message("GET http://h/x/hunter22?k=v failed"),
            "GET http://h/x/***?k=*** failed"
        );
        assert_eq!(s.url("http://h:8080/hunter22"), "http://h:8080/***");
        assert_eq!(s.bytes(b"\xffhunter22\n"), b"\xff***\n");
        assert!(Secrets::default().is_empty());
    }

    #[test]
    fn credential_headers_are_known_by_name() {
        for name in [
            "Authorization",
            "cookie",
            "X-Api-Key",
            "X-Auth-Token",
            "Client-Secret",
        ] {
            assert!(is_secret_header(name), "{name}");
        }
        for name in ["Accept", "Content-Type", "X-Request-Id", "User-Agent"] {
            assert!(!is_secret_header(name), "{name}");
        }
        assert_eq!(
            credential_parts("Authorization", "Bearer abc.def="),
            ["Bearer abc.def=", "abc.def="]
        );
        assert_eq!(credential_parts("X-Api-Key", "k3y=="), ["k3y==", "k3y=="]);
        assert_eq!(
            credential_parts("Cookie", "sid=XYZ; theme=dark"),
            ["sid=XYZ; theme=dark", "XYZ", "dark"]
        );
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(
            control("\u{1b}[31mred\u{7}\r\nnext\u{9b}2J\u{202e}"),
            "\\x1b[31mred\\x07\\r\\nnext\\u{9b}2J\\u{202e}"
        );
        assert_eq!(control_keeping_lines("a\u{1b}]0;x\nb"), "a\\x1b]0;x\nb");
        assert!(matches!(control("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn markdown_renders_as_the_text_it_is() {
        assert_eq!(
            markdown("![x](http://evil/i.png) [a](b) **b** <img> `c` a|b"),
            "!\\[x\\](http://evil/i.png) \\[a\\](b) \\*\\*b\\*\\* \\<img\\> \\`c\\` a\\|b"
        );
        assert_eq!(markdown("line\nbreak"), "line\\\\nbreak");
    }
}
