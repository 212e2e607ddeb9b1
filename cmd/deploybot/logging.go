package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// logTimeFormat is the "time" of every JSON log line: UTC with
// milliseconds, so that lines of one second keep their order.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// consoleFormat reports whether format (json, console, auto) means
// readable console lines on w rather than JSON.
func consoleFormat(w io.Writer, format string) (bool, error) {
	switch format {
	case "console":
		return true, nil
	case "json":
		return false, nil
	case "auto", "":
		f, ok := w.(*os.File)
		return ok && isatty.IsTerminal(f.Fd()), nil
	}
	return false, fmt.Errorf("log format %q: use json, console or auto", format)
}

// newLogger builds the process logger: JSON lines, or readable console
// output when stderr is a terminal (or when asked).
// Every line passes through secrets.writer, which redacts secret values.
func newLogger(w io.Writer, level, format string, secrets redactor) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	console, err := consoleFormat(w, format)
	if err != nil {
		return zerolog.Nop(), err
	}
	out := secrets.writer(w)
	if console {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(out).Level(lvl).Hook(timestampHook{}), nil
}

// timestampHook stamps each line with the time in logTimeFormat, without
// changing zerolog's process-wide TimeFieldFormat.
type timestampHook struct{}

func (timestampHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format(logTimeFormat))
}

// fatalLogged is an error that ended the process and has been written to
// the log as a JSON line already; main only sets the exit status.
type fatalLogged struct{ err error }

func (e *fatalLogged) Error() string { return e.err.Error() }
func (e *fatalLogged) Unwrap() error { return e.err }

// logFatal writes err as the last JSON log line when the log format is
// JSON, and returns it marked as written; otherwise it returns err for main
// to print. Secrets are redacted from it.
func logFatal(w io.Writer, format string, secrets redactor, err error) error {
	if console, ferr := consoleFormat(w, format); ferr != nil || console {
		return err
	}
	log := zerolog.New(secrets.writer(w)).Hook(timestampHook{})
	log.WithLevel(zerolog.FatalLevel).Str("error", secrets.redact(err.Error())).Msg("deploybot stopped")
	return &fatalLogged{err}
}
