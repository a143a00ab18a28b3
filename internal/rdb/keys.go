package rdb

import "strconv"

// Keys builds the Redis keys of gantry's jobs. All keys share one hash tag,
// {NS} (default {gantry}), so the multi-key scripts also run on Redis
// Cluster. This is the layout of everything gantry keeps in Redis, with how
// long each key lives; nothing grows for ever. RETENTION is the server
// config's retention.jobs (default 90d), LOGS its retention.logs (30d).
//
//	key                         type    holds                                                    lives
//	{gantry}:seq                string  last job number (INCR)                                   for ever (one number)
//	{gantry}:job:N              hash    the job record                                           RETENTION after the job ends
//	{gantry}:active             zset    job numbers not yet final                                until the job ends
//	{gantry}:recent             zset    job numbers, scored by creation time                     RETENTION after creation (trimmed by each create)
//	{gantry}:user:U             list    a person's latest job numbers                            the newest 100
//	{gantry}:deploys:ENV        list    the newest deploy jobs to ENV                            the newest 100
//	{gantry}:queue              stream  jobs ready for a worker (consumer group "workers")       until acknowledged (trimmed)
//	{gantry}:scheduled          zset    jobs waiting out a retry backoff, scored by due time     until due
//	{gantry}:dead               list    dead-lettered job numbers                                the newest 10,000
//	{gantry}:dead:total         string  how many jobs were ever dead-lettered (a counter)        for ever: one integer
//	{gantry}:events             stream  announcements of transitions, steps and notes            the newest 100,000
//	{gantry}:lease:N            string  the worker holding job N                                 the lease TTL
//	{gantry}:log:N              string  job N's whole log (capped at 64 MiB)                     LOGS after the last write
//	{gantry}:logtimes:N         list    "OFFSET MS": output from byte OFFSET on taken at MS      LOGS after the last write
//	{gantry}:cancel             pubsub  job numbers to stop now                                  (not kept)
//	{gantry}:envlock:ENV        hash    who holds ENV, since, why, until when, where it was taken until unlocked, or swept once it lapses
//	{gantry}:envs               set     environment names that had a deploy or a lock            for good (one name each)
//	{gantry}:audit              stream  who requested, approved, rejected, locked, released what  the newest 100,000
//	{gantry}:msg:C:TS           string  the job whose message is at channel C, ts TS             RETENTION
//	{gantry}:seen:ID            string  a Slack or GitHub delivery already handled               1 h (Slack), 72 h (GitHub)
//	{gantry}:seen:thread:job:N  string  the process posting job N's message                      2 min
//	{gantry}:seen:notice:job:N  string  the end notice of job N was posted                       24 h
//	{gantry}:seen:approval:job:N string the approval request of job N was posted                 24 h
//	{gantry}:seen:lease:NAME    string  the process that shows a live log (Claims)               its claim's TTL
//	{gantry}:seen:livelog:N     hash    where job N's live log stopped, to resume it             7 days after its last change
//	{gantry}:name:U             string  person U's Slack display name                            24 h
//	{gantry}:link-secret        string  the key that signs page links (without GANTRY_LINK_SECRET) for ever (one key)
//	{gantry}:github:webhooks    stream  accepted webhooks not yet acted on (doc.go)              until acted on
//	{gantry}:github:webhooks:dead stream webhooks given up on                                    the newest ~1,000
//	{gantry}:github:outbox:…    …       statuses and deployments to send (doc.go)                until sent; dead: the newest ~1,000
//	{gantry}:events-out:fanout  string  the process turning events into deliveries (eventsout.go) the lease TTL
//	{gantry}:events-out:cursor  string  the last event turned into deliveries                    for good (one id)
//	{gantry}:events-out:state:N string  job N's last state published, for previous_state         RETENTION
//	{gantry}:events-out:q:EP    list    job events waiting for endpoint EP (webhook, EventBridge) until sent or dead; at most events.max_queue
//	{gantry}:events-out:due     zset    endpoints with events waiting, by next try               while events wait
//	{gantry}:events-out:lease:EP string the process delivering to endpoint EP                    the lease TTL
//	{gantry}:events-out:dead    stream  events given up on                                       the newest ~1,000
//	{gantry}:pool:…             …       resource pool leases and lines (doc.go)                  the lease and place TTLs
//	{gantry-deploys}:pool:…     …       one deploy at a time per environment (a pool each)       the lease and place TTLs
//	{gantry-running}:pool:…     …       a repo's running builds, for its concurrency: (a pool)   the lease and place TTLs
//	{gantry}:preview:N          hash    job N's running preview: where, owner, expiry (previews.go) until stopped; 1 day past its expiry at most
//	{gantry}:previews           zset    job numbers with a running preview, scored by expiry (ms) until stopped or swept
//	{gantry}:schedule:NAME      hash    the latest tick a schedule took, its job (schedules.go)  for good (one per schedule)
type Keys struct{ p string }

// NewKeys returns the key builder for namespace ns ("" means "gantry").
func NewKeys(ns string) Keys {
	if ns == "" {
		ns = "gantry"
	}
	return Keys{p: "{" + ns + "}:"}
}

func (k Keys) Prefix() string       { return k.p }
func (k Keys) Seq() string          { return k.p + "seq" }
func (k Keys) Job(id int64) string  { return k.p + "job:" + strconv.FormatInt(id, 10) }
func (k Keys) Active() string       { return k.p + "active" }
func (k Keys) Recent() string       { return k.p + "recent" }
func (k Keys) User(u string) string { return k.p + "user:" + u }
func (k Keys) Queue() string        { return k.p + "queue" }
func (k Keys) Scheduled() string    { return k.p + "scheduled" }
func (k Keys) Dead() string         { return k.p + "dead" }

// DeadTotal counts every dead letter; the transition script builds it as
// Dead() + ":total".
func (k Keys) DeadTotal() string     { return k.Dead() + ":total" }
func (k Keys) Events() string        { return k.p + "events" }
func (k Keys) Lease(id int64) string { return k.p + "lease:" + strconv.FormatInt(id, 10) }
func (k Keys) Log(id int64) string   { return k.p + "log:" + strconv.FormatInt(id, 10) }

// LogTimes dates job id's log: see Log.Times.
func (k Keys) LogTimes(id int64) string { return k.p + "logtimes:" + strconv.FormatInt(id, 10) }
func (k Keys) Cancel() string           { return k.p + "cancel" }

// Preview is job id's running preview; Previews lists them by expiry.
func (k Keys) Preview(id int64) string { return k.p + "preview:" + strconv.FormatInt(id, 10) }
func (k Keys) Previews() string        { return k.p + "previews" }
func (k Keys) Seen(id string) string   { return k.p + "seen:" + id }

// Claim is a named claim of one process (see Claims).
func (k Keys) Claim(name string) string { return k.Seen("lease:" + name) }

// LiveLog is where job id's live log stands (see Claims.LiveLog).
func (k Keys) LiveLog(id int64) string { return k.Seen("livelog:" + strconv.FormatInt(id, 10)) }

// LinkSecret is the key that signs page links (one string, kept for good).
func (k Keys) LinkSecret() string { return k.p + "link-secret" }

// Name is a person's display name, cached (a string with a TTL).
func (k Keys) Name(id string) string { return k.p + "name:" + id }

// Message is the index from a job's Slack message to the job.
func (k Keys) Message(channel, ts string) string { return k.p + "msg:" + channel + ":" + ts }

// Deploys lists the newest deploy jobs to env.
func (k Keys) Deploys(env string) string { return k.p + "deploys:" + env }

// EnvLock is the lock someone holds on env.
func (k Keys) EnvLock(env string) string { return k.p + "envlock:" + env }

// EventsOut is the prefix of the keys of the events published to
// webhooks and EventBridge (see EventsOut).
func (k Keys) EventsOut() string { return k.p + "events-out" }

// EnvNames is the set of environments that had a deploy or a lock.
func (k Keys) EnvNames() string { return k.p + "envs" }

// Audit is the stream of decisions: requests, approvals, locks, releases.
func (k Keys) Audit() string { return k.p + "audit" }
