package commands

import (
	"regexp"

	"github.com/gantry-ci/gantry/say"
)

// slackMention is how Slack writes a person someone mentioned in what they
// typed: <@U123> or <@U123|name>.
var slackMention = regexp.MustCompile(`<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>`)

// typed is text a person typed (a reason, why they lock): verbatim, with
// the people they mentioned kept as people, so that every surface shows
// them its way (a mention in Slack, a name in the console and on pages).
func typed(s string) say.Text {
	var t say.Text
	for {
		loc := slackMention.FindStringSubmatchIndex(s)
		if loc == nil {
			return t + say.Quote(s)
		}
		t += say.Quote(s[:loc[0]]) + say.PersonOf(s[loc[2]:loc[3]])
		s = s[loc[1]:]
	}
}
