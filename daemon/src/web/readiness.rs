//! What the pipeline tells the web side about itself: whether the model is loaded, the DICOM
//! listener bound and the store reachable, and alerts an operator should see ("data folder
//! below its free-space minimum", "destination PACS unreachable: …"). A cheap cloneable
//! handle; every part of the node that knows something sets it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Clone, Default)]
pub struct Readiness(Arc<Inner>);

#[derive(Default)]
struct Inner {
    model_loaded: AtomicBool,
    listener_bound: AtomicBool,
    /// Inverted so the default (nothing reported yet) is "reachable"; `/readyz` also pings.
    store_unreachable: AtomicBool,
    alerts: RwLock<BTreeMap<String, Alert>>,
}

/// Something an operator should act on, shown at the top of every page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub key: String,
    pub message: String,
    /// When the alert was first raised (Unix epoch milliseconds); repeats keep it.
    pub since: i64,
}

/// The three conditions of readiness as last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Conditions {
    pub model_loaded: bool,
    pub listener_bound: bool,
    pub store_reachable: bool,
}

impl Readiness {
    pub fn set_model_loaded(&self, loaded: bool) {
        self.0.model_loaded.store(loaded, Ordering::Relaxed);
    }

    pub fn set_listener_bound(&self, bound: bool) {
        self.0.listener_bound.store(bound, Ordering::Relaxed);
    }

    pub fn set_store_reachable(&self, reachable: bool) {
        self.0
            .store_unreachable
            .store(!reachable, Ordering::Relaxed);
    }

    pub fn conditions(&self) -> Conditions {
        Conditions {
            model_loaded: self.0.model_loaded.load(Ordering::Relaxed),
            listener_bound: self.0.listener_bound.load(Ordering::Relaxed),
            store_reachable: !self.0.store_unreachable.load(Ordering::Relaxed),
        }
    }

    /// Raises or updates the alert `key`; its `since` stays that of the first raise.
    pub fn set_alert(&self, key: &str, message: impl Into<String>) {
        let message = message.into();
        let mut alerts = self.0.alerts.write().unwrap_or_else(|e| e.into_inner());
        match alerts.get_mut(key) {
            Some(alert) => alert.message = message,
            None => {
                alerts.insert(
                    key.to_owned(),
                    Alert {
                        key: key.to_owned(),
                        message,
                        since: now_ms(),
                    },
                );
            }
        }
    }

    pub fn clear_alert(&self, key: &str) {
        let mut alerts = self.0.alerts.write().unwrap_or_else(|e| e.into_inner());
        alerts.remove(key);
    }

    /// Current alerts, by key.
    pub fn alerts(&self) -> Vec<Alert> {
        let alerts = self.0.alerts.read().unwrap_or_else(|e| e.into_inner());
        alerts.values().cloned().collect()
    }
}

impl Conditions {
    /// Why the node is not ready, in words; empty when it is.
    pub fn reasons(&self) -> Vec<&'static str> {
        let mut reasons = Vec::new();
        if !self.model_loaded {
            reasons.push("model not loaded");
        }
        if !self.listener_bound {
            reasons.push("DICOM listener not bound");
        }
        if !self.store_reachable {
            reasons.push("store unreachable");
        }
        reasons
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_handle_is_not_ready_until_model_and_listener_are_reported() {
        let r = Readiness::default();
        assert_eq!(
            r.conditions().reasons(),
            ["model not loaded", "DICOM listener not bound"]
        );
        let clone = r.clone();
        clone.set_model_loaded(true);
        clone.set_listener_bound(true);
        assert!(r.conditions().reasons().is_empty());
        r.set_store_reachable(false);
        assert_eq!(r.conditions().reasons(), ["store unreachable"]);
    }

    #[test]
    fn an_alert_keeps_its_first_time_and_takes_the_latest_message() {
        let r = Readiness::default();
        r.set_alert("delivery:pacs", "pacs: refused");
        let first = r.alerts()[0].since;
        r.set_alert("delivery:pacs", "pacs: timed out".to_string());
        r.set_alert("disk", "full");
        let alerts = r.alerts();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0].message, "pacs: timed out");
        assert_eq!(alerts[0].since, first);
        r.clear_alert("delivery:pacs");
        assert_eq!(r.alerts()[0].key, "disk");
    }
}
