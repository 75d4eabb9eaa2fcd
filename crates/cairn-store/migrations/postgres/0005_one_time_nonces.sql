-- Nonces of one-time values (a new API token sealed in a cookie until the page that shows it):
-- a value is honoured only by the request that inserts its nonce here, on any node sharing the
-- store. Rows are kept until the value expires anyway. Times are Unix milliseconds.

CREATE TABLE spent_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX spent_nonces_expiry ON spent_nonces (expires_at);
