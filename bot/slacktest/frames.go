package slacktest

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"sync"
)

// Slack's Socket Mode server does not reassemble a client message sent as
// several WebSocket frames (a first frame without FIN followed by
// continuation frames): such a message is dropped as if it had never been
// sent, so an ack split this way never arrives and Slack shows the user an
// error. Source: slack-go CHANGELOG ([#1196],
// https://github.com/slack-go/slack/issues/1196) and slack-go
// socketmode/socketmode.go (defaultWriteBufferSize = 32 KiB, "Slack's server
// does not reassemble continuation frames"); gorilla/websocket splits any
// message larger than the dialer's WriteBufferSize (default 4096).
//
// frameWatch sits between the hijacked TCP connection and gorilla's reader
// and parses the frame headers of what the client sends, recording for each
// data message, in order, whether it came in more than one frame.

// hijackWriter hands gorilla's Upgrader a connection that is watched.
type hijackWriter struct {
	http.ResponseWriter
	watch *frameWatch
}

func (h hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.watch.Conn = c
	return h.watch, brw, nil
}

// frameWatch parses client frame headers as bytes are read.
type frameWatch struct {
	net.Conn

	mu        sync.Mutex
	hdr       []byte // header bytes of the frame being parsed
	left      uint64 // payload bytes of the current frame still to skip
	inMessage bool   // a data message has started and not ended
	split     bool   // the current data message has had more than one frame
	done      []bool // finished data messages: whether each was split
}

func (w *frameWatch) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 {
		w.mu.Lock()
		w.feed(p[:n])
		w.mu.Unlock()
	}
	return n, err
}

// feed parses b. w.mu must be held.
func (w *frameWatch) feed(b []byte) {
	for len(b) > 0 {
		if w.left > 0 {
			k := min(uint64(len(b)), w.left)
			w.left -= k
			b = b[k:]
			continue
		}
		w.hdr = append(w.hdr, b[0])
		b = b[1:]
		need := 2
		if len(w.hdr) >= 2 {
			switch w.hdr[1] & 0x7f {
			case 126:
				need += 2
			case 127:
				need += 8
			}
			if w.hdr[1]&0x80 != 0 {
				need += 4 // client frames are masked
			}
		}
		if len(w.hdr) < need {
			continue
		}
		w.frame()
		w.hdr = w.hdr[:0]
	}
}

// frame records one complete frame header. w.mu must be held.
func (w *frameWatch) frame() {
	fin := w.hdr[0]&0x80 != 0
	op := w.hdr[0] & 0x0f
	var size uint64
	switch l := w.hdr[1] & 0x7f; l {
	case 126:
		size = uint64(binary.BigEndian.Uint16(w.hdr[2:4]))
	case 127:
		size = binary.BigEndian.Uint64(w.hdr[2:10])
	default:
		size = uint64(l)
	}
	w.left = size
	switch op {
	case 1, 2: // text, binary: a new message
		w.inMessage, w.split = true, !fin
	case 0: // continuation
		w.split = true
	default: // control frames may come between fragments
		return
	}
	if fin && w.inMessage {
		w.done = append(w.done, w.split)
		w.inMessage, w.split = false, false
	}
}

// nextSplit reports whether the oldest data message not yet asked about came
// in several frames.
func (w *frameWatch) nextSplit() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.done) == 0 {
		return false
	}
	s := w.done[0]
	w.done = w.done[1:]
	return s
}
