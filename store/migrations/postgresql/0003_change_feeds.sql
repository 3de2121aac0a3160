-- Feeds of what changed in monitors and events, for a copy elsewhere to
-- read on from the last position it saw, as rollups already have one.
-- Every insert of a row takes the next value of change_seq and every update
-- by the store takes it again. A writer takes its transaction id before it
-- draws a value, so a reader that waits for every transaction older than
-- its snapshot knows that no row with a lower value is still to come.

CREATE SEQUENCE change_seq;

ALTER TABLE monitors ADD COLUMN seq bigint NOT NULL DEFAULT nextval('change_seq');

CREATE INDEX monitors_seq ON monitors (seq);

ALTER TABLE events ADD COLUMN seq bigint NOT NULL DEFAULT nextval('change_seq');

CREATE INDEX events_seq ON events (seq);
