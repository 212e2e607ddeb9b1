package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/deploybot/deploybot/awxclient"
	"github.com/deploybot/deploybot/awxclient/awxtest"
	"github.com/deploybot/deploybot/config"
)

// TestSIGHUPReconcilesDrift: a host deleted by hand in AWX is put back on
// SIGHUP (a real signal, through the reloader), and the drift is logged.
func TestSIGHUPReconcilesDrift(t *testing.T) {
	awx := awxtest.NewServer(t)
	for _, name := range []string{"deploybot-web-deploy", "deploybot-custom-deploy", "deploybot-rollback"} {
		awx.AddJobTemplate(awxtest.JobTemplate{Name: name, Playbook: "x.yml", AskInventory: true, AskVariables: true, AskLimit: true})
	}
	cfg, err := config.Load("testdata/bootstrap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := awxclient.NewClient(awx.URL, awxclient.WithToken(awx.Token))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	w := newAWXWatch(c, cfg, zerolog.New(&logs), time.Hour, time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	hup, stop := hangups()
	defer stop()
	rl := &reloader{path: "testdata/bootstrap.yaml", cfg: cfg, log: zerolog.New(&logs), signals: hup,
		apply: []func(*config.Config){w.SetConfig}}
	rdone := make(chan error, 1)
	go func() { rdone <- rl.Run(ctx) }()
	defer func() { cancel(); <-rdone }()
	deadline := time.Now().Add(10 * time.Second)
	for w.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("AWX never ready: %v", w.Ready(ctx))
		}
		time.Sleep(10 * time.Millisecond) // polling the watcher's state, under the deadline above
	}

	inv, err := c.GetInventoryByName(ctx, 1, "deploybot-shop-web-staging")
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := c.ListHosts(ctx, inv.ID)
	if err != nil || len(hosts) != 2 {
		t.Fatalf("hosts = %v, %v", hosts, err)
	}
	req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/api/v2/hosts/%d/", awx.URL, hosts[0].ID), nil)
	req.Header.Set("Authorization", "Bearer "+awx.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete host: %v %v", err, resp)
	}
	resp.Body.Close()

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for {
		hosts, err = c.ListHosts(ctx, inv.ID)
		if err == nil && len(hosts) == 2 && strings.Contains(logs.String(), "corrected AWX inventory drift") {
			break
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("the deleted host was not put back after SIGHUP: hosts %d, logs:\n%s", len(hosts), logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling the fake AWX, under the deadline above
	}
}
