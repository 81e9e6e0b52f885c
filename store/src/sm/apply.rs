//! Applying one [`Command`] to the registry: every check and every write, deterministically.
//!
//! Apply reads the committed registry and collects its writes in one [`WriteBatch`]; the
//! caller adds the applied log id and writes the batch atomically. Nothing here reads a clock:
//! lease arithmetic uses the leader's reading in `Command::proposed_at_ms`. One command never
//! reads a key it has written, so reading the database (not the batch) is exact. A
//! [`CommandBatch`] applies its parts in order into the same batch; its parts have distinct
//! [`batch_key`]s and read and write only that key's records, so no part reads what another
//! wrote and the database is still exact (a part breaking the rule is refused, not applied).
//!
//! Revisions: each record created, replaced or removed takes the next global revision and
//! appends one change to the feed. A lease renewal changes neither revision nor feed: it is
//! liveness, not content, and a client's compare-and-set token must survive it.

use prost::Message;
use proto::record::command::Kind;
use proto::record::{
    batch_key, command_response, Applied, BatchApplied, Command, CommandBatch, CommandError, CommandResponse,
    ErrorCode, StoredCloud, StoredExchange, MAX_BATCH_PARTS,
};
use proto::stanza::registry::bounds::MAX_CLOUDS_PER_EXCHANGE;
use proto::stanza::registry::{CloudRecord, ExchangeRecord, RegistryError};
use rocksdb::{Direction, IteratorMode, WriteBatch, DB};

use super::{index, Cfs};
use crate::codec::{decode, ChangeKind, ChangeRecord};
use crate::db::be_key;
use crate::error::Result;

/// Most Exchanges one `ExpireLeases` removes, whatever it asks: keeps one entry's batch small.
pub const MAX_EXPIRED_PER_COMMAND: u32 = 1000;

/// A command's outcome: applied, or refused with a typed error (still a successful apply).
type Outcome = std::result::Result<Applied, CommandError>;

/// One entry's pending writes.
pub(crate) struct Tx<'a> {
    db: &'a DB,
    cfs: &'a Cfs<'a>,
    /// Everything this entry writes, committed by the caller in one write.
    pub batch: WriteBatch,
    /// The global revision, advanced once per changed record.
    pub revision: u64,
    /// Changes kept in the feed; the one `retention` revisions back is trimmed per change.
    retention: u64,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(db: &'a DB, cfs: &'a Cfs<'a>, revision: u64, retention: u64) -> Self {
        Tx { db, cfs, batch: WriteBatch::default(), revision, retention }
    }

    fn exchange(&self, domain: &str) -> Result<Option<StoredExchange>> {
        self.db.get_pinned_cf(self.cfs.exchanges, domain)?.map(|v| decode(&v, "exchange")).transpose()
    }

    fn cloud(&self, id: &str) -> Result<Option<StoredCloud>> {
        self.db.get_pinned_cf(self.cfs.clouds, id)?.map(|v| decode(&v, "cloud")).transpose()
    }

    fn record_change(
        &mut self,
        kind: ChangeKind,
        exchange: Option<StoredExchange>,
        cloud: Option<StoredCloud>,
    ) {
        let revision = self.revision;
        let change = ChangeRecord { revision, kind: kind as i32, exchange, cloud };
        self.batch.put_cf(self.cfs.changes, be_key(revision), change.encode_to_vec());
        if revision > self.retention {
            self.batch.delete_cf(self.cfs.changes, be_key(revision - self.retention));
        }
    }

    /// Store `new` (replacing `old`'s index keys) without touching revisions.
    fn write_exchange(&mut self, old: Option<&StoredExchange>, new: &StoredExchange) {
        let old_keys = old.map(index::exchange_keys).unwrap_or_default();
        self.replace_index_keys(old_keys, index::exchange_keys(new));
        self.batch.put_cf(self.cfs.exchanges, &new.domain, new.encode_to_vec());
    }

    /// Index keys: remove the `old` ones `new` lacks, add the `new` ones `old` lacks. An update
    /// that keeps a record's capabilities, regions and lease end writes no index key at all
    /// (each memtable entry costs apply time on every node).
    fn replace_index_keys(&mut self, old: Vec<Vec<u8>>, new: Vec<Vec<u8>>) {
        for k in old.iter().filter(|k| !new.contains(k)) {
            self.batch.delete_cf(self.cfs.index, k);
        }
        for k in new.iter().filter(|k| !old.contains(k)) {
            self.batch.put_cf(self.cfs.index, k, []);
        }
    }

    fn write_cloud(&mut self, old: Option<&StoredCloud>, new: &StoredCloud) {
        let old_keys = old.map(index::cloud_keys).unwrap_or_default();
        self.replace_index_keys(old_keys, index::cloud_keys(new));
        self.batch.put_cf(self.cfs.clouds, &new.id, new.encode_to_vec());
    }

    fn remove_cloud(&mut self, c: StoredCloud) {
        for k in index::cloud_keys(&c) {
            self.batch.delete_cf(self.cfs.index, k);
        }
        self.batch.delete_cf(self.cfs.clouds, &c.id);
        self.revision += 1;
        self.record_change(ChangeKind::Delete, None, Some(c));
    }

    /// How many Clouds `owner` has, counting at most `cap` (the owner index).
    fn clouds_owned(&self, owner: &str, cap: usize) -> Result<usize> {
        let prefix = index::owner_prefix(owner);
        let mut n = 0;
        for kv in self.db.iterator_cf(self.cfs.index, IteratorMode::From(&prefix, Direction::Forward)) {
            let (k, _) = kv?;
            if !k.starts_with(&prefix) || n >= cap {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    /// Remove an Exchange and, first, every Cloud it owns (they could never be written again).
    fn remove_exchange(&mut self, x: StoredExchange) -> Result<()> {
        let prefix = index::owner_prefix(&x.domain);
        let mut owned = Vec::new();
        for kv in self.db.iterator_cf(self.cfs.index, IteratorMode::From(&prefix, Direction::Forward)) {
            let (k, _) = kv?;
            let Some(id) = k.strip_prefix(prefix.as_slice()) else { break };
            owned.push(String::from_utf8_lossy(id).into_owned());
        }
        for id in owned {
            if let Some(c) = self.cloud(&id)? {
                self.remove_cloud(c);
            }
        }
        for k in index::exchange_keys(&x) {
            self.batch.delete_cf(self.cfs.index, k);
        }
        self.batch.delete_cf(self.cfs.exchanges, &x.domain);
        self.revision += 1;
        self.record_change(ChangeKind::Delete, Some(x), None);
        Ok(())
    }

    /// Apply `cmd`; `Err` only for a local storage fault.
    pub(crate) fn apply(&mut self, cmd: &Command) -> Result<CommandResponse> {
        let outcome = match &cmd.kind {
            Some(Kind::Batch(b)) => return self.apply_batch(b),
            None => Err(malformed("command without a kind")),
            Some(Kind::RegisterExchange(r)) => match &r.exchange {
                Some(x) => self.register_exchange(cmd, x)?,
                None => Err(malformed("register-exchange without a record")),
            },
            Some(Kind::UpdateExchange(u)) => match &u.exchange {
                Some(x) => self.update_exchange(cmd, x, u.expected_revision)?,
                None => Err(malformed("update-exchange without a record")),
            },
            Some(Kind::DeregisterExchange(d)) => {
                self.deregister_exchange(cmd, &d.domain, d.expected_revision)?
            }
            Some(Kind::RenewLease(r)) => self.renew_lease(cmd, &r.domain)?,
            Some(Kind::ExpireLeases(e)) => self.expire_leases(cmd, e.max_expired)?,
            Some(Kind::RegisterCloud(r)) => match &r.cloud {
                Some(c) => self.register_cloud(cmd, c)?,
                None => Err(malformed("register-cloud without a record")),
            },
            Some(Kind::UpdateCloud(u)) => match &u.cloud {
                Some(c) => self.update_cloud(cmd, c, u.expected_revision)?,
                None => Err(malformed("update-cloud without a record")),
            },
            Some(Kind::DeregisterCloud(d)) => self.deregister_cloud(cmd, &d.id, d.expected_revision)?,
        };
        let result = match outcome {
            Ok(applied) => command_response::Result::Applied(applied),
            Err(e) => command_response::Result::Error(e),
        };
        Ok(CommandResponse { result: Some(result) })
    }

    /// Apply each part of `batch` in order; refuse (as malformed) a part that may not be in a
    /// batch or whose key an earlier part already has, and every part of an oversized batch.
    fn apply_batch(&mut self, batch: &CommandBatch) -> Result<CommandResponse> {
        let mut keys = std::collections::HashSet::new();
        let mut parts = Vec::with_capacity(batch.commands.len().min(MAX_BATCH_PARTS));
        for part in &batch.commands {
            let allowed =
                batch.commands.len() <= MAX_BATCH_PARTS && batch_key(part).is_some_and(|k| keys.insert(k));
            parts.push(if allowed {
                self.apply(part)?
            } else {
                let why = malformed("not allowed in a batch (kind, repeated key or batch size)");
                CommandResponse { result: Some(command_response::Result::Error(why)) }
            });
        }
        Ok(CommandResponse { result: Some(command_response::Result::Batch(BatchApplied { parts })) })
    }

    fn applied(&self) -> Applied {
        Applied { revision: self.revision, ..Applied::default() }
    }

    fn register_exchange(&mut self, cmd: &Command, x: &StoredExchange) -> Result<Outcome> {
        if let Err(e) = ExchangeRecord::try_from(x.clone()) {
            return Ok(Err(CommandError::from(&e)));
        }
        if let Err(e) = check_owner(cmd, &x.domain) {
            return Ok(Err(e));
        }
        if self.exchange(&x.domain)?.is_some() {
            return Ok(Err(keyed(ErrorCode::ExchangeExists, &x.domain)));
        }
        self.revision += 1;
        let new = StoredExchange {
            lease_expires_ms: lease_end(cmd, x.lease_ttl_secs),
            created_revision: self.revision,
            modified_revision: self.revision,
            ..x.clone()
        };
        self.write_exchange(None, &new);
        self.record_change(ChangeKind::Put, Some(new.clone()), None);
        Ok(Ok(Applied { exchange: Some(new), ..self.applied() }))
    }

    fn update_exchange(
        &mut self,
        cmd: &Command,
        x: &StoredExchange,
        expected: Option<u64>,
    ) -> Result<Outcome> {
        if let Err(e) = ExchangeRecord::try_from(x.clone()) {
            return Ok(Err(CommandError::from(&e)));
        }
        let Some(old) = self.exchange(&x.domain)? else {
            return Ok(Err(keyed(ErrorCode::ExchangeNotFound, &x.domain)));
        };
        if let Err(e) =
            check_owner(cmd, &old.domain).and_then(|()| check_cas(expected, old.modified_revision))
        {
            return Ok(Err(e));
        }
        self.revision += 1;
        let new = StoredExchange {
            lease_expires_ms: old.lease_expires_ms,
            created_revision: old.created_revision,
            modified_revision: self.revision,
            ..x.clone()
        };
        self.write_exchange(Some(&old), &new);
        self.record_change(ChangeKind::Put, Some(new.clone()), None);
        Ok(Ok(Applied { exchange: Some(new), ..self.applied() }))
    }

    fn deregister_exchange(&mut self, cmd: &Command, domain: &str, expected: Option<u64>) -> Result<Outcome> {
        let Some(old) = self.exchange(domain)? else {
            return Ok(Err(keyed(ErrorCode::ExchangeNotFound, domain)));
        };
        if let Err(e) =
            check_owner(cmd, &old.domain).and_then(|()| check_cas(expected, old.modified_revision))
        {
            return Ok(Err(e));
        }
        self.remove_exchange(old)?;
        Ok(Ok(self.applied()))
    }

    fn renew_lease(&mut self, cmd: &Command, domain: &str) -> Result<Outcome> {
        let Some(old) = self.exchange(domain)? else {
            return Ok(Err(keyed(ErrorCode::ExchangeNotFound, domain)));
        };
        if let Err(e) = check_owner(cmd, &old.domain) {
            return Ok(Err(e));
        }
        // Same rule as `expire_leases`: a lease that ended at or before the leader's clock
        // reading is over even if no sweep has removed the record yet; register again.
        if old.lease_expires_ms <= cmd.proposed_at_ms {
            return Ok(Err(keyed(ErrorCode::LeaseExpired, &old.domain)));
        }
        let new = StoredExchange { lease_expires_ms: lease_end(cmd, old.lease_ttl_secs), ..old.clone() };
        self.write_exchange(Some(&old), &new);
        Ok(Ok(Applied { exchange: Some(new), ..self.applied() }))
    }

    fn expire_leases(&mut self, cmd: &Command, max_expired: u32) -> Result<Outcome> {
        if !cmd.is_admin {
            return Ok(Err(CommandError::new(ErrorCode::NotAdmin)));
        }
        let max = max_expired.min(MAX_EXPIRED_PER_COMMAND) as usize;
        let mut due = Vec::new();
        let start = [index::TAG_LEASE];
        for kv in self.db.iterator_cf(self.cfs.index, IteratorMode::From(&start, Direction::Forward)) {
            let (k, _) = kv?;
            if due.len() >= max || k.first() != Some(&index::TAG_LEASE) || k.len() < 9 {
                break;
            }
            let mut end = [0u8; 8];
            end.copy_from_slice(&k[1..9]);
            // Expired means the lease ended at or before the leader's clock reading.
            if u64::from_be_bytes(end) > cmd.proposed_at_ms {
                break;
            }
            due.push(String::from_utf8_lossy(&k[9..]).into_owned());
        }
        let mut expired = Vec::with_capacity(due.len());
        for domain in due {
            if let Some(x) = self.exchange(&domain)? {
                self.remove_exchange(x)?;
                expired.push(domain);
            }
        }
        Ok(Ok(Applied { expired, ..self.applied() }))
    }

    fn register_cloud(&mut self, cmd: &Command, c: &StoredCloud) -> Result<Outcome> {
        if let Err(e) = CloudRecord::try_from(c.clone()) {
            return Ok(Err(CommandError::from(&e)));
        }
        if let Err(e) = check_owner(cmd, &c.owner) {
            return Ok(Err(e));
        }
        if self.exchange(&c.owner)?.is_none() {
            return Ok(Err(keyed(ErrorCode::NotRegistered, &c.owner)));
        }
        if self.cloud(&c.id)?.is_some() {
            return Ok(Err(keyed(ErrorCode::CloudExists, &c.id)));
        }
        if self.clouds_owned(&c.owner, MAX_CLOUDS_PER_EXCHANGE)? >= MAX_CLOUDS_PER_EXCHANGE {
            let e =
                RegistryError::QuotaExceeded { what: "clouds".into(), max: MAX_CLOUDS_PER_EXCHANGE as u64 };
            return Ok(Err(CommandError::from(&e)));
        }
        self.revision += 1;
        let new =
            StoredCloud { created_revision: self.revision, modified_revision: self.revision, ..c.clone() };
        self.write_cloud(None, &new);
        self.record_change(ChangeKind::Put, None, Some(new.clone()));
        Ok(Ok(Applied { cloud: Some(new), ..self.applied() }))
    }

    fn update_cloud(&mut self, cmd: &Command, c: &StoredCloud, expected: Option<u64>) -> Result<Outcome> {
        if let Err(e) = CloudRecord::try_from(c.clone()) {
            return Ok(Err(CommandError::from(&e)));
        }
        let Some(old) = self.cloud(&c.id)? else {
            return Ok(Err(keyed(ErrorCode::CloudNotFound, &c.id)));
        };
        if let Err(e) = check_owner(cmd, &old.owner) {
            return Ok(Err(e));
        }
        if c.owner != old.owner {
            let e = RegistryError::InvalidField {
                field: "owner".into(),
                reason: "a Cloud's owner cannot change".into(),
            };
            return Ok(Err(CommandError::from(&e)));
        }
        if let Err(e) = check_cas(expected, old.modified_revision) {
            return Ok(Err(e));
        }
        self.revision += 1;
        let new = StoredCloud {
            created_revision: old.created_revision,
            modified_revision: self.revision,
            ..c.clone()
        };
        self.write_cloud(Some(&old), &new);
        self.record_change(ChangeKind::Put, None, Some(new.clone()));
        Ok(Ok(Applied { cloud: Some(new), ..self.applied() }))
    }

    fn deregister_cloud(&mut self, cmd: &Command, id: &str, expected: Option<u64>) -> Result<Outcome> {
        let Some(old) = self.cloud(id)? else {
            return Ok(Err(keyed(ErrorCode::CloudNotFound, id)));
        };
        if let Err(e) = check_owner(cmd, &old.owner).and_then(|()| check_cas(expected, old.modified_revision))
        {
            return Ok(Err(e));
        }
        self.remove_cloud(old);
        Ok(Ok(self.applied()))
    }
}

fn malformed(detail: &str) -> CommandError {
    CommandError::from(&RegistryError::Malformed { detail: detail.to_owned() })
}

fn keyed(code: ErrorCode, key: &str) -> CommandError {
    CommandError { key: key.to_owned(), ..CommandError::new(code) }
}

/// Only the owner (or a consortium administrator) may write a record.
fn check_owner(cmd: &Command, owner: &str) -> std::result::Result<(), CommandError> {
    if cmd.is_admin || cmd.actor == owner {
        Ok(())
    } else {
        Err(keyed(ErrorCode::NotOwner, owner))
    }
}

fn check_cas(expected: Option<u64>, actual: u64) -> std::result::Result<(), CommandError> {
    match expected {
        Some(e) if e != actual => {
            Err(CommandError { expected: e, actual, ..CommandError::new(ErrorCode::RevisionMismatch) })
        }
        _ => Ok(()),
    }
}

fn lease_end(cmd: &Command, ttl_secs: u32) -> u64 {
    cmd.proposed_at_ms.saturating_add(u64::from(ttl_secs) * 1000)
}
