package slacktest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// maxSockets is Slack's limit of concurrent Socket Mode connections per
	// app; the 11th is told too_many_websockets.
	maxSockets = 10
	// maxAckSize is the frame size from which Slack refuses an ack and
	// closes the socket with 1009.
	maxAckSize = 20480
	writeWait  = 5 * time.Second
)

// wsConn is one open Socket Mode connection.
type wsConn struct {
	id   int
	host string // "applink-<id>", carried by pings and debug_info
	conn *websocket.Conn
	// watch tells which client messages came in several frames.
	watch *frameWatch

	draining bool // told to disconnect; guarded by Server.mu

	wmu       sync.Mutex // serialises data frames
	done      chan struct{}
	closeOnce sync.Once
}

func (c *wsConn) writeJSON(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return c.conn.WriteJSON(v)
}

// drop closes the TCP connection without a close frame, as a network
// failure would.
func (c *wsConn) drop() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.conn.UnderlyingConn().Close()
	})
}

func (s *Server) appsConnectionsOpen(rq *apiRequest) (map[string]any, *apiError) {
	ticket := newUUID()
	s.tickets[ticket] = false
	u := "ws" + s.URL[len("http"):] + "/link/?ticket=" + ticket + "&app_id=" + s.AppID
	return map[string]any{"url": u}, nil
}

// serveSocket accepts a Socket Mode WebSocket for a fresh ticket.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ticket := q.Get("ticket")
	s.mu.Lock()
	used, known := s.tickets[ticket]
	if !known || used || s.closed {
		s.mu.Unlock()
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	s.tickets[ticket] = true
	s.mu.Unlock()

	// slack-go sends Origin: https://api.slack.com; accept any origin.
	// A read buffer of its own makes gorilla read through the watched
	// connection rather than the server's buffered reader.
	up := websocket.Upgrader{ReadBufferSize: 4096, CheckOrigin: func(*http.Request) bool { return true }}
	watch := &frameWatch{}
	conn, err := up.Upgrade(hijackWriter{ResponseWriter: w, watch: watch}, r, nil)
	if err != nil {
		return // Upgrade already answered
	}
	conn.SetReadLimit(1 << 20) // the 20 KiB rule is checked per message below

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	s.connSeq++
	c := &wsConn{id: s.connSeq, host: "applink-" + strconv.Itoa(s.connSeq), conn: conn, watch: watch, done: make(chan struct{})}
	if len(s.conns) >= maxSockets {
		s.mu.Unlock()
		_ = c.writeJSON(map[string]any{
			"type": "disconnect", "reason": "too_many_websockets", "num_connections": maxSockets,
			"debug_info": map[string]any{"host": c.host}, "connection_info": map[string]any{"app_id": s.AppID},
		})
		c.drop()
		return
	}
	s.conns[c.id] = c
	s.opened++
	connTime := s.cfg.connTime
	if q.Get("debug_reconnects") == "true" {
		connTime = 360
	}
	hello := map[string]any{
		"type": "hello", "num_connections": len(s.conns),
		"debug_info":      map[string]any{"host": c.host, "build_number": 14, "approximate_connection_time": connTime},
		"connection_info": map[string]any{"app_id": s.AppID},
	}
	s.wg.Add(2)
	s.notifyLocked()
	s.mu.Unlock()

	if err := c.writeJSON(hello); err != nil {
		c.drop()
	}
	go s.pingLoop(c)
	go s.readLoop(c)
}

// pingLoop sends a WebSocket ping every ping interval, as Slack does; the
// client reconnects when they stop.
func (s *Server) pingLoop(c *wsConn) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			s.mu.Lock()
			stopped := s.stopPings
			s.mu.Unlock()
			if stopped {
				continue
			}
			if err := c.conn.WriteControl(websocket.PingMessage, []byte("Ping from "+c.host), time.Now().Add(writeWait)); err != nil {
				c.drop()
				return
			}
		}
	}
}

// readLoop reads acks until the socket ends, then forgets the connection.
func (s *Server) readLoop(c *wsConn) {
	defer s.wg.Done()
	defer func() {
		c.drop()
		s.mu.Lock()
		delete(s.conns, c.id)
		s.notifyLocked()
		s.mu.Unlock()
	}()
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		if c.watch.nextSplit() {
			// Slack does not reassemble continuation frames: the
			// message is lost (see frames.go for the sources).
			s.mu.Lock()
			s.fragmented++
			s.notifyLocked()
			s.mu.Unlock()
			continue
		}
		if len(data) >= maxAckSize {
			s.mu.Lock()
			s.oversized++
			s.mu.Unlock()
			msg := websocket.FormatCloseMessage(websocket.CloseMessageTooBig, "Max frame length of 20480 has been exceeded.")
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
			return
		}
		s.handleAck(c.id, data)
	}
}

// Disconnect sends a disconnect message with the given reason ("warning",
// "refresh_requested", "link_disabled") on every open socket. Envelopes are no
// longer given to a socket told to disconnect, and Slack closes it itself
// after a short grace (WithDisconnectGrace, 10 s by default) whether or not
// the client did: a client that keeps reading a socket it was told to leave
// loses it (docs.slack.dev/apis/events-api/using-socket-mode, "disconnect"
// events: the connection is refreshed about every few hours, warned ~10 s
// ahead). slack-go closes the socket at once and reconnects with a new
// ticket.
func (s *Server) Disconnect(reason string) {
	conns := s.openConns()
	s.mu.Lock()
	for _, c := range conns {
		c.draining = true
	}
	grace := s.cfg.disconnectGrace
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.writeJSON(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": c.host}})
		time.AfterFunc(grace, func() {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
			c.drop()
		})
	}
}

// DropConnections cuts every open socket at the TCP level, without a close
// frame.
func (s *Server) DropConnections() {
	for _, c := range s.openConns() {
		c.drop()
	}
}

func (s *Server) openConns() []*wsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	return out
}

// StopPings stops (true) or resumes (false) the server's WebSocket pings.
func (s *Server) StopPings(stop bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopPings = stop
}

// SetAckDeadline changes how long later envelopes may wait for their ack.
func (s *Server) SetAckDeadline(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.ackDeadline = d
}

// Connections returns the number of open sockets.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Reconnects returns how many sockets were opened after the first one.
func (s *Server) Reconnects() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(0, s.opened-1)
}

// OversizedAcks returns how many frames of 20480 bytes or more the server
// refused (closing the socket with 1009).
func (s *Server) OversizedAcks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oversized
}

// FragmentedMessages returns how many client messages came split into
// several WebSocket frames and were therefore dropped unread, as Slack does.
func (s *Server) FragmentedMessages() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fragmented
}

// rawAck is an ack frame as the client sends it.
type rawAck struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
}
