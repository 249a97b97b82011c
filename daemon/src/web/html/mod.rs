//! Server-rendered pages (maud escapes every value it interpolates): plain semantic HTML
//! that works without JavaScript, styled by one static style sheet.

pub mod dashboard;
mod format;
mod histogram;
pub mod login;
pub mod study;

use axum::http::StatusCode;
use maud::{html, Markup, DOCTYPE};

use super::readiness::Alert;
use crate::store::DeliveryState;

pub use format::{score, seconds, time};

/// The style sheet served at `/style.css`.
pub const STYLE: &str = include_str!("style.css");

/// The frame of every signed-in page: navigation, the alerts, then `body`.
pub fn page(title: &str, alerts: &[Alert], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header {
                    nav {
                        a.brand href="/" { "Screener" }
                        a href="/api/v1/health" { "API" }
                        form method="post" action="/logout" {
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    @if !alerts.is_empty() {
                        section.alerts role="alert" aria-label="Alerts" {
                            h2 { "Alerts" }
                            ul {
                                @for a in alerts {
                                    li data-alert=(a.key) {
                                        strong { (a.key) } ": " (a.message)
                                        span.muted { " (since " (time(a.since)) ")" }
                                    }
                                }
                            }
                        }
                    }
                    (body)
                }
                footer { "Screener flags CT studies for review. Not for diagnostic use." }
            }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Screener" }
            link rel="stylesheet" href="/style.css";
        }
    }
}

/// A bare page for errors (no alerts: they need the store, which may be what failed).
pub fn error_page(status: StatusCode, message: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(status.canonical_reason().unwrap_or("Error")))
            body {
                main {
                    section {
                        h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                        p.error { (message) }
                        p { a href="/" { "Back to the dashboard" } }
                    }
                }
            }
        }
    }
}

/// FLAGGED / normal / nothing yet.
pub fn flag_badge(flagged: Option<bool>) -> Markup {
    html! {
        @match flagged {
            Some(true) => span.badge.flagged data-flag="flagged" { "FLAGGED" },
            Some(false) => span.badge.normal data-flag="normal" { "normal" },
            None => span.muted data-flag="none" { "–" },
        }
    }
}

pub fn state_badge(state: &str) -> Markup {
    let failed = state == "failed";
    html! { span.badge.failed[failed] data-state=(state) { (state) } }
}

/// The retry button of a failed delivery; it comes back to `back` afterwards.
pub fn retry_button(delivery_id: i64, state: DeliveryState, back: &str) -> Markup {
    html! {
        @if state == DeliveryState::Failed {
            form method="post" action={ "/deliveries/" (delivery_id) "/retry" } {
                input type="hidden" name="back" value=(back);
                button type="submit" { "Retry" }
            }
        }
    }
}

pub fn opt_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "–".into(), time)
}

pub fn opt_seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "–".into(), seconds)
}
