//! Lines shared fairly between the campaigns of one service. Pure: no clock, no tasks.
//!
//! One FreeSWITCH (or one trunk contract) gives the service a number of simultaneous calls
//! (`[serve] max_calls`); every running campaign wants some. Each member has a weight; its
//! fair share is `total × weight / (weights of the members that want lines or hold some)`,
//! rounded up. A member below its share may take lines while any are free; a member at or
//! above it may take free lines only when no other wanting member is below its own share —
//! so the lines are all used when demand allows (work-conserving), and a campaign that
//! starts late gets its share back as the others' calls end (nothing is ever preempted).

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Member {
    weight: u32,
    in_use: u32,
    wants: bool,
}

/// The service's lines and who holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FairShare {
    total: u32,
    members: BTreeMap<String, Member>,
}

impl FairShare {
    /// `total` simultaneous calls for the whole service.
    pub fn new(total: u32) -> Self {
        Self {
            total,
            members: BTreeMap::new(),
        }
    }

    pub fn total(&self) -> u32 {
        self.total
    }

    /// Changes the service's total (lines in use above it are kept until they end).
    pub fn set_total(&mut self, total: u32) {
        self.total = total;
    }

    /// Adds a member (or changes its weight; a weight of 0 counts as 1).
    pub fn join(&mut self, name: &str, weight: u32) {
        let m = self.members.entry(name.to_owned()).or_insert(Member {
            weight: 1,
            in_use: 0,
            wants: false,
        });
        m.weight = weight.max(1);
    }

    /// Removes a member; its lines in use no longer count.
    pub fn leave(&mut self, name: &str) {
        self.members.remove(name);
    }

    /// Whether `name` has calls to place now (a member with nothing to dial does not hold
    /// back the others' shares).
    pub fn set_wanting(&mut self, name: &str, wants: bool) {
        if let Some(m) = self.members.get_mut(name) {
            m.wants = wants;
        }
    }

    fn in_use(&self) -> u32 {
        self.members.values().map(|m| m.in_use).sum()
    }

    fn share_of(&self, m: &Member, active_weight: u64) -> u32 {
        if active_weight == 0 {
            return self.total;
        }
        let share = (u64::from(self.total) * u64::from(m.weight)).div_ceil(active_weight);
        u32::try_from(share).unwrap_or(u32::MAX)
    }

    /// How many more lines `name` may take now.
    pub fn available(&self, name: &str) -> u32 {
        let Some(me) = self.members.get(name) else {
            return 0;
        };
        let free = self.total.saturating_sub(self.in_use());
        if free == 0 {
            return 0;
        }
        let active_weight: u64 = self
            .members
            .iter()
            .filter(|(n, m)| m.wants || m.in_use > 0 || n.as_str() == name)
            .map(|(_, m)| u64::from(m.weight))
            .sum();
        let mine = self.share_of(me, active_weight);
        if me.in_use < mine {
            return free.min(mine - me.in_use);
        }
        // At or above my share: only lines nobody below their share is waiting for.
        let owed: u32 = self
            .members
            .iter()
            .filter(|(n, m)| n.as_str() != name && m.wants)
            .map(|(_, m)| self.share_of(m, active_weight).saturating_sub(m.in_use))
            .sum();
        free.saturating_sub(owed)
    }

    /// Takes a line for `name`; false when [`FairShare::available`] is 0.
    pub fn take(&mut self, name: &str) -> bool {
        if self.available(name) == 0 {
            return false;
        }
        if let Some(m) = self.members.get_mut(name) {
            m.in_use += 1;
        }
        true
    }

    /// Counts a line already in use (a call found live after a restart), even above the
    /// share.
    pub fn adopt(&mut self, name: &str) {
        if let Some(m) = self.members.get_mut(name) {
            m.in_use += 1;
        }
    }

    /// Gives a line back.
    pub fn give_back(&mut self, name: &str) {
        if let Some(m) = self.members.get_mut(name) {
            m.in_use = m.in_use.saturating_sub(1);
        }
    }

    /// Lines `name` holds.
    pub fn held(&self, name: &str) -> u32 {
        self.members.get(name).map_or(0, |m| m.in_use)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(s: &mut FairShare, name: &str) -> u32 {
        let mut n = 0;
        while s.take(name) {
            n += 1;
        }
        n
    }

    #[test]
    fn one_campaign_uses_every_line() {
        let mut s = FairShare::new(10);
        s.join("a", 1);
        s.set_wanting("a", true);
        assert_eq!(fill(&mut s, "a"), 10);
        assert_eq!(s.available("a"), 0);
    }

    #[test]
    fn two_wanting_campaigns_split_by_weight() {
        let mut s = FairShare::new(12);
        s.join("a", 1);
        s.join("b", 2);
        s.set_wanting("a", true);
        s.set_wanting("b", true);
        assert_eq!(fill(&mut s, "a"), 4);
        assert_eq!(fill(&mut s, "b"), 8);
    }

    #[test]
    fn idle_members_do_not_hold_back_shares_and_late_comers_get_theirs_back() {
        let mut s = FairShare::new(10);
        s.join("a", 1);
        s.join("b", 1);
        s.set_wanting("a", true);
        // b has nothing to dial: a takes everything.
        assert_eq!(fill(&mut s, "a"), 10);
        // b starts wanting: nothing is free, nothing is preempted.
        s.set_wanting("b", true);
        assert_eq!(s.available("b"), 0);
        // As a's calls end, the lines go to b until b has its half.
        for _ in 0..5 {
            s.give_back("a");
            assert_eq!(s.available("a"), 0, "a is above its share while b waits");
            assert!(s.take("b"));
        }
        assert_eq!(s.held("b"), 5);
        s.give_back("a");
        // Now a is below its half: the free line is a's, not b's.
        assert_eq!(s.available("a"), 1);
        assert_eq!(s.available("b"), 0);
        // Once a wants nothing more, b may use it.
        s.set_wanting("a", false);
        assert_eq!(s.available("b"), 1);
    }

    #[test]
    fn a_member_above_its_share_may_use_lines_nobody_is_owed() {
        let mut s = FairShare::new(10);
        s.join("a", 1);
        s.join("b", 1);
        s.set_wanting("a", true);
        s.set_wanting("b", true);
        assert_eq!(fill(&mut s, "b"), 5);
        assert_eq!(fill(&mut s, "a"), 5);
        s.set_wanting("b", false);
        s.give_back("b");
        // b wants no more: its freed line is a's to take.
        assert!(s.take("a"));
        assert_eq!(s.held("a"), 6);
    }

    #[test]
    fn unknown_members_get_nothing_and_adopted_lines_count() {
        let mut s = FairShare::new(4);
        assert!(!s.take("ghost"));
        s.join("a", 1);
        for _ in 0..6 {
            s.adopt("a");
        }
        assert_eq!(s.held("a"), 6);
        assert_eq!(s.available("a"), 0);
        s.leave("a");
        assert_eq!(s.available("a"), 0);
    }
}
