package awxrunner

import (
	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/deploy"
)

// State maps an AWX status to deploy's job state.
func State(awxStatus string) deploy.JobState {
	switch awxStatus {
	case "running":
		return deploy.JobRunning
	case "successful":
		return deploy.JobSucceeded
	case "failed", "error":
		return deploy.JobFailed
	case "canceled":
		return deploy.JobCanceled
	}
	return deploy.JobPending // new, pending, waiting
}

// Convert turns an AWX event into deploy's terms.
func Convert(e awxclient.Event) deploy.Event {
	ev := deploy.Event{
		Counter: int64(e.Counter), Host: e.HostName, Play: e.Play, Task: e.Task, Stdout: e.Stdout,
		Type: "other",
	}
	ignored, _ := e.EventData["ignore_errors"].(bool)
	switch e.Event {
	case "playbook_on_start":
		ev.Type = "playbook_start"
	case "playbook_on_play_start":
		ev.Type = "play_start"
	case "playbook_on_task_start":
		ev.Type = "task_start"
	case "runner_on_ok", "runner_on_async_ok":
		ev.Type = "host_ok"
		if e.Changed {
			ev.Type = "host_changed"
		}
	case "runner_on_failed", "runner_on_async_failed", "runner_on_error":
		ev.Type = "host_failed"
		if ignored {
			ev.Type = "host_ok"
		}
	case "runner_on_unreachable":
		ev.Type = "host_unreachable"
	case "runner_on_skipped":
		ev.Type = "host_skipped"
	case "playbook_on_stats":
		ev.Type = "stats"
	}
	if ev.Type == "host_failed" || ev.Type == "host_unreachable" {
		ev.Message = failureMessage(e.EventData)
	} else {
		ev.Message = e.EventData.Msg()
	}
	return ev
}

// failureMessage is the module's message, completed with stderr when the
// message alone says little (a failed shell command says "non-zero return
// code").
func failureMessage(d awxclient.EventData) string {
	msg := d.Msg()
	res := d.Res()
	if res == nil {
		return msg
	}
	if stderr, _ := res["stderr"].(string); stderr != "" {
		if msg != "" {
			return msg + ": " + stderr
		}
		return stderr
	}
	if msg == "" {
		if stdout, _ := res["stdout"].(string); stdout != "" {
			return stdout
		}
	}
	return msg
}

// Recap turns playbook stats into per-host counts.
func Recap(st awxclient.PlaybookStats) map[string]deploy.HostProgress {
	out := map[string]deploy.HostProgress{}
	add := func(m map[string]int, set func(*deploy.HostProgress, int)) {
		for h, n := range m {
			hp := out[h]
			set(&hp, n)
			hp.Done = true
			out[h] = hp
		}
	}
	add(st.OK, func(h *deploy.HostProgress, n int) { h.OK = n })
	add(st.Changed, func(h *deploy.HostProgress, n int) { h.Change = n })
	add(st.Failures, func(h *deploy.HostProgress, n int) { h.Failed = n })
	add(st.Dark, func(h *deploy.HostProgress, n int) { h.Unreachable = n })
	add(st.Skipped, func(h *deploy.HostProgress, n int) { h.Skipped = n })
	for h, hp := range out {
		hp.State = hp.RecapState()
		out[h] = hp
	}
	return out
}
