//! What a reply means at a script node that says what it asks. A confirmation question's
//! "yes" means what it confirms: after "您的意思是以后不要再打了，是吗？" a bare 是的 is a DNC
//! request, not a generic affirm. A script may declare it per node (`confirms`, `denies`,
//! `expects`); what a node leaves unsaid is read from its question
//! ([`super::question::meaning`]), and a declaration always wins. Pure; depends on the label
//! set only.

use super::Intent;

/// How much more likely an intent the node expects is than the model alone says: a prior,
/// applied as a factor on the calibrated probabilities. Large enough to settle a close call
/// between an expected and an unexpected label, small enough that a confident unexpected
/// answer (a complaint, a DNC request at an interest question) still wins.
pub const EXPECTED_PRIOR: f32 = 3.0;

/// What a node declares about the replies it asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeMeaning {
    /// A "yes" here means this intent (`confirms = "dnc_request"`).
    pub affirm: Option<Intent>,
    /// A "no" here means this intent (`denies = "repeat"` after "did you hear me").
    pub deny: Option<Intent>,
    /// The intents this node's question expects; empty when it does not say.
    pub expects: Vec<Intent>,
}

impl NodeMeaning {
    pub fn is_empty(&self) -> bool {
        self.affirm.is_none() && self.deny.is_none() && self.expects.is_empty()
    }

    /// This declaration, with what it leaves unsaid taken from `other` (what the node's
    /// question reads as, [`super::question::meaning`]): a declared yes, no or expectation
    /// always wins.
    pub fn or(self, other: NodeMeaning) -> NodeMeaning {
        NodeMeaning {
            affirm: self.affirm.or(other.affirm),
            deny: self.deny.or(other.deny),
            expects: if self.expects.is_empty() {
                other.expects
            } else {
                self.expects
            },
        }
    }
}

/// The intent a reply has at a node: the model's `label`, re-weighted towards what the node
/// expects when its calibrated probabilities `probs` are known, then a plain yes or no
/// mapped to what the node says they mean.
pub fn resolve(label: Intent, probs: Option<&[f32; 15]>, node: &NodeMeaning) -> Intent {
    let label = match probs {
        Some(p) if !node.expects.is_empty() => {
            let expected = |i: Intent| {
                node.expects.contains(&i)
                    // A yes or no the node gives a meaning to is expected too.
                    || (i == Intent::Affirm && node.affirm.is_some())
                    || (i == Intent::Deny && node.deny.is_some())
            };
            let weight = |i: Intent| p[i.index()] * if expected(i) { EXPECTED_PRIOR } else { 1.0 };
            // Only an expected label can take over, and only from a lighter one: the prior
            // never turns an abstention into an unexpected guess.
            let best = Intent::ALL
                .iter()
                .copied()
                .filter(|&i| expected(i))
                .max_by(|&a, &b| weight(a).total_cmp(&weight(b)));
            match best {
                Some(b) if weight(b) > weight(label) => b,
                _ => label,
            }
        }
        _ => label,
    };
    match label {
        Intent::Affirm => node.affirm.unwrap_or(label),
        Intent::Deny => node.deny.unwrap_or(label),
        _ => label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probs(pairs: &[(Intent, f32)]) -> [f32; 15] {
        let mut p = [0.0; 15];
        for &(i, v) in pairs {
            p[i.index()] = v;
        }
        p
    }

    #[test]
    fn a_declared_confirmation_turns_yes_into_what_it_confirms() {
        let dnc = NodeMeaning {
            affirm: Some(Intent::DncRequest),
            ..Default::default()
        };
        assert_eq!(resolve(Intent::Affirm, None, &dnc), Intent::DncRequest);
        // Anything else is left as the model said.
        assert_eq!(resolve(Intent::Deny, None, &dnc), Intent::Deny);
        assert_eq!(resolve(Intent::Complaint, None, &dnc), Intent::Complaint);
        let heard = NodeMeaning {
            deny: Some(Intent::Repeat),
            ..Default::default()
        };
        assert_eq!(resolve(Intent::Deny, None, &heard), Intent::Repeat);
        assert_eq!(
            resolve(Intent::Affirm, None, &NodeMeaning::default()),
            Intent::Affirm
        );
    }

    #[test]
    fn expected_intents_settle_close_calls_but_not_confident_answers() {
        let when = NodeMeaning {
            expects: vec![Intent::Hesitate, Intent::Affirm],
            ..Default::default()
        };
        // "明天吧" after "when will you have decided": callback 0.5, hesitate 0.4.
        let close = probs(&[(Intent::BusyCallback, 0.5), (Intent::Hesitate, 0.4)]);
        assert_eq!(
            resolve(Intent::BusyCallback, Some(&close), &when),
            Intent::Hesitate
        );
        let sure = probs(&[(Intent::Complaint, 0.9), (Intent::Hesitate, 0.05)]);
        assert_eq!(
            resolve(Intent::Complaint, Some(&sure), &when),
            Intent::Complaint
        );
        // Without probabilities the prior cannot apply.
        assert_eq!(
            resolve(Intent::BusyCallback, None, &when),
            Intent::BusyCallback
        );
    }

    #[test]
    fn the_prior_and_the_mapping_compose() {
        // A node that confirms a price question and expects it: a hesitant "yes" (affirm
        // 0.35, other 0.4 abstained) becomes a price question.
        let node = NodeMeaning {
            affirm: Some(Intent::AskPrice),
            expects: vec![Intent::AskPrice],
            ..Default::default()
        };
        let p = probs(&[(Intent::Affirm, 0.35), (Intent::Other, 0.4)]);
        assert_eq!(resolve(Intent::Other, Some(&p), &node), Intent::AskPrice);
        // An abstention whose best guess is unexpected stays an abstention.
        let p = probs(&[(Intent::Complaint, 0.38), (Intent::Other, 0.3)]);
        assert_eq!(resolve(Intent::Other, Some(&p), &node), Intent::Other);
        assert!(!node.is_empty());
        assert!(NodeMeaning::default().is_empty());
    }
}
