package commands

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Verb names what a command does. Its value is the word people type.
type Verb string

// The verbs of the chat language, in the order help lists them.
const (
	VerbBuild     Verb = "build"
	VerbDeploy    Verb = "deploy"
	VerbRollback  Verb = "rollback"
	VerbRun       Verb = "run"
	VerbLogs      Verb = "logs"
	VerbStatus    Verb = "status"
	VerbEnvs      Verb = "envs"
	VerbQueue     Verb = "queue"
	VerbCancel    Verb = "cancel"
	VerbRetry     Verb = "retry"
	VerbApprove   Verb = "approve"
	VerbReject    Verb = "reject"
	VerbPool      Verb = "pool"
	VerbLock      Verb = "lock"
	VerbUnlock    Verb = "unlock"
	VerbAudit     Verb = "audit"
	VerbHelp      Verb = "help"
	VerbSchedules Verb = "schedules"
	VerbPreview   Verb = "preview"
	VerbStop      Verb = "stop"
)

// VerbSpec describes one form of a command for help and usage text.
type VerbSpec struct {
	Verb     Verb
	Args     string   // the words after the verb, e.g. "[repo][@ref] [to] ENV"
	Summary  string   // what it does, in a few words
	Examples []string // complete commands that Parse understands
	Admin    bool     // only admins may use this form
}

// Verbs returns the table of command forms that help text and usage are made
// from, in the order help lists them. A verb may have more than one form:
// "pool [NAME]" for everyone and "pool release RESOURCE" for admins. The
// slice is the caller's own.
func Verbs() []VerbSpec {
	return []VerbSpec{
		{Verb: VerbBuild, Args: "[repo][@ref]",
			Summary:  "queue a build; default: this channel's repo at its default branch",
			Examples: []string{"build", "build api", "build api@feature-x", "build @main"}},
		{Verb: VerbDeploy, Args: "[repo][@ref] [to] ENV",
			Summary:  "queue a deploy to ENV (the last word), waiting for approval where ENV requires it",
			Examples: []string{"deploy staging", "deploy api@v1.2 to production", "deploy @abc1234 staging"}},
		{Verb: VerbDeploy, Args: "ENV #N",
			Summary:  "deploy again what deploy #N (to ENV, succeeded) deployed, through the same approval",
			Examples: []string{"deploy production #41"}},
		{Verb: VerbRollback, Args: "ENV [to #N]",
			Summary:  "deploy again the last good deploy to ENV before the current one (or #N), through the same approval",
			Examples: []string{"rollback production", "rollback production to #41"}},
		{Verb: VerbRun, Args: "PIPELINE [repo][@ref]",
			Summary:  "run a named pipeline of .gantry.yml (e.g. nightly); default: this channel's repo at its default branch",
			Examples: []string{"run nightly", "run nightly api", "run release api@v1.2"}},
		{Verb: VerbLogs, Args: "[JOB] [--tail N]",
			Summary:  "the last N lines of a job's log (default 30) and the whole log; JOB defaults to your latest",
			Examples: []string{"logs", "logs #42", "logs #42 --tail 200"}},
		{Verb: VerbStatus, Args: "[JOB|ENV]",
			Summary:  "one job, or an environment: its lock and last deploys with how they went",
			Examples: []string{"status #42", "status production"}},
		{Verb: VerbEnvs, Args: "",
			Summary:  "every environment: what is deployed there, its lock, who may deploy and approve, what waits",
			Examples: []string{"envs"}},
		{Verb: VerbQueue, Args: "",
			Summary:  "what is queued and running",
			Examples: []string{"queue"}},
		{Verb: VerbCancel, Args: "JOB",
			Summary:  "stop a job, and its ECS task",
			Examples: []string{"cancel #42"}},
		{Verb: VerbPreview, Args: "JOB [for 4h]",
			Summary:  "serve a build's app at /preview/N/ (its pipeline needs preview: in .gantry.yml): a running preview gets the time given, a finished build is built again and kept; default previews.ttl",
			Examples: []string{"preview #42", "preview #42 for 2h"}},
		{Verb: VerbStop, Args: "JOB",
			Summary:  "stop a build's preview (the requester, deployers, admins)",
			Examples: []string{"stop #42"}},
		{Verb: VerbRetry, Args: "JOB",
			Summary:  "queue a job again, as your request",
			Examples: []string{"retry #42"}},
		{Verb: VerbApprove, Args: "JOB",
			Summary:  "approve a deploy that waits for approval",
			Examples: []string{"approve #42"}},
		{Verb: VerbReject, Args: "JOB [why]",
			Summary:  "reject a deploy that waits for approval",
			Examples: []string{"reject #42", "reject #42 the migration is not reviewed"}},
		{Verb: VerbPool, Args: "[NAME]",
			Summary:  "who holds which shared test resource, and since when",
			Examples: []string{"pool", "pool mysql"}},
		{Verb: VerbPool, Args: "release RESOURCE", Admin: true,
			Summary:  "free a stuck lease",
			Examples: []string{"pool release mysql-2"}},
		{Verb: VerbLock, Args: "ENV [for 2h] [why]",
			Summary:  "hold an environment so no one else deploys to it; it lapses after the time given, else its lock_ttl (8h)",
			Examples: []string{"lock production release freeze until Monday", "lock staging for 2h load test"}},
		{Verb: VerbUnlock, Args: "ENV",
			Summary:  "release your hold on an environment",
			Examples: []string{"unlock production"}},
		{Verb: VerbUnlock, Args: "ENV --force", Admin: true,
			Summary:  "release someone else's hold (they are told)",
			Examples: []string{"unlock production --force"}},
		{Verb: VerbAudit, Args: "[ENV]",
			Summary:  "who requested, approved, rejected, locked and released what, and when",
			Examples: []string{"audit", "audit production"}},
		{Verb: VerbSchedules, Args: "",
			Summary:  "each schedule of the server config, its next run and how its last went",
			Examples: []string{"schedules"}},
		{Verb: VerbHelp, Args: "[COMMAND]",
			Summary:  "this list, or how to use one command",
			Examples: []string{"help", "help deploy"}},
	}
}

// lookupVerb finds the verb a lowercase word names.
func lookupVerb(word string) (Verb, bool) {
	for _, s := range Verbs() {
		if string(s.Verb) == word {
			return s.Verb, true
		}
	}
	return "", false
}

// verbNames lists each verb once, in table order.
func verbNames() []Verb {
	var vs []Verb
	for _, s := range Verbs() {
		if len(vs) == 0 || vs[len(vs)-1] != s.Verb {
			vs = append(vs, s.Verb)
		}
	}
	return vs
}

// form is the verb and its arguments: "deploy [repo][@ref] [to] ENV".
func (s VerbSpec) form() string {
	return strings.TrimSpace(string(s.Verb) + " " + s.Args)
}

// summary is what the form does, with who may use it when that is limited.
func (s VerbSpec) summary() string {
	if s.Admin {
		return s.Summary + " (admins only)"
	}
	return s.Summary
}

// Usage returns the forms and examples of a verb:
//
//	usage: deploy [repo][@ref] [to] ENV
//	  e.g. deploy staging
//	       deploy api@v1.2 to production
//
// For a word that is not a verb it returns the list of all commands.
func Usage(v Verb) string {
	var b strings.Builder
	var examples []string
	for _, s := range Verbs() {
		if s.Verb != v {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("usage: ")
		} else {
			b.WriteString("\n       ")
		}
		b.WriteString(s.form())
		if s.Admin {
			b.WriteString("  (admins only)")
		}
		examples = append(examples, s.Examples...)
	}
	if b.Len() == 0 {
		return HelpText("")
	}
	for i, e := range examples {
		if i == 0 {
			b.WriteString("\n  e.g. ")
		} else {
			b.WriteString("\n       ")
		}
		b.WriteString(e)
	}
	return b.String()
}

// HelpText answers "help TOPIC". With no topic it lists every command form on
// a line of its own; with a verb (any case) it gives what the verb does, its
// usage and examples; for any other word it suggests the nearest verb, or
// lists the commands when none is near. It is never empty.
func HelpText(topic string) string {
	topic = strings.TrimSpace(topic)
	if topic == "" {
		return helpOverview()
	}
	v, ok := lookupVerb(strings.ToLower(topic))
	if !ok {
		if near, ok := suggestVerb(topic); ok {
			return fmt.Sprintf("There is no command %s. Did you mean “%s”?\n%s", quoteWord(topic), near, Usage(near))
		}
		return fmt.Sprintf("There is no command %s.\n%s", quoteWord(topic), helpOverview())
	}
	var b strings.Builder
	for _, s := range Verbs() {
		if s.Verb != v {
			continue
		}
		name := string(s.Verb)
		if s.Admin {
			// Name the form by its fixed words: "pool release".
			name = strings.TrimSpace(name + " " + fixedWords(s.Args))
		}
		fmt.Fprintf(&b, "%s: %s\n", name, s.summary())
	}
	b.WriteString(Usage(v))
	return b.String()
}

// fixedWords returns the leading literal words of an Args string, the ones
// typed as they are ("release" of "release RESOURCE").
func fixedWords(args string) string {
	var fixed []string
	for _, w := range strings.Fields(args) {
		if strings.ToLower(w) != w || strings.ContainsAny(w, "[]|") {
			break
		}
		fixed = append(fixed, w)
	}
	return strings.Join(fixed, " ")
}

func helpOverview() string {
	specs := Verbs()
	width := 0
	for _, s := range specs {
		width = max(width, utf8.RuneCountInString(s.form()))
	}
	var b strings.Builder
	b.WriteString("gantry commands (“help COMMAND” shows examples; JOB is #42 or 42):")
	for _, s := range specs {
		f := s.form()
		fmt.Fprintf(&b, "\n  %s%s  %s", f, strings.Repeat(" ", width-utf8.RuneCountInString(f)), s.summary())
	}
	return b.String()
}

// unknownVerbReply answers a first word that is not a verb: the nearest verb
// and its usage, or the list of verbs. Never empty.
func unknownVerbReply(word string) string {
	if near, ok := suggestVerb(word); ok {
		return fmt.Sprintf("I don't know %s. Did you mean “%s”?\n%s", quoteWord(word), near, Usage(near))
	}
	names := verbNames()
	list := make([]string, len(names))
	for i, v := range names {
		list[i] = string(v)
	}
	return fmt.Sprintf("I don't know %s. I understand %s and %s; “help COMMAND” shows how to use one.",
		quoteWord(word), strings.Join(list[:len(list)-1], ", "), list[len(list)-1])
}

// suggestVerb finds the verb nearest a mistyped word: one edit away (an
// insertion, deletion, substitution, or swap of neighbours), else the only
// verb the word begins ("dep"), else two edits away. Ties go to the earlier
// verb in the table.
func suggestVerb(word string) (Verb, bool) {
	w := strings.ToLower(word)
	if v, ok := nearestVerb(w, 1); ok {
		return v, true
	}
	if utf8.RuneCountInString(w) >= 2 {
		var prefixOf []Verb
		for _, v := range verbNames() {
			if strings.HasPrefix(string(v), w) {
				prefixOf = append(prefixOf, v)
			}
		}
		if len(prefixOf) == 1 {
			return prefixOf[0], true
		}
	}
	return nearestVerb(w, 2)
}

// nearestVerb returns the verb closest to w within maxDist edits.
func nearestVerb(w string, maxDist int) (Verb, bool) {
	best, bestDist := Verb(""), maxDist+1
	for _, v := range verbNames() {
		if d := editDistance(w, string(v), maxDist); d < bestDist {
			best, bestDist = v, d
		}
	}
	return best, best != ""
}

// editDistance is the optimal string alignment distance between a and b, in
// runes: insertions, deletions, substitutions and swaps of adjacent runes.
// Anything above limit is reported as limit+1 without being worked out.
func editDistance(a, b string, limit int) int {
	if na, nb := utf8.RuneCountInString(a), utf8.RuneCountInString(b); na-nb > limit || nb-na > limit {
		return limit + 1
	}
	ra, rb := []rune(a), []rune(b)
	// d[i][j]: distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return min(d[len(ra)][len(rb)], limit+1)
}
