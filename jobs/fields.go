package jobs

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/say"
)

// Fields are the fields of a job record that a change or an update writes,
// named by method so that no caller spells a field of the record's hash:
//
//	jobs.Set().Reason(text).Exit(2)
//
// A Fields value is never changed by its methods: each returns a copy with
// one more field.
type Fields struct{ kv []string }

// Set starts a list of fields to write.
func Set() Fields { return Fields{} }

func (f Fields) with(name, v string) Fields {
	kv := make([]string, len(f.kv), len(f.kv)+2)
	copy(kv, f.kv)
	return Fields{kv: append(kv, name, v)}
}

// Reason is why the job ended as it did, or why it waits.
func (f Fields) Reason(t say.Text) Fields { return f.with("reason", string(t)) }

// Decision is who approved or rejected a deploy, and when.
func (f Fields) Decision(t say.Text) Fields { return f.with("decision", string(t)) }

// Exit is the exit code of the step the job ended with.
func (f Fields) Exit(code int) Fields { return f.with("exit", strconv.Itoa(code)) }

// Attempt is which run of the job this is (1 for the first).
func (f Fields) Attempt(n int) Fields { return f.with("attempt", strconv.Itoa(n)) }

// Step is the step now running or last run (0 before the first).
func (f Fields) Step(n int) Fields { return f.with("step", strconv.Itoa(n)) }

// Handle is the runner's handle on the job's work ("" for none).
func (f Fields) Handle(h string) Fields { return f.with("handle", h) }

// Cursor is the runner's resume point in its log source ("" for none).
func (f Fields) Cursor(c string) Fields { return f.with("cursor", c) }

// Started is when the job started running.
func (f Fields) Started(t time.Time) Fields { return f.with("started", fmtTime(t)) }

// Deployment is the GitHub deployment that records the deploy.
func (f Fields) Deployment(id int64) Fields {
	return f.with("deployment", strconv.FormatInt(id, 10))
}

// CancelBy is who asked for the job to be cancelled.
func (f Fields) CancelBy(who string) Fields { return f.with("cancel_by", who) }

// Finished is when the job ended; a move to a final state writes the
// time it happens unless this says otherwise.
func (f Fields) Finished(t time.Time) Fields { return f.with("finished", fmtTime(t)) }

// Results are what the job left behind (see Job.Results).
func (f Fields) Results(r artifacts.Results) Fields {
	b, _ := json.Marshal(r) // plain data: it always encodes
	return f.with("results", string(b))
}

// has reports whether the field called name is written.
func (f Fields) has(name string) bool {
	for i := 0; i+1 < len(f.kv); i += 2 {
		if f.kv[i] == name {
			return true
		}
	}
	return false
}

// empty reports whether no field is written.
func (f Fields) empty() bool { return len(f.kv) == 0 }

// args are the fields as name, value, ….
func (f Fields) args() []string { return f.kv }
