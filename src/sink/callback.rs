//! The callback sink: whatever the service sends to it is kept under its path
//! (without the query) for `await:` steps, and answered `200 {"ok":true}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::server::{Arrived, Handler, json};
use super::store::{Arrival, Store};

pub struct Callbacks {
    pub store: Arc<Store>,
    pub max_body: usize,
    pub too_large: AtomicU64,
}

impl Handler for Callbacks {
    fn max_body(&self) -> usize {
        self.max_body
    }

    async fn handle(&self, request: Arrived) -> Response<Full<Bytes>> {
        let text = String::from_utf8_lossy(&request.body).into_owned();
        self.store.push(
            request.head.uri.path(),
            Arrival {
                at: request.at,
                kind: request.head.method.as_str().into(),
                text: text.into(),
                body: request.body,
            },
        );
        json(StatusCode::OK, r#"{"ok":true}"#)
    }

    fn refused(&self) {
        self.too_large.fetch_add(1, Ordering::Relaxed);
    }
}
