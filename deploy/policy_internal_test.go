package deploy

import (
	"testing"
	"time"
)

// TestOneApprovalRule: a request and a schedule asked for by the same
// person, approved by the same people, under the same policy, get the same
// answer for every approver: one rule serves both.
func TestOneApprovalRule(t *testing.T) {
	const asker, approver, other, stranger = "U_ASKER", "U_APPROVER", "U_OTHER", "U_STRANGER"
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		self     bool
		approved []string
		who      string
		want     string // error code, "" for allowed
	}{
		{"approver", false, nil, approver, ""},
		{"stranger", false, nil, stranger, EFORBIDDEN},
		{"self, forbidden", false, nil, asker, EFORBIDDEN},
		{"self, allowed", true, nil, asker, ""},
		{"twice", false, []string{approver}, approver, ECONFLICT},
		{"a second approver", false, []string{approver}, other, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := ApprovalPolicy{Required: true, Approvers: []string{asker, approver, other}, MinApprovals: 2, AllowSelfApproval: tt.self}
			req := &Request{ID: 7, App: "shop-web", Env: "production", RequestedBy: asker, Status: StatusPendingApproval}
			for _, u := range tt.approved {
				req.Approvals = append(req.Approvals, Approval{User: u})
			}
			sch := &Schedule{ID: 3, App: "shop-web", Env: "production", CreatedBy: asker, ApprovedBy: tt.approved, Status: SchedulePendingApproval}
			who := Identity{User: tt.who}
			forRequest := ErrorCode(MayApprove(req, pol, who, now))
			forSchedule := ErrorCode(pol.mayApprove(scheduleBallot(sch, "created"), who))
			if forRequest != tt.want || forSchedule != tt.want {
				t.Errorf("request %q, schedule %q, want %q for both", forRequest, forSchedule, tt.want)
			}
		})
	}
}
