package commands

import (
	"strings"
	"testing"
)

// checkErr compares an error with the message wanted ("" = no error).
func checkErr(t *testing.T, call string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s = %q, want no error", call, err)
	case want != "" && err == nil:
		t.Errorf("%s = nil, want %q", call, want)
	case want != "" && err.Error() != want:
		t.Errorf("%s =\n  %q\nwant\n  %q", call, err, want)
	}
}

func TestIsPathLike(t *testing.T) {
	cases := map[string]bool{
		"api": false, "api.v2": false, "a-b_c": false, "": false,
		"examples/hello": true, "./x": true, ".": true, "..": true, ".hidden": true,
		"/abs/path": true, "a/": true,
	}
	for in, want := range cases {
		if got := IsPathLike(in); got != want {
			t.Errorf("IsPathLike(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestValidRepoName(t *testing.T) {
	const chars = "; repo names use letters, digits, “.”, “_” and “-”"
	cases := []struct{ in, want string }{
		{"api", ""},
		{"A1", ""},
		{"my_repo.v2-x", ""},
		{"0", ""},
		{strings.Repeat("a", 100), ""},
		{strings.Repeat("a", 101), "“" + strings.Repeat("a", 60) + "…” is not a valid repo name: it is 101 characters long; the limit is 100"},
		{"", "“” is not a valid repo name: it is empty"},
		{"-api", "“-api” is not a valid repo name: it starts with “-”; a repo name starts with a letter or a digit"},
		{"_api", "“_api” is not a valid repo name: it starts with “_”; a repo name starts with a letter or a digit"},
		{"ápi", "“ápi” is not a valid repo name: it starts with “á”; a repo name starts with a letter or a digit"},
		{"a b", "“a b” is not a valid repo name: it contains a space" + chars},
		{"a$b", "“a$b” is not a valid repo name: it contains “$”" + chars},
		{"a@b", "“a@b” is not a valid repo name: it contains “@”" + chars},
		{"a\xffb", "“a\uFFFDb” is not a valid repo name: it is not valid UTF-8"},
		// Paths.
		{"examples/hello", ""},
		{"./x", ""},
		{".", ""},
		{"../sibling", ""},
		{"/abs/path with space", ""},
		{"~/src/app", ""},
		{"./x\x00y", `“./x\x00y” is not a valid path: it contains a NUL character`},
		{"./x\ny", `“./x\ny” is not a valid path: it contains a line break`},
		{"./x\ry", `“./x\ry” is not a valid path: it contains a line break`},
		{"./x\x1by", `“./x\x1by” is not a valid path: it contains the control character \x1b`},
		{"-rf/x", "“-rf/x” is not a valid path: it starts with “-”"},
		{"/" + strings.Repeat("a", 1024), "“/" + strings.Repeat("a", 59) + "…” is not a valid path: it is 1025 characters long; the limit is 1024"},
		{"./\xff", "“./\uFFFD” is not a valid path: it is not valid UTF-8"},
	}
	for _, tc := range cases {
		checkErr(t, "ValidRepoName("+quoteWord(tc.in)+")", ValidRepoName(tc.in), tc.want)
	}
}

func TestValidRef(t *testing.T) {
	cases := []struct{ in, want string }{
		{"main", ""},
		{"feature-x", ""},
		{"feature/x", ""},
		{"release/1.2/rc", ""},
		{"v1.2", ""},
		{"user@topic", ""},
		{"a.lockb", ""},
		{"déjà-vu", ""},
		{"abc1234", ""}, // short SHA
		{"0123456789abcdef0123456789abcdef01234567", ""}, // full SHA
		{"a&b", ""}, // git allows it; it never reaches a shell
		{strings.Repeat("a", 200), ""},
		{"", "“” is not a valid ref: it is empty"},
		{strings.Repeat("a", 201), "“" + strings.Repeat("a", 60) + "…” is not a valid ref: it is 201 characters long; the limit is 200"},
		{"feature..x", "“feature..x” is not a valid ref: it contains “..”"},
		{"a b", "“a b” is not a valid ref: it contains a space"},
		{"a\u00a0b", `“a\u00a0b” is not a valid ref: it contains a space`},
		{"a\tb", `“a\tb” is not a valid ref: it contains a space`},
		{"a\x00b", `“a\x00b” is not a valid ref: it contains the control character \x00`},
		{"a\x7fb", `“a\x7fb” is not a valid ref: it contains the control character \x7f`},
		{"a\u200bb", `“a\u200bb” is not a valid ref: it contains the invisible character \u200b`},
		{"a~1", "“a~1” is not a valid ref: it contains “~”"},
		{"a^", "“a^” is not a valid ref: it contains “^”"},
		{"a:b", "“a:b” is not a valid ref: it contains “:”"},
		{"a?", "“a?” is not a valid ref: it contains “?”"},
		{"a*", "“a*” is not a valid ref: it contains “*”"},
		{"a[0]", "“a[0]” is not a valid ref: it contains “[”"},
		{`a\b`, "“a\\b” is not a valid ref: it contains “\\”"},
		{"@", "“@” is not a valid ref: it is “@” alone, which git reserves"},
		{"-x", "“-x” is not a valid ref: it starts with “-”"},
		{"/x", "“/x” is not a valid ref: it starts with “/”"},
		{"x/", "“x/” is not a valid ref: it ends with “/”"},
		{"x.", "“x.” is not a valid ref: it ends with “.”"},
		{"a//b", "“a//b” is not a valid ref: it contains “//”"},
		{"main@{1}", "“main@{1}” is not a valid ref: it contains “@{”"},
		{".hidden", "“.hidden” is not a valid ref: it starts with “.”"},
		{"a/.b", "“a/.b” is not a valid ref: its part “.b” starts with “.”"},
		{"x.lock", "“x.lock” is not a valid ref: it ends with “.lock”"},
		{"x.lock/y", "“x.lock/y” is not a valid ref: its part “x.lock” ends with “.lock”"},
		{"a\xffb", "“a\uFFFDb” is not a valid ref: it is not valid UTF-8"},
	}
	for _, tc := range cases {
		checkErr(t, "ValidRef("+quoteWord(tc.in)+")", ValidRef(tc.in), tc.want)
	}
}

func TestValidNames(t *testing.T) {
	const chars = "; names use lowercase letters, digits, “-” and “_”"
	cases := []struct {
		check func(string) error
		in    string
		want  string
	}{
		{ValidEnvName, "staging", ""},
		{ValidEnvName, "prod-eu_1", ""},
		{ValidEnvName, "1", ""},
		{ValidEnvName, strings.Repeat("a", 63), ""},
		{ValidEnvName, strings.Repeat("a", 64), "“" + strings.Repeat("a", 60) + "…” is not a valid environment name: it is 64 characters long; the limit is 63"},
		{ValidEnvName, "", "“” is not a valid environment name: it is empty"},
		{ValidEnvName, "Staging", "“Staging” is not a valid environment name: names are lowercase (did you mean “staging”?)"},
		{ValidEnvName, "Prod.EU", "“Prod.EU” is not a valid environment name: it starts with “P”; names start with a lowercase letter or a digit"},
		{ValidEnvName, "-prod", "“-prod” is not a valid environment name: it starts with “-”; names start with a lowercase letter or a digit"},
		{ValidEnvName, "pröd", "“pröd” is not a valid environment name: it contains “ö”" + chars},
		{ValidEnvName, "prod\xff", "“prod\uFFFD” is not a valid environment name: it is not valid UTF-8"},
		{ValidPoolName, "mysql", ""},
		{ValidPoolName, "my sql", "“my sql” is not a valid pool name: it contains a space" + chars},
		{ValidResourceName, "mysql-2", ""},
		{ValidResourceName, "mysql:2", "“mysql:2” is not a valid resource name: it contains “:”" + chars},
	}
	for _, tc := range cases {
		checkErr(t, "valid name "+quoteWord(tc.in), tc.check(tc.in), tc.want)
	}
}

func TestParseJobWord(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  string
	}{
		{"#42", 42, ""},
		{"42", 42, ""},
		{"#9223372036854775807", 9223372036854775807, ""},
		{"#9223372036854775808", 0, "“#9223372036854775808” is not a job number: it is too large"},
		{"#0", 0, "“#0” is not a job number: job numbers start at 1"},
		{"##4", 0, "“##4” is not a job number: write it as #42 or 42"},
		{"#4a", 0, "“#4a” is not a job number: write it as #42 or 42"},
		{"#-4", 0, "“#-4” is not a job number: write it as #42 or 42"},
		{"#٤", 0, "“#٤” is not a job number: write it as #42 or 42"}, // non-ASCII digit
	}
	for _, tc := range cases {
		got, err := parseJobWord(tc.in)
		checkErr(t, "parseJobWord("+quoteWord(tc.in)+")", err, tc.err)
		if got != tc.want {
			t.Errorf("parseJobWord(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestQuoteWord(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "“”"},
		{"api", "“api”"},
		{"é ü", "“é ü”"},
		{"a\x00\n\u200bb", `“a\x00\n\u200bb”`},
		{"\xff", "“\uFFFD”"},
		{strings.Repeat("ж", 60), "“" + strings.Repeat("ж", 60) + "”"},
		{strings.Repeat("ж", 61), "“" + strings.Repeat("ж", 60) + "…”"},
	}
	for _, tc := range cases {
		if got := quoteWord(tc.in); got != tc.want {
			t.Errorf("quoteWord(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
