package jobs

import (
	"errors"
	"github.com/gantry-ci/gantry/say"
)

// ErrPermanent marks an error that retrying cannot mend (a bad image name,
// an unsupported feature): the job ends errored at once.
var ErrPermanent = errors.New("permanent")

// TimeoutExitCode is the exit code of a job whose steps ran past the
// plan's timeout, on every runner (as timeout(1) reports it), whatever
// signal ended the step.
const TimeoutExitCode = 124

// UserError carries a sentence that may be shown to people as it is, in a
// thread or a reply. Anything else is logged in detail and shown as an
// internal error.
type UserError struct {
	Msg say.Text
	Err error // the cause, for the log; may be nil
}

func (e *UserError) Error() string {
	if e.Err != nil {
		return e.Msg.String() + ": " + e.Err.Error()
	}
	return e.Msg.String()
}

func (e *UserError) Unwrap() error { return e.Err }

// Userf makes a UserError from a format, as say.F does: string arguments
// are text from outside, Text arguments are put in as they are.
func Userf(format string, args ...any) error {
	return &UserError{Msg: say.F(format, args...)}
}

// Permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// UserMessage returns what people may read about err: the sentence of a
// UserError in its chain, or a pointer to the log.
func UserMessage(err error, job int64) say.Text {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	if job > 0 {
		return say.F("internal error (see log, job #%d)", job)
	}
	return "internal error (see log)"
}
