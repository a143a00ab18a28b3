package slackserver

import (
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// MaxAckSize is the size at which Slack drops a Socket Mode frame from the
// client: an ack of MaxAckSize bytes or more is recorded with Dropped set and
// does not acknowledge its envelope.
const MaxAckSize = 20 * 1024

// Ack is a frame a Socket Mode client sent back.
type Ack struct {
	EnvelopeID string
	// Payload is the ack's payload, nil when it had none.
	Payload json.RawMessage
	// Size is the size of the whole frame in bytes.
	Size    int
	At      time.Time
	Conn    int // the connection it came on: 1 for the first
	Dropped bool
}

// wsConn is one Socket Mode WebSocket connection.
type wsConn struct {
	s      *Server
	n      int
	ws     *websocket.Conn
	wmu    sync.Mutex    // serializes data frames
	done   chan struct{} // closed once the connection is closed and forgotten
	closed sync.Once
}

// appsConnectionsOpen hands out a single-use WebSocket URL.
func (s *Server) appsConnectionsOpen(*apiRequest) reply {
	ticket := randomHex(16)
	s.mu.Lock()
	s.tickets[ticket] = false
	s.mu.Unlock()
	u := "ws" + strings.TrimPrefix(s.base, "http") + "/link/?" + url.Values{
		"ticket": {ticket},
		"app_id": {AppID},
	}.Encode()
	return okJSON(map[string]any{"url": u})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// serveSocket upgrades a request for a URL from apps.connections.open.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	used, known := s.tickets[ticket]
	if known && !used {
		s.tickets[ticket] = true
	}
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	case !known:
		s.logf("slackserver: WebSocket dial with a ticket apps.connections.open did not hand out: %q", ticket)
		http.Error(w, "unknown ticket", http.StatusUnauthorized)
		return
	case used:
		s.trace("slackserver: WebSocket dial with a used ticket")
		http.Error(w, "ticket already used: call apps.connections.open again", http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.logf("slackserver: WebSocket upgrade: %v", err)
		return
	}
	c := &wsConn{s: s, ws: ws, done: make(chan struct{})}
	ws.SetPingHandler(func(data string) error {
		// Answer the client's pings, as Slack does.
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(5*time.Second))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			return err
		}
		return nil
	})

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	s.register(c)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.pinger()
	}()
	c.readLoop()
}

// register makes c an open connection, then sends it the hello and what
// waited for a connection. c is open before the hello goes out, so a client
// that has read its hello finds it among the open connections (Disconnect,
// DropConnection and new envelopes reach it), and c's write lock is taken
// before s.mu is released, so nothing overtakes the hello or the backlog.
func (s *Server) register(c *wsConn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.ws.Close() // the read loop ends at once
		return
	}
	hello := mustJSON(map[string]any{
		"type":            "hello",
		"num_connections": len(s.conns) + 1,
		"debug_info": map[string]any{
			"host":                        "slackserver",
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
		"connection_info": map[string]any{"app_id": AppID},
	})
	s.connTotal++
	c.n = s.connTotal
	s.conns = append(s.conns, c)
	pending := s.pending
	s.pending = nil
	c.wmu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
	s.trace("slackserver: connection %d open", c.n)

	// A write that fails puts back what was not sent and closes the
	// connection without waiting: the read loop that forgets c runs after
	// register, in this goroutine, so drop would wait forever.
	fail := func(unsent []*Envelope, err error) {
		c.wmu.Unlock()
		s.trace("slackserver: connection %d: %v", c.n, err)
		s.mu.Lock()
		s.pending = append(unsent, s.pending...)
		s.mu.Unlock()
		c.closeNet()
	}
	if err := c.writeLocked(hello); err != nil {
		fail(pending, err)
		return
	}
	for i, e := range pending {
		sent := time.Now()
		if err := c.writeLocked(e.frame()); err != nil {
			fail(pending[i:], err)
			return
		}
		s.markDelivered(e, c, sent)
	}
	c.wmu.Unlock()
}

func (c *wsConn) readLoop() {
	s := c.s
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			s.trace("slackserver: connection %d closed: %v", c.n, err)
			break
		}
		s.handleFrame(c, data)
	}
	_ = c.ws.Close()
	s.mu.Lock()
	for i, o := range s.conns {
		if o == c {
			s.conns = append(s.conns[:i:i], s.conns[i+1:]...)
			break
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	close(c.done)
}

// handleFrame records an ack.
func (s *Server) handleFrame(c *wsConn, data []byte) {
	var f struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(data, &f); err != nil || f.EnvelopeID == "" {
		s.logf("slackserver: connection %d sent a frame that is not an ack: %.200q", c.n, data)
		return
	}
	if string(f.Payload) == "null" {
		f.Payload = nil
	}
	a := Ack{EnvelopeID: f.EnvelopeID, Payload: f.Payload, Size: len(data), At: time.Now(), Conn: c.n, Dropped: len(data) >= MaxAckSize}
	s.trace("slackserver: connection %d ack %s (%d bytes)", c.n, a.EnvelopeID, a.Size)
	s.mu.Lock()
	s.acks = append(s.acks, a)
	s.notifyLocked()
	s.mu.Unlock()
}

func (c *wsConn) pinger() {
	s := c.s
	interval := s.cfg.pingInterval
	if interval <= 0 {
		interval = DefaultPingInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			s.mu.Lock()
			on := s.pings
			s.mu.Unlock()
			if on {
				_ = c.ws.WriteControl(websocket.PingMessage, []byte("slackserver"), time.Now().Add(5*time.Second))
			}
		}
	}
}

func (c *wsConn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(frame)
}

func (c *wsConn) writeLocked(frame []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.s.trace("slackserver: connection %d <- %s", c.n, frame)
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// drop closes the TCP connection at once, without a close frame, and waits
// until the reader has forgotten the connection.
func (c *wsConn) drop() {
	c.closeNet()
	<-c.done
}

// closeNet closes the TCP connection once; the read loop then ends.
func (c *wsConn) closeNet() {
	c.closed.Do(func() { _ = c.ws.NetConn().Close() })
}

// disconnect sends Slack's disconnect message and a close frame, gives the
// client a moment to close its side, then closes.
func (c *wsConn) disconnect(reason string) {
	msg := mustJSON(map[string]any{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": map[string]any{"host": "slackserver"},
	})
	if err := c.write(msg); err == nil {
		_ = c.ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		select {
		case <-c.done:
		case <-time.After(2 * time.Second):
		}
	}
	c.drop()
}

func (s *Server) openConns() []*wsConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*wsConn(nil), s.conns...)
}

// Disconnect sends {"type":"disconnect","reason":reason} on every open
// connection and closes them, as Slack does before it moves a connection
// (reason "" means "refresh_requested"). It returns once they are closed,
// with how many there were.
func (s *Server) Disconnect(reason string) int {
	if reason == "" {
		reason = "refresh_requested"
	}
	conns := s.openConns()
	for _, c := range conns {
		c.disconnect(reason)
	}
	return len(conns)
}

// DropConnection closes every open connection's TCP connection abruptly,
// with no disconnect message or close frame, and returns how many there were.
func (s *Server) DropConnection() int {
	conns := s.openConns()
	for _, c := range conns {
		c.drop()
	}
	return len(conns)
}

// SetPings turns the server's WebSocket pings on or off. With pings off a
// connection looks dead to slack-go's socketmode client, which reconnects
// when it has seen no ping for its ping interval.
func (s *Server) SetPings(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pings = on
}

// ConnectionCount returns how many Socket Mode connections have been
// established (hello sent) since the server started.
func (s *Server) ConnectionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connTotal
}

// OpenConnections returns how many Socket Mode connections are open now.
func (s *Server) OpenConnections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Acks returns every frame clients sent back, in arrival order.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// AcksFor returns the frames that acknowledged envelopeID, dropped or not.
func (s *Server) AcksFor(envelopeID string) []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ack
	for _, a := range s.acks {
		if a.EnvelopeID == envelopeID {
			out = append(out, a)
		}
	}
	return out
}

// deliver sends e on a random open connection, as Slack picks one, or keeps
// it until a connection opens. A connection that fails the write is dropped
// and another tried.
func (s *Server) deliver(e *Envelope) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		if len(s.conns) == 0 {
			s.pending = append(s.pending, e)
			s.notifyLocked()
			s.mu.Unlock()
			return
		}
		c := s.conns[rand.IntN(len(s.conns))]
		s.mu.Unlock()

		sent := time.Now()
		if err := c.write(e.frame()); err != nil {
			s.logf("slackserver: deliver %s on connection %d: %v; dropping the connection", e.ID, c.n, err)
			c.drop()
			continue
		}
		s.markDelivered(e, c, sent)
		return
	}
}

func (s *Server) markDelivered(e *Envelope, c *wsConn, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.Delivered = at
	e.Conn = c.n
	s.notifyLocked()
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("slackserver: encode %T: %v", v, err))
	}
	return b
}
