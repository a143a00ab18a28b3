package jobs

import "strconv"

// Keys builds every Redis key gantry's jobs use. All keys share one hash tag,
// {NS}, so the multi-key scripts also run on Redis Cluster.
//
//	{gantry}:seq              string  last job number (INCR)
//	{gantry}:job:N            hash    the job record
//	{gantry}:active           zset    job numbers not yet final
//	{gantry}:recent           zset    every job number, scored by creation time
//	{gantry}:user:U           list    a person's latest job numbers
//	{gantry}:queue            stream  jobs ready for a worker (consumer group "workers")
//	{gantry}:scheduled        zset    jobs waiting out a retry backoff, scored by due time
//	{gantry}:dead             list    dead-lettered job numbers
//	{gantry}:events           stream  announcements of transitions, steps and notes
//	{gantry}:lease:N          string  the worker holding job N, with a TTL
//	{gantry}:log:N            string  job N's whole log (capped)
//	{gantry}:logtimes:N       list    "OFFSET MS": job N's output from byte OFFSET on was taken at MS (at most one a second)
//	{gantry}:cancel           pubsub  job numbers to stop now
//	{gantry}:deploys:ENV      list    the newest deploy jobs to ENV
//	{gantry}:envlock:ENV      hash    who holds ENV, since when, why
//	{gantry}:audit            stream  who requested, approved, rejected, locked, released what
//	{gantry}:msg:C:TS         string  the job whose message is at channel C, ts TS
//	{gantry}:seen:ID          string  a Slack or GitHub delivery already handled
//	{gantry}:name:U           string  person U's display name, cached for a day
type Keys struct{ p string }

// NewKeys returns the key builder for namespace ns ("" means "gantry").
func NewKeys(ns string) Keys {
	if ns == "" {
		ns = "gantry"
	}
	return Keys{p: "{" + ns + "}:"}
}

func (k Keys) Prefix() string        { return k.p }
func (k Keys) Seq() string           { return k.p + "seq" }
func (k Keys) Job(id int64) string   { return k.p + "job:" + strconv.FormatInt(id, 10) }
func (k Keys) Active() string        { return k.p + "active" }
func (k Keys) Recent() string        { return k.p + "recent" }
func (k Keys) User(u string) string  { return k.p + "user:" + u }
func (k Keys) Queue() string         { return k.p + "queue" }
func (k Keys) Scheduled() string     { return k.p + "scheduled" }
func (k Keys) Dead() string          { return k.p + "dead" }
func (k Keys) Events() string        { return k.p + "events" }
func (k Keys) Lease(id int64) string { return k.p + "lease:" + strconv.FormatInt(id, 10) }
func (k Keys) Log(id int64) string   { return k.p + "log:" + strconv.FormatInt(id, 10) }

// LogTimes dates job id's log: see Log.Times.
func (k Keys) LogTimes(id int64) string { return k.p + "logtimes:" + strconv.FormatInt(id, 10) }
func (k Keys) Cancel() string           { return k.p + "cancel" }
func (k Keys) Seen(id string) string    { return k.p + "seen:" + id }

// Name is a person's display name, cached (a string with a TTL).
func (k Keys) Name(id string) string { return k.p + "name:" + id }

// Message is the index from a job's Slack message to the job.
func (k Keys) Message(channel, ts string) string { return k.p + "msg:" + channel + ":" + ts }

// Deploys lists the newest deploy jobs to env.
func (k Keys) Deploys(env string) string { return k.p + "deploys:" + env }

// EnvLock is the lock someone holds on env.
func (k Keys) EnvLock(env string) string { return k.p + "envlock:" + env }

// Audit is the stream of decisions: requests, approvals, locks, releases.
func (k Keys) Audit() string { return k.p + "audit" }
