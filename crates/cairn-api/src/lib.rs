//! Cairn's HTTP surface: parse, authenticate, authorize, call `control`, answer in the spec's
//! shapes. No SQL and no business rule lives here; one file ([`error`]) decides every error's
//! status and message, and only this crate defines wire types.

mod body;
pub mod client;
mod conn;
mod download;
pub mod error;
mod extract;
mod layers;
pub mod metrics;
pub mod openapi;
pub mod pagination;
mod routes;
mod state;
pub mod tls;
pub mod web;
pub mod wire;

pub use client::TrustedProxies;
pub use routes::router;
pub use state::AppState;
pub use web::WebSettings;

/// Serves `router` on `listener` (over TLS when `tls` is given) until `shutdown` resolves;
/// requests in flight then finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<std::sync::Arc<tls::Tls>>,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Each connection is wrapped (`conn.rs`), so the client's address is added here rather than
    // by `into_make_service_with_connect_info`, which knows plain TCP listeners only.
    let per_connection = tower::service_fn(
        move |incoming: axum::serve::IncomingStream<'_, conn::Listener>| {
            let client = axum::extract::ConnectInfo(*incoming.remote_addr());
            let service = tower::Layer::layer(&axum::Extension(client), router.clone());
            std::future::ready(Ok::<_, std::convert::Infallible>(service))
        },
    );
    axum::serve(conn::Listener::new(listener, tls).await, per_connection)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    /// No SQL here: the crate reaches data only through `cairn-control` (and `cairn-store`'s
    /// records), never a database driver of its own.
    #[test]
    fn no_sql_driver_in_the_manifest() {
        let manifest = include_str!("../Cargo.toml");
        for driver in ["sqlx", "rusqlite", "postgres", "diesel", "sea-orm"] {
            assert!(!manifest.contains(driver), "cairn-api depends on {driver}");
        }
    }
}
