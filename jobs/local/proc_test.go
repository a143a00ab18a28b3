package local

import (
	"os"
	"testing"
)

func TestStatIsParsedWhateverTheCommandName(t *testing.T) {
	line := []byte("4242 (a) b (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100\n")
	p, err := parseStat(4242, line)
	if err != nil {
		t.Fatal(err)
	}
	want := procInfo{pid: 4242, ppid: 17, pgrp: 4242, sid: 4242, state: 'S', start: 987654}
	if p != want {
		t.Errorf("parsed %+v, want %+v", p, want)
	}
	if _, err := parseStat(1, []byte("1 (x) S 0")); err == nil {
		t.Error("a short stat line was accepted")
	}
}

func TestTokenNamesItsOwner(t *testing.T) {
	self, err := currentOwner()
	if err != nil {
		t.Fatal(err)
	}
	got, ok := tokenOwner(newToken(self))
	if !ok || got != self || !got.alive() {
		t.Fatalf("owner of a new token = %+v (%v), want the live %+v", got, ok, self)
	}
	if o, ok := cgroupOwner("gantry-job-12-" + newToken(self)); !ok || o != self {
		t.Errorf("owner of a job cgroup = %+v (%v)", o, ok)
	}
	for _, bad := range []string{"", "12", "1.2", "x.2.ab", "1.y.ab", "1.2.", "-1.2.ab"} {
		if _, ok := tokenOwner(bad); ok {
			t.Errorf("token %q was accepted", bad)
		}
	}
	if (owner{pid: os.Getpid(), start: self.start + 1}).alive() {
		t.Error("an owner with this pid but another start time is taken for alive")
	}
}

// Only root can switch users: for anyone else runner.local.user is
// ignored, even a user that does not exist.
func TestStepUserIsIgnoredUnlessRoot(t *testing.T) {
	if u, err := lookupStepUser("no-such-user-for-gantry", 1000); u != nil || err != nil {
		t.Errorf("as uid 1000: %v, %v; want the setting ignored", u, err)
	}
	if u, err := lookupStepUser("", 0); u != nil || err != nil {
		t.Errorf("unset as root: %v, %v; want nothing", u, err)
	}
	if _, err := lookupStepUser("root", 0); err == nil {
		t.Error("root was accepted as the step user")
	}
}
