package awsserver

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// CloudWatch Logs limits the server enforces.
const (
	maxLogEventsPerCall = 10000
	maxLogBytesPerCall  = 1 << 20 // GetLogEvents and FilterLogEvents reply at most 1 MB
	logEventOverhead    = 26      // bytes CloudWatch counts per event besides the message
)

var logGroupNamePattern = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)

type logGroup struct {
	name    string
	created time.Time
	streams map[string]*logStream
}

type logStream struct {
	name    string
	created time.Time
	events  []LogEvent
}

// LogEvent is one event of a log stream.
type LogEvent struct {
	Timestamp     time.Time
	IngestionTime time.Time
	Message       string
}

func (s *Server) ensureGroup(name string, at time.Time) *logGroup {
	g := s.groups[name]
	if g == nil {
		g = &logGroup{name: name, created: at, streams: map[string]*logStream{}}
		s.groups[name] = g
	}
	return g
}

func (s *Server) ensureStream(group, stream string, at time.Time) *logStream {
	g := s.ensureGroup(group, at)
	st := g.streams[stream]
	if st == nil {
		st = &logStream{name: stream, created: at}
		g.streams[stream] = st
	}
	return st
}

func (s *Server) appendLog(st *logStream, msg string, at time.Time) {
	st.events = append(st.events, LogEvent{Timestamp: at, IngestionTime: at, Message: msg})
}

// CreateLogGroup creates a log group if it does not exist. Tasks create
// their awslogs groups themselves, so this is only needed for groups a test
// reads before any task writes to them.
func (s *Server) CreateLogGroup(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureGroup(name, s.now())
}

// AppendLog writes lines to a stream at the server's current time, creating
// the group and stream as needed.
func (s *Server) AppendLog(group, stream string, lines ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	now := s.now()
	st := s.ensureStream(group, stream, now)
	for _, l := range lines {
		s.appendLog(st, l, now)
	}
}

// LogEvents returns the events of a stream, nil if it does not exist.
func (s *Server) LogEvents(group, stream string) []LogEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	g := s.groups[group]
	if g == nil || g.streams[stream] == nil {
		return nil
	}
	return append([]LogEvent(nil), g.streams[stream].events...)
}

// LogStreams returns the stream names of a group, sorted.
func (s *Server) LogStreams(group string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	if g := s.groups[group]; g != nil {
		return sortedKeys(g.streams)
	}
	return nil
}

func logsError(code, format string, args ...any) *apiError {
	status := http.StatusBadRequest
	if code == "ServiceUnavailableException" {
		status = http.StatusInternalServerError
	}
	return errorf(status, code, format, args...)
}

// groupName resolves logGroupName or logGroupIdentifier (a name or ARN).
func groupName(name, ident *string) (string, *apiError) {
	switch {
	case name != nil && ident != nil:
		return "", logsError("InvalidParameterException", "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	case name != nil:
		return *name, nil
	case ident != nil:
		id := *ident
		if rest, ok := strings.CutPrefix(id, "arn:"); ok {
			_, after, found := strings.Cut(rest, ":log-group:")
			if !found {
				return "", logsError("InvalidParameterException", "logGroupIdentifier %q is not a log group ARN.", id)
			}
			id = strings.TrimSuffix(after, ":*")
		}
		return id, nil
	}
	return "", logsError("InvalidParameterException", "Either logGroupName or logGroupIdentifier must be given.")
}

func (s *Server) lookupStream(group, stream string) (*logStream, *apiError) {
	g := s.groups[group]
	if g == nil {
		return nil, logsError("ResourceNotFoundException", "The specified log group does not exist.")
	}
	st := g.streams[stream]
	if st == nil {
		return nil, logsError("ResourceNotFoundException", "The specified log stream does not exist.")
	}
	return st, nil
}

func eventLimit(limit *int32) (int, *apiError) {
	if limit == nil {
		return maxLogEventsPerCall, nil
	}
	if *limit < 1 || *limit > maxLogEventsPerCall {
		return 0, logsError("InvalidParameterException", "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *limit, maxLogEventsPerCall)
	}
	return int(*limit), nil
}

// inRange is CloudWatch's time filter: startTime inclusive, endTime
// exclusive, both in epoch milliseconds.
func inRange(ev LogEvent, start, end *int64) bool {
	ms := ev.Timestamp.UnixMilli()
	return (start == nil || ms >= *start) && (end == nil || ms < *end)
}

type wireOutputEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// Stream tokens are "f/POSITION/s" (read forward from POSITION) and
// "b/POSITION/s" (read backward from before POSITION), POSITION being an
// index into the stream, written as CloudWatch's 56 digits.
func streamToken(dir byte, pos int) string {
	return fmt.Sprintf("%c/%056d/s", dir, pos)
}

func parseStreamToken(tok string, n int) (dir byte, pos int, ok bool) {
	if len(tok) < 5 || (tok[0] != 'f' && tok[0] != 'b') || tok[1] != '/' || !strings.HasSuffix(tok, "/s") {
		return 0, 0, false
	}
	p, err := strconv.Atoi(tok[2 : len(tok)-2])
	if err != nil || p < 0 || p > n {
		return 0, 0, false
	}
	return tok[0], p, true
}

func (s *Server) getLogEvents(req request) (any, *apiError) {
	var in cloudwatchlogs.GetLogEventsInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	group, e := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	if deref(in.LogStreamName) == "" {
		return nil, logsError("InvalidParameterException", "logStreamName must be given.")
	}
	limit, e := eventLimit(in.Limit)
	if e != nil {
		return nil, e
	}
	st, e := s.lookupStream(group, *in.LogStreamName)
	if e != nil {
		return nil, e
	}
	n := len(st.events)
	dir, pos := byte('b'), n
	switch {
	case in.NextToken != nil:
		var ok bool
		if dir, pos, ok = parseStreamToken(*in.NextToken, n); !ok {
			return nil, logsError("InvalidParameterException", "The specified nextToken is invalid.")
		}
	case deref(in.StartFromHead):
		dir, pos = 'f', 0
	}

	var picked []int
	size := 0
	take := func(i int) bool {
		ev := st.events[i]
		if !inRange(ev, in.StartTime, in.EndTime) {
			return true
		}
		sz := len(ev.Message) + logEventOverhead
		if len(picked) >= limit || (len(picked) > 0 && size+sz > maxLogBytesPerCall) {
			return false
		}
		size += sz
		picked = append(picked, i)
		return true
	}
	if dir == 'f' {
		for i := pos; i < n && take(i); i++ {
		}
	} else {
		for i := pos - 1; i >= 0 && take(i); i-- {
		}
		sort.Ints(picked)
	}

	events := make([]wireOutputEvent, len(picked))
	for k, i := range picked {
		ev := st.events[i]
		events[k] = wireOutputEvent{Timestamp: ev.Timestamp.UnixMilli(), Message: ev.Message, IngestionTime: ev.IngestionTime.UnixMilli()}
	}
	fwd, back := streamToken('f', pos), streamToken('b', pos)
	if len(picked) > 0 {
		fwd = streamToken('f', picked[len(picked)-1]+1)
		back = streamToken('b', picked[0])
	} else if in.NextToken != nil {
		// Nothing new: the token passed in comes back unchanged.
		if dir == 'f' {
			fwd = *in.NextToken
		} else {
			back = *in.NextToken
		}
	}
	return map[string]any{"events": events, "nextForwardToken": fwd, "nextBackwardToken": back}, nil
}

type wireFilteredEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

func (s *Server) filterLogEvents(req request) (any, *apiError) {
	var in cloudwatchlogs.FilterLogEventsInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	group, e := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	if len(in.LogStreamNames) > 0 && in.LogStreamNamePrefix != nil {
		return nil, logsError("InvalidParameterException", "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
	}
	limit, e := eventLimit(in.Limit)
	if e != nil {
		return nil, e
	}
	match, e := compileFilterPattern(deref(in.FilterPattern))
	if e != nil {
		return nil, e
	}
	g := s.groups[group]
	if g == nil {
		return nil, logsError("ResourceNotFoundException", "The specified log group does not exist.")
	}
	var names []string
	for _, name := range sortedKeys(g.streams) {
		switch {
		case len(in.LogStreamNames) > 0 && !contains(in.LogStreamNames, name):
		case in.LogStreamNamePrefix != nil && !strings.HasPrefix(name, *in.LogStreamNamePrefix):
		default:
			names = append(names, name)
		}
	}
	var all []wireFilteredEvent
	searched := []map[string]any{}
	for _, name := range names {
		searched = append(searched, map[string]any{"logStreamName": name, "searchedCompletely": true})
		for i, ev := range g.streams[name].events {
			if inRange(ev, in.StartTime, in.EndTime) && match(ev.Message) {
				all = append(all, wireFilteredEvent{
					LogStreamName: name, Timestamp: ev.Timestamp.UnixMilli(), Message: ev.Message,
					IngestionTime: ev.IngestionTime.UnixMilli(), EventID: fmt.Sprintf("%s/%d", name, i),
				})
			}
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Timestamp < all[j].Timestamp })
	start, e := decodePageToken(in.NextToken)
	if e != nil {
		return nil, e
	}
	start = min(start, len(all))
	end, size := start, 0
	for end < len(all) && end-start < limit {
		sz := len(all[end].Message) + logEventOverhead
		if end > start && size+sz > maxLogBytesPerCall {
			break
		}
		size += sz
		end++
	}
	out := map[string]any{"events": append([]wireFilteredEvent{}, all[start:end]...), "searchedLogStreams": searched}
	if end < len(all) {
		out["nextToken"] = encodePageToken(end)
	}
	return out, nil
}

// compileFilterPattern supports CloudWatch's term patterns: every plain term
// (a word or a "quoted phrase") must occur, no -term may occur, and at least
// one ?term must occur if there are any. Terms are case-sensitive. JSON and
// space-delimited patterns are refused.
func compileFilterPattern(p string) (func(string) bool, *apiError) {
	p = strings.TrimSpace(p)
	if strings.HasPrefix(p, "{") || strings.HasPrefix(p, "[") || strings.HasPrefix(p, "%") {
		return nil, logsError("InvalidParameterException", "awsserver: filter pattern %q: only term patterns are supported", p)
	}
	var must, mustNot, anyOf []string
	for len(p) > 0 {
		var op byte
		if p[0] == '-' || p[0] == '?' {
			op, p = p[0], p[1:]
		}
		var term string
		if strings.HasPrefix(p, `"`) {
			end := strings.Index(p[1:], `"`)
			if end < 0 {
				return nil, logsError("InvalidParameterException", "Invalid filter pattern: unterminated quote")
			}
			term, p = p[1:end+1], p[end+2:]
		} else {
			term, p, _ = strings.Cut(p, " ")
		}
		p = strings.TrimSpace(p)
		if term == "" {
			continue
		}
		switch op {
		case '-':
			mustNot = append(mustNot, term)
		case '?':
			anyOf = append(anyOf, term)
		default:
			must = append(must, term)
		}
	}
	return func(msg string) bool {
		for _, t := range must {
			if !strings.Contains(msg, t) {
				return false
			}
		}
		for _, t := range mustNot {
			if strings.Contains(msg, t) {
				return false
			}
		}
		if len(anyOf) == 0 {
			return true
		}
		for _, t := range anyOf {
			if strings.Contains(msg, t) {
				return true
			}
		}
		return false
	}, nil
}

func (s *Server) createLogGroup(req request) (any, *apiError) {
	var in cloudwatchlogs.CreateLogGroupInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	name := deref(in.LogGroupName)
	if !logGroupNamePattern.MatchString(name) {
		return nil, logsError("InvalidParameterException", "Log group name %q is invalid: 1 to 512 characters of a-z, A-Z, 0-9, '_', '-', '/', '.', '#'.", name)
	}
	if s.groups[name] != nil {
		return nil, logsError("ResourceAlreadyExistsException", "The specified log group already exists")
	}
	s.ensureGroup(name, s.now())
	return map[string]any{}, nil
}

func (s *Server) createLogStream(req request) (any, *apiError) {
	var in cloudwatchlogs.CreateLogStreamInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	name := deref(in.LogStreamName)
	if name == "" || len(name) > 512 || strings.ContainsAny(name, ":*") {
		return nil, logsError("InvalidParameterException", "Log stream name %q is invalid: 1 to 512 characters, no ':' or '*'.", name)
	}
	g := s.groups[deref(in.LogGroupName)]
	if g == nil {
		return nil, logsError("ResourceNotFoundException", "The specified log group does not exist.")
	}
	if g.streams[name] != nil {
		return nil, logsError("ResourceAlreadyExistsException", "The specified log stream already exists")
	}
	s.ensureStream(g.name, name, s.now())
	return map[string]any{}, nil
}

func (s *Server) logGroupARN(name string) string {
	return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", s.region, AccountID, name)
}

func listLimit(limit *int32) (int, *apiError) {
	if limit == nil {
		return 50, nil
	}
	if *limit < 1 || *limit > 50 {
		return 0, logsError("InvalidParameterException", "limit must be between 1 and 50, got %d.", *limit)
	}
	return int(*limit), nil
}

func (s *Server) describeLogGroups(req request) (any, *apiError) {
	var in cloudwatchlogs.DescribeLogGroupsInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	if in.LogGroupNamePrefix != nil && in.LogGroupNamePattern != nil {
		return nil, logsError("InvalidParameterException", "logGroupNamePrefix and logGroupNamePattern are mutually exclusive parameters.")
	}
	limit, e := listLimit(in.Limit)
	if e != nil {
		return nil, e
	}
	start, e := decodePageToken(in.NextToken)
	if e != nil {
		return nil, e
	}
	var groups []map[string]any
	for _, name := range sortedKeys(s.groups) {
		switch {
		case in.LogGroupNamePrefix != nil && !strings.HasPrefix(name, *in.LogGroupNamePrefix):
		case in.LogGroupNamePattern != nil && !strings.Contains(strings.ToLower(name), strings.ToLower(*in.LogGroupNamePattern)):
		default:
			g := s.groups[name]
			stored := 0
			for _, st := range g.streams {
				for _, ev := range st.events {
					stored += len(ev.Message)
				}
			}
			groups = append(groups, map[string]any{
				"logGroupName": name, "arn": s.logGroupARN(name) + ":*", "logGroupArn": s.logGroupARN(name),
				"creationTime": g.created.UnixMilli(), "storedBytes": stored, "metricFilterCount": 0,
				"logGroupClass": "STANDARD",
			})
		}
	}
	return page(groups, start, limit, "logGroups"), nil
}

func (s *Server) describeLogStreams(req request) (any, *apiError) {
	var in cloudwatchlogs.DescribeLogStreamsInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	group, e := groupName(in.LogGroupName, in.LogGroupIdentifier)
	if e != nil {
		return nil, e
	}
	limit, e := listLimit(in.Limit)
	if e != nil {
		return nil, e
	}
	start, e := decodePageToken(in.NextToken)
	if e != nil {
		return nil, e
	}
	byTime := in.OrderBy == "LastEventTime"
	if byTime && in.LogStreamNamePrefix != nil {
		return nil, logsError("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	g := s.groups[group]
	if g == nil {
		return nil, logsError("ResourceNotFoundException", "The specified log group does not exist.")
	}
	var streams []*logStream
	for _, name := range sortedKeys(g.streams) {
		if in.LogStreamNamePrefix == nil || strings.HasPrefix(name, *in.LogStreamNamePrefix) {
			streams = append(streams, g.streams[name])
		}
	}
	last := func(st *logStream) int64 {
		if len(st.events) == 0 {
			return 0
		}
		return st.events[len(st.events)-1].Timestamp.UnixMilli()
	}
	if byTime {
		sort.SliceStable(streams, func(i, j int) bool { return last(streams[i]) < last(streams[j]) })
	}
	if deref(in.Descending) {
		for i, j := 0, len(streams)-1; i < j; i, j = i+1, j-1 {
			streams[i], streams[j] = streams[j], streams[i]
		}
	}
	var out []map[string]any
	for _, st := range streams {
		m := map[string]any{
			"logStreamName": st.name, "creationTime": st.created.UnixMilli(),
			"arn": s.logGroupARN(group) + ":log-stream:" + st.name, "storedBytes": 0,
		}
		if len(st.events) > 0 {
			m["firstEventTimestamp"] = st.events[0].Timestamp.UnixMilli()
			m["lastEventTimestamp"] = last(st)
			m["lastIngestionTime"] = st.events[len(st.events)-1].IngestionTime.UnixMilli()
		}
		out = append(out, m)
	}
	return page(out, start, limit, "logStreams"), nil
}

// page cuts one page out of items for a reply with a nextToken.
func page(items []map[string]any, start, limit int, key string) map[string]any {
	start = min(start, len(items))
	end := min(start+limit, len(items))
	out := map[string]any{key: append([]map[string]any{}, items[start:end]...)}
	if end < len(items) {
		out["nextToken"] = encodePageToken(end)
	}
	return out
}

func (s *Server) putLogEvents(req request) (any, *apiError) {
	var in cloudwatchlogs.PutLogEventsInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	st, e := s.lookupStream(deref(in.LogGroupName), deref(in.LogStreamName))
	if e != nil {
		return nil, e
	}
	if len(in.LogEvents) == 0 || len(in.LogEvents) > maxLogEventsPerCall {
		return nil, logsError("InvalidParameterException", "logEvents must hold 1 to %d events, got %d.", maxLogEventsPerCall, len(in.LogEvents))
	}
	now := s.now()
	var prev int64
	for i, ev := range in.LogEvents {
		ts := deref(ev.Timestamp)
		if i > 0 && ts < prev {
			return nil, logsError("InvalidParameterException", "Log events in a single PutLogEvents request must be in chronological order.")
		}
		prev = ts
	}
	for _, ev := range in.LogEvents {
		st.events = append(st.events, LogEvent{Timestamp: time.UnixMilli(deref(ev.Timestamp)), IngestionTime: now, Message: deref(ev.Message)})
	}
	return map[string]any{}, nil
}
