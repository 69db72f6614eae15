-- 001: the first schema: node identity, instances, shares, the ops journal, jobs.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE instances (
    uuid        TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    url         TEXT NOT NULL,
    env_id      TEXT,
    secret      BLOB NOT NULL,           -- sealed with the master key
    tls_require INTEGER NOT NULL DEFAULT 0,
    pin         TEXT,
    owner       TEXT NOT NULL,
    owner_uid   INTEGER NOT NULL,
    created     INTEGER NOT NULL
);

CREATE TABLE shares (
    uuid     TEXT PRIMARY KEY,
    sharer   TEXT NOT NULL,
    sharee   TEXT NOT NULL,
    instance TEXT NOT NULL,              -- an instance name or '*'
    perms    INTEGER NOT NULL,           -- action mask; 0 = all of the sharer's
    expires  INTEGER NOT NULL DEFAULT 0, -- epoch seconds; 0 = never
    enabled  INTEGER NOT NULL DEFAULT 1,
    note     TEXT NOT NULL DEFAULT '',
    created  INTEGER NOT NULL
);
CREATE INDEX shares_sharee ON shares(sharee);

-- Every change to instances, shares, mirrors, peers' config and repo policies
-- is written with an op here, in the same transaction.
CREATE TABLE journal (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    entity  TEXT NOT NULL,               -- stable entity UUID
    kind    TEXT NOT NULL,               -- instance | share | node | …
    op      TEXT NOT NULL,               -- create | update | delete
    author  TEXT NOT NULL,               -- env_id of the node that made the change
    time    INTEGER NOT NULL,            -- epoch milliseconds
    payload TEXT NOT NULL                -- JSON
);
CREATE INDEX journal_entity ON journal(entity, seq);

CREATE TABLE jobs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    cmd       TEXT NOT NULL,
    owner     TEXT NOT NULL,
    owner_uid INTEGER NOT NULL,
    status    TEXT NOT NULL,             -- queued | running | ok | error | cancelled
    progress  TEXT NOT NULL DEFAULT '',
    log       TEXT NOT NULL DEFAULT '',
    error     TEXT NOT NULL DEFAULT '',
    created   INTEGER NOT NULL,
    started   INTEGER NOT NULL DEFAULT 0,
    finished  INTEGER NOT NULL DEFAULT 0
);
