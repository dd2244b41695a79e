//! `bench-bare ADDR FILE`: answers every GET with FILE's bytes as JSON. The benchmark serves the
//! body of a hot cached read this way, so the ratio of the two throughputs is what the service's
//! own work (routing, middleware, cache lookup, envelope) costs.

use axum::http::header;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: bench-bare ADDR FILE");
        std::process::exit(2);
    };
    let body = Bytes::from(std::fs::read(file)?);
    let app = Router::new().fallback(get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
