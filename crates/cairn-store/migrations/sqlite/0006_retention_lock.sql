-- An organization's retention lock (issue 16): no backup of the org expires before its creation
-- plus this many days, whatever its policy says. 0 is no lock. The API can only raise it.

ALTER TABLE orgs ADD COLUMN retention_lock_days INTEGER NOT NULL DEFAULT 0;
