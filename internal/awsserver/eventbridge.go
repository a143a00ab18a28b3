package awsserver

import (
	"encoding/json"
	"math"
	"net/http"
	"time"
)

// EventBridge PutEvents: the entries gantry publishes, kept in arrival
// order, with failures of single entries injected by FailEntries.

// EventBridgeEntry is one entry PutEvents accepted.
type EventBridgeEntry struct {
	ID         string // the event id the server gave it
	Source     string
	DetailType string
	Detail     string // JSON
	Bus        string // EventBusName; "default" when unset
	Time       time.Time
	Resources  []string
}

// EntryFailure makes one PutEvents entry fail (see FailEntries).
type EntryFailure struct {
	Code    string // e.g. "InternalFailure", "ThrottlingException", "MalformedDetail"
	Message string
}

// FailEntries makes the next PutEvents entries fail, one failure per
// entry in the order given (one without a Code lets its entry through), while the call itself succeeds and counts
// them in FailedEntryCount: a partial failure. Whole calls fail with
// FailNext("PutEvents", …).
func (s *Server) FailEntries(fs ...EntryFailure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entryFaults = append(s.entryFaults, fs...)
}

// EventBridgeEntries returns the entries PutEvents accepted, in order.
func (s *Server) EventBridgeEntries() []EventBridgeEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]EventBridgeEntry(nil), s.busEntries...)
}

// putEventsInput is PutEvents' request on the wire (Time in epoch seconds).
type putEventsInput struct {
	EndpointId *string
	Entries    []struct {
		Source       *string
		DetailType   *string
		Detail       *string
		EventBusName *string
		Resources    []string
		Time         *float64
		TraceHeader  *string
	}
}

func (s *Server) putEvents(req request) (any, *apiError) {
	var in putEventsInput
	if e := decodeBody(req.body, &in); e != nil {
		return nil, e
	}
	if n := len(in.Entries); n == 0 || n > 10 {
		return nil, errorf(http.StatusBadRequest, "ValidationException", "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10 (got %d)", n)
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		Entries          []result
		FailedEntryCount int
	}{}
	for _, e := range in.Entries {
		var f EntryFailure
		if len(s.entryFaults) > 0 {
			f, s.entryFaults = s.entryFaults[0], s.entryFaults[1:]
		}
		if f.Code != "" {
			out.Entries = append(out.Entries, result{ErrorCode: f.Code, ErrorMessage: f.Message})
			out.FailedEntryCount++
			continue
		}
		switch {
		case deref(e.Source) == "", deref(e.DetailType) == "", deref(e.Detail) == "":
			out.Entries = append(out.Entries, result{ErrorCode: "InvalidArgument", ErrorMessage: "Parameter(s) Source, DetailType or Detail is missing."})
			out.FailedEntryCount++
			continue
		case !json.Valid([]byte(deref(e.Detail))):
			out.Entries = append(out.Entries, result{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."})
			out.FailedEntryCount++
			continue
		}
		t := s.now()
		if e.Time != nil {
			sec, frac := math.Modf(*e.Time)
			t = time.Unix(int64(sec), int64(frac*1e9)).UTC()
		}
		bus := deref(e.EventBusName)
		if bus == "" {
			bus = "default"
		}
		id := newUUID()
		s.busEntries = append(s.busEntries, EventBridgeEntry{
			ID: id, Source: deref(e.Source), DetailType: deref(e.DetailType), Detail: deref(e.Detail),
			Bus: bus, Time: t, Resources: e.Resources,
		})
		out.Entries = append(out.Entries, result{EventId: id})
	}
	return out, nil
}
