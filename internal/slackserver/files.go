package slackserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// File is a file uploaded through files.getUploadURLExternal, the upload URL
// and files.completeUploadExternal.
type File struct {
	ID          string
	Name        string // filename given to files.getUploadURLExternal
	Title       string // title given to files.completeUploadExternal
	Length      int    // length declared to files.getUploadURLExternal
	AltText     string
	SnippetType string
	// Content is the uploaded bytes: the "file" part of a multipart upload,
	// or the whole body of any other upload.
	Content     []byte
	Uploaded    bool
	UploadedAt  time.Time
	Completed   bool // files.completeUploadExternal was called for it
	CompletedAt time.Time
	// InitialComment is the initial_comment of the completing call.
	InitialComment string
	// Shares are the messages that show the file, one per channel.
	Shares []FileShare
}

// FileShare is a file shown in a channel, in the thread ThreadTS when set,
// by the message TS.
type FileShare struct {
	Channel  string
	ThreadTS string
	TS       string
}

func (f *File) clone() File {
	c := *f
	c.Content = slices.Clone(f.Content)
	c.Shares = slices.Clone(f.Shares)
	return c
}

// Files returns every file, in the order files.getUploadURLExternal made them.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, 0, len(s.fileOrder))
	for _, id := range s.fileOrder {
		out = append(out, s.files[id].clone())
	}
	return out
}

// File returns the file with the given ID.
func (s *Server) File(id string) (File, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	if f == nil {
		return File{}, false
	}
	return f.clone(), true
}

func (s *Server) filesGetUploadURLExternal(req *apiRequest) reply {
	name := req.args.Get("filename")
	if name == "" {
		return errJSON("invalid_arguments", "[ERROR] missing required field: filename")
	}
	length, err := strconv.Atoi(req.args.Get("length"))
	if err != nil || length <= 0 {
		return errJSON("invalid_arguments", "[ERROR] length must be a positive integer")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &File{
		ID:          s.nextIDLocked("F"),
		Name:        name,
		Length:      length,
		AltText:     req.args.Get("alt_txt"),
		SnippetType: req.args.Get("snippet_type"),
	}
	s.files[f.ID] = f
	s.fileOrder = append(s.fileOrder, f.ID)
	s.notifyLocked()
	return okJSON(map[string]any{"upload_url": s.base + "/upload/" + f.ID, "file_id": f.ID})
}

// serveUpload takes the bytes of a file at the URL files.getUploadURLExternal
// handed out.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	req := &apiRequest{method: UploadMethod, args: url.Values{}, raw: r, at: time.Now()}
	id := r.PathValue("file")
	req.args.Set("file_id", id)
	if auth := r.Header.Get("Authorization"); auth != "" {
		req.token = strings.TrimPrefix(auth, "Bearer ")
	}
	rep := s.handleUpload(req, id)
	s.record(req, rep)
	writeReply(w, rep)
}

func (s *Server) handleUpload(req *apiRequest, id string) reply {
	r := req.raw
	if r.Method != http.MethodPost {
		return textReply(http.StatusMethodNotAllowed, "upload with POST")
	}
	if f := s.takeFault(UploadMethod); f != nil {
		return f.reply()
	}
	content, err := readUpload(r)
	if err != nil {
		s.logf("slackserver: upload of %s: %v", id, err)
		return textReply(http.StatusBadRequest, err.Error())
	}
	req.args.Set("length", strconv.Itoa(len(content)))
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	if f == nil {
		return textReply(http.StatusNotFound, "no upload URL for file "+id)
	}
	f.Content = content
	f.Uploaded = true
	f.UploadedAt = req.at
	s.notifyLocked()
	return textReply(http.StatusOK, fmt.Sprintf("OK - %d", len(content)))
}

func textReply(status int, body string) reply {
	return reply{status: status, contentType: "text/plain; charset=utf-8", body: []byte(body)}
}

// readUpload returns the "file" part of a multipart body, or the whole body.
func readUpload(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ctype != "multipart/form-data" {
		return body, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseMultipartForm(32 << 20); err != nil {
		return nil, fmt.Errorf("parse multipart body: %w", err)
	}
	parts := r.MultipartForm.File["file"]
	if len(parts) == 0 {
		return nil, fmt.Errorf("multipart body has no part named \"file\"")
	}
	fh, err := parts[0].Open()
	if err != nil {
		return nil, fmt.Errorf("open file part: %w", err)
	}
	defer fh.Close()
	return io.ReadAll(fh)
}

type fileSummary struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

func (s *Server) filesCompleteUploadExternal(req *apiRequest) reply {
	var summaries []fileSummary
	if err := json.Unmarshal([]byte(req.args.Get("files")), &summaries); err != nil || len(summaries) == 0 {
		return errJSON("invalid_arguments", "[ERROR] files must be a JSON array of {id, title}")
	}
	var channels []string
	if ch := req.args.Get("channel_id"); ch != "" {
		channels = append(channels, ch)
	}
	if list := req.args.Get("channels"); list != "" {
		channels = append(channels, strings.Split(list, ",")...)
	}
	for _, ch := range channels {
		if !isChannelID(ch) {
			return errJSON("channel_not_found")
		}
	}
	threadTS := req.args.Get("thread_ts")
	if threadTS != "" && len(channels) != 1 {
		return errJSON("invalid_arguments", "[ERROR] thread_ts needs exactly one channel")
	}
	comment := truncateText(req.args.Get("initial_comment"))
	blocks := normalizeJSONArray(req.args.Get("blocks"))
	if e := validateBlocks(blocks); e != nil {
		return errJSON(e.code, e.detail)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, len(summaries))
	for i, sum := range summaries {
		f := s.files[sum.ID]
		if f == nil || !f.Uploaded {
			return errJSON("file_not_found", "[ERROR] file "+sum.ID+" was not uploaded")
		}
		if f.Completed {
			return errJSON("file_already_completed", "[ERROR] file "+sum.ID+" was completed before")
		}
		ids[i] = sum.ID
	}
	if threadTS != "" {
		if _, bad := s.resolveThreadLocked(channels[0], threadTS); bad != nil {
			return *bad
		}
	}
	out := make([]map[string]any, len(summaries))
	for i, sum := range summaries {
		f := s.files[sum.ID]
		f.Title = sum.Title
		if f.Title == "" {
			f.Title = f.Name
		}
		f.Completed = true
		f.CompletedAt = req.at
		f.InitialComment = comment
		out[i] = map[string]any{"id": f.ID, "title": f.Title}
	}
	s.notifyLocked()
	share := func() { s.shareFiles(ids, channels, threadTS, comment, blocks) }
	if s.cfg.shareDelay > 0 && len(channels) > 0 {
		s.wg.Add(1)
		time.AfterFunc(s.cfg.shareDelay, func() { defer s.wg.Done(); share() })
	} else if len(channels) > 0 {
		s.shareFilesLocked(ids, channels, threadTS, comment, blocks)
	}
	return okJSON(map[string]any{"files": out})
}

func (s *Server) shareFiles(ids, channels []string, threadTS, comment, blocks string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.shareFilesLocked(ids, channels, threadTS, comment, blocks)
}

// shareFilesLocked posts one message per channel that shows the files, with
// the initial comment as its text, in the thread when one was named.
func (s *Server) shareFilesLocked(ids, channels []string, threadTS, comment, blocks string) {
	for _, ch := range channels {
		parent := ""
		if threadTS != "" {
			if p, bad := s.resolveThreadLocked(ch, threadTS); bad == nil {
				parent = p
			}
		}
		m := &Message{
			Channel:  ch,
			TS:       s.nextTSLocked(),
			ThreadTS: parent,
			User:     BotUserID,
			BotID:    BotID,
			Text:     comment,
			Blocks:   blocks,
			Files:    slices.Clone(ids),
			Posted:   time.Now(),
		}
		s.addMessageLocked(m)
		for _, id := range ids {
			f := s.files[id]
			f.Shares = append(f.Shares, FileShare{Channel: ch, ThreadTS: parent, TS: m.TS})
		}
	}
}
