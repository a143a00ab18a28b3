package slackserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/changes"
)

// Identities the server answers for. Clients are configured with AppToken and
// BotToken; everything the bot posts is attributed to BotUserID and BotID.
const (
	AppToken   = "xapp-1-A0GANTRY01-1-slackserver"
	BotToken   = "xoxb-1-slackserver-gantry-bot"
	AppID      = "A0GANTRY01"
	TeamID     = "T0GANTRY01"
	TeamName   = "Gantry Test"
	TeamDomain = "gantry-test"
	BotUserID  = "U0GANTRYBOT"
	BotID      = "B0GANTRYBOT"
	BotName    = "gantry"

	// VerificationToken is the deprecated "token" field Slack still puts
	// into slash command and interaction payloads.
	VerificationToken = "slackserver-verification-token"
)

// Defaults used by the Send helpers when a field is left empty.
const (
	DefaultUser        = "U0PERSON01"
	DefaultUserName    = "person"
	DefaultChannel     = "C0GENERAL1"
	DefaultChannelName = "general"
	DefaultCommand     = "/gantry"
)

// DefaultPingInterval is how often the server sends a WebSocket ping on each
// Socket Mode connection unless WithPingInterval says otherwise. slack-go's
// socketmode client reconnects when it sees no ping for 30 s (its default).
const DefaultPingInterval = 5 * time.Second

// Option configures a Server.
type Option func(*config)

type config struct {
	pingInterval time.Duration
	shareDelay   time.Duration
	logTraffic   bool
	limits       map[string]Limit // by method; see DefaultLimits
}

// WithPingInterval sets how often the server pings each Socket Mode
// connection. Zero or less starts the server with pings off (see SetPings).
func WithPingInterval(d time.Duration) Option {
	return func(c *config) { c.pingInterval = d }
}

// WithFileShareDelay makes files.completeUploadExternal share the file into
// its channels d after the call has answered, as Slack does asynchronously.
// The default, zero, shares before answering.
func WithFileShareDelay(d time.Duration) Option {
	return func(c *config) { c.shareDelay = d }
}

// WithTrafficLog logs every Web API call and every Socket Mode frame with
// tb.Logf, for debugging a test.
func WithTrafficLog() Option {
	return func(c *config) { c.logTraffic = true }
}

// Server is a fake Slack: Web API, Socket Mode and the file upload endpoint on
// one local HTTP listener. Create it with New; all methods are safe for
// concurrent use.
type Server struct {
	tb   testing.TB
	cfg  config
	http *httptest.Server
	base string // http://127.0.0.1:PORT, no trailing slash

	mu       sync.Mutex
	changes  changes.Signal // wakes WaitFor on every state change
	closed   bool
	stopping chan struct{} // closed by Close: hung calls (HangNext) end
	ids      int64         // counter behind generated IDs
	lastTS   int64         // last ts handed out, in microseconds

	calls   []Call
	faults  map[string][]*fault
	buckets map[string]*tokens // the limits' token buckets, by method (and channel)

	users      map[string]*User
	channels   map[string]*Channel
	usergroups map[string][]string
	handles    map[string]string // user group ID -> handle

	messages   map[string][]*Message // by channel, in ts order
	ephemerals []Ephemeral
	files      map[string]*File
	fileOrder  []string
	responses  map[string]*responseURL
	posts      []ResponsePost

	// Socket Mode
	tickets   map[string]bool // ws tickets handed out; true once used
	conns     []*wsConn       // open connections
	connTotal int             // connections ever established
	pings     bool
	envelopes []*Envelope
	pending   []*Envelope // waiting for a connection
	acks      []Ack

	wg sync.WaitGroup // Socket Mode goroutines and delayed shares
}

// New starts a Server and registers its Close with tb.Cleanup. tb is also
// where the server logs (WithTrafficLog, and anything a client sent that it
// could not understand).
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := config{pingInterval: DefaultPingInterval, limits: DefaultLimits()}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		tb:         tb,
		cfg:        cfg,
		faults:     map[string][]*fault{},
		buckets:    map[string]*tokens{},
		users:      map[string]*User{},
		channels:   map[string]*Channel{},
		usergroups: map[string][]string{},
		handles:    map[string]string{},
		messages:   map[string][]*Message{},
		files:      map[string]*File{},
		responses:  map[string]*responseURL{},
		tickets:    map[string]bool{},
		pings:      cfg.pingInterval > 0,
		stopping:   make(chan struct{}),
	}
	s.users[BotUserID] = &User{ID: BotUserID, Name: BotName, RealName: "Gantry", IsBot: true}

	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("/upload/{file}", s.serveUpload)
	mux.HandleFunc("/link/", s.serveSocket)
	mux.HandleFunc("/response/{id}", s.serveResponseURL)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.logf("slackserver: request for unknown path %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	s.http = httptest.NewServer(mux)
	s.base = s.http.URL
	tb.Cleanup(s.Close)
	return s
}

// APIURL is the Web API base URL, ending in "/", for slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.base + "/api/" }

// URL is the server's base URL, without a trailing slash.
func (s *Server) URL() string { return s.base }

// Close disconnects every Socket Mode connection and stops the server. It is
// called by the cleanup New registers; calling it again does nothing.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.stopping)
	conns := append([]*wsConn(nil), s.conns...)
	s.notifyLocked()
	s.mu.Unlock()

	for _, c := range conns {
		c.drop()
	}
	s.http.Close()
	s.wg.Wait()
}

// notifyLocked wakes everything waiting for a change. s.mu must be held.
func (s *Server) notifyLocked() {
	s.changes.Notify()
}

// logf logs through the test while the server is open.
func (s *Server) logf(format string, args ...any) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.tb.Logf(format, args...)
	}
}

// trace logs when WithTrafficLog is on.
func (s *Server) trace(format string, args ...any) {
	if s.cfg.logTraffic {
		s.logf(format, args...)
	}
}

// isChannelID reports whether id looks like a conversation ID: C, G or D
// followed by upper-case letters and digits.
func isChannelID(id string) bool {
	if len(id) < 3 || !strings.ContainsRune("CGD", rune(id[0])) {
		return false
	}
	for _, r := range id[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
