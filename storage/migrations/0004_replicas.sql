-- Replicas sharing one database coordinate through these tables.

-- Named leases (LeaseStore): the work a replica owns until expires_at.
-- A released lease keeps its row (holder '') so that token, the fencing
-- token, only ever goes up: it is incremented each time the holder changes.
CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	holder     TEXT NOT NULL DEFAULT '',
	token      INTEGER NOT NULL,
	since      INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);

-- One row per schedule and fire time ever fired, and who fired it
-- (ClaimScheduleFire): the primary key makes the claim happen once.
CREATE TABLE schedule_fires (
	schedule_id INTEGER NOT NULL REFERENCES schedules (id),
	fire_at     INTEGER NOT NULL,
	holder      TEXT NOT NULL,
	claimed_at  INTEGER NOT NULL,
	PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX schedule_fires_fire_at ON schedule_fires (fire_at);

-- The last slot reserved per key, e.g. a Slack channel (ReserveSlot).
CREATE TABLE pacing (
	key     TEXT PRIMARY KEY,
	last_at INTEGER NOT NULL
);
