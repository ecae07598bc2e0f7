//! The predictive dialer's input: agents free now, talking, and soon free.

use super::*;

impl Router {
    /// The agents for the predictive dialer at `now_ms`: free now, talking, and soon free
    /// (a wrap-up or a no-answer pause ending within `soon_horizon_s`, or a call whose
    /// expected remaining talk time — from the talk-time distribution — likely ends within
    /// it). With a queue, only agents who can take its calls count.
    pub fn agent_snapshot(
        &self,
        now_ms: u64,
        queue: Option<&str>,
    ) -> Result<AgentSnapshot, RoutingError> {
        let now = now_ms.max(self.now);
        let rules = match queue {
            Some(name) => {
                let &q = self
                    .queue_index
                    .get(name)
                    .ok_or_else(|| RoutingError::UnknownQueue {
                        queue: name.to_owned(),
                    })?;
                Some(&self.queues[q].rules)
            }
            None => None,
        };
        let horizon = self.s.soon_horizon_ms;
        let soon_at = now + horizon;
        let mut snap = AgentSnapshot::default();
        for a in &self.agents {
            if a.removed || a.presence != Presence::Available {
                continue;
            }
            if let Some(q) = rules {
                if !q.requirements(q.stages.len()).any(|r| a.p.meets(r)) {
                    continue;
                }
            }
            let open = (a.p.max_concurrent as usize).saturating_sub(a.used()) as u32;
            if a.paused_until <= now {
                snap.free += open;
            } else if a.paused_until <= soon_at {
                snap.soon += open;
            } else {
                snap.busy += open;
            }
            for &end in &a.wrap_ends {
                if end <= soon_at {
                    snap.soon += 1;
                } else {
                    snap.busy += 1;
                }
            }
            for &(_, since) in &a.talking {
                let elapsed_s = now.saturating_sub(since) as f64 / 1000.0;
                let p = self
                    .talk_times
                    .p_end_within(elapsed_s, horizon as f64 / 1000.0);
                if p >= 0.5 {
                    snap.soon += 1;
                } else {
                    snap.busy += 1;
                }
            }
            snap.busy += u32::from(a.offer.is_some());
        }
        Ok(snap)
    }
}

/// The predictive dialer's view at the latest time the router saw (all queues). A service
/// shares the router behind a lock, or publishes [`Router::agent_snapshot`] into a
/// [`crate::campaign::pacing::SharedAgents`] after each input.
impl AgentAvailability for Router {
    fn snapshot(&self) -> AgentSnapshot {
        // `None` names no queue, so the lookup that can fail is never made.
        self.agent_snapshot(self.now, None).unwrap_or_default()
    }
}
