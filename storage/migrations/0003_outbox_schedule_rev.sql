-- Every change of a schedule bumps rev; UpdateSchedule writes only when the
-- rev it read is still the stored one (a compare-and-set), so two writers
-- can no longer overwrite each other's fields.
ALTER TABLE schedules ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;

-- What the bot owes Slack about a request (its final card, outcome note,
-- failure digest, output upload), written in the same transaction as the
-- state change that makes it owed, and delivered from here: a crash between
-- the commit and the Slack call leaves the debt on record, and the next
-- process pays it. A deliverer claims a row with a lease (lease_owner,
-- lease_until) so that two deliverers never post it twice.
CREATE TABLE outbox (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	request_id   INTEGER NOT NULL REFERENCES requests (id),
	kind         TEXT NOT NULL CHECK (kind IN ('card', 'thread', 'upload')),
	body         TEXT NOT NULL DEFAULT '',  -- the text of a thread post
	created_at   INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_at      INTEGER NOT NULL,          -- not delivered before (backoff)
	lease_owner  TEXT NOT NULL DEFAULT '',
	lease_until  INTEGER,
	delivered_at INTEGER,
	gave_up_at   INTEGER,
	last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_owed ON outbox (request_id, id)
	WHERE delivered_at IS NULL AND gave_up_at IS NULL;
