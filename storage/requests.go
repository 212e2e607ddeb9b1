package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// requestColumns is the select list scanRequest reads.
const requestColumns = `r.id, r.kind, r.app, r.env, r.version, r.rollback_to, r.check_mode,
	r.requested_by, r.channel, r.status, r.plan_body, r.plan_hash, r.schedule_id,
	COALESCE(j.kind, ''), COALESCE(j.awx_id, 0), r.cancel_requested, r.canceled_by,
	r.message_channel, r.message_ts, r.outcome, r.progress, r.cursor,
	r.created_at, r.updated_at, r.expires_at, r.started_at, r.finished_at`

// requestFrom joins a request with its job. A request's plan is read from
// its own row (plan_body), never through its hash: two requests whose
// plans share a hash still each get their own.
const requestFrom = ` FROM requests r
	LEFT JOIN jobs j ON j.request_id = r.id`

// CreateRequest stores req with its own copy of its plan and its
// approvals, sets req.ID, CreatedAt and UpdatedAt (and PlanHash, and the
// PlanHash of its approvals, when empty), and appends a "requested" audit
// entry. req's times are rounded to the millisecond in UTC, as stored.
//
// It returns EINVALID for a request without app, env or a known status, and
// an ECONFLICT wrapping deploy.ErrEnvBusy for a request created directly in
// an active status while its environment is busy.
func (db *DB) CreateRequest(ctx context.Context, req *deploy.Request) error {
	if req.App == "" || req.Env == "" || req.Kind == "" {
		return deploy.Errorf(deploy.EINVALID, "A request needs a kind, an app and an environment.")
	}
	if !req.Status.Valid() {
		return deploy.Errorf(deploy.EINVALID, "Unknown request status %q.", req.Status)
	}
	hash := db.hashPlan(req.Plan)
	if req.PlanHash != "" && req.PlanHash != hash {
		return fmt.Errorf("create request: plan hash %s does not match the plan (%s)", req.PlanHash, hash)
	}
	plan, err := json.Marshal(req.Plan)
	if err != nil {
		return fmt.Errorf("create request: encode plan: %w", err)
	}
	progress, err := json.Marshal(req.Progress)
	if err != nil {
		return fmt.Errorf("create request: encode progress: %w", err)
	}

	err = db.update(ctx, func(tx *tx) error {
		now := tx.now
		started, finished := norm(req.StartedAt), norm(req.FinishedAt)
		if started.IsZero() && req.Status == deploy.StatusRunning {
			started = now
		}
		if finished.IsZero() && req.Status.Terminal() {
			finished = now
		}
		var queued time.Time
		if req.Status == deploy.StatusQueued {
			queued = now
		}
		if req.Status.Active() && !req.Check {
			if err := envFree(ctx, tx, 0, req.App, req.Env); err != nil {
				return err
			}
		}

		// The plans row only satisfies requests.plan_hash's foreign key
		// (migration 0002); the plan is read from the request's own row.
		if _, err := tx.ExecContext(ctx, `INSERT INTO plans (hash, body, created_at) VALUES (?, ?, ?)
			ON CONFLICT (hash) DO NOTHING`, hash, string(plan), millis(now)); err != nil {
			return fmt.Errorf("insert plan: %w", err)
		}
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO requests (kind, app, env, version, rollback_to,
			check_mode, requested_by, channel, status, plan_hash, plan_body, schedule_id, cancel_requested,
			canceled_by, message_channel, message_ts, outcome, progress, cursor, created_at,
			updated_at, expires_at, queued_at, started_at, finished_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING id`,
			req.Kind, req.App, req.Env, req.Version, req.RollbackTo,
			boolInt(req.Check), req.RequestedBy, req.Channel, req.Status, hash, string(plan),
			sql.NullInt64{Int64: req.ScheduleID, Valid: req.ScheduleID != 0}, boolInt(req.CancelRequested),
			req.CanceledBy, req.Message.Channel, req.Message.TS, req.Outcome, string(progress), req.Cursor,
			millis(now), millis(now), millis(req.ExpiresAt), millis(queued), millis(started), millis(finished)).Scan(&id)
		switch {
		case isUnique(err):
			return envBusy(req.App, req.Env, "another release is active")
		case isForeignKey(err):
			return deploy.Errorf(deploy.EINVALID, "There is no schedule S%d.", req.ScheduleID)
		case err != nil:
			return fmt.Errorf("insert request: %w", err)
		}
		for i, a := range req.Approvals {
			at := norm(a.At)
			if at.IsZero() {
				at = now
			}
			// An approval stored with the request binds its plan.
			switch a.PlanHash {
			case "":
				a.PlanHash = hash
			case hash:
			default:
				return deploy.Errorf(deploy.EINVALID, "%s approved plan %s, not this request's plan %s.",
					a.User, deploy.ShortHash(a.PlanHash), deploy.ShortHash(hash))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO approvals (request_id, "user", at, plan_hash) VALUES (?, ?, ?, ?)`,
				id, a.User, millis(at), a.PlanHash); err != nil {
				if isUnique(err) {
					return deploy.Errorf(deploy.EINVALID, "%s approves the request twice.", a.User)
				}
				return fmt.Errorf("insert approval: %w", err)
			}
			req.Approvals[i].At, req.Approvals[i].PlanHash = at, a.PlanHash
		}
		if !req.Job.Zero() {
			if err := recordJob(ctx, tx, id, req.Job); err != nil {
				return err
			}
		}
		detail := fmt.Sprintf("%s %s %s", req.Kind, req.App, req.Env)
		if req.Version != "" {
			detail += " " + req.Version
		}
		if req.Check {
			detail += " (check)"
		}
		if err := appendAudit(ctx, tx, deploy.AuditEntry{
			At: now, Actor: req.RequestedBy, Action: "requested", RequestID: id,
			ScheduleID: req.ScheduleID, App: req.App, Env: req.Env, Detail: detail,
		}); err != nil {
			return err
		}

		req.ID = id
		req.PlanHash = hash
		req.CreatedAt, req.UpdatedAt = now, now
		req.ExpiresAt = norm(req.ExpiresAt)
		req.StartedAt, req.FinishedAt = started, finished
		return nil
	})
	if err != nil {
		return fmt.Errorf("create request: %w", err)
	}
	return nil
}

// Request returns request id with its approvals; ENOTFOUND when there is
// none.
func (db *DB) Request(ctx context.Context, id int64) (*deploy.Request, error) {
	var req *deploy.Request
	err := db.view(ctx, func(tx *tx) error {
		var err error
		req, err = loadRequest(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("request %d: %w", id, err)
	}
	return req, nil
}

// Requests returns the requests matching f with their approvals, newest
// first.
func (db *DB) Requests(ctx context.Context, f deploy.RequestFilter) ([]*deploy.Request, error) {
	var (
		where []string
		args  []any
	)
	if f.App != "" {
		where, args = append(where, "r.app = ?"), append(args, f.App)
	}
	if f.Env != "" {
		where, args = append(where, "r.env = ?"), append(args, f.Env)
	}
	if len(f.Statuses) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(f.Statuses)), ", ")
		where = append(where, "r.status IN ("+marks+")")
		for _, s := range f.Statuses {
			args = append(args, s)
		}
	}
	if f.Releases {
		where = append(where, "r.check_mode = 0")
	}
	q := `SELECT ` + requestColumns + requestFrom
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY r.created_at DESC, r.id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}

	var reqs []*deploy.Request
	err := db.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		byID := map[int64]*deploy.Request{}
		for rows.Next() {
			req, err := scanRequest(rows)
			if err != nil {
				return err
			}
			reqs = append(reqs, req)
			byID[req.ID] = req
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(reqs) == 0 {
			return nil
		}
		// One query for the approvals of all the requests found.
		ids := make([]any, 0, len(reqs))
		for _, r := range reqs {
			ids = append(ids, r.ID)
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
		arows, err := tx.QueryContext(ctx, `SELECT request_id, "user", at, plan_hash FROM approvals
			WHERE request_id IN (`+marks+`) ORDER BY id`, ids...)
		if err != nil {
			return err
		}
		defer arows.Close()
		for arows.Next() {
			var (
				rid int64
				a   deploy.Approval
				at  sql.NullInt64
			)
			if err := arows.Scan(&rid, &a.User, &at, &a.PlanHash); err != nil {
				return err
			}
			a.At = fromMillis(at)
			byID[rid].Approvals = append(byID[rid].Approvals, a)
		}
		return arows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	return reqs, nil
}

// SetMessage records where the card of request id lives; ENOTFOUND when
// there is no such request.
func (db *DB) SetMessage(ctx context.Context, id int64, m deploy.MessageRef) error {
	err := db.update(ctx, func(tx *tx) error {
		return updateOne(ctx, tx, id, `UPDATE requests SET message_channel = ?, message_ts = ?, updated_at = ? WHERE id = ?`,
			m.Channel, m.TS, millis(tx.now), id)
	})
	if err != nil {
		return fmt.Errorf("set message of request %d: %w", id, err)
	}
	return nil
}

// SetProgress saves the job follower's cursor and what the card of request
// id shows; ENOTFOUND when there is no such request.
func (db *DB) SetProgress(ctx context.Context, id int64, cursor string, p deploy.Progress) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("set progress of request %d: encode: %w", id, err)
	}
	err = db.update(ctx, func(tx *tx) error {
		return updateOne(ctx, tx, id, `UPDATE requests SET cursor = ?, progress = ?, updated_at = ? WHERE id = ?`,
			cursor, string(b), millis(tx.now), id)
	})
	if err != nil {
		return fmt.Errorf("set progress of request %d: %w", id, err)
	}
	return nil
}

// RequestCancel marks request id for cancel by user and appends a
// "cancel_requested" audit entry. The status does not change: the caller
// moves the request to canceled when it can (see deploy.Request).
//
// Errors: ENOTFOUND when there is no such request; ECONFLICT when it has
// already ended or a cancel was already asked.
func (db *DB) RequestCancel(ctx context.Context, id int64, by string) (*deploy.Request, error) {
	var req *deploy.Request
	err := db.update(ctx, func(tx *tx) error {
		var (
			status    deploy.Status
			app, env  string
			requested bool
			prevBy    string
		)
		err := tx.QueryRowContext(ctx, `SELECT status, app, env, cancel_requested, canceled_by FROM requests WHERE id = ?`, id).
			Scan(&status, &app, &env, &requested, &prevBy)
		if errors.Is(err, sql.ErrNoRows) {
			return notFoundRequest(id)
		} else if err != nil {
			return err
		}
		if status.Terminal() {
			return deploy.Errorf(deploy.ECONFLICT, "Request #%d is already %s.", id, strings.ToLower(status.Label()))
		}
		if requested {
			return deploy.Errorf(deploy.ECONFLICT, "<@%s> already asked to cancel #%d.", prevBy, id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET cancel_requested = 1, canceled_by = ?, updated_at = ?
			WHERE id = ? AND cancel_requested = 0`, by, millis(tx.now), id); err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, deploy.AuditEntry{
			At: tx.now, Actor: by, Action: "cancel_requested", RequestID: id, App: app, Env: env,
			Detail: "while " + string(status),
		}); err != nil {
			return err
		}
		req, err = loadRequest(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cancel request %d: %w", id, err)
	}
	return req, nil
}

// hashPlan is DB.HashPlan, or deploy.Plan.Hash when unset.
func (db *DB) hashPlan(p deploy.Plan) string {
	if db.HashPlan != nil {
		return db.HashPlan(p)
	}
	return p.Hash()
}

func notFoundRequest(id int64) error {
	return deploy.Errorf(deploy.ENOTFOUND, "There is no request #%d.", id)
}

// updateOne runs an UPDATE of request id and maps "no row" to ENOTFOUND.
func updateOne(ctx context.Context, tx *tx, id int64, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFoundRequest(id)
	}
	return nil
}

// recordJob stores the AWX job that runs request id.
func recordJob(ctx context.Context, tx *tx, id int64, j deploy.JobRef) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs (request_id, kind, awx_id, recorded_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (request_id) DO UPDATE SET kind = excluded.kind, awx_id = excluded.awx_id,
			recorded_at = excluded.recorded_at`, id, j.Kind, j.ID, millis(tx.now))
	if isUnique(err) {
		return deploy.Errorf(deploy.ECONFLICT, "AWX %s %d already belongs to another request.", j.Kind, j.ID)
	} else if err != nil {
		return fmt.Errorf("record job: %w", err)
	}
	return nil
}

// loadRequest reads request id and its approvals.
func loadRequest(ctx context.Context, q querier, id int64) (*deploy.Request, error) {
	req, err := scanRequest(q.QueryRowContext(ctx, `SELECT `+requestColumns+requestFrom+` WHERE r.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFoundRequest(id)
	} else if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT "user", at, plan_hash FROM approvals WHERE request_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a  deploy.Approval
			at sql.NullInt64
		)
		if err := rows.Scan(&a.User, &at, &a.PlanHash); err != nil {
			return nil, err
		}
		a.At = fromMillis(at)
		req.Approvals = append(req.Approvals, a)
	}
	return req, rows.Err()
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanRequest(s scanner) (*deploy.Request, error) {
	var (
		req                    deploy.Request
		plan, progress         string
		scheduleID             sql.NullInt64
		created, updated       sql.NullInt64
		expires, started, done sql.NullInt64
	)
	err := s.Scan(&req.ID, &req.Kind, &req.App, &req.Env, &req.Version, &req.RollbackTo, &req.Check,
		&req.RequestedBy, &req.Channel, &req.Status, &plan, &req.PlanHash, &scheduleID,
		&req.Job.Kind, &req.Job.ID, &req.CancelRequested, &req.CanceledBy,
		&req.Message.Channel, &req.Message.TS, &req.Outcome, &progress, &req.Cursor,
		&created, &updated, &expires, &started, &done)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(plan), &req.Plan); err != nil {
		return nil, fmt.Errorf("decode plan of request %d: %w", req.ID, err)
	}
	if err := json.Unmarshal([]byte(progress), &req.Progress); err != nil {
		return nil, fmt.Errorf("decode progress of request %d: %w", req.ID, err)
	}
	req.ScheduleID = scheduleID.Int64
	req.CreatedAt, req.UpdatedAt = fromMillis(created), fromMillis(updated)
	req.ExpiresAt, req.StartedAt, req.FinishedAt = fromMillis(expires), fromMillis(started), fromMillis(done)
	return &req, nil
}
