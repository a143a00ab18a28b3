// Package commands is gantry's chat language: it turns what a person types
// (a slash command, a mention, a console line) into a typed Command, gives
// help and usage text, and holds the handlers that act on jobs and pools.
//
// Parsing is pure: no I/O, no Slack types, no Redis.
package commands

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gantry-ci/gantry/spec"
)

// Command is one understood request. Words that were not given are zero.
type Command struct {
	Verb Verb
	// Repo is "" for the channel's default repo. Otherwise a configured name
	// or, when IsPathLike, a local path that only the console may accept:
	// the caller decides.
	Repo string
	Ref  string // "" for the default ref
	// Env is the environment of deploy, lock, unlock and audit, and of
	// status when its word could be an environment name (the handler decides
	// whether one by that name exists).
	Env string
	// Job is the job number of logs, status, cancel, retry, approve and
	// reject, and of "deploy ENV #N" and "rollback ENV to #N" (the deploy
	// whose commit goes out again); 0: not given.
	Job int64
	// Tail is the number of lines logs shows: 30 unless --tail N (1 to 1000)
	// was given. 0 for other verbs.
	Tail int
	// Reason is the free text of reject and lock: as typed (line breaks
	// kept), trimmed, with Slack's &amp; &lt; &gt; decoded and its links
	// reduced to their labels; at most 500 characters. Plain text: a
	// front end must escape it for its own markup.
	Reason string
	// Target is the pool of "pool NAME", the resource of "pool release
	// RESOURCE", the verb of "help VERB", or the word of "status WORD" when
	// it is neither a job number nor an environment name (a repo name or
	// path).
	Target string
	Sub    string // "release" for "pool release RESOURCE"
	// Pipeline is the pipeline of "run PIPELINE": a name checked by
	// ValidPipelineName, which the repo's .gantry.yml must define.
	Pipeline string
	// After is the build a deploy follows (push to deploy); never typed.
	After int64
	// Branch is the branch a Ref that is a pushed SHA was pushed to, shown
	// as the job's ref (push to deploy, rollback); never typed.
	Branch string
	// For is how long "lock ENV for 2h" holds the lock; 0: the
	// environment's lock_ttl.
	For time.Duration
	// Force is "unlock ENV --force": free another's lock (admins).
	Force bool
}

// Result is the outcome of Parse: exactly one of its fields is set.
type Result struct {
	Command *Command // the request was understood
	// Reply is plain text to send back instead: what is wrong, the usage, or
	// a did-you-mean. It may quote the person's words; a front end must
	// escape it for its own markup.
	Reply  string
	Ignore bool // nothing was said to gantry (empty text, a bare mention)
}

// Sub-command words.
const subRelease = "release"

// Parse reads one command. The text may be a slash command's text, a
// message mentioning gantry (leading <@U…> mentions and a leading "gantry",
// "/gantry" or "@gantry" are dropped) or a console line. Verbs are case
// insensitive; words are separated by any run of white space; Slack links
// (<http://x|label>) are reduced to their labels and channel links
// (<#C…|name>) to #name.
func Parse(text string) Result {
	text = stripAddressee(cleanText(text))
	words := splitWords(text)
	if len(words) == 0 {
		return Result{Ignore: true}
	}
	v, ok := lookupVerb(strings.ToLower(words[0].s))
	if !ok {
		return Result{Reply: unknownVerbReply(words[0].s)}
	}
	cmd, err := parseArgs(args{verb: v, text: text, words: words[1:]})
	if err != nil {
		return Result{Reply: err.Error()}
	}
	return Result{Command: cmd}
}

// word is one word of the text and where it starts in it.
type word struct {
	s     string
	start int
}

// args are the words after the verb.
type args struct {
	verb  Verb
	text  string // the whole cleaned text, which words index
	words []word
}

func parseArgs(a args) (*Command, error) {
	switch a.verb {
	case VerbBuild:
		return parseBuild(a)
	case VerbDeploy:
		return parseDeploy(a)
	case VerbRollback:
		return parseRollback(a)
	case VerbRun:
		return parseRun(a)
	case VerbLogs:
		return parseLogs(a)
	case VerbStatus:
		return parseStatus(a)
	case VerbCancel, VerbRetry, VerbApprove, VerbStop:
		return parseJobOnly(a)
	case VerbPreview:
		return parsePreview(a)
	case VerbReject:
		return parseReject(a)
	case VerbPool:
		return parsePool(a)
	case VerbLock:
		return parseLock(a)
	case VerbUnlock:
		return parseUnlock(a)
	case VerbAudit:
		return parseAudit(a)
	case VerbHelp:
		return parseHelp(a)
	case VerbQueue, VerbSchedules, VerbEnvs:
		if err := a.atMost(0); err != nil {
			return nil, err
		}
		return &Command{Verb: a.verb}, nil
	}
	// Every verb of the table has a case above (the tests parse an example
	// of each), so this is a bug in gantry, not bad input.
	return nil, fmt.Errorf("gantry knows “%s” but has no parser for it: this is a bug.", a.verb)
}

// usageError says what is missing or extra, then the verb's usage.
func (a args) usageError(why string) error {
	return errors.New(why + "\n" + Usage(a.verb))
}

// atMost fails when there are more than n words, or when a word of those n
// looks like an option (gantry's verbs other than logs take none).
func (a args) atMost(n int) error {
	for _, w := range a.words[:min(n, len(a.words))] {
		if isOption(w.s) {
			return a.optionError(w.s)
		}
	}
	if len(a.words) <= n {
		return nil
	}
	extra := a.words[n:]
	text := a.text[extra[0].start:]
	return a.usageError(fmt.Sprintf("Too many words for “%s”: %s.", a.verb, quoteWord(text)))
}

// optionError refuses an option to a verb that takes none.
func (a args) optionError(w string) error {
	return a.usageError(fmt.Sprintf("“%s” has no option %s.", a.verb, quoteWord(w)))
}

// rest is the text from word i to the end, trimmed: the free-text reason.
func (a args) rest(i int) (string, error) {
	if i >= len(a.words) {
		return "", nil
	}
	reason := strings.TrimSpace(slackUnescape(a.text[a.words[i].start:]))
	if err := validReason(reason); err != nil {
		return "", err
	}
	return reason, nil
}

func parseBuild(a args) (*Command, error) {
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	cmd := &Command{Verb: VerbBuild}
	if len(a.words) == 1 {
		var err error
		if cmd.Repo, cmd.Ref, err = parseRepoRef(a.words[0].s); err != nil {
			return nil, err
		}
	}
	return cmd, nil
}

// parseRun reads "run PIPELINE [repo][@ref]".
func parseRun(a args) (*Command, error) {
	if len(a.words) == 0 {
		return nil, a.usageError("“run” needs the name of a pipeline of .gantry.yml.")
	}
	if err := a.atMost(2); err != nil {
		return nil, err
	}
	name := a.words[0].s
	if err := ValidPipelineName(name); err != nil {
		return nil, err
	}
	cmd := &Command{Verb: VerbRun, Pipeline: name}
	if len(a.words) == 2 {
		var err error
		if cmd.Repo, cmd.Ref, err = parseRepoRef(a.words[1].s); err != nil {
			return nil, err
		}
	}
	return cmd, nil
}

// parseDeploy reads "deploy [repo][@ref] [to] ENV": the last word is always
// the environment; and "deploy ENV #N", which deploys again what job #N
// deployed.
func parseDeploy(a args) (*Command, error) {
	n := len(a.words)
	if n == 2 && strings.HasPrefix(a.words[1].s, "#") {
		return parseRedeploy(a)
	}
	if n == 0 || strings.EqualFold(a.words[n-1].s, "to") {
		return nil, a.usageError("“deploy” needs an environment, as its last word.")
	}
	head := a.words[:n-1]
	if len(head) > 0 && strings.EqualFold(head[len(head)-1].s, "to") {
		head = head[:len(head)-1]
	}
	if len(head) > 1 {
		last := head[len(head)-1]
		extra := a.text[head[1].start : last.start+len(last.s)]
		return nil, a.usageError(fmt.Sprintf("Too many words for “deploy”: %s.", quoteWord(extra)))
	}
	if err := a.atMost(n); err != nil { // only to refuse options
		return nil, err
	}
	env := a.words[n-1].s
	if err := ValidEnvName(env); err != nil {
		if len(head) == 1 && ValidEnvName(head[0].s) == nil {
			if _, _, rerr := parseRepoRef(env); rerr == nil {
				// "deploy staging api": the words the other way round.
				return nil, fmt.Errorf("%v; the environment comes last: `deploy %s %s`", err, env, head[0].s)
			}
		}
		return nil, err
	}
	cmd := &Command{Verb: VerbDeploy, Env: env}
	if len(head) == 1 {
		var err error
		if cmd.Repo, cmd.Ref, err = parseRepoRef(head[0].s); err != nil {
			return nil, err
		}
	}
	return cmd, nil
}

// parseRedeploy reads "deploy ENV #N".
func parseRedeploy(a args) (*Command, error) {
	env := a.words[0].s
	if isOption(env) {
		return nil, a.optionError(env)
	}
	if err := ValidEnvName(env); err != nil {
		return nil, err
	}
	n, err := parseJobWord(a.words[1].s)
	if err != nil {
		return nil, err
	}
	return &Command{Verb: VerbDeploy, Env: env, Job: n}, nil
}

// parseRollback reads "rollback ENV [to #N]" ("to" may be left out).
func parseRollback(a args) (*Command, error) {
	if len(a.words) == 0 {
		return nil, a.usageError("“rollback” needs an environment.")
	}
	words := a.words
	if len(words) == 3 && strings.EqualFold(words[1].s, "to") {
		words = []word{words[0], words[2]}
	}
	if len(words) > 2 {
		return nil, a.usageError(fmt.Sprintf("Too many words for “rollback”: %s.", quoteWord(a.text[a.words[1].start:])))
	}
	for _, w := range words {
		if isOption(w.s) {
			return nil, a.optionError(w.s)
		}
	}
	env := words[0].s
	if err := ValidEnvName(env); err != nil {
		return nil, err
	}
	cmd := &Command{Verb: VerbRollback, Env: env}
	if len(words) == 2 {
		if strings.EqualFold(words[1].s, "to") {
			return nil, a.usageError("“rollback ENV to” needs the job whose deploy to go back to, e.g. #41.")
		}
		n, err := parseJobWord(words[1].s)
		if err != nil {
			return nil, err
		}
		cmd.Job = n
	}
	return cmd, nil
}

// parseRepoRef splits "repo@ref", "repo" or "@ref" and checks both halves.
func parseRepoRef(s string) (repo, ref string, err error) {
	repo, ref, hasAt := strings.Cut(s, "@")
	if hasAt && ref == "" {
		return "", "", fmt.Errorf("%s has no ref after “@”: write repo@ref, or @ref for this channel's repo", quoteWord(s))
	}
	if repo != "" {
		if err := ValidRepoName(repo); err != nil {
			return "", "", err
		}
	}
	if ref != "" {
		if err := ValidRef(ref); err != nil {
			return "", "", err
		}
	}
	return repo, ref, nil
}

// parseLogs reads "logs [JOB] [--tail N]", the two in either order; --tail
// may also be written --tail=N, or with the dash a phone or a Mac makes of
// "--".
func parseLogs(a args) (*Command, error) {
	cmd := &Command{Verb: VerbLogs}
	tailSet := false
	for i := 0; i < len(a.words); i++ {
		w := a.words[i].s
		if isOption(w) {
			name, value, hasValue := strings.Cut(w, "=")
			if normalizeOption(name) != "--tail" {
				return nil, a.optionError(name)
			}
			if tailSet {
				return nil, a.usageError("--tail is given twice.")
			}
			if !hasValue {
				if i+1 == len(a.words) {
					return nil, a.usageError("--tail needs a number of lines.")
				}
				i++
				value = a.words[i].s
			}
			n, err := parseTailCount(value)
			if err != nil {
				return nil, err
			}
			cmd.Tail, tailSet = n, true
			continue
		}
		if cmd.Job != 0 {
			return nil, a.usageError(fmt.Sprintf("Too many words for “logs”: %s.", quoteWord(a.text[a.words[i].start:])))
		}
		n, err := parseJobWord(w)
		if err != nil {
			return nil, err
		}
		cmd.Job = n
	}
	if !tailSet {
		cmd.Tail = defaultTail
	}
	return cmd, nil
}

// isOption reports whether a word is meant as an option: it starts with "-",
// or with the en or em dash that autocorrect makes of "--".
func isOption(w string) bool {
	return strings.HasPrefix(w, "-") || strings.HasPrefix(w, "–") || strings.HasPrefix(w, "—")
}

// normalizeOption lowercases an option's name and writes its dashes as "--".
func normalizeOption(name string) string {
	name = strings.ToLower(name)
	for _, dash := range []string{"—", "–"} {
		if rest, ok := strings.CutPrefix(name, dash); ok {
			return "--" + strings.TrimLeft(rest, "-")
		}
	}
	return name
}

// parseStatus reads "status [JOB|ENV]": a job number is a job, a word that
// could be an environment name is Env, and any other repo name or path is
// Target.
func parseStatus(a args) (*Command, error) {
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	cmd := &Command{Verb: VerbStatus}
	if len(a.words) == 0 {
		return cmd, nil
	}
	w := a.words[0].s
	switch {
	case isJobWord(w):
		n, err := parseJobWord(w)
		if err != nil {
			return nil, err
		}
		cmd.Job = n
	case ValidEnvName(w) == nil:
		cmd.Env = w
	case ValidRepoName(w) == nil:
		cmd.Target = w
	default:
		return nil, a.usageError(fmt.Sprintf("%s is not a job number, an environment or a repo.", quoteWord(w)))
	}
	return cmd, nil
}

// parseJobOnly reads "cancel JOB", "retry JOB" and "approve JOB".
func parseJobOnly(a args) (*Command, error) {
	if len(a.words) == 0 {
		return nil, a.usageError(fmt.Sprintf("“%s” needs a job number.", a.verb))
	}
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	n, err := parseJobWord(a.words[0].s)
	if err != nil {
		return nil, err
	}
	return &Command{Verb: a.verb, Job: n}, nil
}

// parseReject reads "reject JOB [why...]".
func parseReject(a args) (*Command, error) {
	if len(a.words) == 0 {
		return nil, a.usageError("“reject” needs a job number.")
	}
	if isOption(a.words[0].s) {
		return nil, a.optionError(a.words[0].s)
	}
	n, err := parseJobWord(a.words[0].s)
	if err != nil {
		return nil, err
	}
	reason, err := a.rest(1)
	if err != nil {
		return nil, err
	}
	return &Command{Verb: VerbReject, Job: n, Reason: reason}, nil
}

// parseLock reads "lock ENV [for DURATION] [why...]".
func parseLock(a args) (*Command, error) {
	if len(a.words) == 0 {
		return nil, a.usageError("“lock” needs an environment.")
	}
	if isOption(a.words[0].s) {
		return nil, a.optionError(a.words[0].s)
	}
	env := a.words[0].s
	if err := ValidEnvName(env); err != nil {
		return nil, err
	}
	cmd := &Command{Verb: VerbLock, Env: env}
	from := 1
	if len(a.words) >= 3 && strings.EqualFold(a.words[1].s, "for") && looksLikeDuration(a.words[2].s) {
		d, err := parseLockFor(a.words[2].s)
		if err != nil {
			return nil, err
		}
		cmd.For, from = d, 3
	}
	var err error
	if cmd.Reason, err = a.rest(from); err != nil {
		return nil, err
	}
	return cmd, nil
}

// parsePreview reads "preview JOB [for 4h]".
func parsePreview(a args) (*Command, error) {
	if len(a.words) == 0 {
		return nil, a.usageError("“preview” needs a job number.")
	}
	if len(a.words) == 2 || len(a.words) > 3 {
		if err := a.atMost(1); err != nil {
			return nil, err
		}
	}
	if err := a.atMost(3); err != nil {
		return nil, err
	}
	n, err := parseJobWord(a.words[0].s)
	if err != nil {
		return nil, err
	}
	cmd := &Command{Verb: VerbPreview, Job: n}
	if len(a.words) == 3 {
		if !strings.EqualFold(a.words[1].s, "for") || !looksLikeDuration(a.words[2].s) {
			return nil, a.usageError(fmt.Sprintf("“preview” takes a job number and “for” a time, e.g. “for 4h”, not %s.", quoteWord(a.text[a.words[1].start:])))
		}
		if cmd.For, err = parseSpan(a.words[2].s, spec.MaxPreviewTTL, "a preview may run", "a preview runs"); err != nil {
			return nil, err
		}
	}
	return cmd, nil
}

// looksLikeDuration reports whether a word is meant as a time span:
// digits, then one unit letter (30m, 2h, 1d).
func looksLikeDuration(w string) bool {
	if len(w) < 2 || !strings.ContainsRune("smhd", rune(w[len(w)-1])) {
		return false
	}
	return allDigits(w[:len(w)-1])
}

// parseLockFor reads the span of "lock ENV for 2h": a whole number of
// seconds, minutes, hours or days, more than zero and at most
// spec.MaxLockTTL.
func parseLockFor(w string) (time.Duration, error) {
	return parseSpan(w, spec.MaxLockTTL, "a lock may stand", "a lock stands")
}

// parseSpan reads a span such as 2h: a whole number of seconds, minutes,
// hours or days, more than zero and at most max; may and is name the
// thing that lasts, in messages ("a lock may stand", "a lock stands").
func parseSpan(w string, max time.Duration, may, is string) (time.Duration, error) {
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[w[len(w)-1]]
	n, err := strconv.ParseInt(w[:len(w)-1], 10, 64)
	switch {
	case err != nil || n > int64(max/unit):
		return 0, fmt.Errorf("%s is longer than %s: at most %s", quoteWord(w), may, spec.FormatDays(max))
	case n == 0:
		return 0, fmt.Errorf("%s is no time at all: %s for e.g. 30m, 2h or 1d", quoteWord(w), is)
	}
	return time.Duration(n) * unit, nil
}

// parseUnlock reads "unlock ENV [--force]".
func parseUnlock(a args) (*Command, error) {
	cmd := &Command{Verb: VerbUnlock}
	for i, w := range a.words {
		if isOption(w.s) {
			if normalizeOption(w.s) != "--force" {
				return nil, a.optionError(w.s)
			}
			if cmd.Force {
				return nil, a.usageError("--force is given twice.")
			}
			cmd.Force = true
			continue
		}
		if cmd.Env != "" {
			return nil, a.usageError(fmt.Sprintf("Too many words for “unlock”: %s.", quoteWord(a.text[a.words[i].start:])))
		}
		if err := ValidEnvName(w.s); err != nil {
			return nil, err
		}
		cmd.Env = w.s
	}
	if cmd.Env == "" {
		return nil, a.usageError("“unlock” needs an environment.")
	}
	return cmd, nil
}

// parsePool reads "pool", "pool NAME" and "pool release RESOURCE".
func parsePool(a args) (*Command, error) {
	release := len(a.words) > 0 && strings.EqualFold(a.words[0].s, subRelease)
	if !release {
		if err := a.atMost(1); err != nil {
			return nil, err
		}
		cmd := &Command{Verb: VerbPool}
		if len(a.words) == 1 {
			if err := ValidPoolName(a.words[0].s); err != nil {
				return nil, err
			}
			cmd.Target = a.words[0].s
		}
		return cmd, nil
	}
	if len(a.words) == 1 {
		return nil, a.usageError("“pool release” needs the resource to free.")
	}
	if err := a.atMost(2); err != nil {
		return nil, err
	}
	resource := a.words[1].s
	if err := ValidResourceName(resource); err != nil {
		return nil, err
	}
	return &Command{Verb: VerbPool, Sub: subRelease, Target: resource}, nil
}

// parseAudit reads "audit [ENV]".
func parseAudit(a args) (*Command, error) {
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	cmd := &Command{Verb: VerbAudit}
	if len(a.words) == 1 {
		if err := ValidEnvName(a.words[0].s); err != nil {
			return nil, err
		}
		cmd.Env = a.words[0].s
	}
	return cmd, nil
}

// parseHelp reads "help [COMMAND]". A topic that is not a verb is answered
// at once with HelpText's did-you-mean.
func parseHelp(a args) (*Command, error) {
	if err := a.atMost(1); err != nil {
		return nil, err
	}
	cmd := &Command{Verb: VerbHelp}
	if len(a.words) == 1 {
		v, ok := lookupVerb(strings.ToLower(a.words[0].s))
		if !ok {
			return nil, errors.New(HelpText(a.words[0].s))
		}
		cmd.Target = string(v)
	}
	return cmd, nil
}

// cleanText drops what Slack or a paste adds around the words: Windows line
// ends, zero-width spaces and byte order marks, and the <url|label> and
// <#C…|name> link markup.
func cleanText(s string) string {
	s = strings.NewReplacer("\r\n", "\n", "\u200b", "", "\ufeff", "").Replace(s)
	return strings.TrimSpace(unwrapSlackLinks(s))
}

// unwrapSlackLinks replaces Slack's <url|label> and <url> with the label or
// the URL, and <#C…|name> with #name. Mentions (<@U…>, <!here>) stay.
func unwrapSlackLinks(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		// Markup holds no '<', so a '<' before the next '>' starts afresh:
		// each byte is looked at a bounded number of times.
		j := strings.IndexAny(s[i+1:], "<>")
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		inner := s[i+1 : i+1+j]
		label, ok := "", false
		if s[i+1+j] == '>' {
			label, ok = slackLinkLabel(inner)
		}
		if !ok {
			// Not a link: keep the text up to the next '<' and go on from it.
			b.WriteString(s[:i+1+j])
			s = s[i+1+j:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(label)
		s = s[i+1+j+1:]
	}
}

func slackLinkLabel(inner string) (string, bool) {
	target, label, hasLabel := strings.Cut(inner, "|")
	if strings.HasPrefix(target, "#") {
		if !hasLabel || label == "" {
			return "", false
		}
		return "#" + label, true
	}
	if !hasURLScheme(target) {
		return "", false
	}
	if hasLabel && label != "" {
		return label, true
	}
	return target, true
}

// hasURLScheme reports whether s starts with a URL scheme and ':', like
// "https:" or "mailto:".
func hasURLScheme(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || scheme == "" {
		return false
	}
	for i, r := range scheme {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if i == 0 && !letter || !letter && !(r >= '0' && r <= '9') && r != '+' && r != '-' && r != '.' {
			return false
		}
	}
	return true
}

// stripAddressee drops the leading mentions of a message (<@U0BOT>, with a
// ':' or ',' after it) and a leading "gantry", "/gantry" or "@gantry" word.
func stripAddressee(s string) string {
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		if !strings.HasPrefix(s, "<@") {
			break
		}
		end := strings.IndexByte(s, '>')
		if end < 0 || strings.IndexFunc(s[:end], unicode.IsSpace) >= 0 {
			break
		}
		s = strings.TrimLeft(s[end+1:], ":,")
	}
	first := s
	rest := ""
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		first, rest = s[:i], s[i:]
	}
	switch strings.ToLower(strings.TrimRight(first, ":,")) {
	case "gantry", "/gantry", "@gantry":
		return strings.TrimSpace(rest)
	}
	return s
}

// splitWords splits s at runs of white space, remembering where each word
// starts.
func splitWords(s string) []word {
	var words []word
	start := -1
	for i, r := range s {
		switch {
		case unicode.IsSpace(r) && start >= 0:
			words = append(words, word{s: s[start:i], start: start})
			start = -1
		case !unicode.IsSpace(r) && start < 0:
			start = i
		}
	}
	if start >= 0 {
		words = append(words, word{s: s[start:], start: start})
	}
	return words
}

// slackUnescape decodes the three entities Slack writes for &, < and >.
func slackUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(s)
}
