package deploy

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. They say what kind of failure happened; the message says what
// the user can do about it.
const (
	EINVALID   = "invalid"   // the input is wrong; the user can fix it
	EFORBIDDEN = "forbidden" // the user may not do this
	ECONFLICT  = "conflict"  // the state changed or is busy; retry or wait
	ENOTFOUND  = "not_found" // no such request, app, schedule...
	EINTERNAL  = "internal"  // a fault of ours or of a dependency
)

// Error is a domain error. Message is written for the Slack user who caused
// it; Code lets adapters decide how to show it.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of the first *Error in err's
// chain, or a generic text for internal errors, whose details are for the
// logs only.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// Literal makes text that came from a user or from AWX (a lock reason, a
// host or task name, an AWX message, job output) safe to place in the
// Slack text the service composes: it escapes &, < and >, Slack's control
// characters, so the text is shown as written and can never become a
// mention, a broadcast (<!channel>) or a link. The bot keeps the mentions
// the service itself writes (<@U…>, <#C…>) and leaves escaped text as is.
func Literal(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
