//! The demo API handlers: salon CRM, homework bot webhook, quiz, health and
//! admin metrics. Database work runs on blocking threads; in the flame graph
//! the optimized and unoptimized paths are different functions.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::{OptionalExtension, params_from_iter};
use serde::Deserialize;
use serde_json::{Value, json};

use super::context::{CpuMeter, RequestContext, ServiceMetrics, machine_memory, process_usage};
use super::db::{Conn, Db};

pub struct App {
    pub db: Db,
    /// `None` in the unoptimized SUT.
    pub cache: Option<Cache>,
    pub metrics: ServiceMetrics,
    pub cpu: CpuMeter,
    pub profiling: AtomicBool,
    pub admin_token: String,
    pub request_ids: AtomicU64,
    /// The notifications sockets.
    pub hub: super::notify::Hub,
    /// Bot mode: the homework bot answers through this Bot API, not in the webhook's answer.
    pub bot: Option<super::bot_api::BotApi>,
}

pub type Ctx = Extension<Arc<RequestContext>>;

/// A JSON error with a status.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("database error: {e}"),
        )
    }
}

type ApiResult = Result<Response, ApiError>;

/// Query parameters whose rejection is a JSON 400, like every other error here.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for Params<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Params(value))
            .map_err(|e| bad_request(e.body_text()))
    }
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid JSON body: {e}"),
        )
    })
}

/// Runs database work off the async workers.
async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    ctx: &Arc<RequestContext>,
    f: impl FnOnce(&Conn<'_>, &App, &RequestContext) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let (app, ctx) = (app.clone(), ctx.clone());
    // The request's label goes with its work, and so does the CPU it uses.
    let label = crate::labels::current();
    tokio::task::spawn_blocking(move || {
        let previous = crate::labels::enter(label);
        let before = crate::cputime::thread_cpu();
        let conn = app.db.conn(&ctx);
        let out = f(&conn, &app, &ctx);
        drop(conn);
        ctx.add_blocking_cpu(crate::cputime::thread_cpu().saturating_sub(before));
        crate::labels::leave(previous);
        // A `--slowdown` delay: spent here, on the thread already handed the
        // work, it costs no second hand-off (whose wake-ups on a busy machine
        // would add far more than the delay).
        let wait = ctx.take_wait();
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        out
    })
    .await
    .map_err(|e| {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("worker failed: {e}"),
        )
    })?
}

/// A small time-to-live cache for JSON answers.
pub struct Cache {
    entries: std::sync::Mutex<HashMap<String, (Instant, Arc<Value>)>>,
    ttl: Duration,
}

impl Cache {
    pub fn new(ttl: Duration) -> Self {
        Cache {
            entries: Default::default(),
            ttl,
        }
    }
    fn get(&self, key: &str, ctx: &RequestContext) -> Option<Arc<Value>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let hit = entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone());
        if hit.is_some() {
            ctx.cache_hit()
        } else {
            ctx.cache_miss()
        }
        hit
    }
    fn put(&self, key: String, value: Arc<Value>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 20_000 {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }
    fn clear_prefix(&self, prefix: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|k, _| !k.starts_with(prefix));
    }
}

/// The cached answer for `key`, or `compute` run and cached (no cache: always computed).
fn cached(
    app: &App,
    ctx: &RequestContext,
    key: String,
    compute: impl FnOnce() -> Result<Value, ApiError>,
) -> Result<Arc<Value>, ApiError> {
    match &app.cache {
        Some(cache) => {
            if let Some(v) = cache.get(&key, ctx) {
                return Ok(v);
            }
            let v = Arc::new(compute()?);
            cache.put(key, v.clone());
            Ok(v)
        }
        None => Ok(Arc::new(compute()?)),
    }
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    (status, Json(value)).into_response()
}

// ---- sessions -------------------------------------------------------------

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

pub async fn login(State(app): State<Arc<App>>, Extension(ctx): Ctx, body: Bytes) -> ApiResult {
    let login: Login = parse_json(&body)?;
    let id = app.request_ids.fetch_add(1, Ordering::Relaxed);
    let token = blocking(&app, &ctx, move |conn, _, _| {
        let staff: Option<i64> = conn.query(|c| {
            c.query_row(
                "SELECT id FROM staff WHERE username = ?1 AND password = ?2",
                [&login.username, &login.password],
                |r| r.get(0),
            )
            .optional()
        })?;
        let Some(staff) = staff else {
            return Err(ApiError(StatusCode::UNAUTHORIZED, "wrong username or password".into()));
        };
        let token = format!("{:016x}{:08x}", rand::random::<u64>(), id);
        conn.query(|c| {
            c.execute(
                "INSERT INTO sessions (token, staff_id, created_at) VALUES (?1, ?2, strftime('%s','now'))",
                rusqlite::params![token, staff],
            )
        })?;
        Ok(token)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "token": token, "token_type": "bearer" }),
    ))
}

/// The staff id behind the request's bearer token (the seed-000 sessions table check).
fn authorise(conn: &Conn<'_>, token: Option<String>) -> Result<i64, ApiError> {
    let unauthorised = || {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or unknown bearer token".into(),
        )
    };
    let token = token.ok_or_else(unauthorised)?;
    conn.query(|c| {
        c.query_row(
            "SELECT staff_id FROM sessions WHERE token = ?1",
            [&token],
            |r| r.get(0),
        )
        .optional()
    })?
    .ok_or_else(unauthorised)
}

/// Checks a session token, for a handler without a request context (the
/// notifications socket).
pub async fn authorise_token(app: &Arc<App>, token: Option<String>) -> Result<i64, ApiError> {
    let ctx = Arc::new(RequestContext::default());
    blocking(app, &ctx, move |conn, _, _| authorise(conn, token)).await
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_string())
}

// ---- bookings -------------------------------------------------------------

#[derive(Deserialize, Clone, Default)]
pub struct BookingFilter {
    status: Option<String>,
    master: Option<i64>,
    date: Option<String>,
    q: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

impl BookingFilter {
    fn paging(&self) -> (u32, u32) {
        let per_page = self.per_page.unwrap_or(20).clamp(1, 100);
        (self.page.unwrap_or(1).max(1), per_page)
    }
    fn cache_key(&self) -> String {
        format!(
            "list:{:?}:{:?}:{:?}:{:?}:{:?}",
            self.status,
            self.master,
            self.date,
            self.q,
            self.paging()
        )
    }
}

pub async fn list_bookings(
    State(app): State<Arc<App>>,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    Params(filter): Params<BookingFilter>,
) -> ApiResult {
    if let Some(status) = &filter.status
        && !super::db::STATUSES.contains(&status.as_str())
    {
        return Err(bad_request(format!("unknown status \"{status}\"")));
    }
    let token = bearer(&headers);
    let value = blocking(&app, &ctx, move |conn, app, ctx| {
        authorise(conn, token)?;
        cached(app, ctx, filter.cache_key(), || {
            if app.db.optimized {
                bookings_joined(conn, &filter)
            } else {
                bookings_n_plus_one(conn, &filter)
            }
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &value))
}

/// WHERE clauses for the filters present, and the parameters for them and for
/// the `LIMIT ? OFFSET ?` that ends both list queries.
fn booking_where(filter: &BookingFilter, search: &str) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as V;
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    if let Some(s) = &filter.status {
        clauses.push("b.status = ?".to_string());
        params.push(V::Text(s.clone()));
    }
    if let Some(m) = filter.master {
        clauses.push("b.master_id = ?".to_string());
        params.push(V::Integer(m));
    }
    if let Some(d) = &filter.date {
        clauses.push("b.date = ?".to_string());
        params.push(V::Text(d.clone()));
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) {
        clauses.push(search.to_string());
        if search.contains("MATCH") {
            params.push(V::Text(format!("\"{}\"", q.replace('"', "\"\""))));
        } else {
            params.push(V::Text(format!("%{q}%")));
            params.push(V::Text(format!("%{q}%")));
        }
    }
    let (page, per_page) = filter.paging();
    params.push(V::Integer(per_page as i64));
    params.push(V::Integer(((page - 1) * per_page) as i64));
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, params)
}

/// The seeds' "after": one query with joins, served by indexes and trigram search.
fn bookings_joined(conn: &Conn<'_>, filter: &BookingFilter) -> Result<Value, ApiError> {
    let (page, per_page) = filter.paging();
    let trigram = filter.q.as_deref().is_some_and(|q| q.chars().count() >= 3);
    let search = if trigram {
        "b.id IN (SELECT rowid FROM booking_search WHERE booking_search MATCH ?)"
    } else {
        "(c.name LIKE ? OR s.name LIKE ?)"
    };
    let (where_sql, params) = booking_where(filter, search);
    let sql = format!(
        "SELECT b.id, b.date, b.time, b.status, c.name, m.name, s.name FROM bookings b \
         JOIN clients c ON c.id = b.client_id JOIN masters m ON m.id = b.master_id \
         JOIN services s ON s.id = b.service_id {where_sql} ORDER BY b.date DESC, b.time DESC LIMIT ? OFFSET ?"
    );
    let items = conn.query(|c| {
        let mut st = c.prepare_cached(&sql)?;
        let rows = st.query_map(params_from_iter(params.iter()), |r| {
            Ok(json!({
                "id": r.get::<_, i64>(0)?, "date": r.get::<_, String>(1)?, "time": r.get::<_, String>(2)?,
                "status": r.get::<_, String>(3)?, "client": r.get::<_, String>(4)?,
                "master": r.get::<_, String>(5)?, "service": r.get::<_, String>(6)?,
            }))
        })?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })?;
    Ok(json!({ "items": items, "page": page, "per_page": per_page }))
}

/// The seeds' "before": no indexes, one query for the page and three more per row (N+1).
fn bookings_n_plus_one(conn: &Conn<'_>, filter: &BookingFilter) -> Result<Value, ApiError> {
    let (page, per_page) = filter.paging();
    let search = "(b.client_id IN (SELECT id FROM clients WHERE name LIKE ?) OR b.service_id IN (SELECT id FROM services WHERE name LIKE ?))";
    let (where_sql, params) = booking_where(filter, search);
    let sql = format!(
        "SELECT b.id, b.client_id, b.master_id, b.service_id, b.date, b.time, b.status FROM bookings b \
         {where_sql} ORDER BY b.date DESC, b.time DESC LIMIT ? OFFSET ?"
    );
    type Row = (i64, i64, i64, i64, String, String, String);
    let rows: Vec<Row> = conn.query(|c| {
        let mut st = c.prepare(&sql)?;
        let rows = st.query_map(params_from_iter(params.iter()), |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?;
        rows.collect()
    })?;
    let mut items = Vec::with_capacity(rows.len());
    for (id, client, master, service, date, time, status) in rows {
        items.push(json!({
            "id": id, "date": date, "time": time, "status": status,
            "client": name_of(conn, "clients", client)?,
            "master": name_of(conn, "masters", master)?,
            "service": name_of(conn, "services", service)?,
        }));
    }
    Ok(json!({ "items": items, "page": page, "per_page": per_page }))
}

fn name_of(conn: &Conn<'_>, table: &str, id: i64) -> Result<String, ApiError> {
    let sql = format!("SELECT name FROM {table} WHERE id = ?1");
    Ok(conn
        .query(|c| {
            c.query_row(&sql, [id], |r| r.get::<_, String>(0))
                .optional()
        })?
        .unwrap_or_default())
}

pub async fn get_booking(
    State(app): State<Arc<App>>,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let id: i64 = id
        .parse()
        .map_err(|_| bad_request(format!("\"{id}\" is not a booking id")))?;
    let token = bearer(&headers);
    let value = blocking(&app, &ctx, move |conn, app, ctx| {
        authorise(conn, token)?;
        cached(app, ctx, format!("booking:{id}"), || {
            if app.db.optimized {
                booking_joined(conn, id)
            } else {
                booking_n_plus_one(conn, id)
            }
        })
    })
    .await?;
    if value.is_null() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no booking {id}")));
    }
    Ok(json_response(StatusCode::OK, &value))
}

fn booking_joined(conn: &Conn<'_>, id: i64) -> Result<Value, ApiError> {
    let row = conn.query(|c| {
        c.prepare_cached(
            "SELECT b.date, b.time, b.status, c.name, m.name, s.name FROM bookings b JOIN clients c ON c.id = b.client_id \
             JOIN masters m ON m.id = b.master_id JOIN services s ON s.id = b.service_id WHERE b.id = ?1",
        )?
        .query_row([id], |r| {
            Ok(json!({
                "id": id, "date": r.get::<_, String>(0)?, "time": r.get::<_, String>(1)?, "status": r.get::<_, String>(2)?,
                "client": r.get::<_, String>(3)?, "master": r.get::<_, String>(4)?, "service": r.get::<_, String>(5)?,
            }))
        })
        .optional()
    })?;
    Ok(row.unwrap_or(Value::Null))
}

fn booking_n_plus_one(conn: &Conn<'_>, id: i64) -> Result<Value, ApiError> {
    let row: Option<(i64, i64, i64, String, String, String)> = conn.query(|c| {
        c.query_row(
            "SELECT client_id, master_id, service_id, date, time, status FROM bookings WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
        )
        .optional()
    })?;
    let Some((client, master, service, date, time, status)) = row else {
        return Ok(Value::Null);
    };
    Ok(json!({
        "id": id, "date": date, "time": time, "status": status,
        "client": name_of(conn, "clients", client)?,
        "master": name_of(conn, "masters", master)?,
        "service": name_of(conn, "services", service)?,
    }))
}

#[derive(Deserialize)]
struct NewBooking {
    client_id: i64,
    master_id: i64,
    service_id: i64,
    date: String,
    time: String,
}

pub async fn create_booking(
    State(app): State<Arc<App>>,
    Extension(ctx): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let new: NewBooking = parse_json(&body)?;
    let valid_date = new.date.len() == 10
        && new.date.chars().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !valid_date {
        return Err(bad_request("date must be YYYY-MM-DD"));
    }
    let token = bearer(&headers);
    let id = blocking(&app, &ctx, move |conn, app, _| {
        authorise(conn, token)?;
        let inserted = conn.query(|c| {
            c.execute(
                "INSERT INTO bookings (client_id, master_id, service_id, date, time, status) \
                 SELECT ?1, ?2, ?3, ?4, ?5, 'pending' WHERE EXISTS (SELECT 1 FROM clients WHERE id = ?1) \
                 AND EXISTS (SELECT 1 FROM masters WHERE id = ?2) AND EXISTS (SELECT 1 FROM services WHERE id = ?3)",
                rusqlite::params![new.client_id, new.master_id, new.service_id, new.date, new.time],
            )
        })?;
        if inserted == 0 {
            return Err(ApiError(StatusCode::UNPROCESSABLE_ENTITY, "unknown client, master or service".into()));
        }
        let id = conn.raw().last_insert_rowid();
        if app.db.optimized {
            conn.query(|c| {
                c.execute(
                    "INSERT INTO booking_search(rowid, text) SELECT b.id, c.name || ' ' || s.name FROM bookings b \
                     JOIN clients c ON c.id = b.client_id JOIN services s ON s.id = b.service_id WHERE b.id = ?1",
                    [id],
                )
            })?;
        }
        if let Some(cache) = &app.cache {
            cache.clear_prefix("stats");
        }
        Ok(id)
    })
    .await?;
    app.hub
        .publish(json!({ "type": "booking.created", "id": id }));
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "id": id, "status": "pending" }),
    ))
}

pub async fn stats(
    State(app): State<Arc<App>>,
    Extension(ctx): Ctx,
    headers: HeaderMap,
) -> ApiResult {
    let token = bearer(&headers);
    let value = blocking(&app, &ctx, move |conn, app, ctx| {
        authorise(conn, token)?;
        cached(app, ctx, "stats".into(), || {
            let mut by_status = serde_json::Map::new();
            if app.db.optimized {
                let rows: Vec<(String, i64)> = conn.query(|c| {
                    let mut st =
                        c.prepare_cached("SELECT status, COUNT(*) FROM bookings GROUP BY status")?;
                    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    rows.collect()
                })?;
                for (status, n) in rows {
                    by_status.insert(status, n.into());
                }
            } else {
                for status in super::db::STATUSES {
                    let n: i64 = conn.query(|c| {
                        c.query_row(
                            "SELECT COUNT(*) FROM bookings WHERE status = ?1",
                            [status],
                            |r| r.get(0),
                        )
                    })?;
                    by_status.insert(status.to_string(), n.into());
                }
            }
            let clients: i64 =
                conn.query(|c| c.query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0)))?;
            Ok(json!({ "bookings": by_status, "clients": clients }))
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &value))
}

// ---- homework bot (seed 002) ----------------------------------------------

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    from: Option<User>,
    chat: Chat,
    text: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    first_name: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
}

pub async fn bot_webhook(
    State(app): State<Arc<App>>,
    Extension(ctx): Ctx,
    body: Bytes,
) -> ApiResult {
    let update: Update = parse_json(&body)?;
    let Some(message) = update.message else {
        return Ok(json_response(
            StatusCode::OK,
            &json!({ "ok": true, "update_id": update.update_id }),
        ));
    };
    let Some(from) = message.from else {
        return Err(bad_request("message has no sender"));
    };
    let chat = message.chat.id;
    let text = message.text.unwrap_or_default();
    if let Some(bot) = &app.bot {
        // Bot mode, as aiogram: take the update now, answer through the Bot API later.
        let permit = bot.in_flight.clone().acquire_owned().await;
        let (app, ctx) = (app.clone(), ctx.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let reply = blocking(&app, &ctx, move |conn, _, _| {
                homework_reply(conn, from, &text)
            })
            .await;
            let text = reply.unwrap_or_else(|e| format!("Sorry, something went wrong: {}", e.1));
            if let Some(bot) = &app.bot
                && let Err(e) = bot.send_message(chat, &text).await
            {
                eprintln!("gander demo SUT: the answer to chat {chat} was not sent: {e}");
            }
        });
        return Ok(json_response(StatusCode::OK, &json!({})));
    }
    let reply = blocking(&app, &ctx, move |conn, _, _| {
        homework_reply(conn, from, &text)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "method": "sendMessage", "chat_id": chat, "text": reply }),
    ))
}

/// The bot's answer to a student's message, with its database work.
fn homework_reply(conn: &Conn<'_>, from: User, text: &str) -> Result<String, ApiError> {
    if text.starts_with("/start") {
        let known: Option<i64> = conn.query(|c| {
            c.query_row(
                "SELECT id FROM students WHERE telegram_id = ?1",
                [from.id],
                |r| r.get(0),
            )
            .optional()
        })?;
        if known.is_none() {
            let name = from.first_name.unwrap_or_else(|| "student".into());
            conn.query(|c| {
                c.execute(
                    "INSERT INTO students (telegram_id, name) VALUES (?1, ?2)",
                    rusqlite::params![from.id, name],
                )
            })?;
        }
        Ok("Welcome! Send your homework as a message, /homework lists it.".to_string())
    } else if text.starts_with("/homework") {
        let rows: Vec<String> = conn.query(|c| {
            let mut st = c.prepare_cached(
                "SELECT text FROM homework WHERE telegram_id = ?1 ORDER BY created_at DESC LIMIT 5",
            )?;
            let rows = st.query_map([from.id], |r| r.get(0))?;
            rows.collect()
        })?;
        Ok(if rows.is_empty() {
            "No homework yet.".to_string()
        } else {
            rows.join("\n")
        })
    } else if text.trim().is_empty() {
        Ok("Send text, please.".to_string())
    } else {
        conn.query(|c| {
            c.execute(
                "INSERT INTO homework (telegram_id, text, created_at) VALUES (?1, ?2, strftime('%s','now'))",
                rusqlite::params![from.id, text],
            )
        })?;
        Ok("Homework saved.".to_string())
    }
}

// ---- quiz (seed 001: read-mostly, cached) ---------------------------------

#[derive(Deserialize)]
pub struct QuizQuery {
    category: Option<String>,
    page: Option<u32>,
}

pub async fn quiz_questions(
    State(app): State<Arc<App>>,
    Extension(ctx): Ctx,
    Params(q): Params<QuizQuery>,
) -> ApiResult {
    let category = q.category.unwrap_or_else(|| "math".into());
    let page = q.page.unwrap_or(1).max(1);
    let value = blocking(&app, &ctx, move |conn, app, ctx| {
        cached(app, ctx, format!("quiz:{category}:{page}"), || {
            let offset = (page as i64 - 1) * 10;
            let ids: Vec<i64> = conn.query(|c| {
                let mut st = c.prepare_cached(
                    "SELECT id FROM questions WHERE category = ?1 ORDER BY id LIMIT 10 OFFSET ?2",
                )?;
                let rows = st.query_map(rusqlite::params![category, offset], |r| r.get(0))?;
                rows.collect()
            })?;
            let mut items = Vec::new();
            for id in ids {
                let text: String = conn.query(|c| {
                    c.query_row("SELECT text FROM questions WHERE id = ?1", [id], |r| {
                        r.get(0)
                    })
                })?;
                items.push(json!({ "id": id, "text": text }));
            }
            Ok(json!({ "category": category, "page": page, "items": items }))
        })
    })
    .await?;
    Ok(json_response(StatusCode::OK, &value))
}

pub async fn quiz_question(
    State(app): State<Arc<App>>,
    Extension(ctx): Ctx,
    Path(id): Path<String>,
) -> ApiResult {
    let id: i64 = id
        .parse()
        .map_err(|_| bad_request(format!("\"{id}\" is not a question id")))?;
    let value = blocking(&app, &ctx, move |conn, app, ctx| {
        cached(app, ctx, format!("question:{id}"), || {
            let row: Option<(String, String)> = conn.query(|c| {
                c.query_row(
                    "SELECT category, text FROM questions WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
            })?;
            Ok(row
                .map(|(category, text)| json!({ "id": id, "category": category, "text": text }))
                .unwrap_or(Value::Null))
        })
    })
    .await?;
    if value.is_null() {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no question {id}")));
    }
    Ok(json_response(StatusCode::OK, &value))
}

// ---- health and metrics (seed 004) ----------------------------------------

fn error_rate(app: &App) -> (u64, u64, f64, f64) {
    let (routes, seconds) = app.metrics.snapshot();
    let total: u64 = routes.iter().map(|(_, r)| r.count).sum();
    let errors: u64 = routes.iter().map(|(_, r)| r.errors).sum();
    let rate = if total > 0 {
        errors as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    (
        total,
        errors,
        rate,
        if seconds > 0.0 {
            total as f64 / seconds
        } else {
            0.0
        },
    )
}

pub async fn health(State(app): State<Arc<App>>, Extension(ctx): Ctx) -> ApiResult {
    let db_ok = blocking(&app, &ctx, |conn, _, _| {
        Ok(conn
            .query(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .is_ok())
    })
    .await?;
    let (total, _, rate, rps) = error_rate(&app);
    let mut issues = Vec::new();
    if !db_ok {
        issues.push("database unreachable".to_string());
    }
    if rate > 5.0 {
        issues.push(format!("error rate {rate:.1}% above 5%"));
    }
    let status = if !db_ok {
        "error"
    } else if issues.is_empty() {
        "healthy"
    } else {
        "degraded"
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "status": status,
            "issues": issues,
            "profiling": app.profiling.load(std::sync::atomic::Ordering::SeqCst),
            "metrics": { "total_requests": total, "error_rate_percent": rate, "requests_per_second": rps,
                         "cache": if app.cache.is_some() { "memory" } else { "disabled" } },
        }),
    ))
}

fn check_admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    match bearer(headers) {
        Some(t) if t == app.admin_token => Ok(()),
        _ => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "admin token required".into(),
        )),
    }
}

pub async fn admin_metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    check_admin(&app, &headers)?;
    let (total, errors, rate, rps) = error_rate(&app);
    let (routes, _) = app.metrics.snapshot();
    let mut slow: Vec<Value> = routes
        .iter()
        .filter(|(_, r)| r.count > 0 && r.sum_s / r.count as f64 > 0.5)
        .map(|(name, r)| json!({ "endpoint": name, "avg_ms": r.sum_s * 1e3 / r.count as f64, "max_ms": r.max_s * 1e3, "count": r.count }))
        .collect();
    slow.sort_by(|a, b| {
        b["avg_ms"]
            .as_f64()
            .partial_cmp(&a["avg_ms"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut popular: Vec<(String, u64)> =
        routes.iter().map(|(n, r)| (n.clone(), r.count)).collect();
    popular.sort_by_key(|p| std::cmp::Reverse(p.1));
    let (rss, (mem_total, mem_available)) = (
        process_usage().map(|(_, rss)| rss).unwrap_or(0),
        machine_memory().unwrap_or((0, 0)),
    );
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "timestamp": chrono::Utc::now().to_rfc3339(),
            "uptime_seconds": app.metrics.started.elapsed().as_secs(),
            "system": {
                "cpu_percent": app.cpu.percent(),
                "memory_used_mb": rss as f64 / 1048576.0,
                "memory_total_mb": mem_total as f64 / 1048576.0,
                "memory_percent": if mem_total > 0 { (mem_total - mem_available) as f64 * 100.0 / mem_total as f64 } else { 0.0 },
            },
            "application": { "total_requests": total, "total_errors": errors, "error_rate_percent": rate, "requests_per_second": rps },
            "slow_endpoints": slow,
            "popular_endpoints": popular.iter().take(5).map(|(n, c)| json!({ "endpoint": n, "count": c })).collect::<Vec<_>>(),
            "websockets": {
                "open": app.hub.open_sockets(),
                "opened": app.hub.opened.load(Ordering::Relaxed),
                "dropped": app.hub.dropped.load(Ordering::Relaxed),
                "events_pushed": app.hub.pushed.load(Ordering::Relaxed),
            },
        }),
    ))
}

pub async fn admin_metrics_reset(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    check_admin(&app, &headers)?;
    app.metrics.reset();
    Ok(json_response(StatusCode::OK, &json!({ "reset": true })))
}

/// Prometheus text format.
pub async fn prometheus(State(app): State<Arc<App>>) -> Response {
    use std::fmt::Write;
    let (cpu, rss) = process_usage().unwrap_or((0.0, 0));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds."
    );
    let _ = writeln!(
        out,
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {cpu}"
    );
    let _ = writeln!(
        out,
        "# HELP process_resident_memory_bytes Resident memory size in bytes."
    );
    let _ = writeln!(
        out,
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}"
    );
    let _ = writeln!(
        out,
        "# HELP http_request_duration_seconds Request duration by route."
    );
    let _ = writeln!(out, "# TYPE http_request_duration_seconds histogram");
    let (routes, _) = app.metrics.snapshot();
    for (route, r) in &routes {
        let route = route.replace('\\', "\\\\").replace('"', "\\\"");
        for (le, n) in super::context::BUCKETS.iter().zip(r.buckets) {
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
            r.count
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
            r.sum_s
        );
        let _ = writeln!(
            out,
            "http_request_duration_seconds_count{{route=\"{route}\"}} {}",
            r.count
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
