//! Notes on what the servers gander served saw: Bot API methods answered
//! without a model, calls with a wrong token, arrivals dropped at the caps or
//! never claimed, event streams cut. None of them decides the verdict; each
//! says what to look at.

use crate::result::RunResult;
use crate::result::answers::ArrivalCounts;

pub fn notes(result: &RunResult) -> Vec<String> {
    let Some(answers) = &result.answers else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    if let Some(tg) = &answers.telegram {
        let generic: Vec<String> = tg
            .methods
            .iter()
            .filter(|m| m.answered == "generic")
            .map(|m| format!("{} ({})", m.method, m.calls))
            .collect();
        if !generic.is_empty() {
            notes.push(format!(
                "Bot API methods gander answered {{\"ok\":true,\"result\":true}} without knowing \
                 them: {}; a bot that reads their result may have misbehaved",
                generic.join(", ")
            ));
        }
        if tg.unauthorized > 0 {
            notes.push(format!(
                "{} Bot API calls came with another token and were answered 401: start the bot \
                 with the token in telegram.token",
                tg.unauthorized
            ));
        }
        notes.extend(arrivals_note(&tg.messages, "bot messages", "chat"));
    }
    if let Some(sink) = &answers.sink {
        notes.extend(arrivals_note(sink, "callbacks", "path"));
    }
    for s in answers.streams.iter().filter(|s| s.cut > 0) {
        notes.push(format!(
            "{} of the \"{}\" event streams were cut at the size or count cap",
            s.cut, s.name
        ));
    }
    if answers.connections_turned_away > 0 {
        notes.push(format!(
            "{} connections to gander's servers were closed at once: too many were open",
            answers.connections_turned_away
        ));
    }
    notes
}

fn arrivals_note(c: &ArrivalCounts, what: &str, key: &str) -> Option<String> {
    let dropped = c.dropped_full + c.dropped_per_key + c.too_large;
    (dropped > 0 || c.unclaimed > 0).then(|| {
        format!(
            "{} {what} arrived: {} claimed by a step, {} never claimed (early, late, or more than \
             a step waited for), {} dropped ({} pushed out of a full {key}, {} past the store's \
             caps, {} too large)",
            c.arrived,
            c.claimed,
            c.unclaimed,
            dropped,
            c.dropped_per_key,
            c.dropped_full,
            c.too_large
        )
    })
}
