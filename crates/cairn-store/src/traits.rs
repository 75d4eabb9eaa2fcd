//! The store's interface, split by concern. The domain holds an `Arc<dyn Store>`.

use async_trait::async_trait;

use crate::{
    AccountRecord, AuditEventRecord, AuditFilter, BackupChange, BackupFilter, BackupRecord,
    BackupStatus, JobKind, JobRecord, MembershipRecord, Moved, OrgRecord, OwnedTokenRecord, Page,
    PageQuery, PolicyBackupSummary, PolicyFilter, PolicyRecord, Product, Progress, RestoreChange,
    RestoreFilter, RestoreRecord, RestoreStatus, RetentionLockChange, SiteLock, SiteRecord,
    StorageFilter, StorageRecord, StoreResult, Timestamp, TokenRecord,
};

#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn insert_org(&self, org: &OrgRecord) -> StoreResult<()>;
    async fn get_org(&self, org_id: &str) -> StoreResult<Option<OrgRecord>>;
    async fn list_orgs(&self) -> StoreResult<Vec<OrgRecord>>;

    /// Fails with `Conflict("email")` when the email is taken, whatever its case.
    async fn insert_account(&self, account: &AccountRecord) -> StoreResult<()>;
    async fn get_account(&self, account_id: &str) -> StoreResult<Option<AccountRecord>>;
    /// Case-insensitive look-up.
    async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<AccountRecord>>;
    /// Every account, or the members of one org, oldest first.
    async fn list_accounts(&self, org_id: Option<&str>) -> StoreResult<Vec<AccountRecord>>;
    /// Returns false when no such account exists.
    async fn set_account_active(&self, account_id: &str, active: bool) -> StoreResult<bool>;
    async fn set_password_hash(&self, account_id: &str, hash: Option<&str>) -> StoreResult<bool>;

    /// Adds a member or changes the role of an existing one.
    async fn upsert_membership(&self, membership: &MembershipRecord) -> StoreResult<()>;
    async fn get_membership(
        &self,
        org_id: &str,
        account_id: &str,
    ) -> StoreResult<Option<MembershipRecord>>;
    async fn list_memberships(&self, account_id: &str) -> StoreResult<Vec<MembershipRecord>>;

    /// Inserts the token unless the account already has `limit` live (unrevoked, unexpired at
    /// `now`) tokens; returns whether it was inserted. Atomic under concurrent callers.
    async fn insert_token_within_limit(
        &self,
        token: &TokenRecord,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// The one look-up of the Basic check: the token with this keyed hash, if it belongs to the
    /// account with this email. It is the same query whether or not the email exists.
    async fn find_token_for_auth(
        &self,
        email: &str,
        secret_hmac: &str,
    ) -> StoreResult<Option<(AccountRecord, TokenRecord)>>;
    async fn get_token(&self, token_id: &str) -> StoreResult<Option<TokenRecord>>;
    /// An account's tokens, newest first, revoked ones included.
    async fn list_tokens(&self, account_id: &str) -> StoreResult<Vec<TokenRecord>>;
    /// The tokens of every member of an org, newest first, revoked ones included.
    async fn list_org_tokens(&self, org_id: &str) -> StoreResult<Vec<OwnedTokenRecord>>;
    /// Returns false when the token does not exist or was already revoked.
    async fn revoke_token(&self, token_id: &str, by: &str, now: Timestamp) -> StoreResult<bool>;
    /// Records use at `minute` unless a use at or after it is already recorded.
    async fn record_token_use(&self, token_id: &str, minute: Timestamp) -> StoreResult<()>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_event(&self, event: &AuditEventRecord) -> StoreResult<()>;
    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        page: PageQuery,
    ) -> StoreResult<Page<AuditEventRecord>>;
}

#[async_trait]
pub trait MetaStore: Send + Sync {
    /// Succeeds when the database answers a trivial query.
    async fn ping(&self) -> StoreResult<()>;
    async fn get_meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets `key` only if it is absent; returns whether this call set it. Used for one-time work
    /// (the first start) that several nodes may race to do.
    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<bool>;
}

// The Backup Management stores. Look-ups that take an `org_id` never find a record of another
// org, so the domain cannot leak one by mistake.

/// The sites an org registered.
#[async_trait]
pub trait SiteStore: Send + Sync {
    /// Fails with `Conflict("site")` when the org already has this site.
    async fn insert_site(&self, site: &SiteRecord) -> StoreResult<()>;
    async fn get_site(&self, org_id: &str, cloud_id: &str) -> StoreResult<Option<SiteRecord>>;
    async fn list_sites(&self, org_id: &str, page: PageQuery) -> StoreResult<Page<SiteRecord>>;
    /// Deletes the site unless a policy names it; `Conflict("policy")` if one does.
    async fn delete_site(&self, org_id: &str, cloud_id: &str) -> StoreResult<bool>;
}

/// Where an org's backups go.
#[async_trait]
pub trait StorageStore: Send + Sync {
    /// Inserts the built-in storage unless the org has one; returns the org's built-in storage.
    async fn ensure_builtin_storage(&self, candidate: &StorageRecord)
    -> StoreResult<StorageRecord>;
    async fn insert_storage(&self, storage: &StorageRecord) -> StoreResult<()>;
    async fn get_storage(&self, org_id: &str, id: &str) -> StoreResult<Option<StorageRecord>>;
    async fn list_storages(
        &self,
        filter: &StorageFilter,
        page: PageQuery,
    ) -> StoreResult<Page<StorageRecord>>;
    /// Deletes the storage unless a policy or an unexpired backup uses it (`Conflict`).
    async fn delete_storage(&self, org_id: &str, id: &str) -> StoreResult<bool>;
}

/// Policies and their schedules; the compare-and-sets that let any node tick.
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// `Conflict("active policy")` when it would be a second ACTIVE policy of its site, product
    /// and storage.
    async fn insert_policy(&self, policy: &PolicyRecord) -> StoreResult<()>;
    async fn get_policy(&self, org_id: &str, id: &str) -> StoreResult<Option<PolicyRecord>>;
    async fn list_policies(
        &self,
        filter: &PolicyFilter,
        page: PageQuery,
    ) -> StoreResult<Page<PolicyRecord>>;
    /// Replaces every mutable field; `Conflict("active policy")` as for insert. Returns false when
    /// the policy is gone.
    async fn update_policy(&self, policy: &PolicyRecord) -> StoreResult<bool>;
    /// As [`PolicyStore::update_policy`], only if `next_run_at` is still `expected_next_run`
    /// (a compare-and-set): a scheduler's tick that started a run in between is not undone by a
    /// write computed from an earlier read. False when it moved, or the policy is gone.
    async fn update_policy_if(
        &self,
        policy: &PolicyRecord,
        expected_next_run: Option<Timestamp>,
    ) -> StoreResult<bool>;
    /// Sets the next run of an ACTIVE policy to `at` if it is still `expected` (a refused
    /// scheduled run tried again later).
    async fn retry_policy_run(
        &self,
        id: &str,
        expected: Option<Timestamp>,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Makes an ACTIVE `ONCE` policy with no run left INACTIVE (rule 9); false otherwise.
    async fn retire_once_policy(&self, id: &str, at: Timestamp) -> StoreResult<bool>;
    /// Deletes an INACTIVE policy with no backup in flight; `Conflict` otherwise.
    async fn delete_policy(&self, org_id: &str, id: &str) -> StoreResult<bool>;
    /// Moves `next_run_at` from `expected` to `next`, only if nobody moved it first: the one
    /// node that wins starts the scheduled backup.
    async fn advance_policy_schedule(
        &self,
        id: &str,
        expected: Timestamp,
        next: Option<Timestamp>,
        status: crate::PolicyStatus,
    ) -> StoreResult<bool>;
    /// ACTIVE policies whose next run is at or before `now`, earliest first.
    async fn due_policies(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<PolicyRecord>>;
    /// Every assigned schedule slot (minutes after midnight) with how many policies use it.
    async fn schedule_slot_usage(&self) -> StoreResult<Vec<(u16, u64)>>;
    async fn policy_backup_summary(
        &self,
        policy_id: &str,
        now: Timestamp,
    ) -> StoreResult<PolicyBackupSummary>;
}

/// Backups and restores as records, and the (site, product) lock a run in flight holds (rule 3).
/// Their statuses move only through `cairn_control::lifecycle`.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Takes the lock of (site, product), inserts the backup and its job, all or nothing.
    /// `Conflict("in-flight")` when the lock is held.
    async fn create_backup(
        &self,
        backup: &BackupRecord,
        job: &JobRecord,
        lock: &SiteLock,
    ) -> StoreResult<()>;
    /// Inserts a backup that arrives already finished (one imported from an export archive):
    /// no job, no site lock. `Conflict("backup")` when its id exists, `Conflict("unfinished
    /// backup")` when its status is not final.
    async fn insert_finished_backup(&self, backup: &BackupRecord) -> StoreResult<()>;
    async fn get_backup(&self, org_id: &str, id: &str) -> StoreResult<Option<BackupRecord>>;
    async fn get_backup_by_id(&self, id: &str) -> StoreResult<Option<BackupRecord>>;
    async fn list_backups(
        &self,
        filter: &BackupFilter,
        page: PageQuery,
    ) -> StoreResult<Page<BackupRecord>>;
    /// Replaces the mutable fields of a backup (status, message, sizes, progress, ...), whatever
    /// its status: for tests and repairs. The service moves a backup only with
    /// [`RunStore::move_backup`], through `cairn_control::lifecycle`.
    async fn update_backup(&self, backup: &BackupRecord) -> StoreResult<bool>;
    /// Applies `change` if the backup's status is one of `from`, in one statement (a
    /// compare-and-set: two writers cannot undo each other). A move to a final status also
    /// releases the site lock the backup holds, in the same transaction. `None` when the backup
    /// was not in `from` (or is gone).
    async fn move_backup(
        &self,
        id: &str,
        from: &[BackupStatus],
        change: &BackupChange,
    ) -> StoreResult<Option<Moved>>;
    /// Records the progress of a backup IN_PROGRESS; false when it is not (any more).
    async fn report_backup_progress(
        &self,
        id: &str,
        progress: &Progress,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// When the last COMPLETED or INCOMPLETE backup of (site, product) was created.
    async fn last_complete_backup_at(
        &self,
        org_id: &str,
        cloud_id: &str,
        product: Product,
    ) -> StoreResult<Option<Timestamp>>;
    /// The newest COMPLETED or INCOMPLETE backup of a policy with a snapshot: the parent of the
    /// next incremental backup.
    async fn latest_complete_backup(&self, policy_id: &str) -> StoreResult<Option<BackupRecord>>;
    /// Moves COMPLETED/INCOMPLETE backups whose expiry has passed to EXPIRED (skipping those a
    /// restore in flight reads) and queues a collect job for each; returns what it expired.
    async fn expire_backups(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<BackupRecord>>;
    /// As [`RunStore::create_backup`], for a restore (locking its destination).
    async fn create_restore(
        &self,
        restore: &RestoreRecord,
        job: &JobRecord,
        lock: &SiteLock,
    ) -> StoreResult<()>;
    async fn get_restore(&self, org_id: &str, id: &str) -> StoreResult<Option<RestoreRecord>>;
    async fn get_restore_by_id(&self, id: &str) -> StoreResult<Option<RestoreRecord>>;
    async fn list_restores(
        &self,
        filter: &RestoreFilter,
        page: PageQuery,
    ) -> StoreResult<Page<RestoreRecord>>;
    /// Replaces the mutable fields of a restore: for tests and repairs, as
    /// [`RunStore::update_backup`].
    async fn update_restore(&self, restore: &RestoreRecord) -> StoreResult<bool>;
    /// As [`RunStore::move_backup`], for a restore (releasing its destination's lock).
    async fn move_restore(
        &self,
        id: &str,
        from: &[RestoreStatus],
        change: &RestoreChange,
    ) -> StoreResult<Option<Moved>>;
    async fn report_restore_progress(
        &self,
        id: &str,
        progress: &Progress,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Releases the lock if `holder_id` holds it.
    async fn release_site_lock(&self, lock: &SiteLock) -> StoreResult<()>;
}

/// The leased job queue that workers on every node claim from.
#[async_trait]
pub trait JobQueueStore: Send + Sync {
    /// Claims the job that has been available longest (due and unleased, or with a lapsed
    /// lease): marks it RUNNING under `lease_token` until `lease_until`. Two claimers never get
    /// the same job (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one writer at a time).
    async fn claim_job(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        lease_token: &str,
    ) -> StoreResult<Option<JobRecord>>;
    /// Extends the lease; false when the lease was lost (lapsed and taken by another worker).
    async fn renew_job_lease(
        &self,
        job_id: &str,
        lease_token: &str,
        until: Timestamp,
    ) -> StoreResult<bool>;
    async fn save_job_checkpoint(
        &self,
        job_id: &str,
        lease_token: &str,
        checkpoint: &str,
    ) -> StoreResult<bool>;
    /// Ends the job (DONE) if the caller still holds it.
    async fn finish_job(
        &self,
        job_id: &str,
        lease_token: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Gives the job back to the queue, available again at `at` (a retry later).
    async fn requeue_job(
        &self,
        job_id: &str,
        lease_token: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
    async fn get_job(&self, kind: JobKind, subject_id: &str) -> StoreResult<Option<JobRecord>>;
    /// Ends a job no worker has claimed yet (QUEUED → DONE); false when a worker holds it or it
    /// already ended. Whoever gets true finishes the subject's record.
    async fn cancel_queued_job(
        &self,
        kind: JobKind,
        subject_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Asks the worker to stop; a job not yet claimed is made available at once so the worker
    /// that takes it ends it.
    async fn request_job_cancel(
        &self,
        kind: JobKind,
        subject_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

/// An organization's retention lock: the floor under the expiry of every backup it holds.
#[async_trait]
pub trait RetentionLockStore: Send + Sync {
    /// The organization's lock in days (0: none), or `None` when there is no such organization.
    async fn retention_lock_days(&self, org_id: &str) -> StoreResult<Option<u32>>;
    /// Sets the lock to `days` and, in the same transaction, moves the expiry of the org's
    /// backups that are not expired up to their creation plus the lock. With `raise_only`, a value
    /// below the current lock changes nothing.
    async fn change_retention_lock(
        &self,
        org_id: &str,
        days: u32,
        raise_only: bool,
    ) -> StoreResult<RetentionLockChange>;
}

/// Sites, storages, policies, backups, restores, the per-site lock, the job queue and the
/// retention lock: the Backup Management domain's whole persistence. Consumers that need less
/// take the narrower traits.
pub trait ManagementStore:
    SiteStore + StorageStore + PolicyStore + RunStore + JobQueueStore + RetentionLockStore
{
}

impl<
    T: SiteStore + StorageStore + PolicyStore + RunStore + JobQueueStore + RetentionLockStore + ?Sized,
> ManagementStore for T
{
}

/// What the identity service uses: accounts, tokens, sessions, and the audit log it writes.
pub trait AccountStores: IdentityStore + crate::SessionStore + AuditStore {}

impl<T: IdentityStore + crate::SessionStore + AuditStore + ?Sized> AccountStores for T {}

/// Everything the control plane persists. A consumer that needs less takes the narrower trait
/// (an `Arc<dyn Store>` coerces to any of them).
pub trait Store: AccountStores + MetaStore + ManagementStore {}

impl<T: AccountStores + MetaStore + ManagementStore + ?Sized> Store for T {}
