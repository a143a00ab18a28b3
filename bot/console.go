package bot

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
)

// ConsoleChannel is the one channel of the terminal console.
const ConsoleChannel = "console"

// Console is the terminal front end: people type commands on stdin, and
// the conversation (replies, and every job's thread with every log line)
// is printed on stdout.
type Console struct {
	out   io.Writer
	user  string
	names say.Names // people's names; nil shows ids

	mu        sync.Mutex
	threads   map[string]int64 // message ts -> job
	lastState map[int64]jobs.State
	seq       int
}

// NewConsole returns a console writing to out, for the person user.
func NewConsole(out io.Writer, user string) *Console {
	return &Console{out: out, user: user, threads: map[string]int64{}, lastState: map[int64]jobs.State{}}
}

func (c *Console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.out, format, args...)
}

// ShowNames makes the console show people by the names that names gives.
func (c *Console) ShowNames(names say.Names) { c.names = names }

// Post prints a message; a job message opens a thread.
func (c *Console) Post(ctx context.Context, channel, threadTS string, m Message) (string, error) {
	if m.Step {
		return "", nil
	}
	c.mu.Lock()
	c.seq++
	ts := "console." + strconv.Itoa(c.seq)
	job := c.threads[threadTS]
	if m.Card != nil {
		job = m.Card.Job
		c.threads[ts] = job
		c.lastState[job] = m.Card.State
	}
	c.mu.Unlock()
	c.printLines(job, "┃", m.Text.Console(ctx, c.names))
	return ts, nil
}

// Update prints a job message again when its state changed: the steps
// show in the log the console prints.
func (c *Console) Update(ctx context.Context, channel, ts string, m Message) error {
	if m.Card == nil {
		return nil
	}
	c.mu.Lock()
	same := c.lastState[m.Card.Job] == m.Card.State
	c.lastState[m.Card.Job] = m.Card.State
	c.mu.Unlock()
	if !same {
		c.printLines(m.Card.Job, "┃", m.Text.Console(ctx, c.names))
	}
	return nil
}

// Upload says where the whole log is: in a terminal it was printed already.
func (c *Console) Upload(ctx context.Context, channel, threadTS string, f commands.File, comment string) error {
	c.mu.Lock()
	job := c.threads[threadTS]
	c.mu.Unlock()
	c.printLines(job, "┃", fmt.Sprintf("whole log: %d bytes (`logs #%d --tail N` shows its end)", len(f.Content), job))
	return nil
}

// LiveLog prints every line of the job's output.
func (c *Console) LiveLog(ctx context.Context, j *jobs.Job) (LogSink, error) {
	return &consoleSink{c: c, job: j.ID}, nil
}

type consoleSink struct {
	c   *Console
	job int64
}

func (s *consoleSink) Write(ctx context.Context, chunk []byte) error {
	s.c.printLines(s.job, "│", string(bytes.TrimSuffix(chunk, []byte("\n"))))
	return nil
}

func (s *consoleSink) Close(ctx context.Context, ended bool) error { return nil }

func (c *Console) printLines(job int64, bar, text string) {
	var b strings.Builder
	prefix := "gantry"
	if job > 0 {
		prefix = "#" + strconv.FormatInt(job, 10)
	}
	text = emoji.Replace(text)
	for _, ln := range strings.Split(text, "\n") {
		fmt.Fprintf(&b, "%-5s %s %s\n", prefix, bar, ln)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	io.WriteString(c.out, b.String())
}

// emoji turns the Slack shortcodes gantry uses into characters a terminal shows.
var emoji = strings.NewReplacer(
	":hourglass_flowing_sand:", "⏳", ":raised_hand:", "✋", ":double_vertical_bar:", "⏸",
	":arrows_counterclockwise:", "🔄", ":white_check_mark:", "✅", ":x:", "❌",
	":no_entry_sign:", "🚫", ":warning:", "⚠️", ":grey_question:", "❔")

// Reply prints an answer to the person.
func (c *Console) Reply(r commands.Reply) {
	if r.Text == "" {
		return
	}
	c.printLines(0, ">", r.Text.Console(context.Background(), c.names))
}

// MaxConsoleLine is the longest line, in bytes, the console takes as a
// command. A longer line is answered with its length and skipped, never held
// whole: the console keeps at most this much of any line in memory.
const MaxConsoleLine = 64 << 10

// consoleLine is one line typed: its text, or, when it was longer than
// MaxConsoleLine, only its length.
type consoleLine struct {
	text    string
	tooLong int64
}

// Run reads commands from in, one a line, until in ends (io.EOF), the
// person types quit (nil), or ctx is done (nil).
func (c *Console) Run(ctx context.Context, in io.Reader, svc *commands.Service) error {
	lines := make(chan consoleLine)
	errc := make(chan error, 1)
	go func() {
		errc <- readLines(ctx, in, lines)
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				if err := <-errc; err != nil {
					return err
				}
				return io.EOF
			}
			if line.tooLong > 0 {
				c.Reply(commands.Reply{Text: say.F("That line is too long: %d bytes; a command may be at most %d bytes (%d KiB). I skipped it.",
					line.tooLong, MaxConsoleLine, MaxConsoleLine>>10)})
				continue
			}
			if done := c.handle(ctx, line.text, svc); done {
				return nil
			}
		}
	}
}

// handle answers one typed line; it reports whether the person is done.
func (c *Console) handle(ctx context.Context, line string, svc *commands.Service) bool {
	text := strings.TrimSpace(line)
	if text == "" {
		return false
	}
	if text == "quit" || text == "exit" {
		return true
	}
	req := &commands.Request{User: c.user, Channel: ConsoleChannel, Console: true, Text: text}
	rep := svc.Handle(ctx, req)
	if rep.Text == "" {
		rep.Text = say.Words(commands.HelpText(""))
	}
	c.Reply(rep)
	return false
}

// readLines sends each line of in until it ends (nil) or fails. A line
// longer than MaxConsoleLine is read through in pieces and sent as its
// length alone.
func readLines(ctx context.Context, in io.Reader, lines chan<- consoleLine) error {
	// One more byte than a line may have, for its newline.
	br := bufio.NewReaderSize(in, MaxConsoleLine+1)
	for {
		line, err := readLine(br)
		if line == nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		select {
		case lines <- *line:
		case <-ctx.Done():
			return nil
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine reads one line without its "\n" or "\r\n". It returns nil when
// in has ended with nothing left; a last line without a newline is a line.
func readLine(br *bufio.Reader) (*consoleLine, error) {
	frag, err := br.ReadSlice('\n')
	if err == nil || (err == io.EOF && len(frag) > 0) {
		text := strings.TrimSuffix(strings.TrimSuffix(string(frag), "\n"), "\r")
		return &consoleLine{text: text}, err
	}
	if err != bufio.ErrBufferFull {
		return nil, err
	}
	// Too long: count the rest of the line as it goes by.
	n := int64(len(frag))
	for err == bufio.ErrBufferFull {
		frag, err = br.ReadSlice('\n')
		n += int64(len(frag))
	}
	if err == nil {
		n-- // the newline
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	return &consoleLine{tooLong: n}, err
}
