package deploy

// requests is the part of the Service that people act through on a
// release: asking for a deploy, rollback or dry run, approving, rejecting,
// canceling, reading the output, taking and releasing locks, and the
// read-only views (status, history). What an approval makes ready it
// hands to runs.
type requests struct {
	*core
	runs *runs
}

// schedules is the part of the Service that keeps scheduled releases:
// creating, approving and changing them, firing their runs (each run is a
// request made through requests), and announcing runs before and after.
type schedules struct {
	*core
	requests *requests
	runs     *runs
	sched    scheduleState
}
