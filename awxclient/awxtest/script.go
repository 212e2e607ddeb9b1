package awxtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Playbook builds a realistic event sequence for scripted jobs:
// playbook_on_start, then per play and task a task start and one
// runner_on_start plus outcome event per host, then playbook_on_stats,
// with stdout shaped like Ansible's default callback.
//
//	pb := awxtest.NewPlaybook("deploy.yml").Play("web").
//		Task("copy build", "copy").Changed("web1", "").Failed("web2", "disk full")
//	jt := srv.AddJobTemplate(awxtest.JobTemplate{Name: "deploy", Behavior: pb.Behavior(awxtest.ScriptOptions{})})
type Playbook struct {
	name   string
	uuid   string
	play   string
	playID string
	task   string
	taskID string
	action string
	events []EventSpec
	stats  map[string]map[string]int // key → host → count
	hosts  map[string]bool
}

// NewPlaybook starts a playbook named name (e.g. "site.yml").
func NewPlaybook(name string) *Playbook {
	p := &Playbook{name: name, uuid: newUUID(), stats: map[string]map[string]int{}, hosts: map[string]bool{}}
	for _, k := range []string{"changed", "dark", "failures", "ignored", "ok", "processed", "rescued", "skipped"} {
		p.stats[k] = map[string]int{}
	}
	p.events = append(p.events, EventSpec{Event: "playbook_on_start", UUID: p.uuid, Playbook: name,
		Data: map[string]any{"playbook": name, "playbook_uuid": p.uuid, "uuid": p.uuid}})
	return p
}

func banner(title string) string {
	return title + " " + strings.Repeat("*", max(3, 79-len(title)))
}

// Play starts a play whose hosts pattern is name.
func (p *Playbook) Play(name string) *Playbook {
	p.play, p.playID, p.task = name, newUUID(), ""
	p.events = append(p.events, EventSpec{Event: "playbook_on_play_start", UUID: p.playID, ParentUUID: p.uuid,
		Playbook: p.name, Play: name, Stdout: "\r\n" + banner("PLAY ["+name+"]"),
		Data: map[string]any{"playbook": p.name, "playbook_uuid": p.uuid, "play": name, "play_uuid": p.playID,
			"play_pattern": name, "name": name, "pattern": name, "uuid": p.playID}})
	return p
}

// Task starts a task running module action.
func (p *Playbook) Task(name, action string) *Playbook {
	if p.play == "" {
		p.Play("all")
	}
	p.task, p.taskID, p.action = name, newUUID(), action
	d := p.base(p.taskID)
	d["name"] = name
	d["is_conditional"] = false
	p.events = append(p.events, EventSpec{Event: "playbook_on_task_start", UUID: p.taskID, ParentUUID: p.playID,
		Playbook: p.name, Play: p.play, Task: name, Stdout: "\r\n" + banner("TASK ["+name+"]"), Data: d})
	return p
}

func (p *Playbook) base(uuid string) map[string]any {
	return map[string]any{"playbook": p.name, "playbook_uuid": p.uuid, "play": p.play, "play_uuid": p.playID,
		"play_pattern": p.play, "task": p.task, "task_uuid": p.taskID, "task_action": p.action, "task_args": "",
		"task_path": "/runner/project/" + p.name + ":1", "uuid": uuid}
}

func (p *Playbook) result(event, host, stdout string, res map[string]any, failed, changed bool) *Playbook {
	if p.task == "" {
		p.Task("task", "command")
	}
	p.hosts[host] = true
	startID := newUUID()
	sd := p.base(startID)
	sd["host"] = host
	p.events = append(p.events, EventSpec{Event: "runner_on_start", UUID: startID, ParentUUID: p.taskID,
		Host: host, Playbook: p.name, Play: p.play, Task: p.task, Data: sd})
	id := newUUID()
	d := p.base(id)
	now := time.Now().UTC()
	d["host"] = host
	d["remote_addr"] = host
	d["res"] = res
	d["start"] = now.Format("2006-01-02T15:04:05.000000")
	d["end"] = now.Format("2006-01-02T15:04:05.000000")
	d["duration"] = 0.01
	d["event_loop"] = nil
	if failed {
		d["ignore_errors"] = nil
	}
	p.events = append(p.events, EventSpec{Event: event, UUID: id, ParentUUID: p.taskID, Host: host,
		Playbook: p.name, Play: p.play, Task: p.task, Stdout: stdout, Data: d, Failed: failed, Changed: changed})
	return p
}

// OK records an unchanged success on host; msg becomes res.msg.
func (p *Playbook) OK(host, msg string) *Playbook {
	p.stats["ok"][host]++
	return p.result("runner_on_ok", host, "\x1b[0;32mok: ["+host+"]\x1b[0m",
		map[string]any{"changed": false, "msg": msg, "_ansible_no_log": false}, false, false)
}

// Changed records a success that changed host.
func (p *Playbook) Changed(host, msg string) *Playbook {
	p.stats["ok"][host]++
	p.stats["changed"][host]++
	return p.result("runner_on_ok", host, "\x1b[0;33mchanged: ["+host+"]\x1b[0m",
		map[string]any{"changed": true, "msg": msg, "_ansible_no_log": false}, false, true)
}

// Failed records a task failure on host with res.msg msg.
func (p *Playbook) Failed(host, msg string) *Playbook {
	p.stats["failures"][host]++
	res := map[string]any{"changed": false, "msg": msg, "_ansible_no_log": false}
	b, _ := json.Marshal(map[string]any{"changed": false, "msg": msg})
	return p.result("runner_on_failed", host, "\x1b[0;31mfatal: ["+host+"]: FAILED! => "+string(b)+"\x1b[0m", res, true, false)
}

// Unreachable records an unreachable host.
func (p *Playbook) Unreachable(host, msg string) *Playbook {
	p.stats["dark"][host]++
	res := map[string]any{"changed": false, "msg": msg, "unreachable": true}
	b, _ := json.Marshal(res)
	return p.result("runner_on_unreachable", host, "\x1b[1;31mfatal: ["+host+"]: UNREACHABLE! => "+string(b)+"\x1b[0m", res, true, false)
}

// Skipped records a skipped task on host.
func (p *Playbook) Skipped(host string) *Playbook {
	p.stats["skipped"][host]++
	return p.result("runner_on_skipped", host, "\x1b[0;36mskipping: ["+host+"]\x1b[0m",
		map[string]any{"changed": false, "skip_reason": "Conditional result was False"}, false, false)
}

// Debug records a debug task result whose message fills several lines of
// stdout, like the debug module's output.
func (p *Playbook) Debug(host, msg string) *Playbook {
	p.stats["ok"][host]++
	b, _ := json.MarshalIndent(map[string]any{"msg": msg}, "", "    ")
	out := "\x1b[0;32mok: [" + host + "] => " + strings.ReplaceAll(string(b), "\n", "\x1b[0m\r\n\x1b[0;32m") + "\x1b[0m"
	return p.result("runner_on_ok", host, out, map[string]any{"msg": msg, "changed": false, "_ansible_verbose_always": true}, false, false)
}

// Events returns the whole sequence, ending with playbook_on_stats.
func (p *Playbook) Events() []EventSpec {
	evs := append([]EventSpec(nil), p.events...)
	for h := range p.hosts {
		p.stats["processed"][h] = 1
	}
	data := map[string]any{"playbook": p.name, "playbook_uuid": p.uuid, "artifact_data": map[string]any{}}
	for k, m := range p.stats {
		mm := map[string]any{}
		for h, n := range m {
			mm[h] = n
		}
		data[k] = mm
	}
	statsID := newUUID()
	data["uuid"] = statsID
	var b strings.Builder
	b.WriteString("\r\n" + banner("PLAY RECAP") + "\r\n")
	hosts := make([]string, 0, len(p.hosts))
	for h := range p.hosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	failed := false
	for _, h := range hosts {
		color := "0;32"
		switch {
		case p.stats["failures"][h] > 0 || p.stats["dark"][h] > 0:
			color, failed = "0;31", true
		case p.stats["changed"][h] > 0:
			color = "0;33"
		}
		fmt.Fprintf(&b, "\x1b[%sm%-26s\x1b[0m : ok=%-4d changed=%-4d unreachable=%-4d failed=%-4d skipped=%-4d rescued=%-4d ignored=%-4d\r\n",
			color, h, p.stats["ok"][h], p.stats["changed"][h], p.stats["dark"][h], p.stats["failures"][h],
			p.stats["skipped"][h], p.stats["rescued"][h], p.stats["ignored"][h])
	}
	evs = append(evs, EventSpec{Event: "playbook_on_stats", UUID: statsID, ParentUUID: p.uuid, Playbook: p.name,
		Stdout: b.String(), Data: data, Failed: failed})
	return evs
}

// ScriptOptions tune a scripted behaviour.
type ScriptOptions struct {
	// BatchSize emits this many events per step (0: all in one step). With
	// a template's PacePerPoll, each step waits for a client poll.
	BatchSize int
	// HoldRunning keeps the job running after its events until it is
	// canceled (for cancel tests).
	HoldRunning bool
	// Err ends the job with status "error".
	Err error
	// EventLag, when above 0, overrides the server's event lag for this
	// job (see WithEventLag): events saved out of order and late.
	EventLag int
}

// Script returns a behaviour that plays events: running, then the events
// in steps, then the end.
func Script(events []EventSpec, opts ScriptOptions) Behavior {
	return BehaviorFunc(func(ctx context.Context, r *Run) error {
		if err := r.WaitPoll(ctx); err != nil {
			return err
		}
		if opts.EventLag > 0 {
			r.SetEventLag(opts.EventLag)
		}
		r.SetStatus("running")
		size := opts.BatchSize
		if size <= 0 {
			size = len(events)
		}
		for i := 0; i < len(events); i += size {
			if err := r.WaitPoll(ctx); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			r.Emit(events[i:min(i+size, len(events))]...)
		}
		if opts.HoldRunning {
			<-ctx.Done()
			return ctx.Err()
		}
		return opts.Err
	})
}

// Behavior is Script(p.Events(), opts).
func (p *Playbook) Behavior(opts ScriptOptions) Behavior { return Script(p.Events(), opts) }

// DefaultScript is the behaviour of jobs with no other: one play with one
// "ping" task that succeeds on every inventory host (or "localhost").
func DefaultScript() Behavior {
	return BehaviorFunc(func(ctx context.Context, r *Run) error {
		info := r.Info()
		pb := NewPlaybook(info.Playbook).Play("all").Task("ping", "ping")
		hosts := info.Targets()
		if len(hosts) == 0 {
			hosts = []string{"localhost"}
		}
		for _, h := range hosts {
			pb.OK(h, "pong")
		}
		return pb.Behavior(ScriptOptions{}).Run(ctx, r)
	})
}

// DefaultAdHocScript is the behaviour of ad-hoc commands with no other:
// the module succeeds on every host with its arguments echoed as stdout.
func DefaultAdHocScript() Behavior {
	return BehaviorFunc(func(ctx context.Context, r *Run) error {
		info := r.Info()
		r.SetStatus("running")
		hosts := info.Targets()
		stats := map[string]any{}
		for _, k := range []string{"changed", "dark", "failures", "ignored", "ok", "processed", "rescued", "skipped"} {
			stats[k] = map[string]any{}
		}
		for _, h := range hosts {
			out := fmt.Sprintf("%s | CHANGED | rc=0 >>\r\n%s", h, info.ModuleArgs)
			r.Emit(EventSpec{Event: "runner_on_ok", Host: h, Stdout: "\x1b[0;33m" + out + "\x1b[0m", Changed: true,
				Data: map[string]any{"host": h, "res": map[string]any{"changed": true, "rc": 0, "stdout": info.ModuleArgs,
					"cmd": info.ModuleArgs}}})
			stats["ok"].(map[string]any)[h] = 1
			stats["changed"].(map[string]any)[h] = 1
			stats["processed"].(map[string]any)[h] = 1
		}
		r.Emit(EventSpec{Event: "playbook_on_stats", Data: stats})
		return nil
	})
}
