// Package slack is gantry's Slack adapter: the Socket Mode front end (Bot),
// which acknowledges each envelope, turns it into a commands.Request and
// answers where the person expects it; the Surface that shows bot's
// messages and live logs as Block Kit within Slack's rate limits (Scheduler);
// and the look-ups the commands need from Slack (Groups, People, Membership,
// Names).
//
// Inside it, github.com/slack-go/slack is imported as goslack.
package slack
