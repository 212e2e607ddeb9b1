package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deploybot/deploybot/deploy"
)

// Transition moves request id from ch.From to ch.To as a compare-and-set,
// in one transaction with its audit entry ("status"). It stamps UpdatedAt
// (with ch.At, or now), StartedAt on entering running, FinishedAt on
// entering a terminal status and the queue time on entering queued; it
// records ch.Job and ch.Outcome when they are set, and CanceledBy (from
// ch.Actor) on entering canceled when no one had asked for the cancel; it
// records ch.Owed in the outbox (see ClaimOwed).
//
// Errors: ENOTFOUND when there is no such request; ECONFLICT for an illegal
// edge or when the request is no longer in ch.From; an ECONFLICT that also
// wraps deploy.ErrEnvBusy when ch.To is launching, the request is not a dry
// run, and another release of the same app and env is launching or running
// or the env is locked by hand; likewise when ch.To is launching, the
// request is a dry run and another dry run of the same app and env is
// launching or running.
func (db *DB) Transition(ctx context.Context, id int64, ch deploy.Change) (*deploy.Request, error) {
	if !ch.From.CanTransitionTo(ch.To) {
		return nil, deploy.Errorf(deploy.ECONFLICT, "Request #%d cannot go from %s to %s.",
			id, strings.ToLower(ch.From.Label()), strings.ToLower(ch.To.Label()))
	}
	var req *deploy.Request
	err := db.update(ctx, func(tx *tx) error {
		at := norm(ch.At)
		if at.IsZero() {
			at = tx.now
		}
		var (
			status   deploy.Status
			app, env string
			check    bool
		)
		err := tx.QueryRowContext(ctx, `SELECT status, app, env, check_mode FROM requests WHERE id = ?`, id).
			Scan(&status, &app, &env, &check)
		if errors.Is(err, sql.ErrNoRows) {
			return notFoundRequest(id)
		} else if err != nil {
			return err
		}
		if status != ch.From {
			return staleStatus(id, ch.From, ch.To, status)
		}
		if ch.To == deploy.StatusLaunching {
			free := envFree
			if check {
				free = dryRunFree
			}
			if err := free(ctx, tx, id, app, env); err != nil {
				return err
			}
		}

		var queued, started, finished sql.NullInt64
		switch {
		case ch.To == deploy.StatusQueued:
			queued = millis(at)
		case ch.To == deploy.StatusRunning:
			started = millis(at)
		case ch.To.Terminal():
			finished = millis(at)
		}
		var canceledBy string
		if ch.To == deploy.StatusCanceled {
			canceledBy = ch.Actor
		}
		// The WHERE clause is the compare-and-set; the unique index
		// requests_active makes entering launching atomic even against a
		// writer that bypassed the checks above.
		res, err := tx.ExecContext(ctx, `UPDATE requests SET
				status = ?,
				updated_at = ?,
				queued_at = COALESCE(?, queued_at),
				started_at = COALESCE(?, started_at),
				finished_at = COALESCE(?, finished_at),
				outcome = CASE WHEN ? <> '' THEN ? ELSE outcome END,
				canceled_by = CASE WHEN canceled_by = '' THEN ? ELSE canceled_by END
			WHERE id = ? AND status = ?`,
			ch.To, millis(at), queued, started, finished, ch.Outcome, ch.Outcome, canceledBy,
			id, ch.From)
		if isUnique(err) {
			return envBusy(app, env, "another release is active")
		} else if err != nil {
			return fmt.Errorf("update request: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return deploy.Errorf(deploy.ECONFLICT, "Request #%d changed meanwhile; look at its card again.", id)
		}
		if !ch.Job.Zero() {
			if err := recordJob(ctx, tx, id, ch.Job); err != nil {
				return err
			}
		}
		if err := insertOwed(ctx, tx, id, ch.Owed); err != nil {
			return err
		}
		detail := fmt.Sprintf("%s → %s", ch.From, ch.To)
		if !ch.Job.Zero() {
			detail += fmt.Sprintf(" (%s %d)", ch.Job.Kind, ch.Job.ID)
		}
		if ch.Outcome != "" {
			detail += ": " + ch.Outcome
		}
		if err := appendAudit(ctx, tx, deploy.AuditEntry{
			At: at, Actor: ch.Actor, Action: "status", RequestID: id, App: app, Env: env, Detail: detail,
		}); err != nil {
			return err
		}
		req, err = loadRequest(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("transition request %d: %w", id, err)
	}
	return req, nil
}

// AddApproval records a's approval of request id, which must be waiting for
// approval, and appends an "approved" audit entry in the same transaction.
// When a.Needed is above zero and the request then has that many distinct
// approvals, it moves to queued in the same transaction, with its status
// audit entry. It records what a.Owed owes Slack in the outbox, in the
// same transaction. It returns the request with all its approvals.
//
// Errors: ENOTFOUND when there is no such request; ECONFLICT when a.User
// already approved it or it no longer waits for approval.
func (db *DB) AddApproval(ctx context.Context, id int64, a deploy.Approval) (*deploy.Request, error) {
	if a.User == "" {
		return nil, deploy.Errorf(deploy.EINVALID, "An approval needs a user.")
	}
	var req *deploy.Request
	err := db.update(ctx, func(tx *tx) error {
		at := norm(a.At)
		if at.IsZero() {
			at = tx.now
		}
		var (
			status   deploy.Status
			app, env string
		)
		err := tx.QueryRowContext(ctx, `SELECT status, app, env FROM requests WHERE id = ?`, id).Scan(&status, &app, &env)
		if errors.Is(err, sql.ErrNoRows) {
			return notFoundRequest(id)
		} else if err != nil {
			return err
		}
		if status != deploy.StatusPendingApproval {
			return deploy.Errorf(deploy.ECONFLICT, "Request #%d no longer waits for approval: it is %s.",
				id, strings.ToLower(status.Label()))
		}
		// The approval binds the plan the approver saw: refuse it when the
		// request's plan is another one.
		var planHash string
		if err := tx.QueryRowContext(ctx, `SELECT plan_hash FROM requests WHERE id = ?`, id).Scan(&planHash); err != nil {
			return err
		}
		if a.PlanHash != planHash {
			return deploy.Errorf(deploy.ECONFLICT, "Request #%d's plan is not the one approved (plan %s, approved %s); nothing was recorded.",
				id, deploy.ShortHash(planHash), deploy.ShortHash(a.PlanHash))
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO approvals (request_id, "user", at, plan_hash) VALUES (?, ?, ?, ?)`,
			id, a.User, millis(at), a.PlanHash)
		if isUnique(err) {
			return deploy.Errorf(deploy.ECONFLICT, "You have already approved #%d.", id)
		} else if err != nil {
			return fmt.Errorf("insert approval: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE requests SET updated_at = ? WHERE id = ?`, millis(at), id); err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, deploy.AuditEntry{
			At: at, Actor: a.User, Action: "approved", RequestID: id, App: app, Env: env,
		}); err != nil {
			return err
		}
		if a.Needed > 0 {
			if err := queueIfApproved(ctx, tx, id, a.Needed, a.User, app, env, at); err != nil {
				return err
			}
		}
		if req, err = loadRequest(ctx, tx, id); err != nil {
			return err
		}
		if a.Owed != nil {
			return insertOwed(ctx, tx, id, a.Owed(req))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("approve request %d: %w", id, err)
	}
	return req, nil
}

// queueIfApproved moves pending request id to queued, with its status
// audit entry, when it has at least needed distinct approvals.
func queueIfApproved(ctx context.Context, tx *tx, id int64, needed int, actor, app, env string, at time.Time) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(DISTINCT "user") FROM approvals WHERE request_id = ?`, id).Scan(&n); err != nil {
		return fmt.Errorf("count approvals: %w", err)
	}
	if n < needed {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE requests SET status = ?, updated_at = ?, queued_at = ?
		WHERE id = ? AND status = ?`,
		deploy.StatusQueued, millis(at), millis(at), id, deploy.StatusPendingApproval); err != nil {
		return fmt.Errorf("queue approved request: %w", err)
	}
	return appendAudit(ctx, tx, deploy.AuditEntry{
		At: at, Actor: actor, Action: "status", RequestID: id, App: app, Env: env,
		Detail: fmt.Sprintf("%s → %s", deploy.StatusPendingApproval, deploy.StatusQueued),
	})
}

// staleStatus is the ECONFLICT for a compare-and-set that lost: the request
// is no longer in the status the caller saw.
func staleStatus(id int64, from, to, cur deploy.Status) error {
	if cur == to {
		return deploy.Errorf(deploy.ECONFLICT, "Request #%d is already %s: someone else got there first.",
			id, strings.ToLower(cur.Label()))
	}
	return deploy.Errorf(deploy.ECONFLICT, "Request #%d is no longer %s: it is %s now.",
		id, strings.ToLower(from.Label()), strings.ToLower(cur.Label()))
}
