-- Accounts (see store.accounts): users, their signed-in sessions and API
-- keys, the activity log, and the secrets every gateway shares. Lists and
-- an activity's details are json, which keeps the text as written.
--
-- There are no foreign keys: deleting a user deletes its sessions and keys
-- in the same statement, and its activity entries stay on purpose.
--
-- Names, actors and actions sort byte by byte (COLLATE "C"), as on the
-- other backends: users are listed in that order, and a family of actions
-- is read as the range of its prefix, which only such an order keeps
-- together.

-- Names are kept in lower case, so a login finds its user in any case.
CREATE TABLE users (
    id text COLLATE "C" PRIMARY KEY,
    name text COLLATE "C" NOT NULL UNIQUE,
    role text NOT NULL,
    password_hash text NOT NULL,
    password_history json NOT NULL,
    teams json NOT NULL,
    disabled boolean NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);

CREATE TABLE sessions (
    id text COLLATE "C" PRIMARY KEY,
    user_id text COLLATE "C" NOT NULL,
    generation bigint NOT NULL,
    token_hash text COLLATE "C" NOT NULL,
    created_at double precision NOT NULL,
    last_seen_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    user_agent text NOT NULL,
    address text NOT NULL,
    revoked_at double precision,
    revoked_reason text NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id text COLLATE "C" PRIMARY KEY,
    user_id text COLLATE "C" NOT NULL,
    name text NOT NULL,
    scopes json NOT NULL,
    secret_hash text NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision,
    last_used_at double precision,
    revoked_at double precision
);

CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE activity (
    id bigserial PRIMARY KEY,
    at double precision NOT NULL,
    actor text COLLATE "C" NOT NULL,
    action text COLLATE "C" NOT NULL,
    target text NOT NULL,
    via text NOT NULL,
    address text NOT NULL,
    details json NOT NULL
);

-- Newest first within one actor, one action, or a range of actions.
CREATE INDEX activity_actor ON activity (actor, id);

CREATE INDEX activity_action ON activity (action, id);

CREATE TABLE gateway_secrets (
    name text COLLATE "C" PRIMARY KEY,
    secret text NOT NULL,
    created_at double precision NOT NULL
);
