//! The web console: a few static files (HTML, CSS, JavaScript modules) compiled into the binary
//! and served at `/` and `/console/…`. The console is a client of the public API only; this
//! module serves bytes and the headers that keep them to themselves (a strict
//! Content-Security-Policy: no inline script, no other origin, no framing).

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::wire::ApiError;

/// One embedded file: the name it is served under, its media type and its bytes.
struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";

/// An [`Asset`] for the file `console/<name>` of this crate.
macro_rules! asset {
    ($name:literal, $mime:expr) => {
        Asset {
            name: $name,
            mime: $mime,
            body: include_str!(concat!("../console/", $name)),
        }
    };
}

/// Every file of the console; `/console/<name>` serves it, `/` serves `index.html`.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("js/api.js", JS),
    asset!("js/app.js", JS),
    asset!("js/ui.js", JS),
    asset!("js/storage.js", JS),
    asset!("js/backup.js", JS),
    asset!("js/schedule.js", JS),
    asset!("js/restore.js", JS),
    asset!("js/history.js", JS),
];

/// Scripts, styles and requests from this origin only; nothing inline, no frames.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn serve(asset: &Asset) -> Response {
    let mut res = (StatusCode::OK, asset.body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.mime));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change with the binary; a browser asks again rather than keep an old one.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// `GET /`: the console's page.
pub async fn index() -> Response {
    serve(&ASSETS[0])
}

/// `GET /console/{*file}`: one of the console's files; the DocSpace 404 for any other name.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(serve)
        .ok_or_else(ApiError::not_found)
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    #[test]
    fn every_module_the_page_imports_is_served() {
        // Each `from "./x.js"` in a module names a file of the table, so no import 404s.
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            for part in a.body.split("from \"./").skip(1) {
                let target = format!("js/{}", part.split('"').next().unwrap_or_default());
                assert!(
                    ASSETS.iter().any(|b| b.name == target),
                    "{} imports {target}, which is not embedded",
                    a.name
                );
            }
        }
        let page = ASSETS[0].body;
        assert!(page.contains("/console/js/app.js") && page.contains("/console/console.css"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no CDN"
        );
    }
}
