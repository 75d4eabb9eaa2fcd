-- The Backup Management API: sites, storages, policies, backups, restores, the per-site lock of
-- work in flight, and the job queue. Timestamps are Unix milliseconds (UTC) in BIGINT; flags are 0/1.

CREATE TABLE sites (
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    cloud_id        TEXT NOT NULL,
    cloud_url       TEXT NOT NULL,
    cloud_name      TEXT NOT NULL,
    encryption_type TEXT NOT NULL,
    -- JSON: [{"productType": "JIRA", "isEmpty": false}, ...] as found at registration.
    products        TEXT NOT NULL,
    account_email   TEXT NOT NULL,
    -- The API token, sealed with the server secret (never returned, never logged).
    sealed_token    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT,
    PRIMARY KEY (org_id, cloud_id)
);
CREATE INDEX sites_org_time ON sites (org_id, created_at, cloud_id);

CREATE TABLE storages (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    storage_type     TEXT NOT NULL,
    bucket           TEXT NOT NULL,
    region           TEXT,
    prefix           TEXT,
    role_identifier  TEXT,
    principal_tag    TEXT,
    cloud_id         TEXT,
    product          TEXT,
    endpoint         TEXT,
    access_key_id    TEXT,
    sealed_secret    TEXT,
    encryption_type  TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX storages_org_time ON storages (org_id, created_at, id);
-- Each org has exactly one built-in storage, created on first use.
CREATE UNIQUE INDEX storages_one_builtin ON storages (org_id) WHERE storage_type = 'BUILTIN';

CREATE TABLE policies (
    id                      TEXT PRIMARY KEY,
    org_id                  TEXT NOT NULL REFERENCES orgs (id),
    name                    TEXT NOT NULL,
    cloud_id                TEXT NOT NULL,
    product                 TEXT NOT NULL,
    status                  TEXT NOT NULL,
    include_attachments     BIGINT NOT NULL,
    include_personal_spaces BIGINT NOT NULL,
    include_users           BIGINT NOT NULL,
    storage_id              TEXT NOT NULL REFERENCES storages (id),
    schedule_interval       TEXT,
    schedule_start_date     TEXT,
    -- Minutes after midnight UTC; shown as HH:MM.
    schedule_slot           BIGINT,
    -- When the scheduler next starts a backup: set only while ACTIVE with a schedule.
    next_run_at             BIGINT,
    retention_days          BIGINT NOT NULL,
    activated_by            TEXT,
    created_at              BIGINT NOT NULL,
    created_by              TEXT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX policies_org_time ON policies (org_id, created_at, id);
-- Rule 2: at most one ACTIVE policy per (site, product, storage).
CREATE UNIQUE INDEX policies_one_active ON policies (org_id, cloud_id, product, storage_id)
    WHERE status = 'ACTIVE';
CREATE INDEX policies_due ON policies (next_run_at) WHERE next_run_at IS NOT NULL;
CREATE INDEX policies_slot ON policies (schedule_slot) WHERE schedule_slot IS NOT NULL;

CREATE TABLE backups (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    policy_id        TEXT NOT NULL,
    name             TEXT NOT NULL,
    cloud_id         TEXT NOT NULL,
    product          TEXT NOT NULL,
    status           TEXT NOT NULL,
    status_message   TEXT NOT NULL,
    account_id       TEXT NOT NULL,
    storage_id       TEXT NOT NULL,
    encryption_type  TEXT NOT NULL,
    -- Comma-separated Selection literals.
    selections       TEXT NOT NULL,
    expiry_at        BIGINT NOT NULL,
    users_size       BIGINT NOT NULL,
    data_size        BIGINT NOT NULL,
    attachments_size BIGINT NOT NULL,
    progress         TEXT,
    stats            TEXT,
    snapshot_id      TEXT,
    attempts         BIGINT NOT NULL,
    started_at       BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX backups_org_time ON backups (org_id, created_at, id);
CREATE INDEX backups_org_status_time ON backups (org_id, status, created_at, id);
CREATE INDEX backups_org_cloud_time ON backups (org_id, cloud_id, created_at, id);
CREATE INDEX backups_org_product_time ON backups (org_id, product, created_at, id);
CREATE INDEX backups_policy_time ON backups (policy_id, created_at, id);
CREATE INDEX backups_policy_status_time ON backups (policy_id, status, created_at, id);
CREATE INDEX backups_storage ON backups (storage_id, status);
CREATE INDEX backups_expiry ON backups (expiry_at) WHERE status IN ('COMPLETED', 'INCOMPLETE');

-- How many backups each (org, policy, site, product, status) holds, kept by a trigger in the same
-- transaction as the change, so `totalItems` of a backups listing sums a few rows (at most one
-- per policy and status) instead of counting every matching backup: a COUNT over an org's
-- 100,000 backups costs tens of milliseconds, the sum about one (see BENCHMARKS.md). A policy's
-- backups share its site and product, so the grouping is no finer than (policy, status).
CREATE TABLE backup_counts (
    org_id    TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    cloud_id  TEXT NOT NULL,
    product   TEXT NOT NULL,
    status    TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (org_id, policy_id, cloud_id, product, status)
);
-- `n` stays out of the indexes so that a count's update is a HOT update (no index churn).
CREATE INDEX backup_counts_org_status ON backup_counts (org_id, status);

CREATE FUNCTION backups_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.org_id = NEW.org_id AND OLD.policy_id = NEW.policy_id
        AND OLD.cloud_id = NEW.cloud_id AND OLD.product = NEW.product
        AND OLD.status = NEW.status THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE backup_counts SET n = n - 1 WHERE org_id = OLD.org_id
            AND policy_id = OLD.policy_id AND cloud_id = OLD.cloud_id
            AND product = OLD.product AND status = OLD.status;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO backup_counts (org_id, policy_id, cloud_id, product, status, n)
            VALUES (NEW.org_id, NEW.policy_id, NEW.cloud_id, NEW.product, NEW.status, 1)
            ON CONFLICT (org_id, policy_id, cloud_id, product, status)
            DO UPDATE SET n = backup_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER backups_counted
    AFTER INSERT OR DELETE OR UPDATE OF org_id, policy_id, cloud_id, product, status ON backups
    FOR EACH ROW EXECUTE FUNCTION backups_counted();

CREATE TABLE restores (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES orgs (id),
    backup_id            TEXT NOT NULL REFERENCES backups (id),
    source_cloud_id      TEXT NOT NULL,
    destination_cloud_id TEXT NOT NULL,
    product              TEXT NOT NULL,
    status               TEXT NOT NULL,
    status_message       TEXT NOT NULL,
    account_id           TEXT NOT NULL,
    selections           TEXT NOT NULL,
    -- JSON arrays, or NULL for everything.
    project_keys         TEXT,
    space_keys           TEXT,
    progress             TEXT,
    result               TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX restores_org_time ON restores (org_id, created_at, id);
CREATE INDEX restores_org_destination_time ON restores (org_id, destination_cloud_id, created_at, id);
CREATE INDEX restores_org_status_time ON restores (org_id, status, created_at, id);
CREATE INDEX restores_backup ON restores (backup_id, status);

-- Rule 3: one backup or restore in flight per (site, product). The primary key makes taking the
-- lock atomic across nodes; the holder releases it when its work ends.
CREATE TABLE site_locks (
    org_id      TEXT NOT NULL,
    cloud_id    TEXT NOT NULL,
    product     TEXT NOT NULL,
    holder_kind TEXT NOT NULL,
    holder_id   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, cloud_id, product)
);

-- The job queue. `available_at` is when a worker may take the job: its due time while QUEUED,
-- the end of its lease while RUNNING (so a lapsed lease makes it claimable again).
CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    org_id           TEXT NOT NULL,
    state            TEXT NOT NULL,
    available_at     BIGINT NOT NULL,
    lease_token      TEXT,
    attempts         BIGINT NOT NULL,
    checkpoint       TEXT,
    cancel_requested BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_subject ON jobs (kind, subject_id);
CREATE INDEX jobs_available ON jobs (available_at) WHERE state <> 'DONE';
