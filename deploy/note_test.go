package deploy_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/deploybot/deploybot/deploy"
)

// TestProgress_OldMilestonesStillDecode: progress stored before notes
// were typed holds its unposted milestones as text; it still decodes, each
// line a NoteText posted as it was, and typed milestones round-trip.
func TestProgress_OldMilestonesStillDecode(t *testing.T) {
	var old deploy.Progress
	if err := json.Unmarshal([]byte(`{"play":"Roll","milestones":[":arrow_forward: Play: Roll",":white_check_mark: web1 done"]}`), &old); err != nil {
		t.Fatal(err)
	}
	want := []deploy.Note{{Kind: deploy.NoteText, Text: ":arrow_forward: Play: Roll"}, {Kind: deploy.NoteText, Text: ":white_check_mark: web1 done"}}
	if !reflect.DeepEqual(old.Milestones, want) {
		t.Errorf("old milestones = %+v, want %+v", old.Milestones, want)
	}

	typed := deploy.Progress{Milestones: []deploy.Note{{Kind: deploy.NotePlay, Title: "Roll"},
		{Kind: deploy.NoteHostFailed, Host: "web1", State: "failed", Task: "restart", Reason: "exit 1"}}}
	b, err := json.Marshal(typed)
	if err != nil {
		t.Fatal(err)
	}
	var back deploy.Progress
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, typed) {
		t.Errorf("round trip of %s = %+v, want %+v", b, back, typed)
	}
}

// TestDecodeNote: an outbox body is a versioned note; a body without the
// version (stored before notes were typed) is its text; a damaged one is
// an error.
func TestDecodeNote(t *testing.T) {
	n := deploy.Note{Kind: deploy.NoteApproved, User: "U1", Count: 1}
	got, err := deploy.DecodeNote(deploy.EncodeNote(n))
	if err != nil || !reflect.DeepEqual(got, n) {
		t.Errorf("DecodeNote(EncodeNote(%+v)) = %+v, %v", n, got, err)
	}
	got, err = deploy.DecodeNote(":heavy_check_mark: Approved by <@U1>")
	if want := (deploy.Note{Kind: deploy.NoteText, Text: ":heavy_check_mark: Approved by <@U1>"}); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("old body decoded as %+v, %v; want %+v", got, err, want)
	}
	if _, err := deploy.DecodeNote("note/1 {"); err == nil {
		t.Error("a damaged body decoded without error")
	}
}
