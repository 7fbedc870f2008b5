//! The bundled system under test (`gander-demo`, or `gander serve-demo`): a salon-CRM API with a
//! homework-bot webhook, a cached quiz API, health and metrics endpoints and a
//! pprof endpoint and a notifications WebSocket, over an embedded SQLite seeded
//! deterministically. It is the only module that knows about its database.
//! `--unoptimized` reproduces the seeds' "before": no indexes, N+1 queries, no
//! cache, and a socket table that drops the oldest notifications socket under load.

mod api;
mod bot_api;
mod context;
mod cputime;
mod db;
mod labels;
mod notify;
mod openapi;
mod pprof;
mod sampler;
mod slowdown;
mod symbols;

pub use slowdown::{Extra, Slowdown};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};

use api::App;
use context::RequestContext;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one; the first line printed says which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Serve the "before" version: no indexes, N+1 queries, no cache, and at most
    /// 8 notifications sockets (the oldest dropped past that).
    #[arg(long)]
    pub unoptimized: bool,
    /// Bearer token of the admin metrics API.
    #[arg(long, default_value = "demo-admin-token")]
    pub admin_token: String,
    /// Slow one route down, to measure what a regression gate catches:
    /// "METHOD PATH=DELAY" adds a fixed delay, waited at the end of the
    /// route's database work as a slower query would ("GET /api/bookings/{id}=2.5ms"),
    /// "METHOD PATH=N%" adds N % of the time the route took ("POST /api/bookings=30%"),
    /// "METHOD PATH=N%cpu" burns N % more CPU than the route's handler used
    /// ("GET /api/stats=20%cpu": a CPU-per-request regression); "METHOD
    /// PATH=0.3mscpu" burns a fixed 0.3 ms of CPU.
    /// PATH is the route as written in /openapi.json; "PATH?param" slows only
    /// requests whose query has that parameter ("GET /api/bookings?status=2ms": the
    /// salon scenario's "list bookings" alone). Repeatable; the time shows in
    /// X-Request-Time and Server-Timing.
    #[arg(long, value_name = "ROUTE=AMOUNT")]
    pub slowdown: Vec<Slowdown>,
    /// Homework-bot mode: the webhook (/bot/webhook) answers 200 at once and the bot
    /// answers later through this Telegram Bot API server ("http://HOST:PORT"), as an
    /// aiogram bot does. Without it the bot answers in the webhook's own response.
    #[arg(long, value_name = "URL")]
    pub bot_api: Option<String>,
    /// The bot's token in bot mode.
    #[arg(long, default_value = "123456:demo-homework-bot")]
    pub bot_token: String,
}

/// Every route the demo serves, as method, path and handler. The router is
/// built from this list, and a test checks `/openapi.json` describes each one.
fn routes() -> Vec<(&'static str, &'static str, MethodRouter<Arc<App>>)> {
    vec![
        ("POST", "/api/login", post(api::login)),
        ("GET", "/api/bookings", get(api::list_bookings)),
        ("POST", "/api/bookings", post(api::create_booking)),
        ("GET", "/api/bookings/{id}", get(api::get_booking)),
        ("GET", "/api/stats", get(api::stats)),
        ("POST", "/bot/webhook", post(api::bot_webhook)),
        ("GET", "/api/quiz/questions", get(api::quiz_questions)),
        ("GET", "/api/quiz/questions/{id}", get(api::quiz_question)),
        ("GET", "/api/v1/health/detailed", get(api::health)),
        ("GET", "/api/v1/admin/metrics", get(api::admin_metrics)),
        (
            "POST",
            "/api/v1/admin/metrics/reset",
            post(api::admin_metrics_reset),
        ),
        ("GET", "/metrics", get(api::prometheus)),
        ("GET", "/debug/pprof/profile", get(pprof::profile)),
        ("GET", "/openapi.json", get(openapi::serve)),
    ]
}

/// Where the database file goes: `/dev/shm` (memory) when it is a writable
/// directory, else the temporary directory. On a disk shared with other work
/// (a build writing gigabytes), SQLite's writes waited seconds for the disk and
/// every request waited for them: the demo's latencies then described the
/// machine's disk, not the demo.
fn database_dir() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let writable = shm.is_dir()
        && std::ffi::CString::new("/dev/shm")
            // SAFETY: access() reads a NUL-terminated path.
            .is_ok_and(|p| unsafe { libc::access(p.as_ptr(), libc::W_OK) } == 0);
    if writable {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// Builds the application: database, cache, routes and the accounting middleware.
fn app(args: &ServeArgs) -> anyhow::Result<Router> {
    let db = db::Db::open(
        &database_dir(),
        !args.unoptimized,
        db::SeedSize::default(),
        4,
    )?;
    let slowdowns = Arc::new(args.slowdown.clone());
    let state = Arc::new(App {
        db,
        cache: (!args.unoptimized).then(|| api::Cache::new(Duration::from_secs(5))),
        metrics: Default::default(),
        cpu: Default::default(),
        profiling: AtomicBool::new(false),
        admin_token: args.admin_token.clone(),
        request_ids: AtomicU64::new(1),
        hub: notify::Hub::new(args.unoptimized.then_some(notify::UNOPTIMIZED_SOCKET_LIMIT)),
        bot: args
            .bot_api
            .as_ref()
            .map(|url| bot_api::BotApi::new(url, &args.bot_token)),
    });
    let routes = routes()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        })
        .route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), slowdowns),
            track,
        ))
        // A WebSocket, outside OpenAPI's reach: not in `routes()`, which
        // `/openapi.json` describes (and `gander import openapi` turns into steps).
        .route("/api/ws/notifications", get(notify::notifications))
        .fallback(|| async { api::ApiError(StatusCode::NOT_FOUND, "no such endpoint".into()) })
        .with_state(state);
    Ok(routes)
}

/// Times each request and adds the headers the seeds' systems send:
/// `X-Request-ID`, `X-Request-Time`, `X-SQL-Queries`, `X-Cache-Hits`,
/// `X-Cache-Misses` and `Server-Timing` (`db`, `app`).
async fn track(
    State((app, slowdowns)): State<(Arc<App>, Arc<Vec<Slowdown>>)>,
    path: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let ctx = Arc::new(RequestContext::default());
    req.extensions_mut().insert(ctx.clone());
    let route = format!(
        "{} {}",
        req.method(),
        path.as_ref().map(|p| p.as_str()).unwrap_or("unmatched")
    );
    let slowdown = slowdowns
        .iter()
        .find(|s| s.applies(&route, req.uri().query()))
        .cloned();
    if let Some(delay) = slowdown.as_ref().and_then(Slowdown::wait_in_work) {
        ctx.set_wait(delay);
    }
    let label = labels::from_baggage(req.headers().get("baggage").and_then(|v| v.to_str().ok()));
    let (mut response, polled) = cputime::Metered::labelled(next.run(req), label).await;
    let cpu = polled + ctx.blocking_cpu();
    if let Some(slowdown) = slowdown {
        // Labelled too: the CPU it burns is this request's.
        cputime::Metered::labelled(
            slowdown.apply(started.elapsed(), cpu, ctx.take_wait()),
            label,
        )
        .await;
    }
    let took = started.elapsed();
    app.metrics
        .observe(&route, response.status().as_u16(), took);
    let (hits, misses) = ctx.cache();
    let db_ms = ctx.db_time().as_secs_f64() * 1e3;
    let total_ms = took.as_secs_f64() * 1e3;
    let headers = [
        ("x-request-id", uuid::Uuid::new_v4().to_string()),
        ("x-request-time", format!("{:.6}s", took.as_secs_f64())),
        ("x-sql-queries", ctx.queries().to_string()),
        ("x-cache-hits", hits.to_string()),
        ("x-cache-misses", misses.to_string()),
        (
            "server-timing",
            format!(
                "db;dur={db_ms:.3}, app;dur={:.3}",
                (total_ms - db_ms).max(0.0)
            ),
        ),
    ];
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// Runs the demo SUT until SIGINT or SIGTERM.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let router = app(args)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
        let addr = listener.local_addr()?;
        {
            use std::io::Write;
            let mode = if args.unoptimized {
                "unoptimized"
            } else {
                "optimized"
            };
            let mut out = std::io::stdout();
            writeln!(out, "gander demo SUT listening on http://{addr} ({mode})")?;
            out.flush()?;
            for s in &args.slowdown {
                let extra = match s.extra {
                    Extra::Fixed(d) => format!("+{:.3} ms", d.as_secs_f64() * 1e3),
                    Extra::Share(p) => format!("+{:.0}% of its time", p * 100.0),
                    Extra::CpuShare(p) => format!("+{:.0}% of its CPU, burnt", p * 100.0),
                    Extra::CpuFixed(d) => format!("+{:.3} ms of CPU, burnt", d.as_secs_f64() * 1e3),
                };
                let only = s
                    .param
                    .as_ref()
                    .map(|p| format!(" (with ?{p})"))
                    .unwrap_or_default();
                eprintln!("gander demo SUT: slowed down: {}{only} {extra}", s.route);
            }
        }
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        Ok::<_, anyhow::Error>(())
    })?;
    // Profiles in flight hold blocking threads for seconds: do not wait for them.
    runtime.shutdown_timeout(Duration::from_millis(500));
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
