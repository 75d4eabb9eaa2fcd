-- An organization's retention lock (issue 16): no backup of the org expires before its creation
-- plus this many days, whatever its policy says. 0 is no lock. The API can only raise it.
-- BIGINT so that days times milliseconds per day stays 64-bit in the expiry queries.

ALTER TABLE orgs ADD COLUMN retention_lock_days BIGINT NOT NULL DEFAULT 0;
