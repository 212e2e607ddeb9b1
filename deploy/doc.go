// Package deploy is deploybot's domain: release requests, their life cycle,
// approval and deploy policies, environment locks and the queue, job runs and
// schedules.
//
// It defines the interfaces it needs from the outside world (Store, Runner,
// Notifier, Directory, Clock) and knows nothing of Slack, HTTP or SQL. The
// storage package implements Store on SQLite, an adapter over awxclient
// implements Runner, and the bot package implements Notifier.
//
// Service carries a request through its life (the transitions table in
// status.go; README.md, "Using it"): RequestDeploy
// and RequestRollback validate and freeze the plan, Approve and Reject apply
// the approval policy, the queue and manual locks keep one release active
// per app and environment, and Run launches each job exactly once, follows
// it to the end and recovers all of this after a restart from the Store
// alone. The deploytest package has test doubles for its ports.
package deploy
