//! `bench-bare ADDR FILE [HEADERS]`: answers every GET with FILE's bytes as JSON, and with the
//! headers of HEADERS (`name: value` lines), if given. The benchmark serves the body and the
//! headers of a hot cached read this way, so the two answers are the same bytes on the wire and
//! the ratio of the two throughputs is what the service's own work (routing, middleware, cache
//! lookup, envelope) costs.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: bench-bare ADDR FILE [HEADERS]");
        std::process::exit(2);
    };
    let body = Bytes::from_static(std::fs::read(file)?.leak());
    let app = match args.next() {
        None => Router::new().fallback(get(move || async move {
            ([(header::CONTENT_TYPE, "application/json")], body)
        })),
        Some(path) => {
            let headers: &'static [(HeaderName, HeaderValue)] = read_headers(&path)?.leak();
            Router::new().fallback(get(move || async move { with_headers(body, headers) }))
        }
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}

/// `body` as JSON with `headers`. Static names and values: copying them updates no reference
/// count, so the reference does as little as an endpoint can (cheaper, by callgrind, than cloning
/// a map built once).
fn with_headers(body: Bytes, headers: &'static [(HeaderName, HeaderValue)]) -> Response {
    let mut response = Response::new(Body::from(body));
    let map = response.headers_mut();
    map.reserve(headers.len() + 1);
    map.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in headers {
        map.append(name.clone(), value.clone());
    }
    response
}

/// The `name: value` lines of `path`, as static header names and values.
fn read_headers(path: &str) -> std::io::Result<Vec<(HeaderName, HeaderValue)>> {
    let text: &'static str = std::fs::read_to_string(path)?.leak();
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| {
            let (name, value) = (name.trim(), value.trim());
            // `from_static` panics on what `from_bytes`/`from_str` refuse, and on upper case.
            let invalid = |what: String| std::io::Error::other(format!("{path}: {name}: {what}"));
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
            HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
            if name.bytes().any(|b| b.is_ascii_uppercase())
                || !value.bytes().all(|b| (0x20..0x7f).contains(&b))
            {
                return Err(invalid("names are lower case, values visible ASCII".into()));
            }
            Ok((
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            ))
        })
        .collect()
}
