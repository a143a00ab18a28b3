// Package bot is what gantry says about jobs and how the thread of a job is
// kept, for any surface: Message and JobMessage are what is said, before a
// surface renders it; Threads turns job events into each job's thread (its
// message edited in place, its live log, the notice at its end) through the
// Surface interface, and shares the events among processes (ConsumeGroup).
// Console is the terminal surface and front end.
//
// The Slack adapter is bot/slack; this package does not import it, nor Slack.
package bot
