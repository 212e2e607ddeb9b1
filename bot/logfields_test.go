package bot

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// TestSocketErrorsLogText: the socket's error events log "error" as the
// error's text, never as a JSON object (which is what slack-go's structs
// became: an error value marshals as {}).
func TestSocketErrorsLogText(t *testing.T) {
	cause := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	tests := []struct {
		event socketmode.EventType
		data  any
	}{
		{socketmode.EventTypeConnectionError, &slack.ConnectionErrorEvent{Attempt: 2, Backoff: 3 * time.Second, ErrorObj: cause}},
		{socketmode.EventTypeIncomingError, &slack.IncomingEventError{ErrorObj: cause}},
		{socketmode.EventTypeErrorWriteFailed, &socketmode.ErrorWriteFailed{Cause: cause}},
		{socketmode.EventTypeConnectionError, cause},
	}
	for _, tt := range tests {
		t.Run(string(tt.event), func(t *testing.T) {
			var buf bytes.Buffer
			b := &Bot{log: zerolog.New(&buf)}
			b.register()
			b.lifecycle[tt.event](socketmode.Event{Type: tt.event, Data: tt.data})
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			if got, ok := line["error"].(string); !ok || got != cause.Error() {
				t.Errorf("error = %#v, want the string %q", line["error"], cause.Error())
			}
		})
	}
}
