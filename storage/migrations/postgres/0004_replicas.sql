-- PostgreSQL version of migrations/0004_replicas.sql: the same schema, with
-- BIGINT times and ids.

-- Named leases (LeaseStore); a released lease keeps its row (holder '') so
-- that token, the fencing token, only ever goes up.
CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	holder     TEXT NOT NULL DEFAULT '',
	token      BIGINT NOT NULL,
	since      BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);

-- One row per schedule and fire time ever fired, and who fired it.
CREATE TABLE schedule_fires (
	schedule_id BIGINT NOT NULL REFERENCES schedules (id),
	fire_at     BIGINT NOT NULL,
	holder      TEXT NOT NULL,
	claimed_at  BIGINT NOT NULL,
	PRIMARY KEY (schedule_id, fire_at)
);
CREATE INDEX schedule_fires_fire_at ON schedule_fires (fire_at);

-- The last slot reserved per key, e.g. a Slack channel.
CREATE TABLE pacing (
	key     TEXT PRIMARY KEY,
	last_at BIGINT NOT NULL
);
