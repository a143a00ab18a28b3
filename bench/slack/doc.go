// Package slackbench holds gantry's Slack benchmarks, run against the fake Slack
// of internal/slackserver with the real slack-go client and a real Redis:
//
//	go test ./bench/slack -run '^$' -bench . -benchtime 1x
//
// TestShort runs each of them small (in about ten seconds in all), so that
// go test ./... keeps them working.
//
// BenchmarkAckLatency sends slash commands at -rate a second for -for over
// one Socket Mode connection and reports the time from the server writing
// each envelope to it reading the ack (p50, p99, max), which bounds the
// bot's own envelope-received-to-ack-written time from above.
//
// BenchmarkLiveLogCalls runs one job whose step prints -lines lines over
// -over through the local runner, and reports the Web API calls it cost
// until its live log shows the job's end: the live log's, and all of them
// by method.
//
// BenchmarkBusyChannel starts 10 and 50 jobs at once (two steps of -step
// each, about 50 lines of output), all in one channel and spread over ten,
// against the fake Slack with Slack's limits on, and reports per job the
// Web API calls, posts and edits, the p50 and p99 lag from a job's end (its
// record) to its message showing the final state (as the fake recorded
// it), how many job messages could only be posted after their job ended,
// and the 429s gantry met.
package slackbench
