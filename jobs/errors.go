package jobs

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPermanent marks an error that retrying cannot mend (a bad image name,
// an unsupported feature): the job ends errored at once.
var ErrPermanent = errors.New("permanent")

// UserError carries a sentence that may be shown to people as it is, in a
// thread or a reply. Anything else is logged in detail and shown as an
// internal error.
type UserError struct {
	Msg string
	Err error // the cause, for the log; may be nil
}

func (e *UserError) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *UserError) Unwrap() error { return e.Err }

// Userf makes a UserError from a format.
func Userf(format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...)}
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
func UserMessage(err error, job int64) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	if job > 0 {
		return fmt.Sprintf("internal error (see log, job #%d)", job)
	}
	return "internal error (see log)"
}

// ChatEscape makes free text (a reason someone typed, a step name from a
// repository) safe to put into a chat message: Slack reads &, < and > as
// markup (<!channel>, <url|label>), so they are written as entities. The
// console turns them back.
func ChatEscape(s string) string { return chatEscaper.Replace(s) }

var chatEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
