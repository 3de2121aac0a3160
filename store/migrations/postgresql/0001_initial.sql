-- The first schema: the monitor catalogue, check results partitioned by day,
-- state changes and events. Times are Unix seconds as double precision.
--
-- Ids are compared byte by byte (COLLATE "C"): UTF-8 bytes sort in code
-- point order, so a page of the catalogue or of events ends where a caller
-- sorting the same ids in Python expects, and the comparisons skip the
-- locale's rules.

CREATE TABLE monitors (
    id text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL,
    enabled boolean NOT NULL,
    tags jsonb NOT NULL,
    -- The definition exactly as it was given: the catalogue hands this text
    -- back, and callers compare definitions as text.
    definition text NOT NULL,
    -- The same definition as jsonb, for queries into its fields.
    config jsonb GENERATED ALWAYS AS (definition::jsonb) STORED,
    -- Names and descriptions mix languages and host names, so the words are
    -- kept as written ('simple'), without one language's stemming.
    search tsvector GENERATED ALWAYS AS (
        to_tsvector(
            'simple'::regconfig,
            name || ' ' || coalesce(definition::jsonb ->> 'description', '')
        )
    ) STORED,
    updated_at double precision NOT NULL DEFAULT extract(epoch FROM now())
);

CREATE INDEX monitors_kind ON monitors (kind);

CREATE INDEX monitors_tags ON monitors USING gin (tags);

CREATE INDEX monitors_search ON monitors USING gin (search);

-- One partition per UTC day, made by the store as results arrive, so
-- retention drops a whole day at once instead of deleting its rows. Phases
-- and details are json, not jsonb: json keeps the text as written, so the
-- order of keys and the type of every number come back unchanged.
CREATE TABLE results (
    monitor_id text COLLATE "C" NOT NULL,
    started_at double precision NOT NULL,
    ok boolean NOT NULL,
    latency_ms double precision NOT NULL,
    state text NOT NULL,
    reason text,
    message text NOT NULL,
    retryable boolean NOT NULL,
    attempt integer NOT NULL,
    lateness_ms double precision NOT NULL,
    phases json NOT NULL,
    details json NOT NULL
) PARTITION BY RANGE (started_at);

-- The key of a result: writing it again is refused here, which is what
-- makes a batch safe to deliver twice.
CREATE UNIQUE INDEX results_key ON results (monitor_id, started_at);

-- Results arrive roughly in time order, so block ranges of started_at are
-- narrow and a BRIN index finds a time range for a few pages of index.
CREATE INDEX results_started_at ON results USING brin (started_at);

-- Times outside the years 1 to 9999 have no calendar day to name a
-- partition by; they are kept in these two instead of being refused.
CREATE TABLE results_before_year_1 PARTITION OF results
    FOR VALUES FROM (MINVALUE) TO (-62135596800);

CREATE TABLE results_after_year_9999 PARTITION OF results
    FOR VALUES FROM (253402300800) TO (MAXVALUE);

CREATE TABLE state_changes (
    -- Breaks ties between changes at the same moment in arrival order.
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor_id text COLLATE "C" NOT NULL,
    at double precision NOT NULL,
    state_before text NOT NULL,
    state_after text NOT NULL,
    reason text,
    message text NOT NULL,
    UNIQUE (monitor_id, at, state_before, state_after)
);

CREATE INDEX state_changes_at ON state_changes (at);

CREATE TABLE events (
    id text COLLATE "C" PRIMARY KEY,
    at double precision NOT NULL,
    type text NOT NULL,
    monitor_id text COLLATE "C",
    data json NOT NULL
);

CREATE INDEX events_monitor ON events (monitor_id, id);

CREATE INDEX events_at ON events (at);
