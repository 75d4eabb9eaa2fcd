-- Identity and audit: organizations, accounts, memberships, API tokens, audit events.
-- Timestamps are Unix milliseconds (UTC) in BIGINT columns, the same in both dialects.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_lower   TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    password_hash TEXT,
    active        BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    account_id TEXT NOT NULL REFERENCES accounts (id),
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, account_id)
);
CREATE INDEX memberships_account ON memberships (account_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    label        TEXT NOT NULL,
    hint         TEXT NOT NULL,
    secret_hmac  TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT
);
CREATE INDEX api_tokens_account ON api_tokens (account_id, created_at);

CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    org_id      TEXT,
    account_id  TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    client_addr TEXT,
    details     TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_events_org_time ON audit_events (org_id, created_at, id);
CREATE INDEX audit_events_org_account_time ON audit_events (org_id, account_id, created_at, id);
