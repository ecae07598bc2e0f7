//! Handing a call to a human agent through aicall's own routing: what the conversation asks
//! of the agent desk, what it hears back, and the hold tone the callee hears meanwhile.
//!
//! When the script transfers to a queue the desk routes ([`TransferDesk::routes`]), the call
//! driver does not send the call into the dialplan: it keeps the callee on its media with
//! the hold tone (or the script's `hold` prompt), gives the desk everything the agent's
//! screen shows (the conversation so far, the intent and node that led here, the contact's
//! fields and lead score), and waits: connected (the desk bridged an agent; the
//! conversation ends), or a fallback after the queue's maximum wait (a callback at the time
//! the callee gave, or back to the bot for a goodbye), or the callee hangs up (abandoned).
//! Queues the desk does not route go to the dialplan (`transfer_to`, mod_callcenter) as
//! before.

use std::collections::HashMap;
use std::f32::consts::PI;

use serde::Serialize;
use tokio::sync::mpsc;

use super::policy::best_answer;
use super::record::{Speaker, Turn};
use super::script::Script;
use crate::nlu::Intent;

/// Everything an agent's screen shows about a transferred call.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TransferRequest {
    /// The callee's channel UUID.
    pub call: String,
    pub campaign: String,
    pub queue: String,
    /// Skills the script's transfer asked for.
    pub skills: Vec<String>,
    /// The callee's last intent and the script node that led to the transfer.
    #[serde(serialize_with = "intent_name")]
    #[schema(value_type = String)]
    pub intent: Intent,
    pub node: String,
    pub contact_id: Option<u64>,
    /// The callee's number, masked, and name.
    pub callee: String,
    pub name: Option<String>,
    /// The contact's imported fields (city, product, ...).
    pub fields: HashMap<String, String>,
    pub lead_score: Option<f32>,
    /// A callback time the callee gave, an amount they named.
    pub callback_at: Option<i64>,
    pub amount: Option<f64>,
    /// The conversation so far.
    pub conversation: Vec<Turn>,
    pub language: Option<String>,
    /// What the script's Q&A corpus answers to the callee's latest question, for the agent.
    /// (Boxed: the desk's commands carry the request by value.)
    pub suggestion: Option<Box<Suggestion>>,
}

/// A suggested answer from the script's Q&A corpus (`[[qa]]`), found by the same retrieval
/// the bot answers off-script questions with.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    /// The callee's line it answers.
    pub question: String,
    /// The answer prompt's key and its text.
    pub key: String,
    pub answer: String,
    /// The retrieval score, at or above the script's `qa_threshold`.
    pub score: f32,
}

/// The Q&A entry for the callee's latest line that the corpus answers at the script's
/// threshold: (that line, the answer prompt's index, the score). Earlier lines count when
/// the latest ones ask nothing the corpus knows: the question may have come before a "yes".
pub fn suggested_answer<'a>(
    script: &Script,
    conversation: &'a [Turn],
) -> Option<(&'a str, usize, f32)> {
    conversation
        .iter()
        .rev()
        .filter(|t| t.speaker == Speaker::Callee)
        .find_map(|t| {
            let (i, score) =
                best_answer(&t.text, script.qa.iter().map(|q| q.questions.as_slice()))?;
            (score >= script.qa_threshold).then_some((t.text.as_str(), script.qa[i].answer, score))
        })
}

fn intent_name<S: serde::Serializer>(i: &Intent, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(i.as_str())
}

/// What the desk tells the waiting call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferUpdate {
    /// An agent is being rung.
    Offered { agent: String },
    /// The agent answered and the call is bridged to them.
    Connected { agent: String },
    /// Nobody took the call in time: book a callback (at the callee's time, if any).
    Callback { at: Option<i64> },
    /// Nobody took the call in time: back to the bot, which says goodbye.
    BackToBot,
}

/// aicall's agent desk, as a conversation sees it.
pub trait TransferDesk: Send + Sync + std::fmt::Debug {
    /// Whether the desk routes `queue` (else the dialplan does).
    fn routes(&self, queue: &str) -> bool;
    /// Puts the call in line; updates arrive on the returned receiver.
    fn request(&self, req: TransferRequest) -> mpsc::UnboundedReceiver<TransferUpdate>;
    /// The callee's leg is gone (hung up while waiting, or after the bridge).
    fn callee_gone(&self, call: &str);
}

/// A hold tone: two soft notes every two seconds, `secs` long, at `rate`. What a callee
/// hears while an agent is rung, when the script has no `hold` prompt of its own.
pub fn hold_tone(rate: u32, secs: u32) -> Vec<i16> {
    let n = (rate * secs) as usize;
    let mut out = vec![0i16; n];
    let note = |freq: f32, start: f32, len: f32, out: &mut [i16]| {
        let (s, e) = (
            (start * rate as f32) as usize,
            ((start + len) * rate as f32) as usize,
        );
        for (i, x) in out.iter_mut().enumerate().take(e.min(n)).skip(s) {
            let t = (i - s) as f32 / rate as f32;
            // 20 ms attack and release: no clicks.
            let env = (t / 0.02).min(1.0).min(((len - t) / 0.02).max(0.0));
            *x = (0.12 * 32767.0 * env * (2.0 * PI * freq * t).sin()) as i16;
        }
    };
    let mut at = 0.0;
    while at < secs as f32 {
        note(523.25, at, 0.25, &mut out);
        note(659.25, at + 0.3, 0.35, &mut out);
        at += 2.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(speaker: Speaker, text: &str) -> Turn {
        Turn::new(0, speaker, text)
    }

    #[test]
    fn the_suggestion_answers_the_latest_question_the_corpus_knows() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/insurance/script.toml");
        let script = Script::load(&path).expect("the example script loads");
        let key = |i: usize| script.prompt(i).key.clone();
        let asked = [
            line(Speaker::Bot, "您好，耽误您一分钟时间可以吗？"),
            line(Speaker::Callee, "可以啊，你说吧。"),
            line(Speaker::Callee, "那理赔的时候麻烦吗？"),
            line(Speaker::Bot, "理赔很方便。"),
            line(Speaker::Callee, "可以，没问题。"),
        ];
        let (question, answer, score) =
            suggested_answer(&script, &asked).expect("the claim question is found");
        assert_eq!(question, "那理赔的时候麻烦吗？");
        assert_eq!(key(answer), "qa_claim");
        assert!(score >= script.qa_threshold);
        // A later question wins over an earlier one.
        let mut later = asked.to_vec();
        later.push(line(Speaker::Callee, "不想要了能退吗"));
        let (_, answer, _) = suggested_answer(&script, &later).expect("found");
        assert_eq!(key(answer), "qa_cancel");
        // The bot's own lines are not questions; nothing the corpus knows: no suggestion.
        let none = [
            line(Speaker::Bot, "理赔很方便，在手机上提交材料"),
            line(Speaker::Callee, "好的，我想了解一下。"),
        ];
        assert_eq!(suggested_answer(&script, &none), None);
    }

    #[test]
    fn the_hold_tone_is_soft_and_has_its_notes() {
        let t = hold_tone(8000, 4);
        assert_eq!(t.len(), 32_000);
        let peak = t.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((3000..=4000).contains(&peak), "peak {peak}");
        // Silence between the notes: the second half of each 2 s cycle.
        assert!(t[8000..16_000].iter().all(|&s| s == 0));
        assert!(
            t[16_000..18_000].iter().any(|&s| s != 0),
            "the next cycle starts"
        );
    }
}
