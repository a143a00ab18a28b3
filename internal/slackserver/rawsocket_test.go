package slackserver

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialRaw opens a Socket Mode connection with a bare WebSocket client and
// reads the hello.
func dialRaw(t *testing.T, srv *Server) (*websocket.Conn, string) {
	t.Helper()
	_, wsURL, err := newAPI(srv).StartSocketModeContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(wsURL, "ws://") || !strings.Contains(wsURL, "/link/?") {
		t.Fatalf("apps.connections.open URL = %q", wsURL)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	_ = ws.SetReadDeadline(time.Now().Add(waitLong)) // a missing frame fails the test, never hangs it
	var hello struct {
		Type           string `json:"type"`
		NumConnections int    `json:"num_connections"`
		ConnectionInfo struct {
			AppID string `json:"app_id"`
		} `json:"connection_info"`
	}
	if err := ws.ReadJSON(&hello); err != nil {
		t.Fatal(err)
	}
	if hello.Type != "hello" || hello.ConnectionInfo.AppID != AppID || hello.NumConnections < 1 {
		t.Fatalf("hello = %+v", hello)
	}
	// Once the client has its hello, the connection is open: Disconnect
	// and new envelopes reach it.
	if n := srv.OpenConnections(); n < 1 {
		t.Fatalf("%d open connections after the hello", n)
	}
	return ws, wsURL
}

func TestSocketURLWorksOnce(t *testing.T) {
	srv := New(t)
	_, wsURL := dialRaw(t, srv)
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err == nil {
		t.Fatal("a second dial with the same URL succeeded")
	}
	if resp == nil || resp.StatusCode != 401 {
		t.Fatalf("second dial answered %v", resp)
	}
}

func TestOversizeAckIsDropped(t *testing.T) {
	srv := New(t)
	ws, _ := dialRaw(t, srv)
	env := srv.SendSlashCommand(SlashCommand{})
	var frame struct {
		EnvelopeID string `json:"envelope_id"`
		Type       string `json:"type"`
	}
	if err := ws.ReadJSON(&frame); err != nil {
		t.Fatal(err)
	}
	if frame.EnvelopeID != env.ID || frame.Type != TypeSlashCommands {
		t.Fatalf("frame = %+v", frame)
	}
	big := `{"envelope_id":"` + env.ID + `","payload":{"text":"` + strings.Repeat("x", MaxAckSize) + `"}}`
	if err := ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, waitLong, "the big ack", func(s *Server) bool { return len(s.Acks()) == 1 })
	if a := srv.Acks()[0]; !a.Dropped || a.Size != len(big) {
		t.Errorf("big ack = dropped %v size %d", a.Dropped, a.Size)
	}
	ft := &fakeTB{TB: t}
	srv.WaitAck(ft, env.ID, 100*time.Millisecond)
	if !ft.failed || !strings.Contains(ft.msg, "drops frames") {
		t.Errorf("WaitAck after a dropped ack: failed=%v msg=%q", ft.failed, ft.msg)
	}

	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"envelope_id":"`+env.ID+`","payload":{"text":"ok"}}`)); err != nil {
		t.Fatal(err)
	}
	if a := srv.WaitAck(t, env.ID, waitLong); string(a.Payload) != `{"text":"ok"}` {
		t.Errorf("ack payload = %s", a.Payload)
	}
}

func TestServerAnswersClientPings(t *testing.T) {
	srv := New(t)
	ws, _ := dialRaw(t, srv)
	pong := make(chan string, 1)
	ws.SetPongHandler(func(data string) error {
		pong <- data
		return nil
	})
	if err := ws.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case got := <-pong:
		if got != "are you there" {
			t.Errorf("pong = %q", got)
		}
	case <-time.After(waitLong):
		t.Fatal("no pong")
	}
}

func TestDisconnectSendsTheMessageThenCloses(t *testing.T) {
	srv := New(t)
	ws, _ := dialRaw(t, srv)
	done := make(chan int, 1)
	go func() { done <- srv.Disconnect("link_disabled") }()
	var msg struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if err := ws.ReadJSON(&msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != "disconnect" || msg.Reason != "link_disabled" {
		t.Errorf("frame = %+v, want a disconnect with the reason", msg)
	}
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("after the disconnect message: %v, want a normal close", err)
	}
	if n := <-done; n != 1 {
		t.Errorf("Disconnect closed %d connections", n)
	}
	if srv.OpenConnections() != 0 {
		t.Errorf("%d connections open after Disconnect", srv.OpenConnections())
	}
}

// TestBacklogWriteFailureDoesNotHangTheServer sends a backlog larger than
// the socket buffers to a client that resets its connection after the
// hello: the write fails half way, what was not written waits for the next
// connection, and the server still closes.
func TestBacklogWriteFailureDoesNotHangTheServer(t *testing.T) {
	srv := New(t)
	text := strings.Repeat("x", 3000)
	var last Envelope
	for range 4000 { // about 14 MB, more than loopback buffers hold
		last = srv.SendSlashCommand(SlashCommand{Text: text})
	}
	ws, _ := dialRaw(t, srv)
	if err := ws.NetConn().(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	_ = ws.NetConn().Close() // a reset, with the backlog unread
	srv.WaitFor(t, waitLong, "the reset connection to be forgotten", func(s *Server) bool {
		return s.OpenConnections() == 0
	})

	second, _ := dialRaw(t, srv)
	_ = second.SetReadDeadline(time.Now().Add(waitLong))
	for {
		var f struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if err := second.ReadJSON(&f); err != nil {
			t.Fatalf("second connection, before envelope %s: %v", last.ID, err)
		}
		if f.EnvelopeID == last.ID {
			break
		}
	}

	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(waitLong):
		t.Fatal("Close did not return after a backlog write failed")
	}
}
