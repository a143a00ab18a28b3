// Package jobs holds gantry's job record and its states, the Redis-backed
// store, queue and log, and the worker loop that hands jobs to a Runner.
package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/say"
	"github.com/gantry-ci/gantry/spec"
)

// State is where a job is in its life. The words are the ones people see.
type State string

const (
	Queued           State = "queued"
	AwaitingApproval State = "awaiting_approval"
	Waiting          State = "waiting"
	Running          State = "running"
	Succeeded        State = "succeeded"
	Failed           State = "failed"
	Cancelled        State = "cancelled"
	Errored          State = "errored"
)

// Final reports whether no further transition can follow.
func (s State) Final() bool {
	switch s {
	case Succeeded, Failed, Cancelled, Errored:
		return true
	}
	return false
}

// Active states are those a job holds while it still matters to the queue.
var activeStates = []State{Queued, AwaitingApproval, Waiting, Running}

// Kind says what a job does.
type Kind string

const (
	Build  Kind = "build"
	Deploy Kind = "deploy"
)

// SourceKind says how a runner gets the job's source.
type SourceKind string

const (
	SourceGit    SourceKind = "git"    // a local git checkout, cloned at SHA
	SourceDir    SourceKind = "dir"    // a plain local directory, copied as it is
	SourceGitHub SourceKind = "github" // a GitHub repository, cloned from CloneURL at SHA
)

// Job is one build or deploy. Its fields live in a Redis hash; see fields().
type Job struct {
	ID        int64
	Kind      Kind
	Repo      string // the configured name, or a local path in the console
	Ref       string
	SHA       string
	Message   string // the commit's subject line, as its author wrote it; "" when unknown
	Env       string // deploy environment
	Plan      spec.Plan
	Source    SourceKind
	Path      string // SourceGit, SourceDir
	CloneURL  string // SourceGitHub
	GitHub    string // owner/name, when the job reports to GitHub
	PR        int    // pull request number, for pr builds
	Requester string // Slack user id, console user; "" for GitHub-started jobs
	Origin    string // "chat", "github"
	Channel   string
	ThreadTS  string // the job message's ts: the thread everything about the job goes into

	State    State
	Reason   say.Text // why it ended as it did, or why it waits
	Attempt  int      // 1 on the first run
	Step     int      // 1-based step now running or last run; 0 before the first
	ExitCode int
	HasExit  bool
	Handle   string // runner handle: the ECS task ARN once started
	Cursor   string // runner's resume point in its log source
	Retried  int64  // the job that this one retries
	// Requesters is everyone who asked for this job: the first request and
	// each retry, in order (the last is Requester). None of them may
	// approve it.
	Requesters []string
	// Private says the job's channel is private: its page is never open
	// without a signed link unless the server config names the channel.
	Private bool
	// Policy says which deploy policy applied and where it came from.
	Policy say.Text
	// Approvers are who may approve this deploy (user and group ids), as
	// the server config named them when it was asked for: the request for
	// approval in its thread mentions them.
	Approvers []string
	// Rejection is the decision that rejected the deploy this one retries.
	Rejection say.Text
	// Override is what approving this deploy overrides (required checks
	// that are not green), for the approvers to read; "" for nothing.
	Override say.Text
	Decision say.Text // who approved or rejected the deploy, and when
	// CancelBy is who asked for the job to stop while it ran or waited;
	// its worker ends it (see Store.Cancel).
	CancelBy string
	// Deployment is the id of the GitHub deployment that records this
	// deploy; 0 until one is made.
	Deployment int64
	// After is the build this job waits for (a deploy a push started):
	// it starts once that build succeeded and ends cancelled when it did
	// not. 0: none.
	After int64
	// Results are what the job left behind: test counts and failing
	// tests from its reports, its artifacts and where they are kept.
	// Written once the steps have ended; nil before, or when the plan
	// asks for none.
	Results *artifacts.Results

	Created  time.Time
	Started  time.Time
	Finished time.Time
}

// Name is what people call the job: #N.
func (j *Job) Name() string { return "#" + strconv.FormatInt(j.ID, 10) }

// Target is repo@ref as people typed it or as it was resolved.
func (j *Job) Target() string {
	if j.Ref == "" {
		return j.Repo
	}
	return j.Repo + "@" + j.Ref
}

// ShortSHA is the first 7 characters of the SHA.
func (j *Job) ShortSHA() string {
	if len(j.SHA) > 7 {
		return j.SHA[:7]
	}
	return j.SHA
}

// Duration is how long the job has run, or ran.
func (j *Job) Duration(now time.Time) time.Duration {
	if j.Started.IsZero() {
		return 0
	}
	end := j.Finished
	if end.IsZero() {
		end = now
	}
	return end.Sub(j.Started)
}

// Class is the job's class of work, which orders the queue: "deploy"
// (deploys and rollbacks, whoever asked), "typed" (asked for in chat or
// the console), "webhook" (started by GitHub), "schedule" (started by a
// schedule). Deploys come first, then the others in that order, by
// weight, so that none starves (see rdb.Weights).
func (j *Job) Class() string {
	switch {
	case j.Kind == Deploy:
		return "deploy"
	case j.Origin == "github":
		return "webhook"
	case j.Origin == "schedule":
		return "schedule"
	}
	return "typed"
}

// What is "build", "run PIPELINE" (a pipeline other than branch and pr)
// or "deploy to ENV".
func (j *Job) What() string {
	switch {
	case j.Kind == Deploy:
		return "deploy to " + j.Env
	case j.Plan.Name != "" && j.Plan.Name != "branch" && j.Plan.Name != "pr":
		return "run " + j.Plan.Name
	}
	return "build"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// fmtInt and fmtBool write a zero as "", which a record leaves out (see
// Store.Create) and decodeJob reads back as zero.
func fmtInt(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func fmtBool(b bool) string {
	if !b {
		return ""
	}
	return "true"
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// fields is the job as Redis hash fields (all but id and state, which the
// scripts that create and move jobs own).
func (j *Job) fields() ([]string, error) {
	plan, err := json.Marshal(j.Plan)
	if err != nil {
		return nil, fmt.Errorf("encode plan of job %d: %w", j.ID, err)
	}
	exit := ""
	if j.HasExit {
		exit = strconv.Itoa(j.ExitCode)
	}
	return []string{
		"kind", string(j.Kind), "repo", j.Repo, "ref", j.Ref, "sha", j.SHA, "message", j.Message, "env", j.Env,
		"plan", string(plan), "source", string(j.Source), "path", j.Path, "clone_url", j.CloneURL,
		"github", j.GitHub, "pr", fmtInt(int64(j.PR)), "requester", j.Requester, "origin", j.Origin,
		"channel", j.Channel, "thread_ts", j.ThreadTS, "reason", string(j.Reason),
		"attempt", fmtInt(int64(j.Attempt)), "step", fmtInt(int64(j.Step)), "exit", exit,
		"handle", j.Handle, "cursor", j.Cursor, "retried", fmtInt(j.Retried), "decision", string(j.Decision),
		"deployment", fmtInt(j.Deployment), "after", fmtInt(j.After), "class", j.Class(),
		"requesters", strings.Join(j.Requesters, ","), "approvers", strings.Join(j.Approvers, ","), "private", fmtBool(j.Private),
		"policy", string(j.Policy), "rejection", string(j.Rejection), "override", string(j.Override),
		"created", fmtTime(j.Created), "started", fmtTime(j.Started), "finished", fmtTime(j.Finished),
	}, nil
}

// ErrNotFound is returned for a job number that does not exist.
var ErrNotFound = errors.New("no such job")

func decodeJob(id int64, m map[string]string) (*Job, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("job #%d: %w", id, ErrNotFound)
	}
	j := &Job{
		ID: id, Kind: Kind(m["kind"]), Repo: m["repo"], Ref: m["ref"], SHA: m["sha"], Message: m["message"], Env: m["env"],
		Source: SourceKind(m["source"]), Path: m["path"], CloneURL: m["clone_url"], GitHub: m["github"],
		Requester: m["requester"], Origin: m["origin"], Channel: m["channel"], ThreadTS: m["thread_ts"],
		State: State(m["state"]), Reason: say.Text(m["reason"]), Handle: m["handle"], Decision: say.Text(m["decision"]), Cursor: m["cursor"],
		Created: parseTime(m["created"]), Started: parseTime(m["started"]), Finished: parseTime(m["finished"]),
	}
	j.PR, _ = strconv.Atoi(m["pr"])
	j.Attempt, _ = strconv.Atoi(m["attempt"])
	j.Step, _ = strconv.Atoi(m["step"])
	j.Retried, _ = strconv.ParseInt(m["retried"], 10, 64)
	j.Deployment, _ = strconv.ParseInt(m["deployment"], 10, 64)
	j.After, _ = strconv.ParseInt(m["after"], 10, 64)
	if rs := m["requesters"]; rs != "" {
		j.Requesters = strings.Split(rs, ",")
	}
	if as := m["approvers"]; as != "" {
		j.Approvers = strings.Split(as, ",")
	}
	j.Private = m["private"] == "true"
	j.CancelBy = m["cancel_by"]
	j.Policy, j.Rejection, j.Override = say.Text(m["policy"]), say.Text(m["rejection"]), say.Text(m["override"])
	if s := m["exit"]; s != "" {
		j.ExitCode, _ = strconv.Atoi(s)
		j.HasExit = true
	}
	if r := m["results"]; r != "" {
		j.Results = &artifacts.Results{}
		if err := json.Unmarshal([]byte(r), j.Results); err != nil {
			return nil, fmt.Errorf("decode results of job #%d: %w", id, err)
		}
	}
	if p := m["plan"]; p != "" {
		if err := json.Unmarshal([]byte(p), &j.Plan); err != nil {
			return nil, fmt.Errorf("decode plan of job #%d: %w", id, err)
		}
	}
	return j, nil
}

// RequestedBy reports whether user asked for the job: first, or in any
// retry of it.
func (j *Job) RequestedBy(user string) bool {
	return user != "" && (j.Requester == user || slices.Contains(j.Requesters, user))
}
