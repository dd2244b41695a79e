//! Liveness.

/// `GET /health`: 200 `OK` while the process runs.
pub async fn alive() -> &'static str {
    "OK"
}
