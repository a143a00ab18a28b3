// Command gantry is the ChatOps build-and-deploy bot: one binary for the
// terminal console, the Slack bot, the workers and the tools around them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Steps run as gantry's own user: without this they could read gantry's
	// environment (tokens) from /proc/PPID/environ. A non-dumpable process's
	// /proc files belong to root.
	const prSetDumpable = 4
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Args: os.Args[1:], Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	code := m.Run(ctx)
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
	}
	os.Exit(code)
}
