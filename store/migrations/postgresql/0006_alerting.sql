-- Alerting (see store.alerting): settings documents by kind and id, and
-- incidents with their timelines. Settings and incidents are kept whole as
-- jsonb; an incident's id, monitor, status and times are copied into
-- columns so it can be listed and retained without reading its body.
-- jsonb keeps an object's keys in an order of its own, so a body reads
-- back equal to what was put, not always in the same order.

CREATE TABLE alert_settings (
    kind text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    body jsonb NOT NULL,
    updated_at double precision NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE incidents (
    id text COLLATE "C" PRIMARY KEY,
    monitor_id text COLLATE "C" NOT NULL,
    status text NOT NULL,
    opened_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    resolved_at double precision,
    body jsonb NOT NULL
);

-- Listing, newest first: every incident, or one monitor's.
CREATE INDEX incidents_opened ON incidents (opened_at, id);

CREATE INDEX incidents_monitor ON incidents (monitor_id, opened_at, id);

-- The incidents that still need someone are few; so is this index.
CREATE INDEX incidents_unresolved ON incidents (opened_at, id)
    WHERE status <> 'resolved';

CREATE INDEX incidents_resolved ON incidents (resolved_at)
    WHERE status = 'resolved';

CREATE TABLE incident_timeline (
    incident_id text COLLATE "C" NOT NULL,
    entry_id text COLLATE "C" NOT NULL,
    at double precision NOT NULL,
    kind text NOT NULL,
    data jsonb NOT NULL,
    PRIMARY KEY (incident_id, entry_id)
);

CREATE INDEX incident_timeline_at ON incident_timeline (incident_id, at, entry_id);
