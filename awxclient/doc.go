// Package awxclient is a small client for the Ansible AWX REST API (v2),
// covering what deploybot needs: looking up organizations, credentials and
// job templates, reconciling inventories and hosts, launching jobs and ad-hoc
// commands, following their events incrementally, reading host summaries and
// stdout, cancelling and relaunching.
//
// The client is shaped like go-github: one [Client] built with [NewClient]
// and functional options, methods that take a [context.Context] first, value
// types for AWX objects and one error type, [*Error], that supports
// [errors.Is] with [ErrNotFound], [ErrUnauthorized], [ErrForbidden] and
// [ErrConflict].
//
// Usage:
//
//	c, err := awxclient.NewClient("https://awx.example.com",
//		awxclient.WithToken(os.Getenv("AWX_TOKEN")),
//		awxclient.WithTimeout(30*time.Second))
//	if err != nil { ... }
//	jt, err := c.CheckJobTemplate(ctx, "deploy-web")
//	jobID, err := c.LaunchJobTemplate(ctx, jt.ID, awxclient.LaunchOptions{
//		Inventory: inv.ID,
//		ExtraVars: map[string]any{"deploybot_request_id": "r-42"},
//	})
//	job, err := c.FollowJob(ctx, jobID, 2*time.Second, func(ev awxclient.Event) error {
//		fmt.Println(ev.Counter, ev.Event, ev.HostName)
//		return nil
//	})
//
// Requests that change nothing (GET, and PUT/PATCH/DELETE, which AWX applies
// idempotently) are retried with backoff on network errors and 5xx answers
// when [WithRetry] is given. A job template launch, a relaunch and an ad-hoc
// command creation are never retried: a retry could deploy twice. When the
// outcome of such a POST is unknown, look the job up with [Client.ListJobs]
// (its extra_vars carry the caller's request id).
//
// The AWX API reference this package follows is AWX's own browsable API
// (https://docs.ansible.com/automation-controller/latest/html/controllerapi/)
// and its source (ansible/awx: awx/api/views/, awx/api/serializers.py).
package awxclient
