-- A request's plan is its own: it is stored in the request's row and read
-- from there, never through a hash shared with other requests. plan_hash
-- becomes the full SHA-256 of the plan (64 hex digits); rows written before
-- this migration keep their 12-digit hash, which no launch accepts (see
-- deploy.Service.launch), so such a request must be made again.
--
-- The plans table stays only because requests.plan_hash references it
-- (SQLite cannot drop a foreign key without rebuilding the table); its
-- bodies are no longer read.
ALTER TABLE requests ADD COLUMN plan_body TEXT NOT NULL DEFAULT '';
UPDATE requests SET plan_body = COALESCE((SELECT p.body FROM plans p WHERE p.hash = requests.plan_hash), '');

-- The full plan hash each approver approved ('' for approvals given before
-- this migration: they bind no plan, and no launch accepts them).
ALTER TABLE approvals ADD COLUMN plan_hash TEXT NOT NULL DEFAULT '';
