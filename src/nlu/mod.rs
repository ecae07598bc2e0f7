//! Understanding the callee: what one ASR-transcribed reply means in the context of the bot's
//! last prompt.
//!
//! Owns the intent label set, the char/word tokenizer, the context-conditioned transformer
//! encoder (candle, CPU), its training and incremental fine-tuning, calibrated inference with
//! abstention, evaluation, and the rule-based extras the script engine reads next to the intent:
//! sentiment, keywords and slots (callback time, amounts). Pure functions of their inputs: the
//! call time is passed in, never read from a clock. May depend on candle, chrono(-tz) and serde;
//! nothing else in the crate. Files: [`tokenizer`], [`model`], [`corpus`], [`train`],
//! [`infer`], [`eval`], [`context`] (what a yes means at a node that declares it),
//! [`review`] (supervisor corrections), [`slots`], [`sentiment`], [`keywords`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub mod announcement;
pub mod context;
pub mod corpus;
pub mod encoder;
pub mod eval;
pub mod head;
pub mod infer;
pub mod keywords;
pub mod model;
pub mod question;
pub mod review;
pub mod sentiment;
pub mod slots;
pub mod tokenizer;
pub mod train;

pub use infer::{IntentModel, Understanding, Utterance};
pub use sentiment::Sentiment;
pub use slots::{Amount, CallbackTime, Slots};

/// What a callee's reply means. The strings are part of the product's interface: scripts,
/// reports and evaluation files use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Intent {
    Affirm,
    Deny,
    BusyCallback,
    Hesitate,
    AskPrice,
    AskDetail,
    AskIdentity,
    Complaint,
    DncRequest,
    WrongPerson,
    AlreadyHave,
    RequestHuman,
    Repeat,
    Voicemail,
    /// Nothing the script acts on; also the answer when the model abstains.
    #[default]
    Other,
}

impl Intent {
    /// Every label, in the order of the model's output units.
    pub const ALL: [Intent; 15] = [
        Intent::Affirm,
        Intent::Deny,
        Intent::BusyCallback,
        Intent::Hesitate,
        Intent::AskPrice,
        Intent::AskDetail,
        Intent::AskIdentity,
        Intent::Complaint,
        Intent::DncRequest,
        Intent::WrongPerson,
        Intent::AlreadyHave,
        Intent::RequestHuman,
        Intent::Repeat,
        Intent::Voicemail,
        Intent::Other,
    ];

    /// The exact label string.
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Affirm => "affirm",
            Intent::Deny => "deny",
            Intent::BusyCallback => "busy_callback",
            Intent::Hesitate => "hesitate",
            Intent::AskPrice => "ask_price",
            Intent::AskDetail => "ask_detail",
            Intent::AskIdentity => "ask_identity",
            Intent::Complaint => "complaint",
            Intent::DncRequest => "dnc_request",
            Intent::WrongPerson => "wrong_person",
            Intent::AlreadyHave => "already_have",
            Intent::RequestHuman => "request_human",
            Intent::Repeat => "repeat",
            Intent::Voicemail => "voicemail",
            Intent::Other => "other",
        }
    }

    /// Position of this label in [`Intent::ALL`] and in the model's output.
    pub fn index(self) -> usize {
        Intent::ALL
            .iter()
            .position(|&i| i == self)
            .unwrap_or(Intent::ALL.len() - 1)
    }
}

impl fmt::Display for Intent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Intent {
    type Err = NluError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Intent::ALL
            .iter()
            .copied()
            .find(|i| i.as_str() == s.trim())
            .ok_or_else(|| NluError::UnknownLabel {
                label: s.to_owned(),
            })
    }
}

/// Everything that can go wrong understanding a reply, loading or training a model.
#[derive(Debug, thiserror::Error)]
pub enum NluError {
    #[error(
        "the reply is empty (nothing but whitespace, punctuation or emoji): nothing to classify"
    )]
    EmptyText,
    #[error(
        "unknown intent label {label:?}; expected one of affirm, deny, busy_callback, hesitate, \
         ask_price, ask_detail, ask_identity, complaint, dnc_request, wrong_person, \
         already_have, request_human, repeat, voicemail, other"
    )]
    UnknownLabel { label: String },
    #[error("{path}:{line}: {reason}")]
    BadLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no intent model in {dir} (expected manifest.json and model.safetensors there; \
             run `aicall train intent` to build one)"
    )]
    ModelMissing { dir: PathBuf },
    #[error("model file {path} is corrupt: {reason}")]
    ModelCorrupt { path: PathBuf, reason: String },
    #[error("model in {dir} does not match its manifest or this build: {reason}")]
    ModelMismatch { dir: PathBuf, reason: String },
    #[error("{context}: no usable examples")]
    NoData { context: String },
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Encoder(#[from] encoder::EncoderError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_strings() {
        for (i, intent) in Intent::ALL.iter().enumerate() {
            assert_eq!(intent.index(), i);
            assert_eq!(intent.as_str().parse::<Intent>().ok(), Some(*intent));
        }
        assert!(matches!(
            "backchannel".parse::<Intent>(),
            Err(NluError::UnknownLabel { .. })
        ));
    }
}
