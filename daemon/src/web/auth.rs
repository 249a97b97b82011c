//! Token authentication. The API (and `/metrics`) take `Authorization: Bearer TOKEN`; people
//! sign in once through a form, which sets an HttpOnly, SameSite=Strict session cookie. The
//! cookie holds a SHA-256 digest of the token under a fixed label, not the token, so it
//! stays valid across restarts and becomes invalid when the token changes. Comparisons run
//! in constant time. The token is never logged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::Markup;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::{info, warn};

use super::{html, App};

pub const SESSION_COOKIE: &str = "screener_session";

/// How long a refused sign-in waits before answering, to slow down guessing.
const REFUSAL_DELAY: Duration = Duration::from_millis(300);

/// The token, kept only as digests.
pub struct Auth {
    /// None when no token is configured: then nothing is authorised.
    token_digest: Option<[u8; 32]>,
    session: String,
}

impl Auth {
    pub fn new(token: &str) -> Self {
        let session = hex(&Sha256::digest(format!("screener-web-session\0{token}")));
        Self {
            token_digest: (!token.is_empty()).then(|| Sha256::digest(token).into()),
            session,
        }
    }

    /// Whether `given` is the token. Both sides are hashed first, so the time taken does not
    /// depend on where or whether their lengths differ.
    pub fn token_matches(&self, given: &str) -> bool {
        let Some(expected) = &self.token_digest else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given).into();
        given.ct_eq(expected).into()
    }

    fn session_matches(&self, value: &str) -> bool {
        self.token_digest.is_some() && value.as_bytes().ct_eq(self.session.as_bytes()).into()
    }

    /// A bearer token or a session cookie.
    pub fn authorises(&self, headers: &HeaderMap, cookies: &CookieJar) -> bool {
        let bearer = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| self.token_matches(t.trim()));
        bearer
            || cookies
                .get(SESSION_COOKIE)
                .is_some_and(|c| self.session_matches(c.value()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lets authorised requests through. Others get 401 with a Bearer challenge (API, metrics)
/// or a redirect to the sign-in form that comes back here afterwards (pages).
pub async fn require_token(
    State(app): State<Arc<App>>,
    cookies: CookieJar,
    request: Request,
    next: Next,
) -> Response {
    if app.auth.authorises(request.headers(), &cookies) {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if path.starts_with("/api/") || path == "/metrics" {
        let challenge = [(WWW_AUTHENTICATE, "Bearer realm=\"screener\"")];
        let body =
            Json(json!({"error": "a valid token is required (Authorization: Bearer TOKEN)"}));
        return (StatusCode::UNAUTHORIZED, challenge, body).into_response();
    }
    let here = request.uri().path_and_query().map_or("/", |p| p.as_str());
    Redirect::to(&format!("/login?next={}", percent_encode(here))).into_response()
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

pub async fn login_form(Query(q): Query<LoginQuery>) -> Markup {
    html::login::page(&local_path(q.next.as_deref()), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    cookies: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    if !app.auth.token_matches(&form.token) {
        warn!(peer = %peer.ip(), "admin web: sign-in refused (wrong token)");
        tokio::time::sleep(REFUSAL_DELAY).await;
        let page = html::login::page(&next, Some("That token is not valid."));
        return (StatusCode::UNAUTHORIZED, page).into_response();
    }
    info!(peer = %peer.ip(), "admin web: signed in");
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = Cookie::build((SESSION_COOKIE, app.auth.session.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/");
    (cookies.add(cookie), Redirect::to(&next)).into_response()
}

pub async fn logout(cookies: CookieJar) -> Response {
    let cookie = Cookie::build(SESSION_COOKIE).path("/");
    (cookies.remove(cookie), Redirect::to("/login")).into_response()
}

/// `next` when it is a path on this site, else `/` (no open redirects to other hosts).
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Percent-encodes everything but unreserved characters and `/`, for a query value.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const TOKEN: &str = "correct-horse-battery-staple";

    #[test]
    fn only_the_exact_token_matches() {
        let auth = Auth::new(TOKEN);
        assert!(auth.token_matches(TOKEN));
        assert!(!auth.token_matches("correct-horse-battery-stapl"));
        assert!(!auth.token_matches(""));
        assert!(!Auth::new("").token_matches(""));
    }

    #[test]
    fn a_bearer_header_or_the_session_cookie_authorises() {
        let auth = Auth::new(TOKEN);
        let none = CookieJar::new();
        let mut headers = HeaderMap::new();
        assert!(!auth.authorises(&headers, &none));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {TOKEN}")).unwrap(),
        );
        assert!(auth.authorises(&headers, &none));
        let session = CookieJar::new().add(Cookie::new(SESSION_COOKIE, auth.session.clone()));
        assert!(auth.authorises(&HeaderMap::new(), &session));
        let raw_token = CookieJar::new().add(Cookie::new(SESSION_COOKIE, TOKEN));
        assert!(!auth.authorises(&HeaderMap::new(), &raw_token));
    }

    #[test]
    fn the_session_cookie_does_not_contain_the_token() {
        let auth = Auth::new(TOKEN);
        assert!(!auth.session.contains(TOKEN));
        assert_ne!(auth.session, Auth::new("another-token-of-16-chars").session);
    }

    #[test]
    fn sign_in_returns_only_to_local_paths() {
        assert_eq!(local_path(Some("/studies/1.2.3?x=1")), "/studies/1.2.3?x=1");
        assert_eq!(local_path(Some("//evil.example/")), "/");
        assert_eq!(local_path(Some("https://evil.example/")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
        assert_eq!(percent_encode("/a b?c=1&d"), "/a%20b%3Fc%3D1%26d");
    }
}
