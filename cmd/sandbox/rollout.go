package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/deploybot/deploybot/awxclient/awxtest"
)

// task is one step of a scripted rollout, run on every host of a batch.
type task struct {
	Name, Module string
	// Msg is the module's message on success.
	Msg string
	// Check marks the step that fails on one host when the version
	// contains "fail".
	Check bool
}

// webTasks is web_deploy.yml's choreography (playbooks/README.md), one host batch
// at a time.
func webTasks(server string) []task {
	return []task{
		{Name: "Take host out of the L4", Module: "uri", Msg: "health check answers out_of_service; L4 marked the host DOWN"},
		{Name: "Stop " + server, Module: "command", Msg: server + " stopped, port closed"},
		{Name: "Unpack build", Module: "unarchive", Msg: "build unpacked into the docroot (previous release backed up)"},
		{Name: "Start " + server, Module: "command", Msg: server + " started"},
		{Name: "Health check", Module: "uri", Msg: "skp_healthcheck_ok", Check: true},
		{Name: "Put host back in the L4", Module: "uri", Msg: "L4 marked the host UP"},
	}
}

// rollbackTasks is rollback.yml's: the same choreography restoring a
// backup.
func rollbackTasks(server string) []task {
	t := webTasks(server)
	t[2] = task{Name: "Restore previous release", Module: "unarchive", Msg: "backup restored into the docroot"}
	return t
}

// customTasks is custom_deploy.yml's: pre commands, the command, post
// commands.
func customTasks(string) []task {
	return []task{
		{Name: "Run pre_commands", Module: "shell", Msg: "pre commands done"},
		{Name: "Run deploy command", Module: "shell", Msg: "deploy command done", Check: true},
		{Name: "Run post_commands", Module: "shell", Msg: "post commands done"},
	}
}

// rollout is a job behaviour that looks like a real rolling release: a play
// per serial batch of the inventory's hosts (deploy_serial), each task on
// each host of the batch, step apart. A deploy_version containing "fail"
// makes the first host fail its check step, which ends the rollout there,
// as a failing host stops web_deploy.yml.
func rollout(step time.Duration, tasks func(server string) []task) awxtest.Behavior {
	return awxtest.BehaviorFunc(func(ctx context.Context, r *awxtest.Run) error {
		info := r.Info()
		hosts := limitHosts(info.Hosts, info.Limit)
		server := "nginx"
		if s, ok := info.ExtraVars["web_server"].(string); ok && s != "" {
			server = s
		}
		version, _ := info.ExtraVars["deploy_version"].(string)
		fail := strings.Contains(version, "fail")
		doing := "release " + version
		if version == "" {
			doing = "roll back to the newest backup"
			if v, _ := info.ExtraVars["rollback_version"].(string); v != "" {
				doing = "roll back to " + v
			}
		}
		serial := serialSize(info.ExtraVars["deploy_serial"], len(hosts))
		what := fmt.Sprint(info.ExtraVars["deploy_app"], " ", info.ExtraVars["deploy_env"])

		pb := awxtest.NewPlaybook(info.Playbook)
		var steps [][]awxtest.EventSpec // events shown together, step apart
		mark := len(pb.Events()) - 1    // events so far, without the stats
		cut := func() {
			evs := pb.Events()
			steps = append(steps, evs[mark:len(evs)-1])
			mark = len(evs) - 1
		}
		failed := false
		nbatch := (len(hosts) + serial - 1) / max(serial, 1)
		for b := 0; b < len(hosts) && !failed; b += serial {
			batch := hosts[b:min(b+serial, len(hosts))]
			pb.Play(fmt.Sprintf("%s: %s (batch %d/%d)", what, doing, b/serial+1, nbatch))
			for _, t := range tasks(server) {
				pb.Task(t.Name, t.Module)
				for _, h := range batch {
					switch {
					case t.Check && fail && h == hosts[0]:
						pb.Failed(h, "Status code was 503 and not [200]: HTTP Error 503: Service Unavailable (body: out_of_service)")
						failed = true
					case t.Module == "uri" && !t.Check:
						pb.OK(h, t.Msg)
					default:
						pb.Changed(h, t.Msg)
					}
				}
				cut()
				if failed {
					break
				}
			}
		}
		all := pb.Events()
		steps = append(steps, all[len(all)-1:]) // playbook_on_stats

		r.SetStatus("running")
		r.Emit(all[0]) // playbook_on_start
		for _, evs := range steps {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(step):
			}
			r.Emit(evs...)
		}
		return nil
	})
}

// limitHosts is the sorted inventory hosts, restricted to a comma or
// colon separated limit when there is one.
func limitHosts(inv map[string]map[string]any, limit string) []string {
	var hosts []string
	keep := map[string]bool{}
	for _, h := range strings.FieldsFunc(limit, func(r rune) bool { return r == ',' || r == ':' }) {
		keep[strings.TrimSpace(h)] = true
	}
	for h := range inv {
		if len(keep) == 0 || keep[h] {
			hosts = append(hosts, h)
		}
	}
	sort.Strings(hosts)
	if len(hosts) == 0 {
		hosts = []string{"localhost"}
	}
	return hosts
}

// serialSize reads deploy_serial (a number or a percentage like "25%") as
// hosts per batch, at least 1.
func serialSize(v any, hosts int) int {
	s := strings.TrimSpace(fmt.Sprint(v))
	if p, ok := strings.CutSuffix(s, "%"); ok {
		if f, err := strconv.ParseFloat(p, 64); err == nil {
			return max(1, int(math.Floor(f*float64(hosts)/100)))
		}
		return 1
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 1 {
		return int(f)
	}
	return 1
}
