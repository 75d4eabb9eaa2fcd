-- Web sessions. Only a keyed hash of each session id is kept (the id itself lives in the browser's
-- cookie), so a copy of the database cannot be used to log in. Times are Unix milliseconds.

CREATE TABLE web_sessions (
    id_hmac     TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    client_addr TEXT
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
