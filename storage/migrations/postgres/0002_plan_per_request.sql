-- PostgreSQL version of migrations/0002_plan_per_request.sql: a request's
-- plan is stored in its own row (plan_body) and plan_hash becomes the full
-- SHA-256 of the plan; each approval records the plan hash it approved.
-- The plans table stays, as in SQLite, because requests.plan_hash
-- references it.
ALTER TABLE requests ADD COLUMN plan_body TEXT NOT NULL DEFAULT '';
UPDATE requests SET plan_body = COALESCE((SELECT p.body FROM plans p WHERE p.hash = requests.plan_hash), '');

ALTER TABLE approvals ADD COLUMN plan_hash TEXT NOT NULL DEFAULT '';
