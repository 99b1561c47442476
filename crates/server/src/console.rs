//! The web console: static files embedded in the binary, served under `/console/`.
//!
//! The files need no authentication: they hold no data. The console's scripts call the same
//! OMS API as any client, with the token the user types in the `X-Auth-Token` header. File
//! names carry no content hash, so every response says `no-cache` with a strong `ETag`: the
//! browser revalidates each load (a cheap 304) and never runs scripts of an older binary.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../console/", $name)),
        }
    };
}

/// Every file of the console; `index.html` answers `/console/`.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("format.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("lists.js", "text/javascript; charset=utf-8"),
    asset!("detail.js", "text/javascript; charset=utf-8"),
    asset!("forms.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Scripts, styles and API calls come from this origin only; no inline script can run, so a
/// task name or error message that smuggles markup cannot reach the token in sessionStorage.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The console routes (no authentication); each handler's `#[utoipa::path]` documents it.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(redirect_to_console))
        .routes(routes!(console_index))
        .routes(routes!(console_file))
}

#[utoipa::path(
    get,
    path = "/console",
    tag = "console",
    operation_id = "RedirectToConsole",
    responses((status = 308, description = "Moved to `/console/`, so the page's relative links resolve"))
)]
async fn redirect_to_console() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(LOCATION, HeaderValue::from_static("/console/"))],
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/console/",
    tag = "console",
    operation_id = "ShowConsole",
    responses(
        (status = 200, description = "The console page", content_type = "text/html; charset=utf-8", body = String),
        (status = 304, description = "The `If-None-Match` ETag is current")
    )
)]
async fn console_index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

#[utoipa::path(
    get,
    path = "/console/{file}",
    tag = "console",
    operation_id = "ShowConsoleFile",
    params(("file" = String, Path, description = "A file of the console, e.g. `app.js`")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/html; charset=utf-8"),
            (String = "text/css; charset=utf-8"),
            (String = "text/javascript; charset=utf-8"),
            (String = "image/svg+xml")
        )),
        (status = 304, description = "The `If-None-Match` ETag is current"),
        (status = 404, description = "No console file has this name", body = crate::api::ErrorBody)
    )
)]
async fn console_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

fn serve(name: &str, request_headers: &HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|asset| asset.name == name) else {
        let mut response =
            ApiError::invalid("path", format!("no console file named {name:?}")).into_response();
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let fresh = request_headers
        .get(IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(ETAG, value);
    }
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    if asset.name.ends_with(".html") {
        headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    (StatusCode::OK, headers, asset.body).into_response()
}

/// Strong ETags, one per asset in `ASSETS` order, hashed once per process.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.body);
                format!("\"{}\"", hex::encode(&digest[..16]))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_asset_names_are_unique_and_typed_by_extension() {
        for (index, asset) in ASSETS.iter().enumerate() {
            assert!(
                ASSETS[..index].iter().all(|other| other.name != asset.name),
                "{} listed twice",
                asset.name
            );
            let extension = asset.name.rsplit('.').next().unwrap_or_default();
            let expected = match extension {
                "html" => "text/html",
                "css" => "text/css",
                "js" => "text/javascript",
                "svg" => "image/svg+xml",
                other => panic!("no content type rule for .{other}"),
            };
            assert!(asset.content_type.starts_with(expected), "{}", asset.name);
            assert!(!asset.body.is_empty(), "{} is empty", asset.name);
        }
    }

    #[test]
    fn test_every_module_the_scripts_import_is_served_and_every_module_is_used() {
        let mut imported = vec!["app.js"]; // index.html loads it
        for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap_or_default();
            for target in text
                .split(" from './")
                .skip(1)
                .filter_map(|rest| rest.split('\'').next())
            {
                assert!(
                    ASSETS.iter().any(|other| other.name == target),
                    "{} imports {target}, which is not embedded",
                    asset.name
                );
                imported.push(target);
            }
        }
        for asset in ASSETS.iter().filter(|asset| asset.name.ends_with(".js")) {
            assert!(
                imported.contains(&asset.name),
                "{} is embedded but nothing imports it",
                asset.name
            );
        }
    }
}
