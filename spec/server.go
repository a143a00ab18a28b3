package spec

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Server is the server config, gantry.yml.
type Server struct {
	Repos        map[string]Repo // by name
	Runner       RunnerConfig
	Pools        map[string][]string    // pool name -> members
	Environments map[string]Environment // who may deploy and approve, by environment
	Admins       []string               // persons (see Environment)
	// Users maps GitHub logins to Slack user IDs (or @names until
	// ResolveNames): a failed build's reply
	// mentions its commit's author by them (else by their email).
	Users     map[string]string
	Web       Web
	Workers   int   // jobs one process runs at once; default 4
	Retry     Retry // how jobs that errored are tried again
	Limits    Limits
	Retention Retention  // how long what jobs leave behind is kept
	Schedules []Schedule // in the order written
	Artifacts Artifacts  // where jobs' artifacts go
	Events    Events     // where job state changes are published
	Previews  Previews   // how many previews run at once, and for how long

	// Unstarted are the pools and environments the file defines that a
	// running process left out because a reload added them: they take a
	// restart (a reload in cmd/gantry sets them). None in a file as parsed.
	Unstarted Unstarted

	file  string // the file it was read from, for the problems of ResolveNames
	names []Name // persons, groups and channels written by name, to resolve
}

// Unstarted names what a reload added that waits for a restart.
type Unstarted struct {
	Pools, Environments []string
}

// Previews bound the previews (preview #N, preview: in .gantry.yml).
//
//	previews: {max: 5, ttl: 4h}
type Previews struct {
	Max int           // previews running at once; 0 means the default 5
	TTL time.Duration // a preview's life when neither the command nor the pipeline says; 0 means 4h
}

// PreviewMax is Max or its default.
func (p Previews) PreviewMax() int {
	if p.Max <= 0 {
		return 5
	}
	return p.Max
}

// PreviewTTL is TTL or its default.
func (p Previews) PreviewTTL() time.Duration {
	if p.TTL <= 0 {
		return 4 * time.Hour
	}
	return p.TTL
}

// Artifacts says where the files a job keeps (.gantry.yml artifacts:) are
// stored, and how many may be.
type Artifacts struct {
	// Bucket is the S3 bucket they go to, under Prefix/JOB/. "" keeps
	// them in Dir (local runner only: an ECS task has no way to gantry's
	// disk).
	Bucket string
	Prefix string // key prefix in Bucket, without slashes at the ends; "" is none
	// Endpoint is an S3-compatible endpoint (MinIO, a test server),
	// addressed path-style; "" is AWS's own.
	Endpoint string
	// Dir is where the local runner keeps them with no bucket; "" is a
	// directory in the user's cache dir.
	Dir      string
	MaxFiles int   // per job; default 100
	MaxBytes int64 // per job, all files together; default 100 MiB
}

// Retention says how long gantry keeps what a job leaves behind once it has
// ended. Nothing gantry writes to Redis is kept for ever: see the key
// layout in internal/rdb/keys.go.
type Retention struct {
	Jobs time.Duration // the record, its place among recent jobs, its message index; default 90d
	Logs time.Duration // the log and its line times; default 30d, never longer than Jobs
}

// Repo is one repository gantry builds. It has a local Path, a GitHub
// repository, or both.
type Repo struct {
	Path          string // a local directory
	GitHub        string // owner/name
	Channel       string // the Slack channel whose default repo this is ("" for none)
	DefaultBranch string // "" is the repository's own: GitHub's default branch, a checkout's current branch
	// Builders may build and run its pipelines; empty is anyone in a
	// channel the bot is in.
	Builders []string
	// Concurrency is how many of its builds run at once; the rest wait in
	// line and say their place. 0: no limit. Deploys are not counted:
	// each environment takes one at a time anyway.
	Concurrency int
	Secrets     []Secret // granted to every job of the repo
}

// RunnerConfig says where jobs run.
type RunnerConfig struct {
	Kind  string // "local" (default) or "ecs"
	ECS   ECSConfig
	Local LocalRunner
}

// ECSConfig is how jobs run as ECS tasks. Exactly one of LaunchType and
// CapacityProvider is set when the runner kind is ecs.
type ECSConfig struct {
	Cluster          string
	LaunchType       string // FARGATE, EC2 or EXTERNAL
	CapacityProvider string
	Subnets          []string
	SecurityGroups   []string
	AssignPublicIP   bool
	LogGroup         string
	LogStreamPrefix  string // default "gantry"
	ExecutionRoleARN string
	BuildRoleARN     string // the task role of builds; "" is no AWS role
	// Environments holds each environment's deploy role (and cluster or
	// network where they differ); an environment not listed deploys with
	// no AWS role.
	Environments map[string]ECSEnvironment
	FetchImage   string // gantry's own image, which checks the source out into the task
	CPU          string // task CPU units or "N vCPU"; default "1024"
	Memory       string // task memory in MiB or "N GB"; default "2048"
}

// Environment says who may deploy to an environment and who may approve.
//
// A person is "*" (everyone in a channel the bot is in), a Slack user ID
// (U…, W…), a Slack user group ID (S…), a user group by its handle
// ("S-releasers" for @releasers), a plain user name as the console uses
// ($USER), or @name: a Slack user by handle or display name, or a user group
// by handle, which ResolveNames turns into its ID (ConsoleNames into the
// console user name).
type Environment struct {
	Deployers    []string
	Approvers    []string
	Approval     bool          // every deploy needs approval (a .gantry.yml stage may ask for it too)
	ApprovalTTL  time.Duration // how long an approval request lives; default 1h
	SelfApproval bool          // the requester may approve their own deploy
	// Branch is the branch whose commits may be deployed here ("" is the
	// default branch's .gantry.yml stage branch, else any). It binds: a
	// commit not contained in it is refused unless AllowOtherRefs.
	Branch         string
	AllowOtherRefs bool     // other refs may be deployed, always with approval
	Secrets        []Secret // granted to deploys here, over the repo's
	// OnPush deploys each push to Branch (or the stage's branch, or the
	// default branch) here once that push's branch build succeeds, as a
	// deploy stage with on_push: true does.
	OnPush bool
	// RequiredChecks are the status checks and check runs that must be
	// green on a commit before it is deployed here; RequiredProtected
	// takes them from the protection of Branch on GitHub instead.
	RequiredChecks    []string
	RequiredProtected bool
	// AllowCheckOverride asks for approval of a deploy whose required
	// checks are not green, instead of refusing it.
	AllowCheckOverride bool
	// LockTTL is how long "lock ENV" holds when no time is given ("lock
	// ENV for 2h"); default 8h, at most 7d. A lock lapses by itself then.
	LockTTL time.Duration
}

// Web configures the job pages.
type Web struct {
	Public bool // pages open without a signed link (but not those of private channels' jobs)
	// PublicChannels are private channels whose job pages are public too
	// when Public is set.
	PublicChannels []string
}

// Retry says how jobs that errored (gantry or AWS failed, not the steps) are
// tried again.
type Retry struct {
	MaxAttempts int           // runs in all, the first included; default 3
	Backoff     time.Duration // wait before the second run, doubling after; default 5s
}

// Defaults and limits of the server config.
const (
	DefaultWorkers     = 4
	MaxWorkers         = 256
	DefaultApprovalTTL = time.Hour
	MaxApprovalTTL     = 7 * 24 * time.Hour
	DefaultLockTTL     = 8 * time.Hour
	MaxLockTTL         = 7 * 24 * time.Hour
	DefaultAttempts    = 3
	MaxAttempts        = 100
	DefaultBackoff     = 5 * time.Second
	MaxBackoff         = time.Hour

	DefaultArtifactFiles = 100
	DefaultArtifactBytes = 100 << 20
	MaxArtifactFiles     = 100_000
	MaxArtifactBytes     = 1 << 40

	DefaultJobRetention = 90 * 24 * time.Hour
	DefaultLogRetention = 30 * 24 * time.Hour
	MaxRetention        = 10 * 365 * 24 * time.Hour
)

var (
	serverKeys    = []string{"repos", "runner", "pools", "environments", "admins", "web", "workers", "retry", "limits", "retention", "schedules", "artifacts", "events", "users", "previews"}
	artifactKeys  = []string{"bucket", "prefix", "endpoint", "dir", "max_files", "max_bytes"}
	retentionKeys = []string{"jobs", "logs"}
	repoKeys      = []string{"path", "github", "channel", "default_branch", "builders", "secrets", "concurrency"}
	runnerKeys    = []string{"kind", "ecs", "local"}
	ecsKeys       = []string{"cluster", "launch_type", "capacity_provider", "subnets", "security_groups", "assign_public_ip",
		"log_group", "log_stream_prefix", "execution_role_arn", "build_role_arn", "environments", "fetch_image", "cpu", "memory"}
	envKeys   = []string{"deployers", "approvers", "approval", "approval_ttl", "self_approval", "branch", "allow_other_refs", "secrets", "on_push", "lock_ttl", "required_checks", "allow_check_override"}
	webKeys   = []string{"public", "public_channels"}
	retryKeys = []string{"max_attempts", "backoff"}
)

// DefaultServer returns the config used when there is no gantry.yml: no
// repositories, the local runner, 4 workers, no pools, no environments, no
// admins, job pages behind signed links.
func DefaultServer() *Server {
	return &Server{
		Repos: map[string]Repo{},
		Runner: RunnerConfig{Kind: "local", ECS: ECSConfig{LogStreamPrefix: "gantry", CPU: "1024", Memory: "2048"},
			Local: LocalRunner{User: "nobody"}},
		Pools:        map[string][]string{},
		Environments: map[string]Environment{},
		Workers:      DefaultWorkers,
		Retry:        Retry{MaxAttempts: DefaultAttempts, Backoff: DefaultBackoff},
		Limits:       Limits{QueuedPerPerson: DefaultQueuedPerPerson},
		Retention:    Retention{Jobs: DefaultJobRetention, Logs: DefaultLogRetention},
		Artifacts:    Artifacts{MaxFiles: DefaultArtifactFiles, MaxBytes: DefaultArtifactBytes},
	}
}

// ParseServer reads a server config. filename is used in messages only. Keys
// not written keep DefaultServer's values; an empty file is the defaults. Any
// problem makes it return an *Error listing all of them.
func ParseServer(filename string, data []byte) (*Server, error) {
	d := newDecoder(filename)
	s := DefaultServer()
	root, _ := d.document(data)
	if root != nil {
		d.server(root, s)
		d.checkTrust(s, d.ecsEnvNode)
		d.checkSchedules(s)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	s.file, s.names = filename, d.names
	return s, nil
}

// RepoForChannel returns the repository bound to a Slack channel.
func (s *Server) RepoForChannel(channel string) (name string, ok bool) {
	if channel == "" {
		return "", false
	}
	for _, n := range slices.Sorted(maps.Keys(s.Repos)) {
		if s.Repos[n].Channel == channel {
			return n, true
		}
	}
	return "", false
}

// IsAdmin reports whether user is listed as an admin, or admins include
// "*". Membership of a user group cannot be seen from here: callers that
// know a person's groups check those too.
func (s *Server) IsAdmin(user string) bool {
	return user != "" && (slices.Contains(s.Admins, user) || slices.Contains(s.Admins, "*"))
}

func (d *decoder) server(root *yaml.Node, s *Server) {
	if root.Kind != yaml.MappingNode {
		d.problem(root, "the file must be a mapping of keys such as repos, runner and environments, not %s", describe(root))
		return
	}
	for _, fl := range d.fields(root, "") {
		v := fl.val
		switch fl.key.Value {
		case "repos":
			d.repos(v, s)
		case "runner":
			d.runner(v, &s.Runner)
		case "pools":
			d.pools(v, s)
		case "environments":
			d.environments(v, s)
		case "admins":
			s.Admins = d.persons(v, "admins")
		case "users":
			d.users(v, s)
		case "web":
			d.web(v, &s.Web)
		case "workers":
			if n, ok := d.integer(v, "workers", 1, MaxWorkers); ok {
				s.Workers = n
			}
		case "retry":
			d.retry(v, &s.Retry)
		case "limits":
			d.limits(v, &s.Limits)
		case "retention":
			d.retention(v, &s.Retention)
		case "previews":
			d.previews(v, &s.Previews)
		case "schedules":
			d.schedules(v, s)
		case "artifacts":
			d.artifactStore(v, &s.Artifacts)
		case "events":
			d.events(v, &s.Events)
		default:
			d.unknownKey(fl.key, "", serverKeys)
		}
	}
}

func (d *decoder) repos(n *yaml.Node, s *Server) {
	fs, _ := d.mapping(n, "repos", " in repos")
	boundTo := map[string]string{} // channel -> repo
	for _, fl := range fs {
		name := fl.key.Value
		if !repoNameRE.MatchString(name) {
			d.problem(fl.key, "repos: %q is not a valid repo name (%s)", clip(name), repoNameRule)
			continue
		}
		where := fmt.Sprintf(" in repo %q", name)
		var r Repo
		keys, ok := d.mapping(fl.val, fmt.Sprintf("repo %q", name), where)
		if !ok {
			continue
		}
		for _, k := range keys {
			v := k.val
			switch k.key.Value {
			case "path":
				if p, ok := d.str(v, "path"+where); ok && p == "" {
					d.problem(resolve(v), "path%s: is empty", where)
				} else {
					r.Path = p
				}
			case "github":
				if g, ok := d.str(v, "github"+where); ok {
					if githubRE.MatchString(g) {
						r.GitHub = g
					} else {
						d.problem(resolve(v), "github%s: %q is not owner/name (e.g. acme/hello)", where, clip(g))
					}
				}
			case "channel":
				c, ok := d.str(v, "channel"+where)
				switch {
				case !ok:
				case !validChannel(c):
					d.problem(resolve(v), "channel%s: %q is not %s (e.g. C0123456789 or #deploys)", where, clip(c), channelRule)
				case boundTo[c] != "":
					d.problem(resolve(v), "channel%s: %s is already bound to repo %q (a channel has one default repo)", where, c, boundTo[c])
				default:
					boundTo[c] = name
					r.Channel = c
					d.noteName(c, NameChannel, resolve(v).Line, "channel"+where)
				}
			case "builders":
				r.Builders = d.persons(v, "builders"+where)
			case "concurrency":
				r.Concurrency, _ = d.integer(v, "concurrency"+where, 1, MaxWorkers)
			case "secrets":
				r.Secrets = d.secrets(v, where)
			case "default_branch":
				if b, ok := d.str(v, "default_branch"+where); ok {
					if validBranch(b) {
						r.DefaultBranch = b
					} else {
						d.problem(resolve(v), "default_branch%s: %q is not a valid branch name", where, clip(b))
					}
				}
			default:
				d.unknownKey(k.key, where, repoKeys)
			}
		}
		if r.Path == "" && r.GitHub == "" && !slices.ContainsFunc(keys, func(f field) bool {
			return f.key.Value == "path" || f.key.Value == "github"
		}) {
			d.problem(fl.key, "repo %q needs path (a local directory) or github (owner/name)", name)
		}
		s.Repos[name] = r
	}
}

func (d *decoder) runner(n *yaml.Node, rc *RunnerConfig) {
	fs, _ := d.mapping(n, "runner", " in runner")
	var kindNode, ecsNode *yaml.Node
	for _, fl := range fs {
		switch fl.key.Value {
		case "kind":
			kindNode = fl.key
			if k, ok := d.str(fl.val, "kind in runner"); ok {
				if k == "local" || k == "ecs" {
					rc.Kind = k
				} else {
					d.problem(resolve(fl.val), "kind in runner: %q is not a runner kind (local or ecs)", clip(k))
				}
			}
		case "ecs":
			ecsNode = fl.key
			d.ecs(fl.val, &rc.ECS)
		case "local":
			d.localRunner(fl.val, &rc.Local)
		default:
			d.unknownKey(fl.key, " in runner", runnerKeys)
		}
	}
	if rc.Kind != "ecs" {
		return
	}
	at := cmp.Or(ecsNode, kindNode)
	e := rc.ECS
	for _, req := range []struct{ key, value string }{
		{"cluster", e.Cluster}, {"log_group", e.LogGroup}, {"fetch_image", e.FetchImage},
	} {
		if req.value == "" {
			d.problem(at, "runner.ecs needs %s (the runner kind is ecs)", req.key)
		}
	}
	if len(e.Subnets) == 0 {
		d.problem(at, "runner.ecs needs subnets (the runner kind is ecs)")
	}
	if e.LaunchType == "" && e.CapacityProvider == "" {
		d.problem(at, "runner.ecs needs launch_type (FARGATE, EC2 or EXTERNAL) or capacity_provider (the runner kind is ecs)")
	}
}

func (d *decoder) ecs(n *yaml.Node, e *ECSConfig) {
	const where = " in runner.ecs"
	fs, _ := d.mapping(n, "runner.ecs", where)
	var launchType, provider *yaml.Node
	for _, fl := range fs {
		k, v := fl.key.Value, fl.val
		subject := k + where
		str := func(dst *string) {
			if s, ok := d.str(v, subject); ok {
				if s == "" {
					d.problem(resolve(v), "%s: is empty", subject)
					return
				}
				*dst = s
			}
		}
		switch k {
		case "cluster":
			str(&e.Cluster)
		case "launch_type":
			launchType = fl.key
			if s, ok := d.str(v, subject); ok {
				if s == "FARGATE" || s == "EC2" || s == "EXTERNAL" {
					e.LaunchType = s
				} else {
					d.problem(resolve(v), "%s: %q is not FARGATE, EC2 or EXTERNAL", subject, clip(s))
				}
			}
		case "capacity_provider":
			provider = fl.key
			str(&e.CapacityProvider)
		case "subnets":
			e.Subnets = d.words(v, subject)
		case "security_groups":
			e.SecurityGroups = d.words(v, subject)
		case "assign_public_ip":
			e.AssignPublicIP, _ = d.boolean(v, subject)
		case "log_group":
			str(&e.LogGroup)
		case "log_stream_prefix":
			str(&e.LogStreamPrefix)
		case "execution_role_arn":
			str(&e.ExecutionRoleARN)
		case "build_role_arn":
			e.BuildRoleARN = d.roleARN(v, subject)
		case "task_role_arn":
			d.problem(fl.key, "task_role_arn%s: builds and deploys now run with different roles: write build_role_arn for builds, and environments.NAME.task_role_arn for deploys", where)
		case "environments":
			d.ecsEnvNode = fl.key
			e.Environments = d.ecsEnvironments(v)
		case "fetch_image":
			if img := d.image(v, subject); img != "" {
				e.FetchImage = img
			}
		case "cpu", "memory":
			if s, ok := d.text(v, subject); ok {
				if !ecsSizeRE.MatchString(s) {
					d.problem(resolve(v), "%s: %q is not a size ECS accepts (e.g. 1024, or 1 vCPU / 2 GB)", subject, clip(s))
				} else if k == "cpu" {
					e.CPU = s
				} else {
					e.Memory = s
				}
			}
		default:
			d.unknownKey(fl.key, where, ecsKeys)
		}
	}
	if launchType != nil && provider != nil {
		d.problem(provider, "runner.ecs sets both launch_type (line %d) and capacity_provider: choose one", launchType.Line)
	}
}

// words reads a list of non-empty strings.
func (d *decoder) words(n *yaml.Node, subject string) []string {
	items, _ := d.list(n, subject)
	var out []string
	for i, it := range items {
		s, ok := d.str(it, fmt.Sprintf("%s: item %d", subject, i+1))
		switch {
		case !ok:
		case s == "":
			d.problem(it, "%s: item %d is empty", subject, i+1)
		default:
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) pools(n *yaml.Node, s *Server) {
	fs, _ := d.mapping(n, "pools", " in pools")
	memberOf := map[string]string{}
	for _, fl := range fs {
		name := fl.key.Value
		if !nameRE.MatchString(name) {
			d.problem(fl.key, "pools: %q is not a valid pool name (%s)", clip(name), nameRule)
			continue
		}
		subject := fmt.Sprintf("pool %q", name)
		items, ok := d.list(fl.val, subject)
		if !ok {
			continue
		}
		if len(items) == 0 {
			d.problem(fl.key, "pool %q has no members", name)
			continue
		}
		var members []string
		for i, it := range items {
			m, ok := d.str(it, fmt.Sprintf("%s: member %d", subject, i+1))
			switch {
			case !ok:
			case !memberRE.MatchString(m):
				d.problem(it, "%s: %q is not a valid resource name (%s)", subject, clip(m), memberRule)
			case memberOf[m] == name:
				d.problem(it, "%s: %q is listed twice", subject, m)
			case memberOf[m] != "":
				d.problem(it, "%s: %q is already a member of pool %q (a resource belongs to one pool)", subject, m, memberOf[m])
			default:
				memberOf[m] = name
				members = append(members, m)
			}
		}
		s.Pools[name] = members
	}
}

func (d *decoder) environments(n *yaml.Node, s *Server) {
	fs, _ := d.mapping(n, "environments", " in environments")
	for _, fl := range fs {
		name := fl.key.Value
		if !nameRE.MatchString(name) {
			d.problem(fl.key, "environments: %q is not a valid environment name (%s)", clip(name), nameRule)
			continue
		}
		where := fmt.Sprintf(" in environment %q", name)
		keys, ok := d.mapping(fl.val, fmt.Sprintf("environment %q", name), where)
		if !ok {
			continue
		}
		env := Environment{ApprovalTTL: DefaultApprovalTTL, LockTTL: DefaultLockTTL}
		approversBad := false
		for _, k := range keys {
			v, subject := k.val, k.key.Value+where
			switch k.key.Value {
			case "deployers":
				env.Deployers = d.persons(v, subject)
			case "approvers":
				before := len(d.found)
				env.Approvers = d.persons(v, subject)
				approversBad = len(d.found) > before
			case "approval":
				env.Approval, _ = d.boolean(v, subject)
			case "approval_ttl":
				if ttl, ok := d.duration(v, subject, MaxApprovalTTL); ok {
					env.ApprovalTTL = ttl
				}
			case "lock_ttl":
				if ttl, ok := d.duration(v, subject, MaxLockTTL); ok {
					env.LockTTL = ttl
				}
			case "self_approval":
				env.SelfApproval, _ = d.boolean(v, subject)
			case "branch":
				if b, ok := d.str(v, subject); ok {
					if validBranch(b) {
						env.Branch = b
					} else {
						d.problem(resolve(v), "%s: %q is not a valid branch name", subject, clip(b))
					}
				}
			case "allow_other_refs":
				env.AllowOtherRefs, _ = d.boolean(v, subject)
			case "on_push":
				env.OnPush, _ = d.boolean(v, "on_push"+where)
			case "required_checks":
				d.requiredChecks(v, subject, &env)
			case "allow_check_override":
				env.AllowCheckOverride, _ = d.boolean(v, subject)
			case "secrets":
				env.Secrets = d.secrets(v, where)
			default:
				d.unknownKey(k.key, where, envKeys)
			}
		}
		if env.RequiredProtected && env.Branch == "" {
			d.problem(fl.key, "environment %q takes its required checks from its branch's protection (required_checks: protected) but names no branch", name)
		}
		if env.Approval && len(env.Approvers) == 0 && !approversBad {
			d.problem(fl.key, "environment %q requires approval but names no approvers", name)
		}
		s.Environments[name] = env
	}
}

// requiredChecks reads required_checks: a list of check names, or
// "protected".
func (d *decoder) requiredChecks(n *yaml.Node, subject string, env *Environment) {
	if r := resolve(n); r.Kind == yaml.ScalarNode && !isNull(r) {
		if r.Value != "protected" {
			d.problem(r, "%s: %q is neither a list of check names nor \"protected\" (the branch protection's required checks)", subject, clip(r.Value))
			return
		}
		env.RequiredProtected = true
		return
	}
	for _, c := range d.words(n, subject) {
		if !slices.Contains(env.RequiredChecks, c) {
			env.RequiredChecks = append(env.RequiredChecks, c)
		}
	}
}

// users reads the map of GitHub logins to Slack user IDs.
func (d *decoder) users(n *yaml.Node, s *Server) {
	fs, _ := d.mapping(n, "users", " in users")
	for _, fl := range fs {
		login := fl.key.Value
		if !githubLoginRE.MatchString(login) {
			d.problem(fl.key, "users: %q is not a GitHub login", clip(login))
			continue
		}
		id, ok := d.str(fl.val, "users: "+login)
		if !ok {
			continue
		}
		if !slackUserRE.MatchString(id) && !isPersonName(id) {
			d.problem(resolve(fl.val), "users: %s: %q is not a Slack user ID (U… or W…) or @name", login, clip(id))
			continue
		}
		d.noteName(id, NameUser, resolve(fl.val).Line, "users: "+login)
		if s.Users == nil {
			s.Users = map[string]string{}
		}
		s.Users[strings.ToLower(login)] = id
	}
}

var (
	githubLoginRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9]|-[A-Za-z0-9]){0,38}$`)
	slackUserRE   = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
)

// persons reads a list of people and groups (see Environment).
func (d *decoder) persons(n *yaml.Node, subject string) []string {
	items, _ := d.list(n, subject)
	var out []string
	for i, it := range items {
		p, ok := d.str(it, fmt.Sprintf("%s: item %d", subject, i+1))
		switch {
		case !ok:
		case !validPerson(p):
			d.problem(it, "%s: %q is not %s", subject, clip(p), personRule)
		case !slices.Contains(out, p):
			out = append(out, p)
			d.noteName(p, NamePerson, resolve(it).Line, subject)
		}
	}
	return out
}

func (d *decoder) retry(n *yaml.Node, r *Retry) {
	fs, _ := d.mapping(n, "retry", " in retry")
	for _, fl := range fs {
		switch fl.key.Value {
		case "max_attempts":
			if v, ok := d.integer(fl.val, "max_attempts in retry", 1, MaxAttempts); ok {
				r.MaxAttempts = v
			}
		case "backoff":
			if v, ok := d.duration(fl.val, "backoff in retry", MaxBackoff); ok {
				r.Backoff = v
			}
		default:
			d.unknownKey(fl.key, " in retry", retryKeys)
		}
	}
}

func (d *decoder) previews(n *yaml.Node, p *Previews) {
	fs, _ := d.mapping(n, "previews", " in previews")
	for _, fl := range fs {
		switch fl.key.Value {
		case "max":
			p.Max, _ = d.integer(fl.val, "max in previews", 1, 1000)
		case "ttl":
			p.TTL, _ = d.duration(fl.val, "ttl in previews", MaxPreviewTTL)
		default:
			d.unknownKey(fl.key, " in previews", []string{"max", "ttl"})
		}
	}
}

func (d *decoder) retention(n *yaml.Node, r *Retention) {
	fs, _ := d.mapping(n, "retention", " in retention")
	var logs *yaml.Node
	for _, fl := range fs {
		switch fl.key.Value {
		case "jobs":
			if v, ok := d.duration(fl.val, "jobs in retention", MaxRetention); ok {
				r.Jobs = v
			}
		case "logs":
			if v, ok := d.duration(fl.val, "logs in retention", MaxRetention); ok {
				r.Logs, logs = v, fl.val
			}
		default:
			d.unknownKey(fl.key, " in retention", retentionKeys)
		}
	}
	switch {
	case logs != nil && r.Logs > r.Jobs:
		d.problem(logs, "logs in retention: %s is longer than jobs (%s): a log is shown on its job's page, which goes with the job's record", formatDays(r.Logs), formatDays(r.Jobs))
	case logs == nil && r.Logs > r.Jobs:
		r.Logs = r.Jobs // a shorter job retention takes the logs with it
	}
}

func (d *decoder) web(n *yaml.Node, w *Web) {
	fs, _ := d.mapping(n, "web", " in web")
	for _, f := range fs {
		switch f.key.Value {
		case "public":
			w.Public, _ = d.boolean(f.val, "public in web")
		case "public_channels":
			for _, c := range d.words(f.val, "public_channels in web") {
				if !validChannel(c) {
					d.problem(f.val, "public_channels in web: %q is not %s", clip(c), channelRule)
					continue
				}
				w.PublicChannels = append(w.PublicChannels, c)
				d.noteName(c, NameChannel, f.val.Line, "public_channels in web")
			}
		default:
			d.unknownKey(f.key, " in web", webKeys)
		}
	}
}

var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (d *decoder) artifactStore(n *yaml.Node, a *Artifacts) {
	const where = " in artifacts"
	fs, _ := d.mapping(n, "artifacts", where)
	for _, fl := range fs {
		k, v := fl.key.Value, fl.val
		subject := k + where
		switch k {
		case "bucket":
			if b, ok := d.str(v, subject); ok {
				if bucketRE.MatchString(b) && !strings.Contains(b, "..") {
					a.Bucket = b
				} else {
					d.problem(resolve(v), "%s: %q is not an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)", subject, clip(b))
				}
			}
		case "prefix":
			if p, ok := d.str(v, subject); ok {
				p = strings.Trim(p, "/")
				if msg := checkArtifact(p); p != "" && (msg != "" || strings.ContainsAny(p, "*?[\\")) {
					d.problem(resolve(v), "%s: %q is not a key prefix (a relative path such as gantry/artifacts)", subject, clip(p))
				} else {
					a.Prefix = p
				}
			}
		case "endpoint":
			if e, ok := d.str(v, subject); ok {
				if strings.HasPrefix(e, "https://") || strings.HasPrefix(e, "http://") {
					a.Endpoint = strings.TrimRight(e, "/")
				} else {
					d.problem(resolve(v), "%s: %q is not an http:// or https:// URL", subject, clip(e))
				}
			}
		case "dir":
			if p, ok := d.str(v, subject); ok {
				if p == "" {
					d.problem(resolve(v), "%s: is empty", subject)
				} else {
					a.Dir = p
				}
			}
		case "max_files":
			if v, ok := d.integer(v, subject, 1, MaxArtifactFiles); ok {
				a.MaxFiles = v
			}
		case "max_bytes":
			if v, ok := d.size(v, subject, MaxArtifactBytes); ok {
				a.MaxBytes = v
			}
		default:
			d.unknownKey(fl.key, where, artifactKeys)
		}
	}
}

// size reads a number of bytes: a whole number, or one with a unit (KiB,
// MiB, GiB, or KB, MB, GB as their binary kin), from 1 to max.
func (d *decoder) size(n *yaml.Node, subject string, max int64) (int64, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		s := strings.TrimSpace(n.Value)
		mult := int64(1)
		for _, u := range []struct {
			suffix string
			m      int64
		}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}} {
			if num, ok := strings.CutSuffix(s, u.suffix); ok {
				s, mult = strings.TrimSpace(num), u.m
				break
			}
		}
		if v, err := strconv.ParseInt(s, 10, 64); err == nil && v >= 1 && v <= max/mult {
			return v * mult, true
		}
	}
	d.problem(n, "%s: must be a size such as 100MiB or a number of bytes from 1 to %d, not %s", subject, max, describe(n))
	return 0, false
}
