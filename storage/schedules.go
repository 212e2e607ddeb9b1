package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/deploybot/deploybot/deploy"
)

const scheduleColumns = `id, app, env, version, spec, at, tz, created_by, channel, status, missed_runs,
	plan_hash, approved_by, last_run_at, skip_next, created_at, rev`

// validScheduleStatus reports whether s is a known schedule status.
func validScheduleStatus(s deploy.ScheduleStatus) bool {
	switch s {
	case deploy.SchedulePendingApproval, deploy.ScheduleActive, deploy.SchedulePaused,
		deploy.ScheduleDone, deploy.ScheduleDeleted, deploy.ScheduleRejected:
		return true
	}
	return false
}

// CreateSchedule stores s, sets its ID and CreatedAt, and appends a
// "schedule_created" audit entry by s.CreatedBy. EINVALID when s has no
// app, env or known status.
func (db *DB) CreateSchedule(ctx context.Context, s *deploy.Schedule) error {
	if s.App == "" || s.Env == "" {
		return deploy.Errorf(deploy.EINVALID, "A schedule needs an app and an environment.")
	}
	if !validScheduleStatus(s.Status) {
		return deploy.Errorf(deploy.EINVALID, "Unknown schedule status %q.", s.Status)
	}
	approved, err := json.Marshal(s.ApprovedBy)
	if err != nil {
		return fmt.Errorf("create schedule: %w", err)
	}
	err = db.update(ctx, func(tx *tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `INSERT INTO schedules (app, env, version, spec, at, tz, created_by,
			channel, status, missed_runs, plan_hash, approved_by, last_run_at, skip_next, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING id`,
			s.App, s.Env, s.Version, s.Spec, millis(norm(s.At)), s.TZ, s.CreatedBy, s.Channel, s.Status,
			s.MissedRuns, s.PlanHash, string(approved), millis(norm(s.LastRunAt)), boolInt(s.SkipNext),
			millis(tx.now), millis(tx.now)).Scan(&id)
		if err != nil {
			return fmt.Errorf("insert schedule: %w", err)
		}
		what := s.Spec
		if what == "" {
			what = "at " + norm(s.At).Format("2006-01-02 15:04 MST")
		}
		if err := appendAudit(ctx, tx, deploy.AuditEntry{
			At: tx.now, Actor: s.CreatedBy, Action: "schedule_created", ScheduleID: id, App: s.App, Env: s.Env,
			Detail: fmt.Sprintf("%s %q (%s)", s.Version, what, s.Status),
		}); err != nil {
			return err
		}
		s.ID, s.CreatedAt, s.Rev = id, tx.now, 0
		s.At, s.LastRunAt = norm(s.At), norm(s.LastRunAt)
		return nil
	})
	if err != nil {
		return fmt.Errorf("create schedule: %w", err)
	}
	return nil
}

// Schedule returns schedule id, deleted or not; ENOTFOUND when there is
// none.
func (db *DB) Schedule(ctx context.Context, id int64) (*deploy.Schedule, error) {
	var s *deploy.Schedule
	err := db.view(ctx, func(tx *tx) error {
		var err error
		s, err = scanSchedule(tx.QueryRowContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return deploy.Errorf(deploy.ENOTFOUND, "There is no schedule S%d.", id)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("schedule %d: %w", id, err)
	}
	return s, nil
}

// Schedules lists the schedules that are not deleted, oldest first.
func (db *DB) Schedules(ctx context.Context) ([]*deploy.Schedule, error) {
	var list []*deploy.Schedule
	err := db.view(ctx, func(tx *tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+scheduleColumns+` FROM schedules
			WHERE status <> 'deleted' ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			s, err := scanSchedule(rows)
			if err != nil {
				return err
			}
			list = append(list, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	return list, nil
}

// UpdateSchedule writes s back (everything but its ID, CreatedBy and
// CreatedAt) if its stored status is still from and its stored rev is
// still s.Rev (the one it was read at), and counts the change in rev (s.Rev
// too): a compare-and-set, so that a writer never overwrites what another
// wrote after it read (a "Skip this run" racing a cron fire cannot rewind
// the last run, two approvals cannot drop one). ENOTFOUND when there is no
// such schedule, ECONFLICT when its status is no longer from or another
// change came first (read it again and re-apply). The caller audits the
// change: it knows who made it.
func (db *DB) UpdateSchedule(ctx context.Context, s *deploy.Schedule, from deploy.ScheduleStatus) error {
	if !validScheduleStatus(s.Status) {
		return deploy.Errorf(deploy.EINVALID, "Unknown schedule status %q.", s.Status)
	}
	approved, err := json.Marshal(s.ApprovedBy)
	if err != nil {
		return fmt.Errorf("update schedule %d: %w", s.ID, err)
	}
	err = db.update(ctx, func(tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET app = ?, env = ?, version = ?, spec = ?, at = ?,
			tz = ?, channel = ?, status = ?, missed_runs = ?, plan_hash = ?, approved_by = ?, last_run_at = ?,
			skip_next = ?, updated_at = ?, rev = rev + 1
			WHERE id = ? AND status = ? AND rev = ?`,
			s.App, s.Env, s.Version, s.Spec, millis(norm(s.At)), s.TZ, s.Channel, s.Status, s.MissedRuns,
			s.PlanHash, string(approved), millis(norm(s.LastRunAt)), boolInt(s.SkipNext), millis(tx.now),
			s.ID, from, s.Rev)
		if err != nil {
			return fmt.Errorf("update schedule: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			return nil
		}
		var (
			cur deploy.ScheduleStatus
			rev int64
		)
		err = tx.QueryRowContext(ctx, `SELECT status, rev FROM schedules WHERE id = ?`, s.ID).Scan(&cur, &rev)
		if errors.Is(err, sql.ErrNoRows) {
			return deploy.Errorf(deploy.ENOTFOUND, "There is no schedule S%d.", s.ID)
		} else if err != nil {
			return err
		}
		if cur != from {
			return deploy.Errorf(deploy.ECONFLICT, "Schedule S%d is no longer %s: it is %s now.", s.ID, label(from), label(cur))
		}
		return deploy.Errorf(deploy.ECONFLICT, "Schedule S%d was changed meanwhile (revision %d, not %d); try again.", s.ID, rev, s.Rev)
	})
	if err != nil {
		return fmt.Errorf("update schedule %d: %w", s.ID, err)
	}
	s.At, s.LastRunAt = norm(s.At), norm(s.LastRunAt)
	s.Rev++
	return nil
}

// label is a schedule status as words.
func label(s deploy.ScheduleStatus) string {
	if s == deploy.SchedulePendingApproval {
		return "waiting for approval"
	}
	return string(s)
}

func scanSchedule(sc scanner) (*deploy.Schedule, error) {
	var (
		s                    deploy.Schedule
		at, lastRun, created sql.NullInt64
		approved             string
	)
	err := sc.Scan(&s.ID, &s.App, &s.Env, &s.Version, &s.Spec, &at, &s.TZ, &s.CreatedBy, &s.Channel,
		&s.Status, &s.MissedRuns, &s.PlanHash, &approved, &lastRun, &s.SkipNext, &created, &s.Rev)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(approved), &s.ApprovedBy); err != nil {
		return nil, fmt.Errorf("decode approvers of schedule %d: %w", s.ID, err)
	}
	s.At, s.LastRunAt, s.CreatedAt = fromMillis(at), fromMillis(lastRun), fromMillis(created)
	return &s, nil
}
