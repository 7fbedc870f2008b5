//! A user's cookie jar with a ceiling. reqwest's jar keeps every cookie a
//! server sets; a server that sets a new name on every answer grew gander from
//! 87 to 678 MB in 20 s. This jar keeps at most `MAX_COOKIES` distinct cookies
//! (by name, domain and path, as browsers key them) and ignores new ones past
//! that, as browsers do past their own limits.

use std::collections::HashSet;
use std::sync::Mutex;

use reqwest::Url;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderValue;

/// Browsers keep about 180 cookies per domain; a user of one SUT needs fewer.
pub const MAX_COOKIES: usize = 200;

#[derive(Default)]
pub struct BoundedJar {
    jar: Jar,
    /// The keys of the cookies let in so far.
    keys: Mutex<HashSet<Box<str>>>,
}

impl BoundedJar {
    /// Whether a `Set-Cookie` value may go into the jar: a cookie already
    /// there (an update), or a new one while there is room.
    fn admits(&self, set_cookie: &HeaderValue, url: &Url) -> bool {
        let Ok(text) = set_cookie.to_str() else {
            return false;
        };
        let key = cookie_key(text, url);
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.contains(key.as_str()) {
            return true;
        }
        if keys.len() >= MAX_COOKIES {
            return false;
        }
        keys.insert(key.into_boxed_str());
        true
    }
}

impl CookieStore for BoundedJar {
    fn set_cookies(&self, cookie_headers: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let mut admitted = cookie_headers.filter(|value| self.admits(value, url));
        self.jar.set_cookies(&mut admitted, url);
    }

    fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        self.jar.cookies(url)
    }
}

/// `name;domain;path` of a `Set-Cookie` value (attributes as written,
/// lower-cased; the URL's host when no `Domain`).
fn cookie_key(set_cookie: &str, url: &Url) -> String {
    let mut parts = set_cookie.split(';');
    let name = parts
        .next()
        .and_then(|pair| pair.split_once('=').map(|(n, _)| n))
        .unwrap_or_default()
        .trim();
    let mut domain = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let mut path = String::from("/");
    for attribute in parts {
        let Some((key, value)) = attribute.split_once('=') else {
            continue;
        };
        let value = value.trim().to_ascii_lowercase();
        match key.trim().to_ascii_lowercase().as_str() {
            "domain" => domain = value.trim_start_matches('.').to_string(),
            "path" => path = value,
            _ => {}
        }
    }
    format!("{name};{domain};{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(jar: &BoundedJar, url: &Url, values: &[String]) {
        let values: Vec<HeaderValue> = values
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        jar.set_cookies(&mut values.iter(), url);
    }

    #[test]
    fn a_storm_of_new_names_stops_at_the_ceiling_and_updates_still_land() {
        let url = Url::parse("http://127.0.0.1/").unwrap();
        let jar = BoundedJar::default();
        set(&jar, &url, &["session=1".to_string()]);
        let storm: Vec<String> = (0..5 * MAX_COOKIES).map(|i| format!("c{i}=x")).collect();
        set(&jar, &url, &storm);
        assert_eq!(jar.keys.lock().unwrap().len(), MAX_COOKIES);
        set(&jar, &url, &["session=2".to_string()]);
        let sent = jar.cookies(&url).unwrap();
        let sent = sent.to_str().unwrap();
        assert!(sent.contains("session=2"), "{sent}");
        assert_eq!(sent.matches('=').count(), MAX_COOKIES);
    }

    #[test]
    fn the_same_name_on_other_paths_is_another_cookie() {
        let url = Url::parse("http://example.test/a/b").unwrap();
        assert_ne!(
            cookie_key("id=1; Path=/a", &url),
            cookie_key("id=1; Path=/b", &url)
        );
        assert_eq!(
            cookie_key("id=1; Domain=.Example.test", &url),
            cookie_key("id=2", &url)
        );
    }
}
