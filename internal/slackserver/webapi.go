package slackserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Call is one request the server received: a Web API method, an upload to a
// URL from files.getUploadURLExternal (Method UploadMethod), or a post to a
// response_url (Method ResponseURLMethod).
type Call struct {
	Method string
	// Args holds the form fields, query parameters or top-level JSON fields
	// of the request, without the token. JSON values that are not strings
	// (blocks, numbers, booleans) are kept as their JSON text.
	Args url.Values
	// Token is the token the request carried (Authorization: Bearer, or the
	// token argument).
	Token string
	At    time.Time
	// Status is the HTTP status of the answer; Error the Slack error code
	// ("" when the answer was ok or not JSON).
	Status int
	Error  string
	// Throttled is set on a call answered 429 because it went over the
	// method's limit (not because of an injected RateLimit).
	Throttled bool
}

// Pseudo-methods under which requests other than Web API calls are recorded.
const (
	UploadMethod      = "upload"
	ResponseURLMethod = "response_url"
)

// reply is what a handler answers: a JSON body or raw bytes, and the Slack
// error code when the answer is {"ok":false}.
type reply struct {
	status      int
	contentType string
	body        []byte
	errCode     string
	header      http.Header
	throttled   bool // a 429 of the limits
	hang        bool // no answer at all (HangNext)
}

// apiRequest is a parsed Web API request.
type apiRequest struct {
	method string
	args   url.Values
	token  string
	raw    *http.Request
	at     time.Time
}

type apiHandler func(*Server, *apiRequest) reply

// methods maps each supported Web API method to its handler.
var methods = map[string]apiHandler{
	"apps.connections.open":        (*Server).appsConnectionsOpen,
	"auth.test":                    (*Server).authTest,
	"chat.postMessage":             (*Server).chatPostMessage,
	"chat.update":                  (*Server).chatUpdate,
	"chat.delete":                  (*Server).chatDelete,
	"chat.postEphemeral":           (*Server).chatPostEphemeral,
	"reactions.add":                (*Server).reactionsAdd,
	"conversations.info":           (*Server).conversationsInfo,
	"conversations.members":        (*Server).conversationsMembers,
	"users.info":                   (*Server).usersInfo,
	"users.lookupByEmail":          (*Server).usersLookupByEmail,
	"users.list":                   (*Server).usersList,
	"conversations.list":           (*Server).conversationsList,
	"usergroups.users.list":        (*Server).usergroupsUsersList,
	"usergroups.list":              (*Server).usergroupsList,
	"conversations.history":        (*Server).conversationsHistory,
	"conversations.replies":        (*Server).conversationsReplies,
	"files.getUploadURLExternal":   (*Server).filesGetUploadURLExternal,
	"files.completeUploadExternal": (*Server).filesCompleteUploadExternal,
}

func okJSON(fields map[string]any) reply {
	if fields == nil {
		fields = map[string]any{}
	}
	fields["ok"] = true
	return jsonReply(http.StatusOK, fields)
}

func errJSON(code string, detail ...string) reply {
	body := map[string]any{"ok": false, "error": code}
	if len(detail) > 0 {
		body["response_metadata"] = map[string]any{"messages": detail}
	}
	r := jsonReply(http.StatusOK, body)
	r.errCode = code
	return r
}

func jsonReply(status int, v any) reply {
	b, err := json.Marshal(v)
	if err != nil {
		// Every body is built here from strings, numbers and raw JSON that
		// was validated on the way in, so this is a bug in the server.
		panic(fmt.Sprintf("slackserver: encode reply: %v", err))
	}
	return reply{status: status, contentType: "application/json; charset=utf-8", body: b}
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	req, err := parseAPIRequest(method, r)
	var rep reply
	switch {
	case err != nil:
		s.logf("slackserver: %s: %v", method, err)
		rep = errJSON("invalid_form_data", err.Error())
	case methods[method] == nil:
		s.logf("slackserver: %s is not a method this server implements", method)
		rep = errJSON("unknown_method")
	default:
		rep = s.handle(req, methods[method])
	}
	if req == nil {
		req = &apiRequest{method: method, args: url.Values{}, at: time.Now()}
	}
	s.record(req, rep)
	if rep.hang {
		// Until the client gives up (its timeout, or it goes away).
		select {
		case <-r.Context().Done():
		case <-s.stopping:
		}
		return
	}
	writeReply(w, rep)
}

// handle checks the token and the method's limit, applies any injected
// fault and runs h.
func (s *Server) handle(req *apiRequest, h apiHandler) reply {
	if code := checkToken(req.method, req.token); code != "" {
		return errJSON(code)
	}
	s.mu.Lock()
	rejected, refund := s.throttleLocked(req)
	s.mu.Unlock()
	if rejected != nil {
		return *rejected
	}
	f := s.takeFault(req.method)
	if f != nil && !f.afterApply {
		s.mu.Lock()
		refund()
		s.mu.Unlock()
		return f.reply()
	}
	rep := h(s, req)
	if f != nil {
		return f.reply()
	}
	return rep
}

// checkToken returns the Slack error for a request to method carrying token,
// or "" when the token is the right one.
func checkToken(method, token string) string {
	want, other := BotToken, AppToken
	if method == "apps.connections.open" {
		want, other = AppToken, BotToken
	}
	switch token {
	case want:
		return ""
	case "":
		return "not_authed"
	case other:
		return "not_allowed_token_type"
	default:
		return "invalid_auth"
	}
}

func writeReply(w http.ResponseWriter, rep reply) {
	for k, v := range rep.header {
		w.Header()[k] = v
	}
	if rep.contentType != "" {
		w.Header().Set("Content-Type", rep.contentType)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

// record stores the call and wakes waiters.
func (s *Server) record(req *apiRequest, rep reply) {
	c := Call{
		Method:    req.method,
		Args:      req.args,
		Token:     req.token,
		At:        req.at,
		Status:    rep.status,
		Error:     rep.errCode,
		Throttled: rep.throttled,
	}
	s.trace("slackserver: %s %v -> %d %s", c.Method, c.Args, c.Status, rep.body)
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.notifyLocked()
	s.mu.Unlock()
}

// parseAPIRequest reads the arguments of a Web API request from its query,
// and from its body as a form, a multipart form or a JSON object.
func parseAPIRequest(method string, r *http.Request) (*apiRequest, error) {
	req := &apiRequest{method: method, args: url.Values{}, raw: r, at: time.Now()}
	for k, v := range r.URL.Query() {
		req.args[k] = append(req.args[k], v...)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return req, fmt.Errorf("read request body: %w", err)
	}
	ctype, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case len(bytes.TrimSpace(body)) == 0:
	case ctype == "application/json":
		if err := addJSONArgs(req.args, body); err != nil {
			return req, err
		}
	case ctype == "multipart/form-data":
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.Header.Set("Content-Type", mime.FormatMediaType(ctype, params))
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			return req, fmt.Errorf("parse multipart body: %w", err)
		}
		for k, v := range r.MultipartForm.Value {
			req.args[k] = append(req.args[k], v...)
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return req, fmt.Errorf("parse form body: %w", err)
		}
		for k, v := range form {
			req.args[k] = append(req.args[k], v...)
		}
	}
	req.token = req.args.Get("token")
	req.args.Del("token")
	if auth := r.Header.Get("Authorization"); auth != "" {
		req.token = strings.TrimPrefix(auth, "Bearer ")
	}
	return req, nil
}

func addJSONArgs(args url.Values, body []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return fmt.Errorf("JSON body is not an object: %w", err)
	}
	for k, raw := range obj {
		var str string
		if err := json.Unmarshal(raw, &str); err == nil {
			args.Set(k, str)
			continue
		}
		if string(raw) == "null" {
			continue
		}
		args.Set(k, string(raw))
	}
	return nil
}

// fault is one injected failure for the next n calls of a method.
type fault struct {
	n          int
	status     int // HTTP status; 429 for rate limits
	retryAfter time.Duration
	errCode    string // with status 200: {"ok":false,"error":errCode}
	afterApply bool   // run the method first, then answer with the fault
	hang       bool   // never answer (HangNext)
}

func (f *fault) reply() reply {
	switch {
	case f.hang:
		return reply{hang: true}
	case f.status == http.StatusTooManyRequests:
		secs := int64(math.Ceil(f.retryAfter.Seconds()))
		r := reply{
			status:      http.StatusTooManyRequests,
			contentType: "application/json; charset=utf-8",
			body:        []byte(`{"ok":false,"error":"ratelimited"}`),
			errCode:     "ratelimited",
			header:      http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}},
		}
		return r
	case f.status != http.StatusOK:
		return reply{
			status:      f.status,
			contentType: "text/html",
			body:        []byte("<html><body>slackserver: injected HTTP " + strconv.Itoa(f.status) + "</body></html>"),
		}
	default:
		return errJSON(f.errCode)
	}
}

func (s *Server) addFault(method string, f *fault) {
	if f.n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[method] = append(s.faults[method], f)
}

// takeFault consumes one use of the first fault queued for method.
func (s *Server) takeFault(method string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[method]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	f.n--
	if f.n <= 0 {
		s.faults[method] = q[1:]
	}
	return f
}

// RateLimit makes the next n calls of method answer HTTP 429 with a
// Retry-After header of retryAfter in whole seconds (rounded up; zero sends
// "0"), without doing anything. slack-go turns that into
// *slack.RateLimitedError. method may also be UploadMethod or
// ResponseURLMethod. Faults queue: a second RateLimit or FailNext for the same
// method applies after the first is used up.
func (s *Server) RateLimit(method string, n int, retryAfter time.Duration) {
	s.addFault(method, &fault{n: n, status: http.StatusTooManyRequests, retryAfter: retryAfter})
}

// RateLimitAfterApply makes the next n calls of method take effect (the
// message is posted, updated, ...) and then answer HTTP 429, as Slack
// sometimes does: a client that retries blindly posts twice.
func (s *Server) RateLimitAfterApply(method string, n int, retryAfter time.Duration) {
	s.addFault(method, &fault{n: n, status: http.StatusTooManyRequests, retryAfter: retryAfter, afterApply: true})
}

// FailNext makes the next n calls of method answer
// {"ok":false,"error":errorCode} without doing anything.
func (s *Server) FailNext(method string, n int, errorCode string) {
	s.addFault(method, &fault{n: n, status: http.StatusOK, errCode: errorCode})
}

// HangNext makes the next n calls of method never answer: the request
// stays open until the client gives up or the server closes, as a Slack
// that accepted the connection and stalled.
func (s *Server) HangNext(method string, n int) {
	s.addFault(method, &fault{n: n, hang: true})
}

// FailNextHTTP makes the next n calls of method answer with the HTTP status
// (such as 500 or 503) and an HTML body, as Slack does when it is down.
func (s *Server) FailNextHTTP(method string, n int, status int) {
	s.addFault(method, &fault{n: n, status: status})
}

// Calls returns the calls of method in the order they arrived; with method
// "" every call.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			c.Args = cloneValues(c.Args)
			out = append(out, c)
		}
	}
	return out
}

// CallCount returns how many calls of method have arrived.
func (s *Server) CallCount(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// MinInterval returns the shortest time between two consecutive calls of
// method that key puts in the same group (key nil: all in one group), and
// false when no group had two calls. For "chat.update no more than once every
// 2 s per message": MinInterval("chat.update", func(c Call) string { return
// c.Args.Get("channel") + "/" + c.Args.Get("ts") }).
func (s *Server) MinInterval(method string, key func(Call) string) (time.Duration, bool) {
	last := map[string]time.Time{}
	best, found := time.Duration(0), false
	for _, c := range s.Calls(method) {
		k := ""
		if key != nil {
			k = key(c)
		}
		if prev, ok := last[k]; ok {
			if d := c.At.Sub(prev); !found || d < best {
				best, found = d, true
			}
		}
		last[k] = c.At
	}
	return best, found
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}
