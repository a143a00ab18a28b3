package slackserver

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// TestUploadIntoThread drives slack-go v0.35.0's upload (UploadFileContext;
// the V2 names were dropped in v0.35.0): files.getUploadURLExternal, a
// multipart POST to the upload URL, files.completeUploadExternal.
func TestUploadIntoThread(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	_, ts, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("#3 failed", false))
	if err != nil {
		t.Fatal(err)
	}
	log := strings.Repeat("line of output\n", 1000)
	sum, err := api.UploadFileContext(t.Context(), slack.UploadFileParameters{
		Reader:          strings.NewReader(log),
		Filename:        "job-3.log",
		FileSize:        len(log),
		Title:           "Log of #3",
		Channel:         "C0BUILDS",
		ThreadTimestamp: ts,
		InitialComment:  "the whole log",
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.ID == "" || sum.Title != "Log of #3" {
		t.Errorf("upload summary = %+v", sum)
	}

	var methods []string
	for _, c := range srv.Calls("") {
		methods = append(methods, c.Method)
	}
	if got := strings.Join(methods, " "); got != "chat.postMessage files.getUploadURLExternal upload files.completeUploadExternal" {
		t.Errorf("calls = %s", got)
	}
	f, ok := srv.File(sum.ID)
	if !ok || string(f.Content) != log || f.Name != "job-3.log" || f.Length != len(log) || !f.Completed || f.InitialComment != "the whole log" {
		t.Fatalf("file = %+v (content %d bytes)", f, len(f.Content))
	}
	thread := srv.Thread("C0BUILDS", ts)
	if len(thread) != 2 || thread[1].Text != "the whole log" || len(thread[1].Files) != 1 || thread[1].Files[0] != sum.ID {
		t.Errorf("thread = %+v", thread)
	}
	if len(f.Shares) != 1 || f.Shares[0] != (FileShare{Channel: "C0BUILDS", ThreadTS: ts, TS: thread[1].TS}) {
		t.Errorf("shares = %+v", f.Shares)
	}
}

func TestUploadRawBodyAndErrors(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	u, err := api.GetUploadURLExternalContext(t.Context(), slack.GetUploadURLExternalParameters{FileName: "a.txt", FileSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.UploadURL, srv.URL()+"/upload/") {
		t.Fatalf("upload URL = %q", u.UploadURL)
	}
	// Completing before the upload fails.
	_, err = api.CompleteUploadExternalContext(t.Context(), slack.CompleteUploadExternalParameters{
		Files: []slack.FileSummary{{ID: u.FileID}}, Channel: "C0BUILDS",
	})
	if slackError(err) != "file_not_found" {
		t.Errorf("complete before upload: %v", err)
	}
	resp, err := http.Post(u.UploadURL, "application/octet-stream", bytes.NewReader([]byte("hello")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("raw upload answered %s", resp.Status)
	}
	if f, _ := srv.File(u.FileID); string(f.Content) != "hello" || !f.Uploaded {
		t.Errorf("file after raw upload = %+v", f)
	}
	_, err = api.CompleteUploadExternalContext(t.Context(), slack.CompleteUploadExternalParameters{
		Files: []slack.FileSummary{{ID: u.FileID}}, Channel: "C0BUILDS", ThreadTimestamp: "1.000001",
	})
	if slackError(err) != "thread_not_found" {
		t.Errorf("complete into a missing thread: %v", err)
	}
	// Without a channel the file stays private.
	if _, err := api.CompleteUploadExternalContext(t.Context(), slack.CompleteUploadExternalParameters{
		Files: []slack.FileSummary{{ID: u.FileID, Title: "A"}},
	}); err != nil {
		t.Fatal(err)
	}
	if f, _ := srv.File(u.FileID); !f.Completed || f.Title != "A" || len(f.Shares) != 0 {
		t.Errorf("private file = %+v", f)
	}
	if n := len(srv.Messages("C0BUILDS")); n != 0 {
		t.Errorf("%d messages after a private upload", n)
	}
}

func TestFileShareDelay(t *testing.T) {
	srv := New(t, WithFileShareDelay(200*time.Millisecond))
	api := newAPI(srv)
	start := time.Now()
	if _, err := api.UploadFileContext(t.Context(), slack.UploadFileParameters{
		Content: "x", Filename: "x.txt", FileSize: 1, Channel: "C0BUILDS",
	}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages("C0BUILDS")); n != 0 {
		t.Fatalf("file shared before the delay: %d messages", n)
	}
	m := srv.WaitMessage(t, "C0BUILDS", waitLong, func(m Message) bool { return len(m.Files) == 1 })
	if d := m.Posted.Sub(start); d < 200*time.Millisecond {
		t.Errorf("shared after %v, want at least 200ms", d)
	}
}
