//! [`SledStore`]: the [`Store`] on sled, the embedded default (nothing to install).
//!
//! Trees and keys (ids big-endian so that prefix scans come out in order):
//!
//! | tree | key | value |
//! | --- | --- | --- |
//! | `campaigns` | name | JSON [`CampaignRecord`] |
//! | `blocks` | block number (id / 128) | packed contacts as imported (below) |
//! | `contacts` | id | a contact changed since it was written to its block: JSON header, then the sealed [`ContactPii`] |
//! | `by_campaign` | campaign, 0, block number | — |
//! | `attempts` | uuid | JSON [`Attempt`] |
//! | `attempts_by_contact` | id, number, uuid | — |
//! | `open_attempts` | campaign, 0, uuid | — |
//! | `cdrs` | uuid | JSON [`CdrRecord`] |
//! | `history` | phone key, time, uuid | — |
//! | `lists` | kind tag, phone key | JSON [`ListEntry`] |
//! | `audit` | contact id, sequence | JSON [`AuditEntry`] |
//! | `hook_outbox`, `hook_dead` | delivery id | sealed JSON [`HookDelivery`] |
//! | `hook_done` | delivery id | unix ms delivered |
//!
//! **Contact blocks.** sled costs several microseconds and a handful of allocations per key,
//! which dominated a 1M-row import. New contacts are therefore packed 128 to a value, by id
//! range: a block holds the clear headers (state, phone key, time zone…) in a compact binary
//! form, then the personal data of all its contacts sealed as one ChaCha20-Poly1305 message
//! (one nonce and tag per block). A block is written once per import batch that adds to it and
//! its existing entries are never changed: a contact that changes later (an attempt, a merge,
//! a score) is written whole to `contacts`, which takes precedence over the block. So the
//! per-attempt transactions touch one small key, as before, and a block can be read outside
//! them. Writes that add contacts to blocks are serialised by a mutex (sled admits one process
//! per database). The campaign index lists blocks, not contacts; a block may hold contacts of
//! several campaigns (ids are reserved per import), which readers filter.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use super::{
    Attempt, AttemptState, AuditEntry, CampaignCounts, CampaignRecord, CdrRecord, Contact,
    ContactPii, ContactState, ControlAudit, Disposition, HookDelivery, LineType, ListEntry,
    ListFlags, ListKind, PhoneKey, PiiCipher, Store, StoreError, UserRecord, SEALED_PREFIX,
};

/// The sled-backed store.
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    cipher: PiiCipher,
    campaigns: Tree,
    /// Packed contacts as written by imports (see the module doc).
    blocks: Tree,
    /// Contacts changed since they were written to their block.
    contacts: Tree,
    by_campaign: Tree,
    attempts: Tree,
    attempts_by_contact: Tree,
    open_attempts: Tree,
    cdrs: Tree,
    history: Tree,
    lists: Tree,
    audit: Tree,
    /// Serialises writes that add contacts to blocks (read-modify-write of a block).
    block_writer: Arc<Mutex<()>>,
}

/// Contacts per block.
const BLOCK: u64 = 128;
/// First byte of a block value.
const BLOCK_VERSION: u8 = 1;
/// The database's layout, in the default tree; absent in databases of the per-contact layout.
const LAYOUT_KEY: &[u8] = b"layout";
const LAYOUT: &[u8] = b"contact-blocks-1";

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

// ---------------------------------------------------------------- block codec

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over a block; every read is bounds-checked (`None` = truncated / corrupt).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let b = self.buf.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(b)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.bytes(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.bytes(n)?).ok()
    }

    fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }
}

fn line_type_tag(t: LineType) -> u8 {
    match t {
        LineType::Mobile => 0,
        LineType::Landline => 1,
        LineType::Other => 2,
    }
}

fn line_type_of(b: u8) -> Option<LineType> {
    Some(match b {
        0 => LineType::Mobile,
        1 => LineType::Landline,
        2 => LineType::Other,
        _ => return None,
    })
}

fn state_tag(s: ContactState) -> u8 {
    match s {
        ContactState::Pending => 0,
        ContactState::InFlight => 1,
        ContactState::Done => 2,
        ContactState::Exhausted => 3,
        ContactState::Invalid => 4,
        ContactState::Blocked => 5,
    }
}

fn state_of(b: u8) -> Option<ContactState> {
    Some(match b {
        0 => ContactState::Pending,
        1 => ContactState::InFlight,
        2 => ContactState::Done,
        3 => ContactState::Exhausted,
        4 => ContactState::Invalid,
        5 => ContactState::Blocked,
        _ => return None,
    })
}

fn put_header(out: &mut Vec<u8>, c: &Contact) {
    out.extend_from_slice(&c.id.to_le_bytes());
    put_str(out, &c.campaign);
    out.extend_from_slice(&c.phone_key.0);
    out.push(line_type_tag(c.line_type));
    put_str(out, &c.region);
    out.extend_from_slice(&c.utc_offset_min.to_le_bytes());
    out.extend_from_slice(&c.seq.to_le_bytes());
    match c.score {
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&s.to_bits().to_le_bytes());
        }
        None => out.push(0),
    }
    out.push(c.best_hour.unwrap_or(u8::MAX));
    out.push(state_tag(c.state));
    put_u32(out, c.attempts);
    out.extend_from_slice(&c.next_at.to_le_bytes());
    put_str(out, &c.note);
}

fn read_header(r: &mut Reader<'_>) -> Option<ContactHeader> {
    let id = r.u64()?;
    let campaign = r.str()?.to_owned();
    let phone_key = PhoneKey(r.array()?);
    let line_type = line_type_of(r.u8()?)?;
    let region = r.str()?.to_owned();
    let utc_offset_min = i32::from_le_bytes(r.array()?);
    let seq = r.u64()?;
    let score = match r.u8()? {
        0 => None,
        _ => Some(f32::from_bits(r.u32()?)),
    };
    let best_hour = Some(r.u8()?).filter(|h| *h != u8::MAX);
    let state = state_of(r.u8()?)?;
    let attempts = r.u32()?;
    let next_at = i64::from_le_bytes(r.array()?);
    let note = r.str()?.to_owned();
    Some(ContactHeader {
        id,
        campaign,
        phone_key,
        line_type,
        region,
        utc_offset_min,
        seq,
        score,
        best_hour,
        state,
        attempts,
        next_at,
        note,
    })
}

fn put_pii(out: &mut Vec<u8>, p: &ContactPii) {
    put_str(out, &p.phone);
    match &p.name {
        Some(n) => {
            out.push(1);
            put_str(out, n);
        }
        None => out.push(0),
    }
    put_u32(out, p.fields.len() as u32);
    for (k, v) in &p.fields {
        put_str(out, k);
        put_str(out, v);
    }
}

fn read_pii(r: &mut Reader<'_>) -> Option<ContactPii> {
    let phone = r.str()?.to_owned();
    let name = match r.u8()? {
        0 => None,
        _ => Some(r.str()?.to_owned()),
    };
    let n = r.u32()? as usize;
    let mut fields = BTreeMap::new();
    for _ in 0..n {
        let k = r.str()?.to_owned();
        let v = r.str()?.to_owned();
        fields.insert(k, v);
    }
    Some(ContactPii {
        phone,
        name,
        fields,
    })
}

fn assemble(h: ContactHeader, pii: ContactPii) -> Contact {
    Contact {
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
    }
}

fn block_key(block: u64) -> [u8; 8] {
    block.to_be_bytes()
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
        let contacts = t("contacts")?;
        match db.get(LAYOUT_KEY)? {
            Some(v) if v.as_ref() == LAYOUT => {}
            Some(v) => {
                return Err(corrupt(
                    LAYOUT_KEY,
                    format!("unknown database layout `{}`", String::from_utf8_lossy(&v)),
                ))
            }
            None if !contacts.is_empty() => {
                return Err(corrupt(
                    LAYOUT_KEY,
                    "the database was written by an older aicall (one key per contact); \
                     export it with that version or import the lists again into a new one",
                ))
            }
            None => {
                db.insert(LAYOUT_KEY, LAYOUT)?;
            }
        }
        Ok(Self {
            campaigns: t("campaigns")?,
            blocks: t("blocks")?,
            contacts,
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
            block_writer: Arc::default(),
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
        Ok(assemble(h, pii))
    }

    /// A block of contacts (sorted by id, all in the block's id range): version, count, the
    /// clear headers, then the sealed personal data of every contact in the same order.
    fn encode_block(&self, contacts: &[&Contact]) -> Vec<u8> {
        let mut out = Vec::with_capacity(contacts.len() * 96 + 64);
        out.push(BLOCK_VERSION);
        put_u32(&mut out, contacts.len() as u32);
        for c in contacts {
            put_header(&mut out, c);
        }
        let mut plain = Vec::with_capacity(contacts.len() * 96);
        for c in contacts {
            put_pii(&mut plain, &c.pii);
        }
        out.extend_from_slice(&self.cipher.seal(&plain));
        out
    }

    /// The clear headers of a block, and its sealed part.
    fn block_headers<'a>(
        &self,
        key: &[u8],
        bytes: &'a [u8],
    ) -> Result<(Vec<ContactHeader>, &'a [u8]), StoreError> {
        let mut r = Reader::new(bytes);
        if r.u8() != Some(BLOCK_VERSION) {
            return Err(corrupt(key, "unknown contact block version"));
        }
        let n = r.u32().ok_or_else(|| corrupt(key, "truncated block"))? as usize;
        let mut headers = Vec::with_capacity(n.min(BLOCK as usize));
        for _ in 0..n {
            headers.push(read_header(&mut r).ok_or_else(|| corrupt(key, "bad block header"))?);
        }
        Ok((headers, r.rest()))
    }

    /// Every contact of a block, decrypted.
    fn decode_block(&self, key: &[u8], bytes: &[u8]) -> Result<Vec<Contact>, StoreError> {
        let (headers, sealed) = self.block_headers(key, bytes)?;
        let first = headers.first().map(|h| h.id).unwrap_or(0);
        let plain = self
            .cipher
            .open(sealed)
            .ok_or_else(|| StoreError::Decrypt {
                key: format!("contact block from {first}"),
            })?;
        let mut r = Reader::new(&plain);
        headers
            .into_iter()
            .map(|h| {
                let pii =
                    read_pii(&mut r).ok_or_else(|| corrupt(key, "bad block personal data"))?;
                Ok(assemble(h, pii))
            })
            .collect()
    }

    /// Contact `id` as written to its block, if it is there.
    fn block_contact(&self, id: u64) -> Result<Option<Contact>, StoreError> {
        let key = block_key(id / BLOCK);
        match self.blocks.get(key)? {
            Some(bytes) => self.contact_in_block(id, &bytes),
            None => Ok(None),
        }
    }

    fn contact_in_block(&self, id: u64, bytes: &[u8]) -> Result<Option<Contact>, StoreError> {
        let key = block_key(id / BLOCK);
        let (headers, _) = self.block_headers(&key, bytes)?;
        let Ok(i) = headers.binary_search_by_key(&id, |h| h.id) else {
            return Ok(None);
        };
        Ok(self.decode_block(&key, bytes)?.into_iter().nth(i))
    }

    /// Numbers of the blocks holding a campaign's contacts, in id order.
    fn campaign_blocks(&self, campaign: &str) -> Result<Vec<u64>, StoreError> {
        let prefix = prefixed(campaign, &[]);
        let mut blocks = Vec::new();
        for kv in self.by_campaign.scan_prefix(&prefix) {
            let (k, _) = kv?;
            let b: [u8; 8] = k[prefix.len()..]
                .try_into()
                .map_err(|_| corrupt(&k, "bad campaign index key"))?;
            blocks.push(u64::from_be_bytes(b));
        }
        Ok(blocks)
    }

    /// Changed contacts (`contacts` tree) of one block's id range, raw.
    fn block_changes(&self, block: u64) -> Result<HashMap<u64, sled::IVec>, StoreError> {
        let lo = (block * BLOCK).to_be_bytes();
        let hi = (block * BLOCK + BLOCK).to_be_bytes();
        let mut out = HashMap::new();
        for kv in self.contacts.range(lo..hi) {
            let (k, v) = kv?;
            let id: [u8; 8] = k
                .as_ref()
                .try_into()
                .map_err(|_| corrupt(&k, "bad contact key"))?;
            out.insert(u64::from_be_bytes(id), v);
        }
        Ok(out)
    }

    /// The current headers of a campaign's contacts (no decryption), in id order.
    fn campaign_headers(&self, campaign: &str) -> Result<Vec<ContactHeader>, StoreError> {
        let mut out = Vec::new();
        for b in self.campaign_blocks(campaign)? {
            let key = block_key(b);
            let Some(bytes) = self.blocks.get(key)? else {
                continue;
            };
            let changes = self.block_changes(b)?;
            for h in self.block_headers(&key, &bytes)?.0 {
                if h.campaign != campaign {
                    continue;
                }
                match changes.get(&h.id) {
                    Some(v) => out.push(self.decode_header(&h.id.to_be_bytes(), v)?.0),
                    None => out.push(h),
                }
            }
        }
        Ok(out)
    }

    /// A contact inside a transaction: its changed record, else its block. (A plain read of
    /// another tree inside a sled transaction would deadlock: the block tree takes part.)
    fn tx_contact(
        &self,
        t: &TransactionalTree,
        blocks: &TransactionalTree,
        id: u64,
    ) -> TxResult<Contact> {
        let key = id.to_be_bytes();
        let found = match t.get(key)? {
            Some(v) => self.decode_contact(&key, &v).map(Some),
            None => match blocks.get(block_key(id / BLOCK))? {
                Some(bytes) => self.contact_in_block(id, &bytes),
                None => Ok(None),
            },
        };
        match found {
            Ok(Some(c)) => Ok(c),
            Ok(None) => abort(StoreError::NoContact(id)),
            Err(e) => abort(e),
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
        // The last of several writes of one id in the call wins, as with one insert each.
        let mut by_block: BTreeMap<u64, BTreeMap<u64, &Contact>> = BTreeMap::new();
        for c in contacts {
            by_block.entry(c.id / BLOCK).or_default().insert(c.id, c);
        }
        let _writer = self.block_writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut changed: Vec<&Contact> = Vec::new();
        let mut fresh: Vec<(u64, Vec<&Contact>)> = Vec::new();
        let mut rewritten: Vec<(u64, Vec<Contact>, Vec<&Contact>)> = Vec::new();
        for (b, group) in by_block {
            let key = block_key(b);
            match self.blocks.get(key)? {
                None => fresh.push((b, group.into_values().collect())),
                Some(bytes) => {
                    let (headers, _) = self.block_headers(&key, &bytes)?;
                    let mut added = Vec::new();
                    for (id, c) in group {
                        if headers.binary_search_by_key(&id, |h| h.id).is_ok() {
                            changed.push(c);
                        } else {
                            added.push(c);
                        }
                    }
                    if !added.is_empty() {
                        rewritten.push((b, self.decode_block(&key, &bytes)?, added));
                    }
                }
            }
        }
        // The campaign index first: after a crash it may name a block not written yet
        // (readers skip it), never miss one that was.
        let mut index = sled::Batch::default();
        for (b, cs) in &fresh {
            for c in cs {
                index.insert(prefixed(&c.campaign, &block_key(*b)), &[]);
            }
        }
        for (b, _, added) in &rewritten {
            for c in added {
                index.insert(prefixed(&c.campaign, &block_key(*b)), &[]);
            }
        }
        self.by_campaign.apply_batch(index)?;
        // Encoding and sealing dominate what is left of a large import: spread over the cores.
        let mut encoded: Vec<(u64, Vec<u8>)> = fresh
            .par_iter()
            .map(|(b, cs)| (*b, self.encode_block(cs)))
            .collect();
        for (b, old, added) in &rewritten {
            let mut all: Vec<&Contact> = old.iter().chain(added.iter().copied()).collect();
            all.sort_by_key(|c| c.id);
            encoded.push((*b, self.encode_block(&all)));
        }
        let mut blocks = sled::Batch::default();
        for (b, value) in encoded {
            blocks.insert(&block_key(b), value);
        }
        self.blocks.apply_batch(blocks)?;
        if !changed.is_empty() {
            let values: Vec<Vec<u8>> = changed.par_iter().map(|c| self.encode_contact(c)).collect();
            let mut batch = sled::Batch::default();
            for (c, v) in changed.iter().zip(values) {
                batch.insert(&c.id.to_be_bytes(), v);
            }
            self.contacts.apply_batch(batch)?;
        }
        Ok(())
    }

    fn put_contact(&self, contact: &Contact) -> Result<(), StoreError> {
        self.put_contacts(std::slice::from_ref(contact))
    }

    fn contact(&self, id: u64) -> Result<Contact, StoreError> {
        let key = id.to_be_bytes();
        match self.contacts.get(key)? {
            Some(v) => self.decode_contact(&key, &v),
            None => self.block_contact(id)?.ok_or(StoreError::NoContact(id)),
        }
    }

    fn phone_index(&self, campaign: &str) -> Result<HashMap<PhoneKey, u64>, StoreError> {
        Ok(self
            .campaign_headers(campaign)?
            .into_iter()
            .map(|h| (h.phone_key, h.id))
            .collect())
    }

    fn contacts(&self, campaign: &str) -> Result<Vec<Contact>, StoreError> {
        let mut raw = Vec::new();
        for b in self.campaign_blocks(campaign)? {
            if let Some(bytes) = self.blocks.get(block_key(b))? {
                raw.push((b, bytes, self.block_changes(b)?));
            }
        }
        // Decryption of a large campaign is spread over the cores.
        let blocks: Vec<Vec<Contact>> = raw
            .par_iter()
            .map(|(b, bytes, changes)| {
                let mut out = Vec::new();
                for c in self.decode_block(&block_key(*b), bytes)? {
                    if c.campaign != campaign {
                        continue;
                    }
                    match changes.get(&c.id) {
                        Some(v) => out.push(self.decode_contact(&c.id.to_be_bytes(), v)?),
                        None => out.push(c),
                    }
                }
                Ok(out)
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(blocks.into_iter().flatten().collect())
    }

    fn begin_attempt(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let trees: &[&Tree] = &[
            &self.contacts,
            &self.attempts,
            &self.attempts_by_contact,
            &self.open_attempts,
            &self.history,
            &self.lists,
            &self.blocks,
        ];
        trees
            .transaction(|t| {
                let (contacts, attempts, by_contact, open, history, lists, blocks) =
                    (&t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6]);
                let mut c = self.tx_contact(contacts, blocks, attempt.contact_id)?;
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

    fn refile_attempt(&self, attempt: &Attempt, contact: &Contact) -> Result<(), StoreError> {
        let trees: &[&Tree] = &[&self.contacts, &self.attempts, &self.blocks];
        trees
            .transaction(|t| {
                let (contacts, attempts, blocks) = (&t[0], &t[1], &t[2]);
                let conflict = |reason: String| StoreError::AttemptConflict {
                    contact: attempt.contact_id,
                    attempt: attempt.number,
                    reason,
                };
                let Some(stored) = attempts.get(attempt.uuid.as_bytes())? else {
                    return abort(StoreError::NoAttempt(attempt.uuid.clone()));
                };
                let stored: Attempt = match from_json(attempt.uuid.as_bytes(), &stored) {
                    Ok(a) => a,
                    Err(e) => return abort(e),
                };
                if stored.state != AttemptState::Ended {
                    return abort(conflict("the call has not ended".into()));
                }
                let c = self.tx_contact(contacts, blocks, stored.contact_id)?;
                if c.state == ContactState::InFlight || c.attempts != stored.number {
                    return abort(conflict(format!(
                        "a later attempt was made (the contact has {} attempts and is {:?})",
                        c.attempts, c.state
                    )));
                }
                attempts.insert(attempt.uuid.as_bytes(), json(attempt))?;
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

    fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let users = self.db.open_tree("users")?;
        users.insert(user.name.as_bytes(), json(user))?;
        Ok(())
    }

    fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let users = self.db.open_tree("users")?;
        users
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                from_json(&k, &v)
            })
            .collect()
    }

    fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        let users = self.db.open_tree("users")?;
        Ok(users.remove(name.as_bytes())?.is_some())
    }

    // Control audit: tree `control_audit`, key = big-endian unix ms + a unique id, so a scan
    // from a time is a range.
    fn audit_control(&self, entry: &ControlAudit) -> Result<(), StoreError> {
        let tree = self.db.open_tree("control_audit")?;
        let mut k = (entry.at_ms.max(0) as u64).to_be_bytes().to_vec();
        k.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        tree.insert(k, json(entry))?;
        Ok(())
    }

    fn control_audit(&self, since_ms: i64) -> Result<Vec<ControlAudit>, StoreError> {
        let tree = self.db.open_tree("control_audit")?;
        let from = (since_ms.max(0) as u64).to_be_bytes().to_vec();
        tree.range(from..)
            .map(|kv| {
                let (k, v) = kv?;
                from_json(&k, &v)
            })
            .collect()
    }

    fn counts(&self, campaign: &str) -> Result<CampaignCounts, StoreError> {
        let mut counts = CampaignCounts::default();
        for c in self.campaign_headers(campaign)? {
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

    // CRM hooks: trees `hook_outbox` and `hook_dead` (id → sealed JSON HookDelivery),
    // `hook_done` (id → big-endian unix ms delivered); the watermark in the default tree.
    fn hook_enqueue(&self, d: &HookDelivery) -> Result<bool, StoreError> {
        let (outbox, dead, done) = self.hook_trees()?;
        let sealed = self.seal_delivery(d);
        (&outbox, &dead, &done)
            .transaction(|(outbox, dead, done)| {
                let id = d.id.as_bytes();
                if outbox.get(id)?.is_some() || dead.get(id)?.is_some() || done.get(id)?.is_some() {
                    return Ok(false);
                }
                outbox.insert(id, sealed.as_slice())?;
                Ok(true)
            })
            .map_err(tx_error)
    }

    fn hook_outbox(&self) -> Result<Vec<HookDelivery>, StoreError> {
        let (outbox, _, _) = self.hook_trees()?;
        self.deliveries(&outbox)
    }

    fn hook_pending(&self, id: &str) -> Result<Option<HookDelivery>, StoreError> {
        let (outbox, _, _) = self.hook_trees()?;
        outbox
            .get(id.as_bytes())?
            .map(|v| self.open_delivery(id.as_bytes(), &v))
            .transpose()
    }

    fn hook_reschedule(&self, d: &HookDelivery) -> Result<bool, StoreError> {
        let (outbox, _, _) = self.hook_trees()?;
        let sealed = self.seal_delivery(d);
        outbox
            .transaction(|outbox| {
                if outbox.get(d.id.as_bytes())?.is_none() {
                    return Ok(false);
                }
                outbox.insert(d.id.as_bytes(), sealed.as_slice())?;
                Ok(true)
            })
            .map_err(tx_error)
    }

    fn hook_delivered(&self, id: &str, at_ms: i64) -> Result<(), StoreError> {
        let (outbox, _, done) = self.hook_trees()?;
        (&outbox, &done)
            .transaction(|(outbox, done)| {
                outbox.remove(id.as_bytes())?;
                done.insert(id.as_bytes(), &(at_ms.max(0) as u64).to_be_bytes())?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn hook_bury(&self, d: &HookDelivery) -> Result<(), StoreError> {
        let (outbox, dead, _) = self.hook_trees()?;
        let sealed = self.seal_delivery(d);
        (&outbox, &dead)
            .transaction(|(outbox, dead)| {
                outbox.remove(d.id.as_bytes())?;
                dead.insert(d.id.as_bytes(), sealed.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)
    }

    fn hook_dead_letters(&self) -> Result<Vec<HookDelivery>, StoreError> {
        let (_, dead, _) = self.hook_trees()?;
        self.deliveries(&dead)
    }

    fn hook_revive(&self, id: &str, now_ms: i64) -> Result<Option<HookDelivery>, StoreError> {
        let (outbox, dead, _) = self.hook_trees()?;
        (&outbox, &dead)
            .transaction(|(outbox, dead)| {
                let Some(v) = dead.remove(id.as_bytes())? else {
                    return Ok(None);
                };
                let mut d = match self.open_delivery(id.as_bytes(), &v) {
                    Ok(d) => d,
                    Err(e) => return abort(e),
                };
                d.tries = 0;
                d.next_ms = now_ms;
                outbox.insert(id.as_bytes(), self.seal_delivery(&d))?;
                Ok(Some(d))
            })
            .map_err(tx_error)
    }

    fn hook_forget_delivered(&self, before_ms: i64) -> Result<usize, StoreError> {
        let (_, _, done) = self.hook_trees()?;
        let mut forgotten = 0;
        for kv in done.iter() {
            let (k, v) = kv?;
            let at = v
                .as_ref()
                .try_into()
                .map(|b: [u8; 8]| u64::from_be_bytes(b) as i64)
                .unwrap_or(0);
            if at < before_ms {
                done.remove(k)?;
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    fn hook_watermark(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.db.get(HOOK_WATERMARK_KEY)?.and_then(|v| {
            let b: [u8; 8] = v.as_ref().try_into().ok()?;
            Some(i64::from_be_bytes(b))
        }))
    }

    fn set_hook_watermark(&self, at: i64) -> Result<(), StoreError> {
        self.db.insert(HOOK_WATERMARK_KEY, &at.to_be_bytes())?;
        Ok(())
    }

    fn cdrs_since(&self, since: i64) -> Result<Vec<CdrRecord>, StoreError> {
        let mut out = Vec::new();
        for kv in self.cdrs.iter() {
            let (k, v) = kv?;
            let cdr: CdrRecord = from_json(&k, &v)?;
            if cdr.ended_at >= since {
                out.push(cdr);
            }
        }
        Ok(out)
    }

    fn seal_secret(&self, clear: &str) -> String {
        format!(
            "{SEALED_PREFIX}{}",
            hex::encode(self.cipher.seal(clear.as_bytes()))
        )
    }

    fn open_secret(&self, sealed: &str) -> Result<String, StoreError> {
        let fail = || StoreError::Decrypt {
            key: "a sealed secret setting".into(),
        };
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(fail)?;
        let clear = self.cipher.open(&bytes).ok_or_else(fail)?;
        String::from_utf8(clear).map_err(|_| fail())
    }
}

/// Where the CRM hook watermark is kept (default tree).
const HOOK_WATERMARK_KEY: &[u8] = b"hook_watermark";

impl SledStore {
    fn hook_trees(&self) -> Result<(Tree, Tree, Tree), StoreError> {
        Ok((
            self.db.open_tree("hook_outbox")?,
            self.db.open_tree("hook_dead")?,
            self.db.open_tree("hook_done")?,
        ))
    }

    fn seal_delivery(&self, d: &HookDelivery) -> Vec<u8> {
        self.cipher.seal(&json(d))
    }

    fn open_delivery(&self, key: &[u8], v: &[u8]) -> Result<HookDelivery, StoreError> {
        let clear = self.cipher.open(v).ok_or_else(|| StoreError::Decrypt {
            key: format!("hook delivery {}", String::from_utf8_lossy(key)),
        })?;
        from_json(key, &clear)
    }

    fn deliveries(&self, tree: &Tree) -> Result<Vec<HookDelivery>, StoreError> {
        tree.iter()
            .map(|kv| {
                let (k, v) = kv?;
                self.open_delivery(&k, &v)
            })
            .collect()
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
            callback_at: None,
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

    /// An agent's outcome rewrites an ended attempt and its contact in one go; a call still
    /// up, or one a later attempt followed, is refused and nothing changes.
    #[test]
    fn refile_attempt_rewrites_only_the_latest_ended_attempt() {
        let (_dir, s) = store();
        let c = contact(&s, 1, "+8613800138000");
        s.put_contacts(std::slice::from_ref(&c)).expect("put");
        s.begin_attempt(&attempt(1, 1, "u1")).expect("first");
        let mut callback = s.attempt("u1").expect("attempt");
        callback.disposition = Some(Disposition::Callback);
        callback.callback_at = Some(5000);
        let mut pending = s.contact(1).expect("contact");
        pending.state = ContactState::Pending;
        pending.next_at = 5000;
        let err = s
            .refile_attempt(&callback, &pending)
            .expect_err("the call is up");
        assert!(err.to_string().contains("has not ended"), "{err}");
        assert_eq!(s.contact(1).expect("contact").state, ContactState::InFlight);
        let mut ended = s.attempt("u1").expect("attempt");
        ended.state = AttemptState::Ended;
        ended.disposition = Some(Disposition::Transferred);
        let mut done = s.contact(1).expect("contact");
        done.state = ContactState::Done;
        let cdr = CdrRecord {
            uuid: "u1".into(),
            contact_id: 1,
            campaign: "c".into(),
            cause: "NORMAL_CLEARING".into(),
            answered: true,
            billsec: 60,
            started_at: 1000,
            ended_at: 1060,
        };
        s.finish_attempt(&ended, &cdr, &done).expect("finish");
        callback.state = AttemptState::Ended;
        s.refile_attempt(&callback, &pending).expect("refiled");
        let stored = s.attempt("u1").expect("attempt");
        assert_eq!(stored.disposition, Some(Disposition::Callback));
        assert_eq!(stored.callback_at, Some(5000));
        let now = s.contact(1).expect("contact");
        assert_eq!((now.state, now.next_at), (ContactState::Pending, 5000));
        assert_eq!(s.cdr("u1").expect("cdr"), Some(cdr), "the CDR stays");
        // The callback is being made: the first call's outcome is history now.
        s.begin_attempt(&attempt(1, 2, "u2")).expect("second");
        let err = s
            .refile_attempt(&callback, &done)
            .expect_err("a later attempt");
        assert!(err.to_string().contains("a later attempt"), "{err}");
        assert_eq!(s.contact(1).expect("contact").state, ContactState::InFlight);
    }

    /// Contacts packed in blocks: new ones are added to a block (also one already written),
    /// changed ones take precedence over their block, campaigns sharing a block stay apart,
    /// and every read path (one, all, phone index, counts, transactions) sees the same.
    #[test]
    fn blocks_and_changes_agree_on_every_read_path() {
        let (_dir, s) = store();
        let first = s.reserve_ids(300).expect("ids");
        let mut all: Vec<Contact> = (0..300u64)
            .map(|i| {
                let mut c = contact(&s, first + i, &format!("+86138{:08}", i));
                if i % 3 == 0 {
                    c.campaign = "other".into();
                }
                c.pii.fields.insert("n".into(), i.to_string());
                c
            })
            .collect();
        // Two writes that share blocks: the second adds to blocks the first created.
        s.put_contacts(&all[..150]).expect("first half");
        s.put_contacts(&all[150..]).expect("second half");
        for c in &all {
            assert_eq!(&s.contact(c.id).expect("read back"), c);
        }
        // A change (and a merge-style re-write of an existing contact, mixed with a new one).
        all[7].pii.name = Some("李四".into());
        all[7].state = ContactState::Done;
        let extra = contact(&s, s.reserve_ids(1).expect("id"), "+8613900000000");
        s.put_contacts(&[all[7].clone(), extra.clone()])
            .expect("mixed write");
        assert_eq!(s.contact(all[7].id).expect("changed"), all[7]);
        assert_eq!(s.contact(extra.id).expect("new"), extra);
        all.push(extra);
        let of = |campaign: &str| -> Vec<Contact> {
            all.iter()
                .filter(|c| c.campaign == campaign)
                .cloned()
                .collect()
        };
        assert_eq!(s.contacts("c").expect("c"), of("c"));
        assert_eq!(s.contacts("other").expect("other"), of("other"));
        let index = s.phone_index("c").expect("index");
        assert_eq!(index.len(), of("c").len());
        assert_eq!(index.get(&all[7].phone_key), Some(&all[7].id));
        let counts = s.counts("c").expect("counts");
        assert_eq!(counts.contacts, of("c").len() as u64);
        assert_eq!(counts.by_state.get("done"), Some(&1));
        // An attempt on a contact that lives only in its block.
        let id = all[8].id;
        let mut a = attempt(id, 1, "blk");
        a.campaign = all[8].campaign.clone();
        s.begin_attempt(&a).expect("attempt from a block");
        assert_eq!(
            s.contact(id).expect("in flight").state,
            ContactState::InFlight
        );
        assert!(matches!(s.contact(999_999), Err(StoreError::NoContact(_))));
    }

    #[test]
    fn a_database_of_the_old_layout_is_refused_clearly() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let db = sled::open(dir.path().join("db")).expect("raw sled");
            db.open_tree("contacts")
                .expect("tree")
                .insert(1u64.to_be_bytes(), &b"old"[..])
                .expect("insert");
            db.flush().expect("flush");
        }
        let err =
            SledStore::open_with(dir.path(), PiiCipher::new([3u8; 32])).expect_err("old layout");
        assert!(err.to_string().contains("older aicall"), "{err}");
    }

    #[test]
    fn reserve_ids_are_consecutive_and_disjoint() {
        let (_dir, s) = store();
        let a = s.reserve_ids(10).expect("a");
        let b = s.reserve_ids(5).expect("b");
        assert_eq!(b, a + 10);
    }

    #[test]
    fn users_written_before_passwords_still_read_and_passwords_round_trip() {
        let (_dir, s) = store();
        // A user as the store wrote it before `password_hash` existed.
        s.db.open_tree("users")
            .expect("tree")
            .insert(
                "wall",
                &br#"{"name":"wall","role":"viewer","key_hash":"ab","created_at":1}"#[..],
            )
            .expect("insert");
        let mut users = s.users().expect("users");
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].password_hash, None);
        users[0].password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        s.put_user(&users[0]).expect("put");
        assert_eq!(s.users().expect("users again"), users);
    }

    #[test]
    #[allow(clippy::unwrap_used)] // A test: an error is its failure report.
    fn hook_deliveries_move_between_outbox_dead_letters_and_delivered_once() {
        let (dir, s) = store();
        let d = |id: &str| HookDelivery {
            id: id.into(),
            campaign: "c".into(),
            created_ms: 1,
            tries: 0,
            next_ms: 1,
            last_error: None,
            body: format!(r#"{{"call_uuid":"{id}","transcript":"我要办理 unique-marker"}}"#),
        };
        assert!(s.hook_enqueue(&d("a")).unwrap());
        assert!(s.hook_enqueue(&d("b")).unwrap());
        assert!(!s.hook_enqueue(&d("a")).unwrap(), "already in the outbox");
        assert_eq!(s.hook_pending("a").unwrap(), Some(d("a")));
        let mut a = d("a");
        a.tries = 1;
        a.last_error = Some("HTTP 500".into());
        assert!(s.hook_reschedule(&a).unwrap());
        assert_eq!(s.hook_pending("a").unwrap().unwrap().tries, 1);
        s.hook_bury(&a).unwrap();
        assert!(!s.hook_reschedule(&a).unwrap(), "no longer in the outbox");
        assert!(!s.hook_enqueue(&d("a")).unwrap(), "already a dead letter");
        assert_eq!(s.hook_dead_letters().unwrap(), vec![a.clone()]);
        let revived = s.hook_revive("a", 99).unwrap().expect("revived");
        assert_eq!((revived.tries, revived.next_ms), (0, 99));
        assert!(s.hook_dead_letters().unwrap().is_empty());
        assert!(s.hook_revive("a", 99).unwrap().is_none());
        s.hook_delivered("a", 1_000).unwrap();
        assert!(!s.hook_enqueue(&d("a")).unwrap(), "already delivered");
        assert_eq!(s.hook_outbox().unwrap(), vec![d("b")]);
        assert_eq!(s.hook_forget_delivered(500).unwrap(), 0);
        assert_eq!(s.hook_forget_delivered(2_000).unwrap(), 1);
        assert!(
            s.hook_enqueue(&d("a")).unwrap(),
            "forgotten after the keep period"
        );
        // Secrets and bodies are sealed at rest.
        let sealed = s.seal_secret("0123456789abcdef");
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert_eq!(s.open_secret(&sealed).unwrap(), "0123456789abcdef");
        assert!(s.open_secret("sealed:v1:00").is_err());
        s.flush().unwrap();
        drop(s);
        for f in walk(dir.path()) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !bytes.windows(13).any(|w| w == b"unique-marker"),
                "{} holds a hook body in clear",
                f.display()
            );
        }
    }
}
