-- 003: persistent mirrors (/mirrors/ctl add), journaled with kind "mirror".
CREATE TABLE mirrors (
    uuid         TEXT PRIMARY KEY,       -- stable entity id for the journal
    name         TEXT NOT NULL UNIQUE,
    src          TEXT NOT NULL,          -- instance name
    src_path     TEXT NOT NULL,          -- below its agent's root, relative ('' = the root)
    dst          TEXT NOT NULL,
    dst_path     TEXT NOT NULL,
    mode         TEXT NOT NULL DEFAULT 'push',   -- push | pull
    interval_s   INTEGER NOT NULL DEFAULT 300,
    excludes     TEXT NOT NULL DEFAULT '',       -- comma-separated globs
    delete_extra INTEGER NOT NULL DEFAULT 0,
    eol          INTEGER NOT NULL DEFAULT 0,     -- 1 = normalize
    enabled      INTEGER NOT NULL DEFAULT 1,
    owner        TEXT NOT NULL,
    owner_uid    INTEGER NOT NULL,
    created      INTEGER NOT NULL                -- epoch seconds
);
