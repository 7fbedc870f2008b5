//! The load model and how closely it kept to its plan, in words, for every
//! human-readable report.

use crate::format::{ms, value};
use crate::result::{LoadReport, PlanSummary};

/// "50 users (closed model)", "open model: 40/s, up to 100 users", ...
pub fn model(plan: &PlanSummary) -> String {
    // A flat open load is two stages (ramp, plateau) under the hood.
    let stages = match plan.stages.len() {
        n if n > 2 || (n == 2 && plan.model != "open") => format!(" in {n} stages"),
        _ => String::new(),
    };
    match plan.rate {
        Some(rate) => format!(
            "open model: {}/s{stages}, up to {} users",
            value(rate, ""),
            plan.users
        ),
        None if plan.stages.is_empty() => format!("{} users (closed model)", plan.users),
        None => format!("closed model: up to {} users{stages}", plan.users),
    }
}

/// The plan's shape beyond the model: ramp, duration, iterations, steady stage.
pub fn shape(plan: &PlanSummary) -> String {
    let mut parts = Vec::new();
    if plan.ramp_up_s > 0.0 {
        parts.push(format!("ramp-up {}", value(plan.ramp_up_s, "s")));
    }
    if let Some(d) = plan.duration_s {
        parts.push(format!("duration {}", value(d, "s")));
    }
    if let Some(i) = plan.iterations {
        parts.push(format!("{i} iterations per user"));
    }
    if let Some(stage) = &plan.steady_stage
        && plan.stages.len() > 2
    {
        parts.push(format!("steady stage \"{stage}\""));
    }
    parts.join(", ")
}

/// How the pace held: the open model's late starts, or how far closed-model
/// users fell behind their own pace.
pub fn pace(load: &LoadReport) -> Option<String> {
    if let Some(open) = &load.open {
        let lag = open
            .start_lag_ms
            .map(|l| format!(", start lag p99 {}", ms(l.p99)))
            .unwrap_or_default();
        return Some(format!(
            "{} of {} iterations started ({} late, {} never){lag}; at most {} of {} users busy",
            open.started, open.intended, open.late, open.missed, open.peak_busy, open.max_users
        ));
    }
    let closed = load.closed.as_ref()?;
    let (measured, corrected) = (closed.measured?, closed.corrected?);
    if closed.late == 0 {
        return Some(format!(
            "users kept their pace: no request was held back past two paces (p99 {})",
            ms(measured.p99)
        ));
    }
    Some(format!(
        "{} requests the users' pace called for were never sent while responses held them \
         (up to {} behind); p99 {} as measured, {} corrected for them",
        closed.late,
        ms(closed.worst_delay_ms),
        ms(measured.p99),
        ms(corrected.p99)
    ))
}
