//! A connection must begin a request within `HEADER_READ_TIMEOUT_SECONDS` of being accepted.
//!
//! hyper's own header timeout (`server.rs`) starts once an HTTP/1 connection waits for a request's
//! headers, but hyper-util's auto builder first reads the bytes that tell HTTP/1 from HTTP/2, with
//! no timeout: a client that sends nothing, or the first part of the HTTP/2 preface, held its
//! connection (and one of the `MAX_CONNECTIONS` slots) for as long as it liked, and so did an
//! HTTP/2 client that never opened a stream. Each connection's service marks it started on its
//! first request; a watch closes the connection if that has not happened within the timeout.
//!
//! Everything after the first request stays with hyper: its header timer starts once the previous
//! answer has been written out, so a slow download is not cut and a pipelined request is not
//! lost. (A watch per connection that counted requests in flight instead of hyper's timer was tried
//! and reverted: the body of an answer is dropped when hyper has buffered it, not sent it, so it
//! cut slow downloads and pipelined requests behind them.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::Request;
use hyper::service::Service;

/// Whether a connection has begun a request.
#[derive(Debug, Default)]
pub struct Started(AtomicBool);

impl Started {
    pub fn new() -> Arc<Started> {
        Arc::default()
    }

    fn mark(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Resolves if no request has begun `timeout` from now; otherwise never.
    pub async fn unless_started_within(&self, timeout: Duration) {
        tokio::time::sleep(timeout).await;
        if self.0.load(Ordering::Relaxed) {
            std::future::pending::<()>().await;
        }
    }
}

/// The service of one connection: `S`, marking the connection started on its first request. A
/// hyper service, not a tower one: hyper calls it while polling the connection, as soon as a
/// request's headers are in (for HTTP/2 too, before the request's task is spawned), so the watch,
/// polled after the connection, never closes a connection whose first request has begun.
pub struct Tracked<S> {
    inner: S,
    started: Arc<Started>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, started: Arc<Started>) -> Tracked<S> {
        Tracked { inner, started }
    }
}

impl<S, B> Service<Request<B>> for Tracked<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, request: Request<B>) -> S::Future {
        self.started.mark();
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_watch_fires_only_for_a_connection_that_never_began_a_request() {
        let timeout = Duration::from_millis(50);
        let silent = Started::new();
        let watch = silent.unless_started_within(timeout);
        assert!(
            tokio::time::timeout(Duration::from_secs(5), watch)
                .await
                .is_ok(),
            "a connection without a request is closed"
        );

        let served = Started::new();
        let watch = served.unless_started_within(timeout);
        served.mark();
        assert!(
            tokio::time::timeout(timeout * 6, watch).await.is_err(),
            "a connection that began a request is left to hyper's timer"
        );
    }
}
