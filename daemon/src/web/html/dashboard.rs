//! The dashboard: readiness and queue health, deliveries that need an operator, the
//! worklist, recent studies, and the model with its calibration and score histogram.

use std::path::Path;

use maud::{html, Markup};

use super::histogram::score_histogram;
use super::{flag_badge, opt_seconds, page, retry_button, score, seconds, state_badge, time};
use crate::store::web_views::TroubledDelivery;
use crate::store::WorklistEntry;
use crate::web::model_info::ModelInfo;
use crate::web::views::{Dashboard, HealthView, StudySummary};

pub fn render(d: &Dashboard, model: &ModelInfo, data_dir: &Path) -> Markup {
    let scores: Vec<f64> = d.recent_scores.iter().map(|s| s.study_score).collect();
    let body = html! {
        h1 { "Dashboard" }
        div.cards {
            (readiness(&d.health, &data_dir.display().to_string()))
            (queue(&d.health))
            (deliveries_card(&d.health))
        }
        (troubled(&d.health.troubled_deliveries))
        (worklist(&d.worklist))
        (studies(&d.studies))
        section #model aria-labelledby="model-title" {
            h2 #model-title { "Model and calibration" }
            (model_facts(model))
            h3 { "Recent study scores" }
            (score_histogram(&scores, model.calibration.threshold, &model.calibration.normal_scores.scores))
        }
    };
    page("Dashboard", &d.health.alerts, body)
}

fn readiness(h: &HealthView, data_dir: &str) -> Markup {
    html! {
        section #readiness {
            h2 { "Node" }
            p {
                @if h.ready {
                    span.badge.ready { "ready" }
                } @else {
                    span.badge.not-ready { "not ready" }
                    " " (h.not_ready_because.join(", "))
                }
            }
            dl {
                dt { "Up for" } dd { (seconds(h.uptime_s)) }
                dt { "Data folder" } dd { (data_dir) }
                dt { "Destinations" }
                dd {
                    @if h.destinations.is_empty() { span.muted { "none" } }
                    @else { (h.destinations.join(", ")) }
                }
                dt { "Studies" } dd { (h.counts.studies) }
                dt { "Instances" } dd { (h.counts.instances) }
            }
        }
    }
}

fn queue(h: &HealthView) -> Markup {
    let c = &h.counts;
    html! {
        section #queue {
            h2 { "Scoring queue" }
            dl {
                dt { "Queued" } dd data-count="jobs-queued" { (c.jobs_queued) }
                dt { "Running" } dd { (c.jobs_running) }
                dt { "Done" } dd { (c.jobs_done) }
                dt { "Failed" } dd { (c.jobs_failed) }
                dt { "Skipped" } dd { (c.jobs_skipped) }
                dt { "Oldest waiting" } dd { (opt_seconds(h.oldest_queued_age_s)) }
            }
        }
    }
}

fn deliveries_card(h: &HealthView) -> Markup {
    let c = &h.counts;
    html! {
        section #delivery-counts {
            h2 { "Deliveries" }
            dl {
                dt { "Pending" } dd { (c.deliveries_pending) }
                dt { "Sending" } dd { (c.deliveries_sending) }
                dt { "Delivered" } dd { (c.deliveries_delivered) }
                dt { "Failed" } dd data-count="deliveries-failed" { (c.deliveries_failed) }
            }
        }
    }
}

fn troubled(list: &[TroubledDelivery]) -> Markup {
    html! {
        section #deliveries aria-labelledby="deliveries-title" {
            h2 #deliveries-title { "Deliveries needing attention" }
            @if list.is_empty() {
                p.empty { "None: every delivery went through or is on its first try." }
            } @else {
                table {
                    thead { tr {
                        th { "Destination" } th { "State" } th.num { "Attempts" }
                        th { "Last error" } th { "Study" } th {}
                    } }
                    tbody {
                        @for t in list {
                            tr data-delivery=(t.delivery.id) {
                                td { (t.delivery.destination) }
                                td { (state_badge(t.delivery.state.as_str())) }
                                td.num { (t.delivery.attempts) }
                                td { (t.delivery.last_error.as_deref().unwrap_or("")) }
                                td.uid { a href={ "/studies/" (t.study_uid) } { (t.study_uid) } }
                                td { (retry_button(t.delivery.id, t.delivery.state, "/#deliveries")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn worklist(list: &[WorklistEntry]) -> Markup {
    html! {
        section #worklist aria-labelledby="worklist-title" {
            h2 #worklist-title { "Worklist: flagged series, highest score first" }
            @if list.is_empty() {
                p.empty { "No flagged studies." }
            } @else {
                table {
                    thead { tr {
                        th.num { "Score" } th.num { "Threshold" } th { "Study" }
                        th { "Series" } th { "From" } th { "Scored" } th { "Model" }
                    } }
                    tbody {
                        @for w in list {
                            tr data-study=(w.study_uid) {
                                td.num { (score(w.study_score)) }
                                td.num { (score(w.threshold)) }
                                td.uid { a href={ "/studies/" (w.study_uid) } { (w.study_uid) } }
                                td.uid { (w.series_uid) }
                                td { (w.calling_ae.as_deref().unwrap_or("")) }
                                td { (time(w.scored_at)) }
                                td { (w.model_name) " " (w.model_version) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn studies(list: &[StudySummary]) -> Markup {
    html! {
        section #studies aria-labelledby="studies-title" {
            h2 #studies-title { "Recent studies" }
            @if list.is_empty() {
                p.empty { "No studies received yet." }
            } @else {
                table {
                    thead { tr {
                        th { "Last received" } th { "Study" } th { "From" } th.num { "Series" }
                        th { "State" } th.num { "Score" } th { "Flag" } th.num { "Scoring" }
                        th.num { "Queued to done" } th { "Deliveries" }
                    } }
                    tbody {
                        @for s in list {
                            @let delivered: i64 = s.status.series.iter().map(|x| x.deliveries_delivered).sum();
                            @let open: i64 = s.status.series.iter().map(|x| x.deliveries_open).sum();
                            @let failed: i64 = s.status.series.iter().map(|x| x.deliveries_failed).sum();
                            tr data-study=(s.status.study_uid) data-flagged=(s.flagged) {
                                td { (time(s.status.last_received_at)) }
                                td.uid {
                                    a href={ "/studies/" (s.status.study_uid) } { (s.status.study_uid) }
                                }
                                td { (s.status.calling_ae.as_deref().unwrap_or("")) }
                                td.num { (s.status.series.len()) }
                                td { (state_badge(s.state)) }
                                td.num { (s.score.map(score).unwrap_or_default()) }
                                td { (flag_badge(s.score.map(|_| s.flagged))) }
                                td.num { (opt_seconds(s.scoring_s)) }
                                td.num { (opt_seconds(s.turnaround_s)) }
                                td {
                                    (delivered) " sent"
                                    @if open > 0 { ", " (open) " open" }
                                    @if failed > 0 { ", " span.badge.failed { (failed) " failed" } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn model_facts(m: &ModelInfo) -> Markup {
    let c = &m.calibration;
    let n = &c.normal_scores;
    html! {
        dl {
            dt { "Model" } dd { (m.name) " " (m.version) " (" (m.kind_name()) ")" }
            @if !m.description.is_empty() { dt { "About" } dd { (m.description) } }
            dt { "Study score" } dd { (c.statistic) }
            dt { "Flag threshold" } dd data-threshold=(c.threshold) { (score(c.threshold)) }
            dt { "Voxel threshold" } dd { (score(c.voxel_threshold)) }
            dt { "Threshold chosen by" } dd { (c.method) }
            dt { "Normal scans" }
            dd {
                (n.count)
                @if let (Some(min), Some(median), Some(p95), Some(max)) = (n.min, n.median, n.p95, n.max) {
                    " (min " (score(min)) ", median " (score(median)) ", 95th percentile "
                    (score(p95)) ", max " (score(max)) ")"
                }
            }
            @if !m.notes.is_empty() { dt { "Notes" } dd { (m.notes) } }
        }
    }
}
