-- Accounts (see store.accounts): users, their signed-in sessions and API
-- keys, the activity log, and the secrets every gateway shares. Lists and
-- an activity's details are JSON text.
--
-- There are no foreign keys: deleting a user deletes its sessions and keys
-- in the same transaction, and its activity entries stay on purpose.

-- Names are kept in lower case, so a login finds its user in any case.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    password_history TEXT NOT NULL,
    teams TEXT NOT NULL,
    disabled INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    token_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    user_agent TEXT NOT NULL,
    address TEXT NOT NULL,
    revoked_at REAL,
    revoked_reason TEXT NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    last_used_at REAL,
    revoked_at REAL
);

CREATE INDEX api_keys_user ON api_keys (user_id);

-- Entries are numbered as they are added and never renumbered, so a page
-- read before an id stays where it was.
CREATE TABLE activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    via TEXT NOT NULL,
    address TEXT NOT NULL,
    details TEXT NOT NULL
);

-- Newest first within one actor, one action, or a range of actions.
CREATE INDEX activity_actor ON activity (actor, id);

CREATE INDEX activity_action ON activity (action, id);

CREATE TABLE gateway_secrets (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
