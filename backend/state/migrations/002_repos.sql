-- 002: per-user restic repositories provisioned through /repos/ctl.
CREATE TABLE repos (
    uuid              TEXT PRIMARY KEY,      -- stable entity id for the journal
    user              TEXT NOT NULL UNIQUE,  -- the htpasswd user and ROOT/USER
    created           INTEGER NOT NULL,      -- epoch seconds
    revoked           INTEGER NOT NULL DEFAULT 0,
    quota             INTEGER,               -- bytes; NULL = max
    retention         TEXT,                  -- keep policy; NULL = [repos] retention
    suspended         INTEGER NOT NULL DEFAULT 0,
    suspended_line    TEXT,                  -- the user's htpasswd line, kept while suspended
    last_prune        INTEGER NOT NULL DEFAULT 0,   -- epoch seconds; 0 = never
    last_prune_result TEXT NOT NULL DEFAULT '',     -- ok | error: …
    last_prune_ok     INTEGER NOT NULL DEFAULT 0,   -- last successful prune, epoch seconds
    last_prune_job    INTEGER NOT NULL DEFAULT 0,
    user_key          TEXT NOT NULL DEFAULT ''      -- id of the user's restic key
);
