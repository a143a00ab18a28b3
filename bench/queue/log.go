package main

import (
	"log/slog"
	"os"
)

// quietLogger passes on the workers' warnings and errors only: the info
// lines of every job ("running job", "job ended") are not formatted, as
// asynq's are not in the anchor.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
