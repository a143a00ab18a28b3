package awsserver_test

import (
	"fmt"
	"sync"
	"testing"
)

// fakeTB records what the server reports with Errorf instead of failing the
// test, so tests can check that misuse is reported.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
