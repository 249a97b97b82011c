//! The webhook: a JSON POST when a study is flagged. Posts are queued in the store as
//! deliveries to the destination `webhook`, so they are retried with backoff and survive
//! restarts like DICOM deliveries. The body carries identifiers, score and model, never
//! patient data.

use std::time::Duration;

use serde_json::json;

use crate::config::WebhookSection;
use crate::dicom::RetryPolicy;
use crate::store::Store;

pub struct WebhookTarget {
    pub url: String,
    pub secret: Option<String>,
    pub timeout: Duration,
    pub policy: RetryPolicy,
    /// Where the admin page is, for the link in the notice (`http://IP:PORT`).
    pub web_base: String,
}

impl WebhookTarget {
    /// The configured webhook, or `None` when it is off.
    pub fn from_config(section: &WebhookSection, web_base: String) -> Option<Self> {
        if !section.enabled {
            return None;
        }
        Some(WebhookTarget {
            url: section.url.clone()?,
            secret: section.secret.clone(),
            timeout: Duration::from_secs(section.timeout_s),
            policy: RetryPolicy {
                attempts: section.attempts,
                base_delay: Duration::from_secs(5),
                max_delay: Duration::from_secs(600),
            },
            web_base,
        })
    }
}

/// Posts the notice of `result_id`; Err with a reason when the receiver did not take it.
pub async fn post_notice(
    store: &Store,
    hook: &WebhookTarget,
    result_id: i64,
) -> Result<(), String> {
    let notice = store
        .result_notice(result_id)
        .await
        .map_err(|e| format!("store: {e}"))?
        .ok_or_else(|| format!("result {result_id} does not exist"))?;
    let body = json!({
        "event": "study.flagged",
        "result": notice,
        "study_page": format!("{}/studies/{}", hook.web_base, notice.study_uid),
    })
    .to_string();
    let (url, secret, timeout) = (hook.url.clone(), hook.secret.clone(), hook.timeout);
    tokio::task::spawn_blocking(move || post_json(&url, secret.as_deref(), timeout, &body))
        .await
        .map_err(|e| e.to_string())?
}

fn post_json(url: &str, secret: Option<&str>, timeout: Duration, body: &str) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.post(url).header("Content-Type", "application/json");
    if let Some(secret) = secret {
        request = request.header("Authorization", &format!("Bearer {secret}"));
    }
    let response = request.send(body).map_err(|e| format!("POST {url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("POST {url}: HTTP {status}"))
    }
}
