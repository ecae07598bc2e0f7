//! The dashboard's log-in: passwords (Argon2id), sessions (a random token in an HttpOnly
//! cookie, kept in memory with an idle and an absolute expiry) and the brake on password
//! guessing. [`Sessions`] and [`Throttle`] are pure: every call takes `now_ms`.
//!
//! Sessions live in the process: a restart of the service logs everybody out, which a
//! wallboard survives by showing its log-in page again. The table keeps a hash of each token,
//! not the token, so a memory dump holds nothing that logs in.

use std::collections::{HashMap, VecDeque};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shortest and longest password accepted (a bound on the hash's work per attempt, too).
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 256;

/// Why a password cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password is {PASSWORD_MIN} to {PASSWORD_MAX} characters (got {0})")]
    Length(usize),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// The Argon2id PHC string of `password` (OWASP's parameters: 19 MiB, 2 passes), with a
/// fresh random salt. Slow on purpose (tens of ms): call it off the reactor.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let n = password.chars().count();
    if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&n) {
        return Err(PasswordError::Length(n));
    }
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored `hash`; a malformed hash matches nothing.
pub fn verify_password(hash: &str, password: &str) -> bool {
    if password.chars().count() > PASSWORD_MAX {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash no password matches, verified for unknown users so that a log-in takes as long
/// whether the user exists or not (the answer's timing does not list the users).
pub fn decoy_hash() -> &'static str {
    // Argon2id of a random password nobody kept, with the default parameters.
    "$argon2id$v=19$m=19456,t=2,p=1$eU9pQ0ZxbWJ2d2xrZXh5eg$\
     Tq2bHY9kmz0LN5N0dF0B8HvUeZl3e0aJ4mY7c0R4kXU"
}

/// The sessions of logged-in users.
#[derive(Debug)]
pub struct Sessions {
    by_hash: HashMap<String, Session>,
    /// Oldest first, for eviction at the cap.
    order: VecDeque<String>,
    idle_ms: i64,
    max_ms: i64,
    cap: usize,
}

#[derive(Debug, Clone)]
struct Session {
    user: String,
    created_ms: i64,
    last_ms: i64,
}

impl Sessions {
    /// A session ends after `idle_ms` without a request, or `max_ms` after log-in whatever
    /// happens; past `cap` sessions the oldest is ended.
    pub fn new(idle_ms: i64, max_ms: i64, cap: usize) -> Self {
        Self {
            by_hash: HashMap::new(),
            order: VecDeque::new(),
            idle_ms,
            max_ms,
            cap: cap.max(1),
        }
    }

    /// Opens a session for `user`; returns its token (for the cookie, never stored).
    pub fn open(&mut self, user: &str, now_ms: i64) -> String {
        self.purge(now_ms);
        let bytes: [u8; 32] = rand::random();
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let hash = token_hash(&token);
        while self.by_hash.len() >= self.cap {
            match self.order.pop_front() {
                Some(old) => {
                    self.by_hash.remove(&old);
                }
                None => break,
            }
        }
        self.by_hash.insert(
            hash.clone(),
            Session {
                user: user.to_owned(),
                created_ms: now_ms,
                last_ms: now_ms,
            },
        );
        self.order.push_back(hash);
        token
    }

    /// The user of a live session (and the session's idle clock restarts), or none for an
    /// unknown or expired token.
    pub fn check(&mut self, token: &str, now_ms: i64) -> Option<String> {
        let hash = token_hash(token);
        let s = self.by_hash.get_mut(&hash)?;
        if now_ms - s.last_ms > self.idle_ms || now_ms - s.created_ms > self.max_ms {
            self.by_hash.remove(&hash);
            self.order.retain(|h| *h != hash);
            return None;
        }
        s.last_ms = now_ms;
        Some(s.user.clone())
    }

    /// Ends a session (log-out); false when there was none.
    pub fn close(&mut self, token: &str) -> bool {
        let hash = token_hash(token);
        self.order.retain(|h| *h != hash);
        self.by_hash.remove(&hash).is_some()
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    fn purge(&mut self, now_ms: i64) {
        let (idle, max) = (self.idle_ms, self.max_ms);
        self.by_hash
            .retain(|_, s| now_ms - s.last_ms <= idle && now_ms - s.created_ms <= max);
        let live = &self.by_hash;
        self.order.retain(|h| live.contains_key(h));
    }
}

fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// The brake on password guessing: after `limit` failed log-ins for one user name within
/// `window_ms`, that name may not try again until the oldest failure leaves the window.
#[derive(Debug)]
pub struct Throttle {
    failures: HashMap<String, VecDeque<i64>>,
    limit: usize,
    window_ms: i64,
}

impl Throttle {
    pub fn new(limit: usize, window_ms: i64) -> Self {
        Self {
            failures: HashMap::new(),
            limit: limit.max(1),
            window_ms,
        }
    }

    /// Whether `user` may try a password now; when not, the ms until it may.
    pub fn may_try(&mut self, user: &str, now_ms: i64) -> Result<(), i64> {
        let window = self.window_ms;
        let Some(q) = self.failures.get_mut(user) else {
            return Ok(());
        };
        while q.front().is_some_and(|&t| now_ms - t >= window) {
            q.pop_front();
        }
        if q.is_empty() {
            self.failures.remove(user);
            return Ok(());
        }
        match q.front() {
            Some(&oldest) if q.len() >= self.limit => Err(oldest + window - now_ms),
            _ => Ok(()),
        }
    }

    /// Records a failed log-in.
    pub fn failed(&mut self, user: &str, now_ms: i64) {
        // Bounded: names that never succeed are dropped with their window; a flood of
        // distinct names is capped here.
        if self.failures.len() >= 10_000 && !self.failures.contains_key(user) {
            let window = self.window_ms;
            self.failures
                .retain(|_, q| q.back().is_some_and(|&t| now_ms - t < window));
            if self.failures.len() >= 10_000 {
                return;
            }
        }
        let q = self.failures.entry(user.to_owned()).or_default();
        q.push_back(now_ms);
        while q.len() > self.limit {
            q.pop_front();
        }
    }

    /// A successful log-in forgets the user's failures.
    pub fn succeeded(&mut self, user: &str) {
        self.failures.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn passwords_hash_with_a_salt_and_verify() {
        let a = hash_password("correct horse").expect("hash");
        let b = hash_password("correct horse").expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(!a.contains("correct horse"));
        assert!(verify_password(&a, "correct horse"));
        assert!(!verify_password(&a, "correct horsE"));
        assert!(!verify_password("not a hash", "correct horse"));
        assert!(!verify_password(decoy_hash(), "correct horse"));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::Length(5))
        ));
        assert!(matches!(
            hash_password(&"x".repeat(PASSWORD_MAX + 1)),
            Err(PasswordError::Length(_))
        ));
        // Characters, not bytes: eight Chinese characters are a password.
        assert!(hash_password("八个汉字的密码呀").is_ok());
    }

    #[test]
    fn the_decoy_is_a_well_formed_hash() {
        // Otherwise an unknown user would answer faster than a wrong password.
        assert!(PasswordHash::new(decoy_hash()).is_ok());
    }

    #[test]
    fn sessions_expire_when_idle_and_at_their_maximum_age() {
        let mut s = Sessions::new(30 * MIN, 8 * 60 * MIN, 100);
        let t = s.open("ann", 0);
        assert_eq!(t.len(), 64);
        assert_eq!(s.check(&t, 29 * MIN).as_deref(), Some("ann"));
        // Each request restarts the idle clock...
        assert_eq!(s.check(&t, 58 * MIN).as_deref(), Some("ann"));
        // ...but not past the maximum age.
        let mut at = 58 * MIN;
        while at + 20 * MIN <= 8 * 60 * MIN {
            at += 20 * MIN;
            assert_eq!(s.check(&t, at).as_deref(), Some("ann"), "at {at}");
        }
        assert_eq!(s.check(&t, 8 * 60 * MIN + 1), None);
        assert!(s.is_empty(), "an expired session is gone");

        let idle = s.open("bob", 0);
        assert_eq!(s.check(&idle, 30 * MIN + 1), None);
        assert_eq!(s.check("not-a-token", 0), None);
    }

    #[test]
    fn log_out_ends_a_session_and_the_cap_evicts_the_oldest() {
        let mut s = Sessions::new(MIN, 10 * MIN, 2);
        let a = s.open("a", 0);
        assert!(s.close(&a));
        assert!(!s.close(&a));
        assert_eq!(s.check(&a, 1), None);
        let b = s.open("b", 1);
        let c = s.open("c", 2);
        let d = s.open("d", 3);
        assert_eq!(s.len(), 2);
        assert_eq!(s.check(&b, 4), None, "the oldest was evicted");
        assert_eq!(s.check(&c, 4).as_deref(), Some("c"));
        assert_eq!(s.check(&d, 4).as_deref(), Some("d"));
        // Expired sessions are purged when another opens.
        let _e = s.open("e", 10 * MIN);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn the_throttle_stops_guessing_for_a_while() {
        let mut t = Throttle::new(3, 5 * MIN);
        for i in 0..3 {
            assert!(t.may_try("ann", i * 1000).is_ok());
            t.failed("ann", i * 1000);
        }
        assert_eq!(t.may_try("ann", 3000), Err(5 * MIN - 3000));
        assert!(t.may_try("bob", 3000).is_ok(), "per user");
        assert!(
            t.may_try("ann", 5 * MIN).is_ok(),
            "the first failure left the window"
        );
        t.failed("ann", 5 * MIN);
        assert!(t.may_try("ann", 5 * MIN + 1).is_err());
        t.succeeded("ann");
        assert!(t.may_try("ann", 5 * MIN + 2).is_ok());
    }
}
