package commands

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/spec"
)

type parseCase struct {
	name string
	in   string
	want Result
}

func cmdResult(c Command) Result { return Result{Command: &c} }

func replyResult(s string) Result { return Result{Reply: s} }

func usageReply(why string, v Verb) Result { return Result{Reply: why + "\n" + Usage(v)} }

var parseCases = []parseCase{
	// Nothing addressed to gantry.
	{"empty", "", Result{Ignore: true}},
	{"blank", " \t\n ", Result{Ignore: true}},
	{"bare mention", "<@U0BOT>", Result{Ignore: true}},
	{"bare mention with colon", "<@U0BOT|gantry>:  ", Result{Ignore: true}},
	{"bare gantry", "gantry", Result{Ignore: true}},
	{"bare slash gantry", "/gantry", Result{Ignore: true}},
	{"only invisible", "\u200b\ufeff", Result{Ignore: true}},

	// build
	{"build", "build", cmdResult(Command{Verb: VerbBuild})},
	{"build repo", "build api", cmdResult(Command{Verb: VerbBuild, Repo: "api"})},
	{"build repo at ref", "build api@feature-x", cmdResult(Command{Verb: VerbBuild, Repo: "api", Ref: "feature-x"})},
	{"build channel repo at ref", "build @main", cmdResult(Command{Verb: VerbBuild, Ref: "main"})},
	{"build path", "build examples/hello", cmdResult(Command{Verb: VerbBuild, Repo: "examples/hello"})},
	{"build dot path at ref", "build ./x@dev", cmdResult(Command{Verb: VerbBuild, Repo: "./x", Ref: "dev"})},
	{"build absolute path", "build /srv/src/app@v1", cmdResult(Command{Verb: VerbBuild, Repo: "/srv/src/app", Ref: "v1"})},
	{"build short sha", "build api@1a2b3c4", cmdResult(Command{Verb: VerbBuild, Repo: "api", Ref: "1a2b3c4"})},
	{"build full sha", "build @0123456789abcdef0123456789abcdef01234567",
		cmdResult(Command{Verb: VerbBuild, Ref: "0123456789abcdef0123456789abcdef01234567"})},
	{"build ref with at", "build api@user@topic", cmdResult(Command{Verb: VerbBuild, Repo: "api", Ref: "user@topic"})},
	{"build nested ref", "build api@feature/x-1", cmdResult(Command{Verb: VerbBuild, Repo: "api", Ref: "feature/x-1"})},
	{"verb any case, repo kept", "BUILD Api", cmdResult(Command{Verb: VerbBuild, Repo: "Api"})},
	{"spaces collapsed", "  build \t  api@x  \n", cmdResult(Command{Verb: VerbBuild, Repo: "api", Ref: "x"})},
	{"no-break space separates", "build\u00a0api", cmdResult(Command{Verb: VerbBuild, Repo: "api"})},
	{"zero-width space dropped", "build api\u200b", cmdResult(Command{Verb: VerbBuild, Repo: "api"})},
	{"mention", "<@U0BOT> build api", cmdResult(Command{Verb: VerbBuild, Repo: "api"})},
	{"mention with label and colon", "<@U0BOT|gantry>: build", cmdResult(Command{Verb: VerbBuild})},
	{"two mentions", "<@U0BOT> <@U0BOT> build", cmdResult(Command{Verb: VerbBuild})},
	{"mention glued", "<@U0BOT>build", cmdResult(Command{Verb: VerbBuild})},
	{"gantry word", "gantry build api", cmdResult(Command{Verb: VerbBuild, Repo: "api"})},
	{"slash gantry word", "/gantry build", cmdResult(Command{Verb: VerbBuild})},
	{"at gantry colon", "@Gantry: build", cmdResult(Command{Verb: VerbBuild})},
	{"mention then gantry", "<@U0BOT> gantry build", cmdResult(Command{Verb: VerbBuild})},
	{"slack link to label", "build <http://api.io|api.io>", cmdResult(Command{Verb: VerbBuild, Repo: "api.io"})},
	{"slack link without label", "build <https://h/x/y>", cmdResult(Command{Verb: VerbBuild, Repo: "https://h/x/y"})},
	{"build too many", "build api main", usageReply("Too many words for “build”: “main”.", VerbBuild)},
	{"build too many, rest quoted", "build api main  now", usageReply("Too many words for “build”: “main  now”.", VerbBuild)},
	{"build empty ref", "build api@", replyResult("“api@” has no ref after “@”: write repo@ref, or @ref for this channel's repo")},
	{"build bare at", "build @", replyResult("“@” has no ref after “@”: write repo@ref, or @ref for this channel's repo")},
	{"build ref dots", "build api@feature..x", replyResult("“feature..x” is not a valid ref: it contains “..”")},
	{"build ref tilde", "build @main~1", replyResult("“main~1” is not a valid ref: it contains “~”")},
	{"build ref at-brace", "build @main@{1}", replyResult("“main@{1}” is not a valid ref: it contains “@{”")},
	{"build ref dash", "build api@-x", replyResult("“-x” is not a valid ref: it starts with “-”")},
	{"build bad repo", "build a%b", replyResult("“a%b” is not a valid repo name: it contains “%”; repo names use letters, digits, “.”, “_” and “-”")},
	{"build option", "build --force", usageReply("“build” has no option “--force”.", VerbBuild)},
	{"build entities stay in words", "build a&amp;b", replyResult("“a&amp;b” is not a valid repo name: it contains “&”; repo names use letters, digits, “.”, “_” and “-”")},
	{"build path starting with dash", "build ./-x@dev", cmdResult(Command{Verb: VerbBuild, Repo: "./-x", Ref: "dev"})},

	// deploy
	{"deploy env", "deploy staging", cmdResult(Command{Verb: VerbDeploy, Env: "staging"})},
	{"deploy repo env", "deploy api staging", cmdResult(Command{Verb: VerbDeploy, Repo: "api", Env: "staging"})},
	{"deploy repo ref to env", "deploy api@v1.2 to production", cmdResult(Command{Verb: VerbDeploy, Repo: "api", Ref: "v1.2", Env: "production"})},
	{"deploy to env", "deploy to staging", cmdResult(Command{Verb: VerbDeploy, Env: "staging"})},
	{"deploy ref env", "deploy @abc123 production", cmdResult(Command{Verb: VerbDeploy, Ref: "abc123", Env: "production"})},
	{"deploy path", "deploy ./x@dev to staging", cmdResult(Command{Verb: VerbDeploy, Repo: "./x", Ref: "dev", Env: "staging"})},
	{"deploy any case", "Deploy API@v1 TO staging", cmdResult(Command{Verb: VerbDeploy, Repo: "API", Ref: "v1", Env: "staging"})},
	{"deploy mention", "<@U0BOT> deploy staging", cmdResult(Command{Verb: VerbDeploy, Env: "staging"})},
	{"deploy repo named to", "deploy to to staging", cmdResult(Command{Verb: VerbDeploy, Repo: "to", Env: "staging"})},
	{"deploy nothing", "deploy", usageReply("“deploy” needs an environment, as its last word.", VerbDeploy)},
	{"deploy to nothing", "deploy to", usageReply("“deploy” needs an environment, as its last word.", VerbDeploy)},
	{"deploy repo to nothing", "deploy api TO", usageReply("“deploy” needs an environment, as its last word.", VerbDeploy)},
	{"deploy too many", "deploy api main staging", usageReply("Too many words for “deploy”: “main”.", VerbDeploy)},
	{"deploy too many with to", "deploy a b  c to staging", usageReply("Too many words for “deploy”: “b  c”.", VerbDeploy)},
	{"deploy upper env", "deploy Staging", replyResult("“Staging” is not a valid environment name: names are lowercase (did you mean “staging”?)")},
	{"deploy bad env", "deploy api prod!", replyResult("“prod!” is not a valid environment name: it contains “!”; names use lowercase letters, digits, “-” and “_”")},
	{"deploy words swapped", "deploy staging examples/hello", replyResult("“examples/hello” is not a valid environment name: it contains “/”; names use lowercase letters, digits, “-” and “_”; the environment comes last: `deploy examples/hello staging`")},
	{"deploy env starts badly", "deploy _prod", replyResult("“_prod” is not a valid environment name: it starts with “_”; names start with a lowercase letter or a digit")},
	{"deploy bad ref", "deploy api@a:b staging", replyResult("“a:b” is not a valid ref: it contains “:”")},
	{"deploy option", "deploy --now staging", usageReply("“deploy” has no option “--now”.", VerbDeploy)},

	// logs
	{"logs", "logs", cmdResult(Command{Verb: VerbLogs, Tail: 30})},
	{"logs job", "logs #42", cmdResult(Command{Verb: VerbLogs, Job: 42, Tail: 30})},
	{"logs bare number", "logs 42", cmdResult(Command{Verb: VerbLogs, Job: 42, Tail: 30})},
	{"logs job tail", "logs 42 --tail 100", cmdResult(Command{Verb: VerbLogs, Job: 42, Tail: 100})},
	{"logs tail job", "logs --tail 5 #7", cmdResult(Command{Verb: VerbLogs, Job: 7, Tail: 5})},
	{"logs tail equals", "logs --tail=5", cmdResult(Command{Verb: VerbLogs, Tail: 5})},
	{"logs tail em dash", "logs #7 —tail 10", cmdResult(Command{Verb: VerbLogs, Job: 7, Tail: 10})},
	{"logs tail en dash", "logs –tail 10", cmdResult(Command{Verb: VerbLogs, Tail: 10})},
	{"logs tail any case, max", "LOGS --TAIL 1000", cmdResult(Command{Verb: VerbLogs, Tail: 1000})},
	{"logs leading zeros", "logs #007", cmdResult(Command{Verb: VerbLogs, Job: 7, Tail: 30})},
	{"logs channel link as job", "logs <#C0123|42>", cmdResult(Command{Verb: VerbLogs, Job: 42, Tail: 30})},
	{"logs tail zero", "logs --tail 0", replyResult("“0” is not a number of lines: --tail takes a number from 1 to 1000")},
	{"logs tail too many", "logs --tail 1001", replyResult("“1001” is not a number of lines: --tail takes a number from 1 to 1000")},
	{"logs tail word", "logs --tail all", replyResult("“all” is not a number of lines: --tail takes a number from 1 to 1000")},
	{"logs tail signed", "logs --tail=+5", replyResult("“+5” is not a number of lines: --tail takes a number from 1 to 1000")},
	{"logs tail missing", "logs #4 --tail", usageReply("--tail needs a number of lines.", VerbLogs)},
	{"logs tail twice", "logs --tail 5 --tail 6", usageReply("--tail is given twice.", VerbLogs)},
	{"logs unknown option", "logs --follow", usageReply("“logs” has no option “--follow”.", VerbLogs)},
	{"logs two jobs", "logs #1 #2", usageReply("Too many words for “logs”: “#2”.", VerbLogs)},
	{"logs not a job", "logs abc", replyResult("“abc” is not a job number: write it as #42 or 42")},
	{"logs job zero", "logs #0", replyResult("“#0” is not a job number: job numbers start at 1")},
	{"logs job huge", "logs #99999999999999999999", replyResult("“#99999999999999999999” is not a job number: it is too large")},
	{"logs bare hash", "logs #", replyResult("“#” is not a job number: write it as #42 or 42")},

	// status
	{"status", "status", cmdResult(Command{Verb: VerbStatus})},
	{"status job", "status #42", cmdResult(Command{Verb: VerbStatus, Job: 42})},
	{"status number", "status 42", cmdResult(Command{Verb: VerbStatus, Job: 42})},
	{"status env", "status staging", cmdResult(Command{Verb: VerbStatus, Env: "staging"})},
	{"status repo", "status Api.v2", cmdResult(Command{Verb: VerbStatus, Target: "Api.v2"})},
	{"status path", "status examples/hello", cmdResult(Command{Verb: VerbStatus, Target: "examples/hello"})},
	{"status bad job", "status #x", replyResult("“#x” is not a job number: write it as #42 or 42")},
	{"status nonsense", "status a%b", usageReply("“a%b” is not a job number, an environment or a repo.", VerbStatus)},
	{"status too many", "status a b", usageReply("Too many words for “status”: “b”.", VerbStatus)},

	// queue
	{"queue", "queue", cmdResult(Command{Verb: VerbQueue})},
	{"queue too many", "queue now", usageReply("Too many words for “queue”: “now”.", VerbQueue)},
	{"queue option", "queue --all", usageReply("Too many words for “queue”: “--all”.", VerbQueue)},

	// cancel, retry, approve
	{"cancel", "cancel #42", cmdResult(Command{Verb: VerbCancel, Job: 42})},
	{"cancel number", "cancel 42", cmdResult(Command{Verb: VerbCancel, Job: 42})},
	{"retry", "retry #7", cmdResult(Command{Verb: VerbRetry, Job: 7})},
	{"approve", "Approve #9", cmdResult(Command{Verb: VerbApprove, Job: 9})},
	{"preview", "preview #42", cmdResult(Command{Verb: VerbPreview, Job: 42})},
	{"preview for", "preview #42 for 2h", cmdResult(Command{Verb: VerbPreview, Job: 42, For: 2 * time.Hour})},
	{"preview for too long", "preview #42 for 8d", replyResult("“8d” is longer than a preview may run: at most 7d")},
	{"preview missing", "preview", usageReply("“preview” needs a job number.", VerbPreview)},
	{"preview extra", "preview #42 now", usageReply("Too many words for “preview”: “now”.", VerbPreview)},
	{"stop", "stop #42", cmdResult(Command{Verb: VerbStop, Job: 42})},
	{"cancel missing", "cancel", usageReply("“cancel” needs a job number.", VerbCancel)},
	{"retry missing", "retry", usageReply("“retry” needs a job number.", VerbRetry)},
	{"approve missing", "approve", usageReply("“approve” needs a job number.", VerbApprove)},
	{"cancel not a job", "cancel staging", replyResult("“staging” is not a job number: write it as #42 or 42")},
	{"cancel two", "cancel #42 #43", usageReply("Too many words for “cancel”: “#43”.", VerbCancel)},
	{"approve option", "approve --force", usageReply("“approve” has no option “--force”.", VerbApprove)},
	{"retry negative", "retry -3", usageReply("“retry” has no option “-3”.", VerbRetry)},

	// reject
	{"reject", "reject #42", cmdResult(Command{Verb: VerbReject, Job: 42})},
	{"reject why", "reject #42 tests are red", cmdResult(Command{Verb: VerbReject, Job: 42, Reason: "tests are red"})},
	{"reject why verbatim, decoded", "reject 42   two  spaces\nsecond line &amp; &lt;b&gt; &amp;lt;  ",
		cmdResult(Command{Verb: VerbReject, Job: 42, Reason: "two  spaces\nsecond line & <b> &lt;"})},
	{"reject why with link", "reject #1 see <https://ci/x|the run> first",
		cmdResult(Command{Verb: VerbReject, Job: 1, Reason: "see the run first"})},
	{"reject why keeps mention", "reject #1 ask <@U123>", cmdResult(Command{Verb: VerbReject, Job: 1, Reason: "ask <@U123>"})},
	{"reject why 500", "reject #1 " + strings.Repeat("é", 500), cmdResult(Command{Verb: VerbReject, Job: 1, Reason: strings.Repeat("é", 500)})},
	{"reject why too long", "reject #1 " + strings.Repeat("é", 501), replyResult("The reason is 501 characters long; keep it to 500.")},
	{"reject why control", "reject #1 a\x1bb", replyResult(`The reason contains the control character \x1b; write it as plain text.`)},
	{"reject why bad utf8", "reject #1 a\xffb", replyResult("The reason is not valid UTF-8 text.")},
	{"reject missing", "reject", usageReply("“reject” needs a job number.", VerbReject)},
	{"reject not a job", "reject because", replyResult("“because” is not a job number: write it as #42 or 42")},
	{"reject option", "reject --now", usageReply("“reject” has no option “--now”.", VerbReject)},

	// pool
	{"pool", "pool", cmdResult(Command{Verb: VerbPool})},
	{"pool name", "pool mysql", cmdResult(Command{Verb: VerbPool, Target: "mysql"})},
	{"pool release", "pool release mysql-2", cmdResult(Command{Verb: VerbPool, Sub: "release", Target: "mysql-2"})},
	{"pool release any case", "POOL Release mysql_2", cmdResult(Command{Verb: VerbPool, Sub: "release", Target: "mysql_2"})},
	{"pool release missing", "pool release", usageReply("“pool release” needs the resource to free.", VerbPool)},
	{"pool release too many", "pool release a b", usageReply("Too many words for “pool”: “b”.", VerbPool)},
	{"pool too many", "pool a b", usageReply("Too many words for “pool”: “b”.", VerbPool)},
	{"pool bad name", "pool MySQL", replyResult("“MySQL” is not a valid pool name: names are lowercase (did you mean “mysql”?)")},
	{"pool release bad", "pool release mysql.2", replyResult("“mysql.2” is not a valid resource name: it contains “.”; names use lowercase letters, digits, “-” and “_”")},

	// lock, unlock
	{"lock", "lock production", cmdResult(Command{Verb: VerbLock, Env: "production"})},
	{"lock why", "lock production release freeze &gt; Monday", cmdResult(Command{Verb: VerbLock, Env: "production", Reason: "release freeze > Monday"})},
	{"lock missing", "lock", usageReply("“lock” needs an environment.", VerbLock)},
	{"lock bad env", "lock prod/eu", replyResult("“prod/eu” is not a valid environment name: it contains “/”; names use lowercase letters, digits, “-” and “_”")},
	{"lock option", "lock --force prod", usageReply("“lock” has no option “--force”.", VerbLock)},
	{"lock for", "lock staging for 2h", cmdResult(Command{Verb: VerbLock, Env: "staging", For: 2 * time.Hour})},
	{"lock for why", "lock staging FOR 30m load test", cmdResult(Command{Verb: VerbLock, Env: "staging", For: 30 * time.Minute, Reason: "load test"})},
	{"lock for days", "lock production for 7d freeze", cmdResult(Command{Verb: VerbLock, Env: "production", For: 7 * 24 * time.Hour, Reason: "freeze"})},
	{"lock for seconds", "lock qa for 2s", cmdResult(Command{Verb: VerbLock, Env: "qa", For: 2 * time.Second})},
	{"lock for is a reason", "lock staging for the demo", cmdResult(Command{Verb: VerbLock, Env: "staging", Reason: "for the demo"})},
	{"lock for alone", "lock staging for", cmdResult(Command{Verb: VerbLock, Env: "staging", Reason: "for"})},
	{"lock for too long", "lock staging for 8d", replyResult("“8d” is longer than a lock may stand: at most 7d")},
	{"lock for huge", "lock staging for 99999999999999999999h", replyResult("“99999999999999999999h” is longer than a lock may stand: at most 7d")},
	{"lock for zero", "lock staging for 0m", replyResult("“0m” is no time at all: a lock stands for e.g. 30m, 2h or 1d")},
	{"unlock", "unlock production", cmdResult(Command{Verb: VerbUnlock, Env: "production"})},
	{"unlock force", "unlock production --force", cmdResult(Command{Verb: VerbUnlock, Env: "production", Force: true})},
	{"unlock force first, dash", "unlock —force production", cmdResult(Command{Verb: VerbUnlock, Env: "production", Force: true})},
	{"unlock force twice", "unlock production --force --force", usageReply("--force is given twice.", VerbUnlock)},
	{"unlock other option", "unlock production --now", usageReply("“unlock” has no option “--now”.", VerbUnlock)},
	{"unlock force only", "unlock --force", usageReply("“unlock” needs an environment.", VerbUnlock)},
	{"unlock missing", "unlock", usageReply("“unlock” needs an environment.", VerbUnlock)},
	{"unlock too many", "unlock production now please", usageReply("Too many words for “unlock”: “now please”.", VerbUnlock)},

	// envs, rollback, deploy ENV #N
	{"envs", "envs", cmdResult(Command{Verb: VerbEnvs})},
	{"envs too many", "envs production", usageReply("Too many words for “envs”: “production”.", VerbEnvs)},
	{"rollback", "rollback production", cmdResult(Command{Verb: VerbRollback, Env: "production"})},
	{"rollback to", "rollback production to #41", cmdResult(Command{Verb: VerbRollback, Env: "production", Job: 41})},
	{"rollback job", "Rollback production 41", cmdResult(Command{Verb: VerbRollback, Env: "production", Job: 41})},
	{"rollback missing", "rollback", usageReply("“rollback” needs an environment.", VerbRollback)},
	{"rollback to nothing", "rollback production to", usageReply("“rollback ENV to” needs the job whose deploy to go back to, e.g. #41.", VerbRollback)},
	{"rollback too many", "rollback production to #4 now", usageReply("Too many words for “rollback”: “to #4 now”.", VerbRollback)},
	{"rollback bad job", "rollback production to yesterday", replyResult("“yesterday” is not a job number: write it as #42 or 42")},
	{"rollback option", "rollback --now", usageReply("“rollback” has no option “--now”.", VerbRollback)},
	{"rollback bad env", "rollback Prod", replyResult("“Prod” is not a valid environment name: names are lowercase (did you mean “prod”?)")},
	{"deploy again", "deploy production #41", cmdResult(Command{Verb: VerbDeploy, Env: "production", Job: 41})},
	{"deploy again bad job", "deploy production #x", replyResult("“#x” is not a job number: write it as #42 or 42")},

	// audit
	{"audit", "audit", cmdResult(Command{Verb: VerbAudit})},
	{"audit env", "audit production", cmdResult(Command{Verb: VerbAudit, Env: "production"})},
	{"audit too many", "audit a b", usageReply("Too many words for “audit”: “b”.", VerbAudit)},
	{"audit bad env", "audit Prod", replyResult("“Prod” is not a valid environment name: names are lowercase (did you mean “prod”?)")},

	// help
	{"help", "help", cmdResult(Command{Verb: VerbHelp})},
	{"help verb", "help deploy", cmdResult(Command{Verb: VerbHelp, Target: "deploy"})},
	{"help verb any case", "HELP Deploy", cmdResult(Command{Verb: VerbHelp, Target: "deploy"})},
	{"help typo", "help deplyo", replyResult(HelpText("deplyo"))},
	{"help unknown", "help frobnicate", replyResult(HelpText("frobnicate"))},
	{"help too many", "help deploy staging", usageReply("Too many words for “help”: “staging”.", VerbHelp)},

	// unknown verbs
	{"typo", "biuld api", replyResult("I don't know “biuld”. Did you mean “build”?\n" + Usage(VerbBuild))},
	{"typo any case", "DEPLOU staging", replyResult("I don't know “DEPLOU”. Did you mean “deploy”?\n" + Usage(VerbDeploy))},
	{"prefix", "dep staging", replyResult("I don't know “dep”. Did you mean “deploy”?\n" + Usage(VerbDeploy))},
	{"run", "run nightly", cmdResult(Command{Verb: VerbRun, Pipeline: "nightly"})},
	{"run repo ref", "run release api@v1.2", cmdResult(Command{Verb: VerbRun, Pipeline: "release", Repo: "api", Ref: "v1.2"})},
	{"run without pipeline", "run", usageReply("“run” needs the name of a pipeline of .gantry.yml.", VerbRun)},
	{"run too many", "run nightly api extra", usageReply("Too many words for “run”: “extra”.", VerbRun)},
	{"unknown", "frobnicate", replyResult("I don't know “frobnicate”. I understand build, deploy, rollback, run, logs, status, envs, queue, cancel, preview, stop, retry, approve, reject, pool, lock, unlock, audit, schedules and help; “help COMMAND” shows how to use one.")},
	{"unknown after mention", "<@U0BOT> thanks!", replyResult("I don't know “thanks!”. I understand build, deploy, rollback, run, logs, status, envs, queue, cancel, preview, stop, retry, approve, reject, pool, lock, unlock, audit, schedules and help; “help COMMAND” shows how to use one.")},
	{"unknown control chars escaped", "\x1b[31mx", replyResult(`I don't know “\x1b[31mx”. I understand build, deploy, rollback, run, logs, status, envs, queue, cancel, preview, stop, retry, approve, reject, pool, lock, unlock, audit, schedules and help; “help COMMAND” shows how to use one.`)},
	{"unknown long word cut", strings.Repeat("z", 100), replyResult("I don't know “" + strings.Repeat("z", 60) + "…”. I understand build, deploy, rollback, run, logs, status, envs, queue, cancel, preview, stop, retry, approve, reject, pool, lock, unlock, audit, schedules and help; “help COMMAND” shows how to use one.")},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Parse(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// TestParseUsageReplies pins the exact text of one usage reply, so the
// composition the table above relies on is itself checked.
func TestParseUsageReplies(t *testing.T) {
	got := Parse("deploy").Reply
	want := "“deploy” needs an environment, as its last word.\n" +
		"usage: deploy [repo][@ref] [to] ENV\n" +
		"       deploy ENV #N\n" +
		"  e.g. deploy staging\n" +
		"       deploy api@v1.2 to production\n" +
		"       deploy @abc1234 staging\n" +
		"       deploy production #41"
	if got != want {
		t.Errorf("Parse(\"deploy\").Reply =\n%s\nwant\n%s", got, want)
	}
}

// renderCommand writes a command back as text, escaping the reason the way
// Slack does, so that Parse should give the same command again.
func renderCommand(c *Command) string {
	repoRef := func() string {
		if c.Ref == "" {
			return c.Repo
		}
		return c.Repo + "@" + c.Ref
	}
	job := func() string {
		if c.Job == 0 {
			return ""
		}
		return " #" + strconv.FormatInt(c.Job, 10)
	}
	reason := func() string {
		if c.Reason == "" {
			return ""
		}
		return " " + strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(c.Reason)
	}
	words := []string{string(c.Verb)}
	switch c.Verb {
	case VerbBuild:
		words = append(words, repoRef())
	case VerbDeploy:
		if c.Job != 0 {
			words = append(words, c.Env+job())
			break
		}
		words = append(words, repoRef(), "to", c.Env)
	case VerbRollback:
		words = append(words, c.Env)
		if c.Job != 0 {
			words = append(words, "to"+job())
		}
	case VerbRun:
		words = append(words, c.Pipeline, repoRef())
	case VerbLogs:
		words = append(words, job(), "--tail", strconv.Itoa(c.Tail))
	case VerbStatus:
		words = append(words, job(), c.Env, c.Target)
	case VerbCancel, VerbRetry, VerbApprove, VerbStop:
		words = append(words, job())
	case VerbPreview:
		words = append(words, job())
		if c.For != 0 {
			words = append(words, "for", strconv.FormatInt(int64(c.For/time.Second), 10)+"s")
		}
	case VerbReject:
		words = append(words, job()+reason())
	case VerbPool:
		words = append(words, c.Sub, c.Target)
	case VerbLock:
		if c.For != 0 {
			words = append(words, c.Env, "for", strconv.FormatInt(int64(c.For/time.Second), 10)+"s"+reason())
			break
		}
		words = append(words, c.Env+reason())
	case VerbUnlock:
		words = append(words, c.Env)
		if c.Force {
			words = append(words, "--force")
		}
	case VerbAudit:
		words = append(words, c.Env)
	case VerbHelp:
		words = append(words, c.Target)
	case VerbQueue, VerbSchedules, VerbEnvs:
	}
	return strings.Join(words, " ")
}

// checkResult asserts what must hold of every Parse result.
func checkResult(t *testing.T, in string, r Result) {
	t.Helper()
	set := 0
	if r.Command != nil {
		set++
	}
	if r.Reply != "" {
		set++
	}
	if r.Ignore {
		set++
	}
	if set != 1 {
		t.Fatalf("Parse(%q) = %+v: want exactly one of Command, Reply, Ignore", in, r)
	}
	if r.Reply != "" {
		if !utf8.ValidString(r.Reply) {
			t.Fatalf("Parse(%q): reply is not valid UTF-8: %q", in, r.Reply)
		}
		for _, c := range r.Reply {
			if c != '\n' && !unicode.IsGraphic(c) {
				t.Fatalf("Parse(%q): reply has unprintable %U: %q", in, c, r.Reply)
			}
		}
	}
	c := r.Command
	if c == nil {
		return
	}
	if _, ok := lookupVerb(string(c.Verb)); !ok {
		t.Fatalf("Parse(%q): unknown verb %q", in, c.Verb)
	}
	if c.Repo != "" {
		if err := ValidRepoName(c.Repo); err != nil {
			t.Fatalf("Parse(%q): repo: %v", in, err)
		}
	}
	if c.Ref != "" {
		if err := ValidRef(c.Ref); err != nil {
			t.Fatalf("Parse(%q): ref: %v", in, err)
		}
	}
	if c.Env != "" {
		if err := ValidEnvName(c.Env); err != nil {
			t.Fatalf("Parse(%q): env: %v", in, err)
		}
	}
	if c.Job < 0 {
		t.Fatalf("Parse(%q): job %d", in, c.Job)
	}
	if (c.Verb == VerbLogs) != (c.Tail != 0) || c.Tail < 0 || c.Tail > maxTail {
		t.Fatalf("Parse(%q): tail %d for %s", in, c.Tail, c.Verb)
	}
	if c.Reason != strings.TrimSpace(c.Reason) || utf8.RuneCountInString(c.Reason) > maxReasonLen || !utf8.ValidString(c.Reason) {
		t.Fatalf("Parse(%q): reason %q", in, c.Reason)
	}
	if c.Reason != "" && c.Verb != VerbReject && c.Verb != VerbLock {
		t.Fatalf("Parse(%q): reason for %s", in, c.Verb)
	}
	if c.For != 0 && (c.Verb != VerbLock && c.Verb != VerbPreview || c.For < 0 || c.For > spec.MaxLockTTL) || c.Force && c.Verb != VerbUnlock {
		t.Fatalf("Parse(%q): for %v, force %v for %s", in, c.For, c.Force, c.Verb)
	}
	if c.Job != 0 && c.Verb == VerbDeploy && (c.Repo != "" || c.Ref != "") {
		t.Fatalf("Parse(%q): a redeploy with a repo or ref", in)
	}
	if c.Sub != "" && (c.Sub != subRelease || c.Verb != VerbPool) {
		t.Fatalf("Parse(%q): sub %q for %s", in, c.Sub, c.Verb)
	}
	again := renderCommand(c)
	if diff := cmp.Diff(Result{Command: c}, Parse(again)); diff != "" {
		t.Fatalf("Parse(%q) = %+v, rendered as %q, parses differently (-first +second):\n%s", in, *c, again, diff)
	}
}

func TestParseInvariants(t *testing.T) {
	for _, tc := range parseCases {
		checkResult(t, tc.in, Parse(tc.in))
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	for _, s := range Verbs() {
		for _, e := range s.Examples {
			f.Add(e)
			f.Add("<@U0BOT> " + e)
		}
	}
	for _, s := range []string{
		"<", "<>", "<@", "<@>", "<#C1|>", "<http://a|>", "<@U1 x>", "&amp;", "deploy <http://a|b c> d",
		"logs --tail=", "logs —", "reject #1 <", "build \xff", "build @@", "gantry: <@U1>", "lock a \r b",
		"lock a for 1s for 2h", "lock a for 7d", "lock a for 604801s", "unlock a –force", "rollback a to 1", "deploy a #1", "deploy a b #1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		checkResult(t, in, Parse(in))
	})
}

func TestUnwrapSlackLinks(t *testing.T) {
	cases := []struct{ in, want string }{
		{"<http://x|x>", "x"},
		{"a <https://example.com/p?q=1&amp;r=2|the page> b", "a the page b"},
		{"<https://example.com>", "https://example.com"},
		{"<mailto:a@b.c|a@b.c>", "a@b.c"},
		{"<http://x|>", "http://x"},
		{"<#C0123|general>", "#general"},
		{"<#C0123>", "<#C0123>"},
		{"<#C0123|>", "<#C0123|>"},
		{"<@U0123>", "<@U0123>"},
		{"<!here>", "<!here>"},
		{"<no scheme>", "<no scheme>"},
		{"<1http:x>", "<1http:x>"},
		{"<<http://x|y>", "<y"},
		{"<a <http://x|y> >", "<a y >"},
		{"a < b > c", "a < b > c"},
		{"<", "<"},
		{">", ">"},
		{"<http://x|y", "<http://x|y"},
	}
	for _, tc := range cases {
		if got := unwrapSlackLinks(tc.in); got != tc.want {
			t.Errorf("unwrapSlackLinks(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestParseLargeInput guards against work that grows faster than the text:
// a megabyte of markup-like text parses in well under the deadline unless
// some step looks at each byte once per '<'.
func TestParseLargeInput(t *testing.T) {
	inputs := []string{
		"reject #1 " + strings.Repeat("<", 1<<20) + ">",
		"reject #1 " + strings.Repeat("<a:b ", 1<<18) + ">",
		strings.Repeat("<@U1>", 1<<18),
		"build " + strings.Repeat("a", 1<<20),
		"lock prod " + strings.Repeat("x ", 1<<19),
	}
	for _, in := range inputs {
		done := make(chan Result, 1)
		go func() { done <- Parse(in) }()
		select {
		case r := <-done:
			checkResult(t, in[:20], r)
		case <-time.After(10 * time.Second):
			t.Fatalf("Parse(%.20q…) took more than 10s", in)
		}
	}
}
