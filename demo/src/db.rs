//! The demo's database: an SQLite file seeded deterministically with a
//! salon CRM (staff, sessions, masters, services, clients, bookings), a
//! homework bot's tables and a quiz. The optimized schema has the indexes and
//! a trigram search table; the unoptimized one has neither (the seeds' "before").

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OpenFlags, params};

use super::context::RequestContext;

pub const STATUSES: [&str; 4] = ["confirmed", "pending", "completed", "cancelled"];
/// The quiz questions' categories.
pub const CATEGORIES: [&str; 5] = ["math", "physics", "history", "biology", "geography"];
const FIRST: [&str; 16] = [
    "Anna", "Boris", "Vera", "Gleb", "Daria", "Egor", "Zhanna", "Ivan", "Kira", "Lev", "Maria",
    "Nikita", "Olga", "Pavel", "Rita", "Sergei",
];
const LAST: [&str; 12] = [
    "Ivanova",
    "Petrov",
    "Smirnova",
    "Kuznetsov",
    "Popova",
    "Sokolov",
    "Lebedeva",
    "Kozlov",
    "Novikova",
    "Morozov",
    "Volkova",
    "Orlov",
];
const SERVICES: [&str; 12] = [
    "haircut",
    "coloring",
    "manicure",
    "pedicure",
    "styling",
    "massage",
    "facial",
    "brows",
    "lashes",
    "beard trim",
    "keratin",
    "makeup",
];

/// How much data the seed makes.
#[derive(Debug, Clone, Copy)]
pub struct SeedSize {
    pub clients: usize,
    pub bookings: usize,
    pub masters: usize,
    pub staff: usize,
    pub questions: usize,
    pub homework: usize,
}

impl Default for SeedSize {
    fn default() -> Self {
        SeedSize {
            clients: 20_000,
            bookings: 120_000,
            masters: 24,
            staff: 50,
            questions: 500,
            homework: 20_000,
        }
    }
}

/// A few connections to one SQLite file in WAL mode; readers do not block each other.
pub struct Db {
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    path: PathBuf,
    pub optimized: bool,
}

impl Drop for Db {
    fn drop(&mut self) {
        self.conns.clear();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

/// A connection that counts and times the queries it runs for one request.
pub struct Conn<'a> {
    conn: MutexGuard<'a, Connection>,
    ctx: &'a RequestContext,
}

impl Conn<'_> {
    /// Runs `f` as one counted query.
    pub fn query<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let started = Instant::now();
        let result = f(&self.conn);
        self.ctx.count_query(started.elapsed());
        result
    }

    pub fn raw(&self) -> &Connection {
        &self.conn
    }
}

impl Db {
    pub fn open(
        dir: &Path,
        optimized: bool,
        size: SeedSize,
        connections: usize,
    ) -> rusqlite::Result<Self> {
        let path = dir.join(format!(
            "gander-demo-{}-{}.sqlite",
            std::process::id(),
            optimized
        ));
        let _ = std::fs::remove_file(&path);
        let first = Connection::open(&path)?;
        // Every connection waits for another's write instead of failing at once
        // with "database is locked" (concurrent logins write sessions).
        first.busy_timeout(std::time::Duration::from_secs(5))?;
        first.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")?;
        first.execute_batch(SCHEMA)?;
        seed(&first, size)?;
        if optimized {
            first.execute_batch(OPTIMIZED_INDEXES)?;
        }
        first.execute_batch("ANALYZE;")?;
        let mut conns = vec![Mutex::new(first)];
        for _ in 1..connections.max(1) {
            let c = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
            c.busy_timeout(std::time::Duration::from_secs(5))?;
            conns.push(Mutex::new(c));
        }
        Ok(Db {
            conns,
            next: AtomicUsize::new(0),
            path,
            optimized,
        })
    }

    /// A free connection if there is one, else waits for the next in turn.
    pub fn conn<'a>(&'a self, ctx: &'a RequestContext) -> Conn<'a> {
        for c in &self.conns {
            if let Ok(conn) = c.try_lock() {
                return Conn { conn, ctx };
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        let conn = self.conns[i]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Conn { conn, ctx }
    }
}

const SCHEMA: &str = "
CREATE TABLE staff (id INTEGER PRIMARY KEY, username TEXT NOT NULL UNIQUE, password TEXT NOT NULL, is_admin INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sessions (token TEXT PRIMARY KEY, staff_id INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE masters (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE services (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL, minutes INTEGER NOT NULL);
CREATE TABLE clients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL);
CREATE TABLE bookings (
  id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL, master_id INTEGER NOT NULL, service_id INTEGER NOT NULL,
  date TEXT NOT NULL, time TEXT NOT NULL, status TEXT NOT NULL, note TEXT NOT NULL DEFAULT '');
CREATE TABLE students (id INTEGER PRIMARY KEY, telegram_id INTEGER NOT NULL, name TEXT NOT NULL);
CREATE TABLE homework (id INTEGER PRIMARY KEY, telegram_id INTEGER NOT NULL, text TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE questions (id INTEGER PRIMARY KEY, category TEXT NOT NULL, text TEXT NOT NULL, answer TEXT NOT NULL);
";

/// The seeds' "after": indexes on what the lists filter by, and trigram search.
const OPTIMIZED_INDEXES: &str = "
CREATE INDEX bookings_status_date ON bookings(status, date, time);
CREATE INDEX bookings_master_date ON bookings(master_id, date, time);
CREATE INDEX bookings_date ON bookings(date, time);
CREATE INDEX homework_telegram ON homework(telegram_id);
CREATE INDEX students_telegram ON students(telegram_id);
CREATE INDEX questions_category ON questions(category);
CREATE VIRTUAL TABLE booking_search USING fts5(text, tokenize='trigram');
INSERT INTO booking_search(rowid, text)
  SELECT b.id, c.name || ' ' || s.name FROM bookings b JOIN clients c ON c.id = b.client_id JOIN services s ON s.id = b.service_id;
";

/// Deterministic: the same data on every start, so runs are comparable.
fn seed(conn: &Connection, size: SeedSize) -> rusqlite::Result<()> {
    let mut rng = StdRng::seed_from_u64(20260113);
    let tx = conn.unchecked_transaction()?;
    {
        let mut st = tx.prepare(
            "INSERT INTO staff (id, username, password, is_admin) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for i in 1..=size.staff as i64 {
            st.execute(params![
                i,
                format!("staff{i}"),
                format!("pass{i}"),
                (i == 1) as i64
            ])?;
        }
        let mut st = tx.prepare("INSERT INTO masters (id, name) VALUES (?1, ?2)")?;
        for i in 1..=size.masters {
            st.execute(params![
                i as i64,
                format!("{} {}", FIRST[i % FIRST.len()], LAST[(i * 7) % LAST.len()])
            ])?;
        }
        let mut st =
            tx.prepare("INSERT INTO services (id, name, price, minutes) VALUES (?1, ?2, ?3, ?4)")?;
        for (i, name) in SERVICES.iter().enumerate() {
            st.execute(params![
                i as i64 + 1,
                name,
                1000 + 250 * i as i64,
                30 + 15 * (i as i64 % 4)
            ])?;
        }
        let mut st = tx.prepare("INSERT INTO clients (id, name, phone) VALUES (?1, ?2, ?3)")?;
        for i in 1..=size.clients {
            let name = format!(
                "{} {}",
                FIRST[rng.random_range(0..FIRST.len())],
                LAST[rng.random_range(0..LAST.len())]
            );
            st.execute(params![
                i as i64,
                name,
                format!("+7 9{:02} {:07}", i % 100, rng.random_range(0..10_000_000))
            ])?;
        }
        let mut st = tx.prepare(
            "INSERT INTO bookings (id, client_id, master_id, service_id, date, time, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for i in 1..=size.bookings {
            let day = rng.random_range(0..120);
            st.execute(params![
                i as i64,
                rng.random_range(1..=size.clients as i64),
                rng.random_range(1..=size.masters as i64),
                rng.random_range(1..=SERVICES.len() as i64),
                date_of(day),
                format!(
                    "{:02}:{:02}",
                    rng.random_range(9..20),
                    [0, 15, 30, 45][rng.random_range(0..4)]
                ),
                STATUSES[rng.random_range(0..STATUSES.len())],
            ])?;
        }
        let mut st =
            tx.prepare("INSERT INTO homework (telegram_id, text, created_at) VALUES (?1, ?2, ?3)")?;
        for i in 0..size.homework {
            st.execute(params![
                1_000_000 + rng.random_range(0..5_000i64),
                format!("exercise {} done", i % 40 + 1),
                1_760_000_000 + i as i64
            ])?;
        }
        let categories = CATEGORIES;
        let mut st = tx.prepare(
            "INSERT INTO questions (id, category, text, answer) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for i in 1..=size.questions {
            st.execute(params![
                i as i64,
                categories[i % categories.len()],
                format!("Question {i}?"),
                format!("Answer {i}")
            ])?;
        }
    }
    tx.commit()
}

/// `2026-01-01` plus `day` days.
pub fn date_of(day: u32) -> String {
    const MONTHS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut month, mut d) = (0usize, day);
    while d >= MONTHS[month % 12] {
        d -= MONTHS[month % 12];
        month += 1;
    }
    format!("2026-{:02}-{:02}", month % 12 + 1, d + 1)
}
