//! UDP port allocation for `unicast` media: a fixed pool of slots, each pairing one port on
//! aicall's side (where FreeSWITCH sends the callee's audio) with one port on FreeSWITCH's
//! side (the `local-port` FreeSWITCH binds for the call). A slot is held by a [`PortLease`],
//! a drop guard: whatever ends a call — hangup, a failed originate, a dead stream, a panic
//! in the call task, the engine shutting down — dropping the lease returns the slot.
//!
//! Owns no sockets; binding happens in [`super::call`]. Depends on nothing else in aicall.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// Errors of port allocation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PortError {
    #[error(
        "all {slots} media port slots are in use; raise [media] port_count or lower the number \
         of concurrent calls"
    )]
    Exhausted { slots: usize },
    #[error(
        "media port range {first}..{first}+{count} does not fit in 1..=65535; fix [media] \
         {key}"
    )]
    BadRange {
        key: &'static str,
        first: u32,
        count: u32,
    },
    #[error(
        "the aicall port range {ours_first}+{count} overlaps FreeSWITCH's {switch_first}+{count} \
         on the same address {ip}; move one of [media] port_first / switch_port_first"
    )]
    Overlap {
        ip: IpAddr,
        ours_first: u16,
        switch_first: u16,
        count: u16,
    },
}

/// Where both sides of the media live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortPlan {
    /// aicall's address as FreeSWITCH reaches it (unicast `remote-ip`).
    pub media_ip: IpAddr,
    /// First aicall port; slot `i` uses `port_first + i`.
    pub port_first: u16,
    /// FreeSWITCH's address for its side (unicast `local-ip`).
    pub switch_ip: IpAddr,
    /// First FreeSWITCH-side port; slot `i` uses `switch_port_first + i`.
    pub switch_port_first: u16,
    /// Number of slots = maximum concurrent calls with media.
    pub count: u16,
}

impl PortPlan {
    /// Checks that both ranges fit and do not collide.
    pub fn validate(&self) -> Result<(), PortError> {
        let fits = |first: u16, key| {
            let end = first as u32 + self.count as u32;
            if first == 0 || end > 65_536 {
                Err(PortError::BadRange {
                    key,
                    first: first as u32,
                    count: self.count as u32,
                })
            } else {
                Ok(())
            }
        };
        fits(self.port_first, "port_first/port_count")?;
        fits(self.switch_port_first, "switch_port_first/port_count")?;
        let (a, b) = (self.port_first as u32, self.switch_port_first as u32);
        let n = self.count as u32;
        if self.media_ip == self.switch_ip && a < b + n && b < a + n {
            return Err(PortError::Overlap {
                ip: self.media_ip,
                ours_first: self.port_first,
                switch_first: self.switch_port_first,
                count: self.count,
            });
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Slots {
    /// Free slot indices; popped from the back, so a just-released slot is reused last
    /// (pushed to the front) to give the kernel and FreeSWITCH time to drop stale packets.
    free: std::collections::VecDeque<u16>,
    in_use: usize,
}

/// The pool of port slots. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PortPool {
    plan: PortPlan,
    slots: Arc<Mutex<Slots>>,
}

fn lock(m: &Mutex<Slots>) -> std::sync::MutexGuard<'_, Slots> {
    // A panic while holding this lock can only come from a bug in the few lines below, which
    // leave `Slots` consistent at every step; the pool stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PortPool {
    /// A pool over `plan`'s ranges.
    pub fn new(plan: PortPlan) -> Result<Self, PortError> {
        plan.validate()?;
        Ok(Self {
            plan,
            slots: Arc::new(Mutex::new(Slots {
                free: (0..plan.count).collect(),
                in_use: 0,
            })),
        })
    }

    /// The ranges this pool hands out.
    pub fn plan(&self) -> PortPlan {
        self.plan
    }

    /// Takes a free slot.
    pub fn lease(&self) -> Result<PortLease, PortError> {
        let mut s = lock(&self.slots);
        let Some(slot) = s.free.pop_front() else {
            return Err(PortError::Exhausted {
                slots: self.plan.count as usize,
            });
        };
        s.in_use += 1;
        Ok(PortLease {
            slot,
            local: SocketAddr::new(self.plan.media_ip, self.plan.port_first + slot),
            switch: SocketAddr::new(self.plan.switch_ip, self.plan.switch_port_first + slot),
            pool: self.slots.clone(),
        })
    }

    /// Slots currently leased.
    pub fn in_use(&self) -> usize {
        lock(&self.slots).in_use
    }
}

/// One leased slot; returned to the pool when dropped.
#[derive(Debug)]
pub struct PortLease {
    slot: u16,
    local: SocketAddr,
    switch: SocketAddr,
    pool: Arc<Mutex<Slots>>,
}

impl PortLease {
    /// Slot number, unique among live leases (used as the call's key in the analysis pool).
    pub fn slot(&self) -> u16 {
        self.slot
    }

    /// aicall's side: bind here; FreeSWITCH's `remote-ip:remote-port`.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// FreeSWITCH's side: its `local-ip:local-port`, and the only source accepted.
    pub fn switch(&self) -> SocketAddr {
        self.switch
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut s = lock(&self.pool);
        s.free.push_back(self.slot);
        s.in_use -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(count: u16) -> PortPlan {
        PortPlan {
            media_ip: [127, 0, 0, 1].into(),
            port_first: 40_000,
            switch_ip: [127, 0, 0, 1].into(),
            switch_port_first: 41_000,
            count,
        }
    }

    #[test]
    fn leases_are_unique_and_come_back_on_drop() {
        let pool = PortPool::new(plan(3)).expect("valid plan");
        let a = pool.lease().expect("slot");
        let b = pool.lease().expect("slot");
        let c = pool.lease().expect("slot");
        assert_ne!(a.local(), b.local());
        assert_ne!(b.switch(), c.switch());
        assert_eq!(a.switch().port() - a.local().port(), 1000);
        assert_eq!(
            pool.lease().expect_err("full"),
            PortError::Exhausted { slots: 3 }
        );
        assert_eq!(pool.in_use(), 3);
        let reused = b.slot();
        drop(b);
        assert_eq!(pool.in_use(), 2);
        let d = pool.lease().expect("slot again");
        assert_eq!(d.slot(), reused);
        drop((a, c, d));
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn released_slot_is_reused_last() {
        let pool = PortPool::new(plan(3)).expect("valid plan");
        let a = pool.lease().expect("slot");
        let first = a.slot();
        drop(a);
        let b = pool.lease().expect("slot");
        assert_ne!(b.slot(), first);
    }

    #[test]
    fn bad_plans_are_refused_with_the_key_to_fix() {
        let mut p = plan(2000);
        assert!(matches!(p.validate(), Err(PortError::Overlap { .. })));
        p.switch_ip = [10, 0, 0, 1].into();
        assert!(p.validate().is_ok());
        p.port_first = 65_000;
        let err = p.validate().expect_err("past 65535");
        assert!(err.to_string().contains("port_first"), "{err}");
    }
}
