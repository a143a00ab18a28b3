package reports

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseJUnit(t *testing.T) {
	tests := []struct {
		name, xml string
		want      Summary
	}{
		{"testsuites with nested suites; attributes ignored", `<?xml version="1.0"?>
<testsuites tests="99" failures="0">
  <testsuite name="pkg" tests="1">
    <testcase classname="pkg.A" name="ok"/>
    <testcase classname="pkg.A" name="bad"><failure message="want 1, got 2">a_test.go:12: want 1, got 2</failure></testcase>
    <testsuite name="inner">
      <testcase name="boom"><error message="panic">goroutine 1 [running]</error></testcase>
      <testcase name="later"><skipped/></testcase>
    </testsuite>
  </testsuite>
</testsuites>`, Summary{Passed: 1, Failed: 2, Skipped: 1, Files: 1, Failures: []Failure{
			{Name: "pkg.A.bad", Message: "want 1, got 2", Output: "a_test.go:12: want 1, got 2"},
			{Name: "inner.boom", Message: "panic", Output: "goroutine 1 [running]"},
		}}},
		{"a single testsuite", `<testsuite name="s"><testcase name="a"/><testcase name="b"/><testcase name="c"><failure><![CDATA[<b>html</b>]]></failure><system-out>x</system-out></testcase></testsuite>`,
			Summary{Passed: 2, Failed: 1, Files: 1, Failures: []Failure{{Name: "s.c", Output: "<b>html</b>"}}}},
		{"failure with only system-out", `<testsuite><testcase name="t"><failure/><system-out>printed</system-out></testcase></testsuite>`,
			Summary{Failed: 1, Files: 1, Failures: []Failure{{Name: "t", Output: "printed"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJUnit(strings.NewReader(tt.xml))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("summary (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseJUnitBad(t *testing.T) {
	for _, tt := range []struct{ name, xml, want string }{
		{"not XML", "PASS\nok  pkg 0.1s\n", "no <testsuites> or <testsuite> element"},
		{"broken XML", "<testsuites>\n<testsuite>\n<testcase name=\"a\">\n</testsuites>", "line 4: element <testcase> closed by </testsuites>"},
		{"other root", "<html><body/></html>", "the root element is <html>, not <testsuites> or <testsuite>"},
		{"empty", "", "no <testsuites> or <testsuite> element"},
	} {
		_, err := ParseJUnit(strings.NewReader(tt.xml))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	big := "<testsuite>" + strings.Repeat("<testcase name=\"a\"/>", MaxFileBytes/20+1) + "</testsuite>"
	if _, err := ParseJUnit(strings.NewReader(big)); err != ErrTooLarge {
		t.Errorf("a report over the cap: err = %v, want ErrTooLarge", err)
	}
}

// A summary names at most MaxFailures tests and caps each one's text.
func TestSummaryCaps(t *testing.T) {
	var b strings.Builder
	b.WriteString("<testsuite>")
	for range 30 {
		b.WriteString(`<testcase name="f"><failure message="m">` + strings.Repeat("x", 10000) + `</failure></testcase>`)
	}
	b.WriteString("</testsuite>")
	s, err := ParseJUnit(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Failed != 30 || len(s.Failures) != MaxFailures || s.Unlisted() != 10 {
		t.Errorf("failed %d, listed %d, unlisted %d; want 30, %d, 10", s.Failed, len(s.Failures), s.Unlisted(), MaxFailures)
	}
	if n := len(s.Failures[0].Message) + len(s.Failures[0].Output); n > MaxFailureText {
		t.Errorf("a failure keeps %d bytes, more than %d", n, MaxFailureText)
	}
	var all Summary
	all.Add(s)
	all.Add(s)
	if all.Failed != 60 || len(all.Failures) != MaxFailures || all.Counts() != "0 passed, 60 failed, 0 skipped" {
		t.Errorf("added: %s with %d listed", all.Counts(), len(all.Failures))
	}
}

func FuzzParseJUnit(f *testing.F) {
	f.Add(`<testsuites><testsuite name="a"><testcase name="b"><failure message="c">d</failure></testcase></testsuite></testsuites>`)
	f.Add(`<testsuite><testcase/><testcase><skipped/></testcase></testsuite>`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseJUnit(strings.NewReader(s))
	})
}
