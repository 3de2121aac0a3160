-- Accounts (see store.accounts): users, their signed-in sessions and API
-- keys, the activity log, and the secrets every gateway shares. Lists and
-- an activity's details are JSON text, exactly as the store wrote it.
--
-- There are no foreign keys: deleting a user deletes its sessions and keys
-- in the same transaction, and its activity entries stay on purpose.
--
-- Ids, names, actors and actions are VARBINARY, compared and sorted byte
-- by byte like the ids of the first migration. They are at most 100
-- characters (store.accounts.MAX_NAME), which is 400 bytes of UTF-8 at
-- most; the widest key here, an actor or action with the entry's id, stays
-- far within InnoDB's 3072 bytes.
--
-- Retention deletes sessions that ended long ago by their expiry and by
-- their revocation, one index each: a delete that had to scan the table
-- would lock every session it read, and sign-ins would wait for it.

-- Names are kept in lower case, so a login finds its user in any case.
CREATE TABLE IF NOT EXISTS users (
    id VARBINARY(400) NOT NULL,
    name VARBINARY(400) NOT NULL,
    role VARCHAR(16) NOT NULL,
    password_hash LONGTEXT NOT NULL,
    password_history LONGTEXT NOT NULL,
    teams LONGTEXT NOT NULL,
    disabled BOOLEAN NOT NULL,
    created_at DOUBLE NOT NULL,
    updated_at DOUBLE NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY users_name (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS sessions (
    id VARBINARY(400) NOT NULL,
    user_id VARBINARY(400) NOT NULL,
    generation BIGINT NOT NULL,
    token_hash VARBINARY(255) NOT NULL,
    created_at DOUBLE NOT NULL,
    last_seen_at DOUBLE NOT NULL,
    expires_at DOUBLE NOT NULL,
    user_agent LONGTEXT NOT NULL,
    address LONGTEXT NOT NULL,
    revoked_at DOUBLE NULL,
    revoked_reason LONGTEXT NOT NULL,
    PRIMARY KEY (id),
    KEY sessions_user (user_id),
    KEY sessions_expires (expires_at),
    KEY sessions_revoked (revoked_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS api_keys (
    id VARBINARY(400) NOT NULL,
    user_id VARBINARY(400) NOT NULL,
    name LONGTEXT NOT NULL,
    scopes LONGTEXT NOT NULL,
    secret_hash LONGTEXT NOT NULL,
    created_at DOUBLE NOT NULL,
    expires_at DOUBLE NULL,
    last_used_at DOUBLE NULL,
    revoked_at DOUBLE NULL,
    PRIMARY KEY (id),
    KEY api_keys_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Newest first within one actor, one action, or a range of actions.
CREATE TABLE IF NOT EXISTS activity (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    at DOUBLE NOT NULL,
    actor VARBINARY(400) NOT NULL,
    action VARBINARY(400) NOT NULL,
    target LONGTEXT NOT NULL,
    via LONGTEXT NOT NULL,
    address LONGTEXT NOT NULL,
    details LONGTEXT NOT NULL,
    PRIMARY KEY (id),
    KEY activity_actor (actor, id),
    KEY activity_action (action, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS gateway_secrets (
    name VARBINARY(400) NOT NULL,
    secret LONGTEXT NOT NULL,
    created_at DOUBLE NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
