package local

import (
	"fmt"
	"os/user"
	"strconv"
	"syscall"

	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
)

// stepUser is the unprivileged user steps run as when gantry is root.
type stepUser struct {
	name     string
	uid, gid uint32
}

// lookupStepUser resolves runner.local.user for a gantry whose effective
// uid is euid. Only root can run steps as another user, so for anyone else
// the setting is ignored and the result is nil, as it is when name is "".
func lookupStepUser(name string, euid int) (*stepUser, error) {
	if name == "" || euid != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, misconfigured(fmt.Sprintf("runner.local.user %q does not exist on this machine", name), err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, misconfigured(fmt.Sprintf("runner.local.user %q has no numeric uid and gid (%s:%s)", name, u.Uid, u.Gid), nil)
	}
	if uid == 0 {
		return nil, misconfigured(fmt.Sprintf("runner.local.user %q is root; steps must run unprivileged", name), nil)
	}
	return &stepUser{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// misconfigured is an error of the server config: no retry mends it, and
// people may read it.
func misconfigured(msg string, cause error) error {
	return jobs.Permanent(&jobs.UserError{Msg: say.F("the local runner is misconfigured: %s", msg), Err: cause})
}

// credential drops every privilege of gantry: the user's uid and primary
// gid, and no supplementary groups at all.
func (u *stepUser) credential() *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{}}
}
