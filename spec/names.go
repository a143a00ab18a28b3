package spec

import (
	"path"
	"regexp"
	"strings"
)

var (
	// nameRE is the rule for pipeline, environment, pool, resource-pool and
	// service names.
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	// repoNameRE is the rule for repository names in the server config.
	repoNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// memberRE is the rule for the members of a pool: host names, host:port
	// and the like, with nothing a chat command could not carry as one word.
	memberRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$`)
	githubRE    = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$`)
	channelRE   = regexp.MustCompile(`^[CGD][A-Z0-9]{2,}$`)
	slackIDRE   = regexp.MustCompile(`^[UWS][A-Z0-9]{2,}$`)
	groupNameRE = regexp.MustCompile(`^S-[a-z0-9][a-z0-9._-]{0,79}$`)
	userNameRE  = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
	ecsSizeRE   = regexp.MustCompile(`^(?:[0-9]+|[0-9]+(?:\.[0-9]+)? ?(?i:vcpu|gb))$`)
)

const (
	nameRule     = "lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters"
	repoNameRule = "lower-case letters, digits, ., - and _, starting with a letter or digit, at most 63 characters"
	envNameRule  = "letters, digits and _, not starting with a digit"
	memberRule   = "letters, digits and . _ : / @ -, starting with a letter or digit, at most 128 characters"
	personRule   = `a Slack user ID (U… or W…) or @name, a user group ID (S…) or @handle (or S-handle), "*" for everyone, or a console user name`
)

// reservedEnvPrefix starts the names of the variables gantry sets for steps.
const reservedEnvPrefix = "GANTRY_"

// validPerson reports whether s names a person or group in the server config:
// "*" (everyone), a Slack user ID (U…, W…), a user group ID (S…) or a user
// group by its handle (S-releasers), a plain user name as the console uses,
// or @name: a Slack user or user group by name (see ResolveNames).
func validPerson(s string) bool {
	return s == "*" || slackIDRE.MatchString(s) || groupNameRE.MatchString(s) || userNameRE.MatchString(s) || isPersonName(s)
}

// validBranch reports whether s is a branch name git would accept (the rules
// of git check-ref-format, without its rarely used corners).
func validBranch(s string) bool {
	if s == "" || len(s) > 255 || s == "@" || s == "HEAD" ||
		strings.HasPrefix(s, "-") || strings.HasSuffix(s, ".") || strings.HasSuffix(s, ".lock") ||
		strings.Contains(s, "..") || strings.Contains(s, "@{") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) {
			return false
		}
	}
	for _, part := range strings.Split(s, "/") {
		if part == "" || strings.HasPrefix(part, ".") {
			return false
		}
	}
	return true
}

// validImage reports whether s can be a container image reference: this
// does not check the registry grammar, only that the string is one word.
func validImage(s string) bool {
	if s == "" || strings.HasPrefix(s, "-") {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// checkArtifact returns what is wrong with an artifact pattern, or "".
func checkArtifact(p string) string {
	if strings.TrimSpace(p) == "" {
		return "is empty"
	}
	if _, err := path.Match(p, ""); err != nil {
		return "is not a valid pattern (" + err.Error() + ")"
	}
	if strings.HasPrefix(p, "/") {
		return "must be relative to the repository root, not an absolute path"
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "must stay inside the repository (no \"..\")"
		}
		if strings.Contains(part, "**") && part != "**" {
			return "uses ** inside a name: ** stands for whole directories only (build/**/*.xml)"
		}
	}
	for _, r := range p {
		if r < ' ' || r == 0x7f {
			return "holds a control character"
		}
	}
	return ""
}
