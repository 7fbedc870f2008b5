//! `expect: { body_contains }` checked as the body streams in: each needle is
//! looked for chunk by chunk (with the last bytes of the previous chunk, so a
//! needle split between two chunks is found), and the body itself is never
//! kept. A user with such a check holds a few bytes, not `max_body`.

use memchr::memmem::Finder;

/// The needles of a step, searchable: built once when the run starts.
pub struct Needles {
    finders: Vec<Finder<'static>>,
    /// The longest needle's length less one: how much of a chunk's end can
    /// hold the start of a needle that ends in the next chunk.
    overlap: usize,
}

impl Needles {
    pub fn new(needles: &[String]) -> Needles {
        let finders: Vec<Finder<'static>> = needles
            .iter()
            .map(|n| Finder::new(n.as_bytes()).into_owned())
            .collect();
        let overlap = needles.iter().map(String::len).max().unwrap_or(1).max(1) - 1;
        Needles { finders, overlap }
    }

    pub fn is_empty(&self) -> bool {
        self.finders.is_empty()
    }

    /// A scan of one body.
    pub fn scan(&self) -> Scan<'_> {
        Scan {
            needles: self,
            found: vec![false; self.finders.len()],
            left: self.finders.len(),
            tail: Vec::with_capacity(self.overlap),
            seam: Vec::with_capacity(self.overlap * 2),
        }
    }
}

/// One body being scanned.
pub struct Scan<'a> {
    needles: &'a Needles,
    found: Vec<bool>,
    left: usize,
    /// The last `overlap` bytes seen.
    tail: Vec<u8>,
    /// The tail and the next chunk's first bytes: where a split needle lies.
    seam: Vec<u8>,
}

impl Scan<'_> {
    /// Looks for the needles still missing in the next `data` of the body.
    pub fn feed(&mut self, data: &[u8]) {
        if self.left == 0 || data.is_empty() {
            return;
        }
        let overlap = self.needles.overlap;
        self.seam.clear();
        self.seam.extend_from_slice(&self.tail);
        self.seam
            .extend_from_slice(&data[..data.len().min(overlap)]);
        for (finder, found) in self.needles.finders.iter().zip(self.found.iter_mut()) {
            if !*found && (finder.find(data).is_some() || finder.find(&self.seam).is_some()) {
                *found = true;
                self.left -= 1;
            }
        }
        // Keep the last `overlap` bytes of what was seen (the seam ends where data's start does).
        if data.len() >= overlap {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - overlap..]);
        } else {
            let old = self.tail.len() + data.len();
            let drop = old.saturating_sub(overlap);
            self.tail.drain(..drop.min(self.tail.len()));
            self.tail.extend_from_slice(data);
        }
    }

    /// The first needle (in the file's order) the body did not contain.
    pub fn missing(&self) -> Option<usize> {
        self.found.iter().position(|f| !f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(needles: &[&str], chunks: &[&str]) -> Option<usize> {
        let needles = Needles::new(&needles.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut scan = needles.scan();
        for c in chunks {
            scan.feed(c.as_bytes());
        }
        scan.missing()
    }

    #[test]
    fn a_needle_is_found_whole_or_split_between_chunks() {
        assert_eq!(scan(&["hello"], &["say hello!"]), None);
        assert_eq!(scan(&["hello"], &["say hel", "lo"]), None);
        assert_eq!(scan(&["hello"], &["h", "e", "l", "l", "o"]), None);
        assert_eq!(scan(&["hello", "world"], &["wor", "ld he", "llo"]), None);
        assert_eq!(scan(&["hello", "world"], &["hello wor"]), Some(1));
        assert_eq!(scan(&["hello"], &["hel", "xlo"]), Some(0));
        assert_eq!(scan(&["a"], &[]), Some(0));
    }

    #[test]
    fn the_tail_stays_bounded() {
        let needles = Needles::new(&["needle".to_string()]);
        let mut s = needles.scan();
        for _ in 0..10_000 {
            s.feed(b"xx");
            s.feed(&[b'y'; 4096]);
        }
        assert!(s.tail.len() <= 5);
        assert_eq!(s.missing(), Some(0));
    }
}
