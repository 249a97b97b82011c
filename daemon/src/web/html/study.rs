//! One study: its series with their job stages, result, deliveries and preview images.

use maud::{html, Markup};

use super::{flag_badge, opt_seconds, opt_time, page, retry_button, score, state_badge, time};
use crate::web::readiness::Alert;
use crate::web::views::{SeriesView, StudyView};

pub fn render(v: &StudyView, alerts: &[Alert]) -> Markup {
    let back = format!("/studies/{}", v.study_uid);
    let body = html! {
        h1 { "Study " span.uid { (v.study_uid) } }
        section #study data-study=(v.study_uid) data-flagged=(v.flagged) {
            dl {
                dt { "State" } dd { (state_badge(v.state)) }
                dt { "Score" } dd { (v.score.map(score).unwrap_or_else(|| "–".into())) }
                dt { "Flag" } dd { (flag_badge(v.score.map(|_| v.flagged))) }
                dt { "From" } dd { (v.calling_ae.as_deref().unwrap_or("–")) }
                dt { "First received" } dd { (time(v.first_received_at)) }
                dt { "Last received" } dd { (time(v.last_received_at)) }
            }
        }
        @for s in &v.series {
            (series(s, &back))
        }
    };
    page(&format!("Study {}", v.study_uid), alerts, body)
}

fn series(s: &SeriesView, back: &str) -> Markup {
    let r = &s.record;
    html! {
        section.series data-series=(r.series_uid) {
            h2 { "Series " span.uid { (r.series_uid) } }
            dl {
                dt { "Modality" } dd { (r.modality.as_deref().unwrap_or("–")) }
                dt { "Instances" } dd { (r.instance_count) }
                dt { "Complete since" } dd { (opt_time(r.stable_at)) }
                @if let Some(j) = &r.job {
                    dt { "Job" }
                    dd {
                        (state_badge(j.state.as_str()))
                        " attempt " (j.attempts)
                        @if let Some(reason) = &j.reason { " · " (reason) }
                    }
                    dt { "Queued" } dd { (time(j.queued_at)) }
                    dt { "Started" } dd { (opt_time(j.started_at)) }
                    dt { "Finished" } dd { (opt_time(j.finished_at)) }
                } @else {
                    dt { "Job" } dd { span.muted { "none yet: the series is still arriving" } }
                }
                @if let Some(res) = &r.result {
                    dt { "Score" } dd { (score(res.study_score)) " (threshold " (score(res.threshold)) ")" }
                    dt { "Flag" } dd { (flag_badge(Some(res.flagged))) }
                    dt { "Model" } dd { (res.model_name) " " (res.model_version) }
                    dt { "Scored" } dd { (time(res.scored_at)) }
                    dt { "Scoring time" }
                    dd { (opt_seconds(res.timings.get("total_s").and_then(|t| t.as_f64()))) }
                }
            }
            @if !s.stages.is_empty() {
                h3 { "Stages" }
                table {
                    thead { tr {
                        th.num { "Attempt" } th { "Stage" } th { "Started" } th.num { "Took" }
                    } }
                    tbody {
                        @for st in &s.stages {
                            tr {
                                td.num { (st.attempt) }
                                td { (st.stage) }
                                td { (time(st.started_at)) }
                                td.num {
                                    @if st.finished_at.is_some() { (opt_seconds(st.seconds)) }
                                    @else { span.muted { "running" } }
                                }
                            }
                        }
                    }
                }
            }
            @if r.result.is_some() {
                h3 { "Deliveries" }
                @if s.deliveries.is_empty() {
                    p.empty { "No destinations configured." }
                } @else {
                    table {
                        thead { tr {
                            th { "Destination" } th { "State" } th.num { "Attempts" }
                            th { "Delivered" } th { "Last error" } th {}
                        } }
                        tbody {
                            @for d in &s.deliveries {
                                tr data-delivery=(d.id) {
                                    td { (d.destination) }
                                    td { (state_badge(d.state.as_str())) }
                                    td.num { (d.attempts) }
                                    td { (opt_time(d.delivered_at)) }
                                    td { (d.last_error.as_deref().unwrap_or("")) }
                                    td { (retry_button(d.id, d.state, back)) }
                                }
                            }
                        }
                    }
                }
                h3 { "Previews" }
                @if s.previews.is_empty() {
                    p.empty { "No preview images." }
                } @else {
                    div.previews {
                        @for (n, p) in s.previews.iter().enumerate() {
                            figure {
                                img src=(p.url) alt={ "Heat map preview " (n + 1) " of series " (r.series_uid) };
                                figcaption {
                                    "Preview " (n + 1)
                                    @if let Some(k) = p.slice { " · slice " (k + 1) }
                                    " · not for diagnostic use"
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
