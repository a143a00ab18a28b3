package commands

import (
	"fmt"
	"strings"
	"testing"
)

var allVerbs = []Verb{
	VerbBuild, VerbDeploy, VerbRollback, VerbRun, VerbLogs, VerbStatus, VerbEnvs, VerbQueue, VerbCancel, VerbRetry,
	VerbApprove, VerbReject, VerbPool, VerbLock, VerbUnlock, VerbAudit, VerbSchedules, VerbHelp, VerbPreview, VerbStop,
}

func TestEveryVerbHasASpecWithExamples(t *testing.T) {
	examples := map[Verb]int{}
	for _, s := range Verbs() {
		examples[s.Verb] += len(s.Examples)
	}
	for _, v := range allVerbs {
		if examples[v] == 0 {
			t.Errorf("verb %q has no VerbSpec with an example", v)
		}
		delete(examples, v)
	}
	for v := range examples {
		t.Errorf("Verbs() lists %q, which is not one of the verbs", v)
	}
}

func TestEveryExampleParsesToItsVerb(t *testing.T) {
	for _, s := range Verbs() {
		if s.Summary == "" {
			t.Errorf("%s %s: no summary", s.Verb, s.Args)
		}
		for _, e := range s.Examples {
			r := Parse(e)
			if r.Command == nil {
				t.Errorf("example %q of %s does not parse: %+v", e, s.Verb, r)
				continue
			}
			if r.Command.Verb != s.Verb {
				t.Errorf("example %q of %s parses to verb %s", e, s.Verb, r.Command.Verb)
			}
			if s.Admin != (r.Command.Sub == subRelease || r.Command.Force) {
				t.Errorf("example %q of the form %q parses to Sub %q", e, s.form(), r.Command.Sub)
			}
		}
	}
}

func TestVerbsIsACopy(t *testing.T) {
	v := Verbs()
	v[0].Examples[0] = "changed"
	v[0].Verb = "changed"
	if got := Verbs(); got[0].Verb != VerbBuild || got[0].Examples[0] != "build" {
		t.Errorf("changing the result of Verbs changed the table: %+v", got[0])
	}
}

const deployHelp = "deploy: queue a deploy to ENV (the last word), waiting for approval where ENV requires it\n" +
	"deploy: deploy again what deploy #N (to ENV, succeeded) deployed, through the same approval\n"

func TestUsage(t *testing.T) {
	cases := []struct {
		verb Verb
		want string
	}{
		{VerbDeploy, "usage: deploy [repo][@ref] [to] ENV\n" +
			"       deploy ENV #N\n" +
			"  e.g. deploy staging\n" +
			"       deploy api@v1.2 to production\n" +
			"       deploy @abc1234 staging\n" +
			"       deploy production #41"},
		{VerbQueue, "usage: queue\n  e.g. queue"},
		{VerbPool, "usage: pool [NAME]\n" +
			"       pool release RESOURCE  (admins only)\n" +
			"  e.g. pool\n" +
			"       pool mysql\n" +
			"       pool release mysql-2"},
		{"nope", HelpText("")},
	}
	for _, tc := range cases {
		if got := Usage(tc.verb); got != tc.want {
			t.Errorf("Usage(%q) =\n%s\nwant\n%s", tc.verb, got, tc.want)
		}
	}
}

func TestHelpText(t *testing.T) {
	overview := HelpText("")
	lines := strings.Split(overview, "\n")
	if len(lines) != len(Verbs())+1 {
		t.Fatalf("HelpText(\"\") has %d lines, want a heading and one per form (%d):\n%s", len(lines), len(Verbs()), overview)
	}
	for i, s := range Verbs() {
		line := lines[i+1]
		if !strings.HasPrefix(line, "  "+s.form()+"  ") || !strings.HasSuffix(line, s.summary()) {
			t.Errorf("overview line %d = %q, want form %q and summary %q", i+1, line, s.form(), s.summary())
		}
	}
	// The summaries start in one column.
	col := strings.Index(lines[1], Verbs()[0].Summary)
	for i, s := range Verbs() {
		if got := strings.Index(lines[i+1], s.Summary); got != col {
			t.Errorf("summary of %q starts at byte %d, want %d", s.form(), got, col)
		}
	}

	cases := []struct {
		topic string
		want  string
	}{
		{"  ", overview},
		{"deploy", deployHelp + Usage(VerbDeploy)},
		{" DEPLOY ", deployHelp + Usage(VerbDeploy)},
		{"pool", "pool: who holds which shared test resource, and since when\n" +
			"pool release: free a stuck lease (admins only)\n" + Usage(VerbPool)},
		{"deplyo", "There is no command “deplyo”. Did you mean “deploy”?\n" + Usage(VerbDeploy)},
		{"frobnicate", "There is no command “frobnicate”.\n" + overview},
	}
	for _, tc := range cases {
		if got := HelpText(tc.topic); got != tc.want {
			t.Errorf("HelpText(%q) =\n%s\nwant\n%s", tc.topic, got, tc.want)
		}
	}
}

func TestSuggestVerb(t *testing.T) {
	cases := []struct {
		word string
		want Verb // "" = no suggestion
	}{
		{"biuld", VerbBuild},   // swap
		{"buidl", VerbBuild},   // swap
		{"buil", VerbBuild},    // deletion
		{"builds", VerbBuild},  // insertion
		{"bxild", VerbBuild},   // substitution
		{"BUILD", VerbBuild},   // case
		{"deplyo", VerbDeploy}, // swap at the end
		{"log", VerbLogs},
		{"stauts", VerbStatus},
		{"que", VerbQueue},
		{"cancle", VerbCancel},
		{"aprove", VerbApprove},
		{"rejcet", VerbReject},
		{"unlokc", VerbUnlock},
		{"auidt", VerbAudit},
		{"hlep", VerbHelp},
		{"appr", VerbApprove}, // only verb it begins
		{"dep", VerbDeploy},
		{"lo", VerbLogs},  // begins logs and lock; two edits from both, logs first
		{"hep", VerbHelp}, // one edit beats a two-edit match
		{"ok", VerbLock},  // two edits
		{"xq", ""},        // nothing near
		{"d", ""},         // too short to guess from
		{"frobnicate", ""},
		{"", ""},
		{strings.Repeat("x", 10000), ""},
	}
	for _, tc := range cases {
		got, ok := suggestVerb(tc.word)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("suggestVerb(%.20q) = %q, %v; want %q", tc.word, got, ok, tc.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"build", "build", 0},
		{"biuld", "build", 1},
		{"bild", "build", 1},
		{"bbuild", "build", 1},
		{"bulid", "build", 1},
		{"blid", "build", 2},
		{"xyz", "build", 3},         // limit+1
		{"b", "build", 3},           // lengths too far apart
		{"ça", "ca", 1},             // runes, not bytes
		{"deploy", "yolped", 3},     // limit+1
		{"abcdefgh", "bacdefhg", 2}, // two swaps
		{"approve", "apporve", 1},
	}
	for _, tc := range cases {
		if got := editDistance(tc.a, tc.b, 2); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func ExampleHelpText() {
	fmt.Println(HelpText(""))
	// Output:
	// gantry commands (“help COMMAND” shows examples; JOB is #42 or 42):
	//   build [repo][@ref]            queue a build; default: this channel's repo at its default branch
	//   deploy [repo][@ref] [to] ENV  queue a deploy to ENV (the last word), waiting for approval where ENV requires it
	//   deploy ENV #N                 deploy again what deploy #N (to ENV, succeeded) deployed, through the same approval
	//   rollback ENV [to #N]          deploy again the last good deploy to ENV before the current one (or #N), through the same approval
	//   run PIPELINE [repo][@ref]     run a named pipeline of .gantry.yml (e.g. nightly); default: this channel's repo at its default branch
	//   logs [JOB] [--tail N]         the last N lines of a job's log (default 30) and the whole log; JOB defaults to your latest
	//   status [JOB|ENV]              one job, or an environment: its lock and last deploys with how they went
	//   envs                          every environment: what is deployed there, its lock, who may deploy and approve, what waits
	//   queue                         what is queued and running
	//   cancel JOB                    stop a job, and its ECS task
	//   preview JOB [for 4h]          serve a build's app at /preview/N/ (its pipeline needs preview: in .gantry.yml): a running preview gets the time given, a finished build is built again and kept; default previews.ttl
	//   stop JOB                      stop a build's preview (the requester, deployers, admins)
	//   retry JOB                     queue a job again, as your request
	//   approve JOB                   approve a deploy that waits for approval
	//   reject JOB [why]              reject a deploy that waits for approval
	//   pool [NAME]                   who holds which shared test resource, and since when
	//   pool release RESOURCE         free a stuck lease (admins only)
	//   lock ENV [for 2h] [why]       hold an environment so no one else deploys to it; it lapses after the time given, else its lock_ttl (8h)
	//   unlock ENV                    release your hold on an environment
	//   unlock ENV --force            release someone else's hold (they are told) (admins only)
	//   audit [ENV]                   who requested, approved, rejected, locked and released what, and when
	//   schedules                     each schedule of the server config, its next run and how its last went
	//   help [COMMAND]                this list, or how to use one command
}

func ExampleParse() {
	for _, text := range []string{
		"<@U0BOT> deploy api@v1.2 to production",
		"logs #42 --tail 100",
		"reject #42 the migration &amp; its rollback are not reviewed",
		"biuld api",
		"",
	} {
		r := Parse(text)
		switch {
		case r.Ignore:
			fmt.Println("ignored")
		case r.Command != nil:
			fmt.Printf("%+v\n", *r.Command)
		default:
			fmt.Println(r.Reply)
		}
	}
	// Output:
	// {Verb:deploy Repo:api Ref:v1.2 Env:production Job:0 Tail:0 Reason: Target: Sub: Pipeline: After:0 Branch: For:0s Force:false}
	// {Verb:logs Repo: Ref: Env: Job:42 Tail:100 Reason: Target: Sub: Pipeline: After:0 Branch: For:0s Force:false}
	// {Verb:reject Repo: Ref: Env: Job:42 Tail:0 Reason:the migration & its rollback are not reviewed Target: Sub: Pipeline: After:0 Branch: For:0s Force:false}
	// I don't know “biuld”. Did you mean “build”?
	// usage: build [repo][@ref]
	//   e.g. build
	//        build api
	//        build api@feature-x
	//        build @main
	// ignored
}
