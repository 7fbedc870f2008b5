//! A user's cookie jar with a ceiling. A jar that keeps every cookie a
//! server sets grew gander from 87 to 678 MB in 20 s against a server that
//! sets a new name on every answer. This one (RFC 6265 rules by `cookie_store`)
//! keeps at most `MAX_COOKIES`, keyed by name, domain and path as browsers key
//! them: a cookie the server deletes or lets expire frees its slot, and past
//! the ceiling the one set longest ago gives way, as browsers evict theirs. A
//! server that rotates cookie names can always set the next one.

use std::collections::VecDeque;
use std::sync::Mutex;

use cookie_store::{CookieStore, StoreAction};
use hyper::header::HeaderValue;
use url::Url;

/// Browsers keep about 180 cookies per domain; a user of one SUT needs fewer.
pub const MAX_COOKIES: usize = 200;

/// `domain`, `path` and `name` of a stored cookie.
type Key = (String, String, String);

#[derive(Default)]
pub struct BoundedJar {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    store: CookieStore,
    /// The keys of the stored cookies, the one set longest ago first.
    order: VecDeque<Key>,
}

impl BoundedJar {
    /// Stores the cookies of `Set-Cookie` values an answer from `url` carried.
    pub fn set_cookies(&self, values: &mut dyn Iterator<Item = &HeaderValue>, url: &Url) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for value in values {
            let Ok(text) = value.to_str() else { continue };
            inner.set(text, url);
        }
    }

    /// The `Cookie` header for a request to `url`, if any cookie goes there.
    pub fn cookies(&self, url: &Url) -> Option<HeaderValue> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut header = String::new();
        for (name, value) in inner.store.get_request_values(url) {
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(name);
            header.push('=');
            header.push_str(value);
        }
        if header.is_empty() {
            return None;
        }
        HeaderValue::from_str(&header).ok()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap();
        assert_eq!(inner.store.iter_any().count(), inner.order.len());
        inner.order.len()
    }
}

impl Inner {
    fn set(&mut self, text: &str, url: &Url) {
        let Ok(cookie) = cookie_store::Cookie::parse(text, url) else {
            return;
        };
        let key = (
            String::from(&cookie.domain),
            String::from(&cookie.path),
            cookie.name().to_string(),
        );
        match self.store.insert(cookie.into_owned(), url) {
            Ok(StoreAction::Inserted) => {
                self.order.push_back(key);
                if self.order.len() > MAX_COOKIES {
                    self.make_room();
                }
            }
            Ok(StoreAction::UpdatedExisting) => {
                // Set again: the most recent now.
                self.order.retain(|k| *k != key);
                self.order.push_back(key);
            }
            // Deleted by the server (an expiry in the past): its slot is free.
            Ok(StoreAction::ExpiredExisting) => self.remove(&key),
            Err(_) => {}
        }
    }

    /// Drops the cookies that expired; if none did, the one set longest ago.
    fn make_room(&mut self) {
        let expired: Vec<Key> = self
            .store
            .iter_any()
            .filter(|c| c.is_expired())
            .map(|c| {
                (
                    String::from(&c.domain),
                    String::from(&c.path),
                    c.name().to_string(),
                )
            })
            .collect();
        for key in &expired {
            self.remove(key);
        }
        while self.order.len() > MAX_COOKIES {
            if let Some(oldest) = self.order.pop_front() {
                self.store.remove(&oldest.0, &oldest.1, &oldest.2);
            }
        }
    }

    fn remove(&mut self, key: &Key) {
        self.store.remove(&key.0, &key.1, &key.2);
        self.order.retain(|k| k != key);
    }
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

    fn sent(jar: &BoundedJar, url: &Url) -> String {
        jar.cookies(url)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_storm_of_new_names_stays_at_the_ceiling_and_the_newest_land() {
        let url = Url::parse("http://127.0.0.1/").unwrap();
        let jar = BoundedJar::default();
        set(&jar, &url, &["session=1".to_string()]);
        let storm: Vec<String> = (0..5 * MAX_COOKIES).map(|i| format!("c{i}=x")).collect();
        set(&jar, &url, &storm);
        assert_eq!(jar.len(), MAX_COOKIES);
        // A server rotating names can still set the next one, and it is sent.
        set(&jar, &url, &["rotated=1".to_string()]);
        let header = sent(&jar, &url);
        assert!(header.contains("rotated=1"), "{header}");
        assert!(header.contains(&format!("c{}=x", 5 * MAX_COOKIES - 1)));
        assert!(!header.contains("c0=x"), "the oldest gave way");
        assert_eq!(header.matches('=').count(), MAX_COOKIES);
    }

    #[test]
    fn deleted_and_replaced_cookies_free_their_slots() {
        let url = Url::parse("http://127.0.0.1/").unwrap();
        let jar = BoundedJar::default();
        let full: Vec<String> = (0..MAX_COOKIES).map(|i| format!("c{i}=x")).collect();
        set(&jar, &url, &full);
        assert_eq!(jar.len(), MAX_COOKIES);
        // Replacing is no new cookie; deleting frees a slot.
        set(
            &jar,
            &url,
            &["c5=y".to_string(), "c6=; Max-Age=0".to_string()],
        );
        assert_eq!(jar.len(), MAX_COOKIES - 1);
        set(&jar, &url, &["session=1".to_string()]);
        assert_eq!(jar.len(), MAX_COOKIES);
        let header = sent(&jar, &url);
        assert!(header.contains("c5=y") && header.contains("session=1"));
        assert!(header.contains("c0=x"), "nothing was evicted: {header}");
        assert!(!header.contains("c6="));
    }

    #[test]
    fn the_same_name_on_other_paths_is_another_cookie() {
        let url = Url::parse("http://example.test/a/b").unwrap();
        let jar = BoundedJar::default();
        set(
            &jar,
            &url,
            &["id=1; Path=/a".to_string(), "id=2; Path=/b".to_string()],
        );
        assert_eq!(jar.len(), 2);
        assert_eq!(sent(&jar, &url), "id=1");
    }
}
