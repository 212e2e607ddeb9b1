package deploy

// Status is the state of a request. The values are stored as these strings.
type Status string

// The states of a request; transitions below is their life cycle.
const (
	StatusPendingApproval Status = "pending_approval"
	StatusQueued          Status = "queued"
	StatusLaunching       Status = "launching"
	StatusRunning         Status = "running"
	StatusSucceeded       Status = "succeeded"
	StatusFailed          Status = "failed"
	StatusCanceled        Status = "canceled"
	StatusRejected        Status = "rejected"
	StatusExpired         Status = "expired"
)

// transitions is the one table of legal edges. Every change of state is
// checked against it, in Go and (as a compare-and-set) in the store.
var transitions = map[Status][]Status{
	StatusPendingApproval: {StatusQueued, StatusLaunching, StatusRejected, StatusExpired, StatusCanceled},
	// A queued request may fail before launch (its plan no longer holds).
	StatusQueued: {StatusLaunching, StatusCanceled, StatusFailed},
	// Launching is left only once the outcome of the launch POST is known:
	// a job id (running) or a definite refusal (failed). A cancel asked
	// meanwhile is applied once the job id is known.
	StatusLaunching: {StatusRunning, StatusFailed},
	StatusRunning:   {StatusSucceeded, StatusFailed, StatusCanceled},
}

// Statuses lists every status, in life-cycle order.
func Statuses() []Status {
	return []Status{
		StatusPendingApproval, StatusQueued, StatusLaunching, StatusRunning,
		StatusSucceeded, StatusFailed, StatusCanceled, StatusRejected, StatusExpired,
	}
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses() {
		if v == s {
			return true
		}
	}
	return false
}

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool {
	return s.Valid() && len(transitions[s]) == 0
}

// Active reports whether a request in s holds its environment: it is being
// launched or its job runs.
func (s Status) Active() bool {
	return s == StatusLaunching || s == StatusRunning
}

// CanTransitionTo reports whether the edge s → to is legal.
func (s Status) CanTransitionTo(to Status) bool {
	for _, t := range transitions[s] {
		if t == to {
			return true
		}
	}
	return false
}

// Label is a short human text for s, as shown on a request card.
func (s Status) Label() string {
	switch s {
	case StatusPendingApproval:
		return "Waiting for approval"
	case StatusQueued:
		return "Queued"
	case StatusLaunching:
		return "Launching"
	case StatusRunning:
		return "Running"
	case StatusSucceeded:
		return "Succeeded"
	case StatusFailed:
		return "Failed"
	case StatusCanceled:
		return "Canceled"
	case StatusRejected:
		return "Rejected"
	case StatusExpired:
		return "Expired"
	}
	return string(s)
}
