//! [`SledStore`]: the [`Store`] on sled, the embedded default (nothing to install).
//!
//! Trees and keys (ids big-endian so that prefix scans come out in order):
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `campaigns` | name | JSON [`CampaignRecord`] |
//! | `contacts` | id | JSON header, then the sealed [`ContactPii`] |
//! | `by_campaign` | campaign, 0, id | — |
//! | `attempts` | uuid | JSON [`Attempt`] |
//! | `attempts_by_contact` | id, number, uuid | — |
//! | `open_attempts` | campaign, 0, uuid | — |
//! | `cdrs` | uuid | JSON [`CdrRecord`] |
//! | `history` | phone key, time, uuid | — |
//! | `lists` | kind tag, phone key | JSON [`ListEntry`] |
//! | `audit` | contact id, sequence | JSON [`AuditEntry`] |

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use super::{
    Attempt, AttemptState, AuditEntry, CampaignCounts, CampaignRecord, CdrRecord, Contact,
    ContactPii, ContactState, Disposition, LineType, ListEntry, ListFlags, ListKind, PhoneKey,
    PiiCipher, Store, StoreError,
};

/// The sled-backed store.
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    cipher: PiiCipher,
    campaigns: Tree,
    contacts: Tree,
    by_campaign: Tree,
    attempts: Tree,
    attempts_by_contact: Tree,
    open_attempts: Tree,
    cdrs: Tree,
    history: Tree,
    lists: Tree,
    audit: Tree,
}

/// The contact as stored: everything but the personal data in clear.
#[derive(Serialize, Deserialize)]
struct ContactHeader {
    id: u64,
    campaign: String,
    phone_key: PhoneKey,
    line_type: LineType,
    region: String,
    utc_offset_min: i32,
    seq: u64,
    score: Option<f32>,
    best_hour: Option<u8>,
    state: ContactState,
    attempts: u32,
    next_at: i64,
    note: String,
}

fn corrupt(key: &[u8], reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).chars().take(60).collect(),
        reason: reason.to_string(),
    }
}

fn json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs (strings, numbers, maps with string keys) cannot fail.
    serde_json::to_vec(value).expect("plain struct serialises to JSON")
}

fn from_json<T: for<'de> Deserialize<'de>>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(key, e))
}

fn prefixed(prefix: &str, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 1 + rest.len());
    k.extend_from_slice(prefix.as_bytes());
    k.push(0);
    k.extend_from_slice(rest);
    k
}

fn history_key(key: &PhoneKey, at: i64, uuid: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + 8 + uuid.len());
    k.extend_from_slice(&key.0);
    // Offset binary so that negative times still sort before positive ones.
    k.extend_from_slice(&((at as u64) ^ (1 << 63)).to_be_bytes());
    k.extend_from_slice(uuid.as_bytes());
    k
}

fn history_time(k: &[u8]) -> Option<i64> {
    let b: [u8; 8] = k.get(32..40)?.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

fn list_key(kind: ListKind, key: &PhoneKey) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = kind.tag();
    k[1..].copy_from_slice(&key.0);
    k
}

fn attempt_index_key(a: &Attempt) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + a.uuid.len());
    k.extend_from_slice(&a.contact_id.to_be_bytes());
    k.extend_from_slice(&a.number.to_be_bytes());
    k.extend_from_slice(a.uuid.as_bytes());
    k
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Db(e),
    }
}

impl SledStore {
    /// Opens (or creates) the database in `dir`; the PII key from `AICALL_PII_KEY` or
    /// `dir/pii.key` (created on first use).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let cipher = PiiCipher::load(&dir.join("pii.key"))?;
        Self::open_with(dir, cipher)
    }

    /// Opens with an explicit cipher.
    pub fn open_with(dir: &Path, cipher: PiiCipher) -> Result<Self, StoreError> {
        // A bounded page cache: sled's default (1 GiB) lets a large import balloon.
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(128 * 1024 * 1024)
            // Imports write hundreds of thousands of records at once: favour write speed.
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|source| StoreError::Open {
                path: dir.display().to_string(),
                source,
            })?;
        let t = |name: &str| db.open_tree(name);
        Ok(Self {
            campaigns: t("campaigns")?,
            contacts: t("contacts")?,
            by_campaign: t("by_campaign")?,
            attempts: t("attempts")?,
            attempts_by_contact: t("attempts_by_contact")?,
            open_attempts: t("open_attempts")?,
            cdrs: t("cdrs")?,
            history: t("history")?,
            lists: t("lists")?,
            audit: t("audit")?,
            cipher,
            db,
        })
    }

    fn encode_contact(&self, c: &Contact) -> Vec<u8> {
        let header = json(&ContactHeader {
            id: c.id,
            campaign: c.campaign.clone(),
            phone_key: c.phone_key,
            line_type: c.line_type,
            region: c.region.clone(),
            utc_offset_min: c.utc_offset_min,
            seq: c.seq,
            score: c.score,
            best_hour: c.best_hour,
            state: c.state,
            attempts: c.attempts,
            next_at: c.next_at,
            note: c.note.clone(),
        });
        let sealed = self.cipher.seal(&json(&c.pii));
        let mut out = Vec::with_capacity(4 + header.len() + sealed.len());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&sealed);
        out
    }

    fn decode_header<'a>(
        &self,
        key: &[u8],
        bytes: &'a [u8],
    ) -> Result<(ContactHeader, &'a [u8]), StoreError> {
        let len_bytes: [u8; 4] = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt(key, "truncated"))?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        let header = bytes
            .get(4..4 + len)
            .ok_or_else(|| corrupt(key, "truncated header"))?;
        Ok((from_json(key, header)?, &bytes[4 + len..]))
    }

    fn decode_contact(&self, key: &[u8], bytes: &[u8]) -> Result<Contact, StoreError> {
        let (h, sealed) = self.decode_header(key, bytes)?;
        let plain = self
            .cipher
            .open(sealed)
            .ok_or_else(|| StoreError::Decrypt {
                key: format!("contact {}", h.id),
            })?;
        let pii: ContactPii = from_json(key, &plain)?;
        Ok(Contact {
            id: h.id,
            campaign: h.campaign,
            phone_key: h.phone_key,
            pii,
            line_type: h.line_type,
            region: h.region,
            utc_offset_min: h.utc_offset_min,
            seq: h.seq,
            score: h.score,
            best_hour: h.best_hour,
            state: h.state,
            attempts: h.attempts,
            next_at: h.next_at,
            note: h.note,
        })
    }

    /// Ids of a campaign's contacts, in import order. The index is keyed by campaign and id,
    /// so an import appends to it (sled is much faster at in-order inserts).
    fn campaign_ids(&self, campaign: &str) -> Result<Vec<u64>, StoreError> {
        let prefix = prefixed(campaign, &[]);
        let mut ids = Vec::new();
        for kv in self.by_campaign.scan_prefix(&prefix) {
            let (k, _) = kv?;
            let id_bytes: [u8; 8] = k[prefix.len()..]
                .try_into()
                .map_err(|_| corrupt(&k, "bad campaign index key"))?;
            ids.push(u64::from_be_bytes(id_bytes));
        }
        Ok(ids)
    }

    fn tx_contact(&self, t: &TransactionalTree, id: u64) -> TxResult<Contact> {
        let key = id.to_be_bytes();
        match t.get(key)? {
            Some(v) => match self.decode_contact(&key, &v) {
                Ok(c) => Ok(c),
                Err(e) => abort(e),
            },
            None => abort(StoreError::NoContact(id)),
        }
    }
}

impl Store for SledStore {
    fn phone_key(&self, e164: &str) -> PhoneKey {
        self.cipher.phone_key(e164)
    }

    fn create_campaign(&self, record: &CampaignRecord) -> Result<(), StoreError> {
        let res = self.campaigns.compare_and_swap(
            record.name.as_bytes(),
            None as Option<&[u8]>,
            Some(json(record)),
        )?;
        match res {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::CampaignExists(record.name.clone())),
        }
    }

    fn campaign(&self, name: &str) -> Result<CampaignRecord, StoreError> {
        match self.campaigns.get(name.as_bytes())? {
            Some(v) => from_json(name.as_bytes(), &v),
            None => Err(StoreError::NoCampaign(name.to_owned())),
        }
    }

    fn put_campaign(&self, record: &CampaignRecord) -> Result<(), StoreError> {
        self.campaigns
            .insert(record.name.as_bytes(), json(record))?;
        Ok(())
    }

    fn campaigns(&self) -> Result<Vec<CampaignRecord>, StoreError> {
        self.campaigns
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                from_json(&k, &v)
            })
            .collect()
    }

    fn reserve_ids(&self, n: u64) -> Result<u64, StoreError> {
        let after = self.db.update_and_fetch(b"next_contact_id", |old| {
            let cur = old
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(1);
            Some((cur + n).to_be_bytes().to_vec())
        })?;
        let end = after
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| corrupt(b"next_contact_id", "counter missing"))?;
        Ok(end - n)
    }

    fn put_contacts(&self, contacts: &[Contact]) -> Result<(), StoreError> {
        let mut main = sled::Batch::default();
        let mut by_campaign = sled::Batch::default();
        // Sealing and JSON encoding dominate a large import: spread them over the cores.
        let encoded: Vec<Vec<u8>> = contacts
            .par_iter()
            .map(|c| self.encode_contact(c))
            .collect();
        for (c, value) in contacts.iter().zip(encoded) {
            main.insert(&c.id.to_be_bytes(), value);
            by_campaign.insert(prefixed(&c.campaign, &c.id.to_be_bytes()), &[]);
        }
        self.contacts.apply_batch(main)?;
        self.by_campaign.apply_batch(by_campaign)?;
        Ok(())
    }

    fn put_contact(&self, contact: &Contact) -> Result<(), StoreError> {
        self.put_contacts(std::slice::from_ref(contact))
    }

    fn contact(&self, id: u64) -> Result<Contact, StoreError> {
        let key = id.to_be_bytes();
        match self.contacts.get(key)? {
            Some(v) => self.decode_contact(&key, &v),
            None => Err(StoreError::NoContact(id)),
        }
    }

    fn phone_index(&self, campaign: &str) -> Result<HashMap<PhoneKey, u64>, StoreError> {
        let mut out = HashMap::new();
        for id in self.campaign_ids(campaign)? {
            let key = id.to_be_bytes();
            let Some(v) = self.contacts.get(key)? else {
                continue;
            };
            let h = self.decode_header(&key, &v)?.0;
            out.insert(h.phone_key, h.id);
        }
        Ok(out)
    }

    fn contacts(&self, campaign: &str) -> Result<Vec<Contact>, StoreError> {
        self.campaign_ids(campaign)?
            .into_iter()
            .map(|id| self.contact(id))
            .collect()
    }

    fn begin_attempt(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let trees: &[&Tree] = &[
            &self.contacts,
            &self.attempts,
            &self.attempts_by_contact,
            &self.open_attempts,
            &self.history,
            &self.lists,
        ];
        trees
            .transaction(|t| {
                let (contacts, attempts, by_contact, open, history, lists) =
                    (&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]);
                let mut c = self.tx_contact(contacts, attempt.contact_id)?;
                let conflict = |reason: String| StoreError::AttemptConflict {
                    contact: attempt.contact_id,
                    attempt: attempt.number,
                    reason,
                };
                if c.state != ContactState::Pending {
                    return abort(conflict(format!("contact is {:?}", c.state)));
                }
                if c.attempts + 1 != attempt.number {
                    return abort(conflict(format!("contact has {} attempts", c.attempts)));
                }
                if attempts.get(attempt.uuid.as_bytes())?.is_some() {
                    return abort(conflict("attempt id already used".into()));
                }
                for kind in [ListKind::Dnc, ListKind::Black] {
                    if lists.get(list_key(kind, &c.phone_key))?.is_some() {
                        return abort(conflict(format!("number is on the {kind:?} list")));
                    }
                }
                c.state = ContactState::InFlight;
                c.attempts = attempt.number;
                contacts.insert(&c.id.to_be_bytes(), self.encode_contact(&c))?;
                attempts.insert(attempt.uuid.as_bytes(), json(attempt))?;
                by_contact.insert(attempt_index_key(attempt), &[])?;
                open.insert(prefixed(&attempt.campaign, attempt.uuid.as_bytes()), &[])?;
                history.insert(
                    history_key(&c.phone_key, attempt.started_at, &attempt.uuid),
                    &[],
                )?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn mark_answered(&self, uuid: &str) -> Result<(), StoreError> {
        let mut a = self.attempt(uuid)?;
        if a.state == AttemptState::Dialing {
            a.state = AttemptState::Answered;
            self.attempts.insert(uuid.as_bytes(), json(&a))?;
        }
        Ok(())
    }

    fn finish_attempt(
        &self,
        attempt: &Attempt,
        cdr: &CdrRecord,
        contact: &Contact,
    ) -> Result<(), StoreError> {
        let trees: &[&Tree] = &[
            &self.contacts,
            &self.attempts,
            &self.open_attempts,
            &self.cdrs,
            &self.history,
            &self.attempts_by_contact,
        ];
        trees
            .transaction(|t| {
                let (contacts, attempts, open, cdrs, history, by_contact) =
                    (&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]);
                let Some(stored) = attempts.get(attempt.uuid.as_bytes())? else {
                    return abort(StoreError::NoAttempt(attempt.uuid.clone()));
                };
                let stored: Attempt = match from_json(attempt.uuid.as_bytes(), &stored) {
                    Ok(a) => a,
                    Err(e) => return abort(e),
                };
                if stored.state == AttemptState::Ended {
                    // Already resolved (e.g. by reconciliation): first resolution wins.
                    return Ok(());
                }
                attempts.insert(attempt.uuid.as_bytes(), json(attempt))?;
                open.remove(prefixed(&attempt.campaign, attempt.uuid.as_bytes()))?;
                cdrs.insert(attempt.uuid.as_bytes(), json(cdr))?;
                if attempt.disposition == Some(Disposition::GatewayDown) {
                    // The call never left: it is neither a dial for the caps nor an attempt.
                    history.remove(history_key(
                        &contact.phone_key,
                        attempt.started_at,
                        &attempt.uuid,
                    ))?;
                    by_contact.remove(attempt_index_key(&stored))?;
                }
                contacts.insert(&contact.id.to_be_bytes(), self.encode_contact(contact))?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn attempt(&self, uuid: &str) -> Result<Attempt, StoreError> {
        match self.attempts.get(uuid.as_bytes())? {
            Some(v) => from_json(uuid.as_bytes(), &v),
            None => Err(StoreError::NoAttempt(uuid.to_owned())),
        }
    }

    fn open_attempts(&self, campaign: &str) -> Result<Vec<Attempt>, StoreError> {
        let prefix = prefixed(campaign, &[]);
        let mut out = Vec::new();
        for kv in self.open_attempts.scan_prefix(&prefix) {
            let (k, _) = kv?;
            let uuid = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            out.push(self.attempt(&uuid)?);
        }
        Ok(out)
    }

    fn attempts_of(&self, contact_id: u64) -> Result<Vec<Attempt>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .attempts_by_contact
            .scan_prefix(contact_id.to_be_bytes())
        {
            let (k, _) = kv?;
            let uuid = String::from_utf8_lossy(&k[12..]).into_owned();
            out.push(self.attempt(&uuid)?);
        }
        Ok(out)
    }

    fn cdr(&self, uuid: &str) -> Result<Option<CdrRecord>, StoreError> {
        match self.cdrs.get(uuid.as_bytes())? {
            Some(v) => from_json(uuid.as_bytes(), &v).map(Some),
            None => Ok(None),
        }
    }

    fn dial_history(&self, key: &PhoneKey, since: i64) -> Result<Vec<i64>, StoreError> {
        let mut out = Vec::new();
        for kv in self.history.scan_prefix(key.0) {
            let (k, _) = kv?;
            match history_time(&k) {
                Some(t) if t >= since => out.push(t),
                Some(_) => {}
                None => return Err(corrupt(&k, "bad history key")),
            }
        }
        Ok(out)
    }

    fn all_dial_history(&self, since: i64) -> Result<Vec<(PhoneKey, i64)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.history.iter() {
            let (k, _) = kv?;
            let (Some(t), Ok(key)) = (history_time(&k), <[u8; 32]>::try_from(&k[..32])) else {
                return Err(corrupt(&k, "bad history key"));
            };
            if t >= since {
                out.push((PhoneKey(key), t));
            }
        }
        Ok(out)
    }

    fn list_add(&self, key: &PhoneKey, entry: &ListEntry) -> Result<(), StoreError> {
        self.lists.insert(list_key(entry.kind, key), json(entry))?;
        Ok(())
    }

    fn list_remove(&self, key: &PhoneKey, kind: ListKind) -> Result<bool, StoreError> {
        Ok(self.lists.remove(list_key(kind, key))?.is_some())
    }

    fn list_flags(&self, key: &PhoneKey) -> Result<ListFlags, StoreError> {
        Ok(ListFlags {
            dnc: self.lists.contains_key(list_key(ListKind::Dnc, key))?,
            black: self.lists.contains_key(list_key(ListKind::Black, key))?,
            gray: self.lists.contains_key(list_key(ListKind::Gray, key))?,
        })
    }

    fn list_all(&self) -> Result<Vec<(PhoneKey, ListKind)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.lists.iter() {
            let (k, v) = kv?;
            let entry: ListEntry = from_json(&k, &v)?;
            let key = <[u8; 32]>::try_from(&k[1..]).map_err(|_| corrupt(&k, "bad list key"))?;
            out.push((PhoneKey(key), entry.kind));
        }
        Ok(out)
    }

    fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut k = entry.contact_id.to_be_bytes().to_vec();
        k.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        self.audit.insert(k, json(entry))?;
        Ok(())
    }

    fn audit_trail(&self, contact_id: u64) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit
            .scan_prefix(contact_id.to_be_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                from_json(&k, &v)
            })
            .collect()
    }

    fn counts(&self, campaign: &str) -> Result<CampaignCounts, StoreError> {
        let mut counts = CampaignCounts::default();
        for c in self.contacts(campaign)? {
            counts.contacts += 1;
            *counts
                .by_state
                .entry(format!("{:?}", c.state).to_lowercase())
                .or_default() += 1;
            counts.attempts += u64::from(c.attempts);
        }
        for kv in self.cdrs.iter() {
            let (k, v) = kv?;
            let cdr: CdrRecord = from_json(&k, &v)?;
            if cdr.campaign == campaign && cdr.answered {
                counts.answered += 1;
                if cdr.cause == "ABANDONED" {
                    counts.abandoned += 1;
                }
            }
        }
        Ok(counts)
    }

    // Call records: tree `calls`, key `campaign \0 uuid`, value sealed with the PII key.
    fn put_call_record(&self, campaign: &str, uuid: &str, record: &[u8]) -> Result<(), StoreError> {
        let calls = self.db.open_tree("calls")?;
        calls.insert(
            prefixed(campaign, uuid.as_bytes()),
            self.cipher.seal(record),
        )?;
        Ok(())
    }

    fn call_record(&self, campaign: &str, uuid: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let calls = self.db.open_tree("calls")?;
        let key = prefixed(campaign, uuid.as_bytes());
        match calls.get(&key)? {
            Some(v) => self.cipher.open(&v).map(Some).ok_or(StoreError::Decrypt {
                key: format!("call {uuid}"),
            }),
            None => Ok(None),
        }
    }

    fn call_records(&self, campaign: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let calls = self.db.open_tree("calls")?;
        let mut out = Vec::new();
        for kv in calls.scan_prefix(prefixed(campaign, b"")) {
            let (k, v) = kv?;
            out.push(self.cipher.open(&v).ok_or_else(|| StoreError::Decrypt {
                key: format!("call {}", String::from_utf8_lossy(&k)),
            })?);
        }
        Ok(out)
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SledStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = SledStore::open_with(dir.path(), PiiCipher::new([3u8; 32])).expect("open");
        (dir, s)
    }

    fn contact(s: &SledStore, id: u64, phone: &str) -> Contact {
        Contact {
            id,
            campaign: "c".into(),
            phone_key: s.phone_key(phone),
            pii: ContactPii {
                phone: phone.into(),
                name: Some("张三".into()),
                fields: [("city".to_string(), "北京".to_string())].into(),
            },
            line_type: LineType::Mobile,
            region: "CN".into(),
            utc_offset_min: 480,
            seq: id,
            score: None,
            best_hour: None,
            state: ContactState::Pending,
            attempts: 0,
            next_at: 0,
            note: String::new(),
        }
    }

    fn attempt(id: u64, n: u32, uuid: &str) -> Attempt {
        Attempt {
            uuid: uuid.into(),
            contact_id: id,
            campaign: "c".into(),
            number: n,
            state: AttemptState::Dialing,
            started_at: 1000,
            ended_at: None,
            cause: None,
            disposition: None,
            gateway: "gw".into(),
            caller_id: "100".into(),
        }
    }

    #[test]
    fn contacts_round_trip_and_pii_is_not_in_clear() {
        let (dir, s) = store();
        let c = contact(&s, 1, "+8613800138000");
        s.put_contacts(std::slice::from_ref(&c)).expect("put");
        assert_eq!(s.contact(1).expect("get"), c);
        assert_eq!(s.contacts("c").expect("list"), vec![c.clone()]);
        assert_eq!(
            s.phone_index("c").expect("by phone").get(&c.phone_key),
            Some(&1)
        );
        s.flush().expect("flush");
        drop(s);
        let mut raw = Vec::new();
        for entry in walk(dir.path()) {
            raw.extend(std::fs::read(entry).expect("read db file"));
        }
        assert!(!raw.windows(8).any(|w| w == b"13800138"));
        assert!(!raw.windows(6).any(|w| w == "张三".as_bytes()));
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn begin_attempt_is_exactly_once_and_respects_lists() {
        let (_dir, s) = store();
        let c = contact(&s, 1, "+8613800138000");
        s.put_contacts(std::slice::from_ref(&c)).expect("put");
        s.begin_attempt(&attempt(1, 1, "u1")).expect("first");
        // In flight: a second attempt (or the same one again) is refused.
        assert!(s.begin_attempt(&attempt(1, 2, "u2")).is_err());
        assert!(s.begin_attempt(&attempt(1, 1, "u1")).is_err());
        assert_eq!(s.open_attempts("c").expect("open").len(), 1);
        assert_eq!(s.dial_history(&c.phone_key, 0).expect("hist"), vec![1000]);
        let mut done = s.attempt("u1").expect("attempt");
        done.state = AttemptState::Ended;
        done.disposition = Some(Disposition::Busy);
        let mut after = s.contact(1).expect("contact");
        after.state = ContactState::Pending;
        let cdr = CdrRecord {
            uuid: "u1".into(),
            contact_id: 1,
            campaign: "c".into(),
            cause: "USER_BUSY".into(),
            answered: false,
            billsec: 0,
            started_at: 1000,
            ended_at: 1001,
        };
        s.finish_attempt(&done, &cdr, &after).expect("finish");
        assert!(s.open_attempts("c").expect("open").is_empty());
        s.list_add(
            &c.phone_key,
            &ListEntry {
                kind: ListKind::Dnc,
                added_at: 5,
                source: "test".into(),
            },
        )
        .expect("dnc");
        let err = s
            .begin_attempt(&attempt(1, 2, "u2"))
            .expect_err("dnc refused");
        assert!(err.to_string().contains("Dnc"), "{err}");
        assert!(s.list_flags(&c.phone_key).expect("flags").dnc);
        assert!(s.list_remove(&c.phone_key, ListKind::Dnc).expect("rm"));
        s.begin_attempt(&attempt(1, 2, "u2")).expect("second");
        assert_eq!(s.attempts_of(1).expect("attempts").len(), 2);
    }

    #[test]
    fn reserve_ids_are_consecutive_and_disjoint() {
        let (_dir, s) = store();
        let a = s.reserve_ids(10).expect("a");
        let b = s.reserve_ids(5).expect("b");
        assert_eq!(b, a + 10);
    }
}
