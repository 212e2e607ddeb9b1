package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
)

// Upload is a file uploaded through Slack's files v2 flow
// (files.getUploadURLExternal, POST to the upload URL,
// files.completeUploadExternal).
type Upload struct {
	FileID      string
	Filename    string
	Title       string
	AltText     string
	SnippetType string
	// Length is the length announced to files.getUploadURLExternal.
	Length int
	// Content is what was POSTed to the upload URL.
	Content []byte
	// Uploaded is set once the bytes arrived, Completed once
	// files.completeUploadExternal accepted the file.
	Uploaded, Completed bool
	// Channel and ThreadTS say where the file was shared ("" for private).
	Channel, ThreadTS string
	InitialComment    string
	// MessageTS is the message that shared the file, "" when private.
	MessageTS string

	secret string
}

func (s *Server) filesGetUploadURL(rq *apiRequest) (map[string]any, *apiError) {
	name := rq.arg("filename")
	if name == "" {
		return nil, invalidArgs("missing required field: filename")
	}
	n, err := strconv.Atoi(rq.arg("length"))
	if err != nil || n <= 0 {
		return nil, invalidArgs("missing required field: length")
	}
	if runes(rq.arg("alt_txt")) > 1000 {
		return nil, errf("alt_txt_too_large")
	}
	u := &Upload{
		FileID: s.newIDLocked("F"), Filename: name, Length: n,
		AltText: rq.arg("alt_txt"), SnippetType: rq.arg("snippet_type"), secret: randHex(24),
	}
	s.uploads[u.FileID] = u
	s.uploadIDs = append(s.uploadIDs, u.FileID)
	return map[string]any{
		"upload_url": fmt.Sprintf("%s/upload/v1/%s-%s", s.URL, u.FileID, u.secret),
		"file_id":    u.FileID,
	}, nil
}

// serveUpload receives the bytes of a file, raw or as multipart field
// "file", and answers exactly HTTP 200 as Slack's upload host does.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, key string) {
	id, secret, _ := strings.Cut(key, "-")
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	data, err := readUploadBody(r)
	if err != nil {
		http.Error(w, "bad upload", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	u := s.uploads[id]
	if u == nil || u.secret != secret || u.Completed {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	u.Content, u.Uploaded = data, true
	s.notifyLocked()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "OK - %d", len(data))
}

func readUploadBody(r *http.Request) ([]byte, error) {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if !strings.HasPrefix(ct, "multipart/") {
		return io.ReadAll(io.LimitReader(r.Body, 1<<30))
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return nil, fmt.Errorf("multipart: no file part: %w", err)
		}
		if p.FormName() == "file" {
			return io.ReadAll(io.LimitReader(p, 1<<30))
		}
	}
}

func (s *Server) filesCompleteUpload(rq *apiRequest) (map[string]any, *apiError) {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(rq.arg("files")), &files); err != nil || len(files) == 0 {
		return nil, invalidArgs("missing required field: files")
	}
	var chans []string
	if c := rq.arg("channel_id"); c != "" {
		chans = append(chans, c)
	}
	if c := rq.arg("channels"); c != "" {
		chans = append(chans, strings.Split(c, ",")...)
	}
	if len(chans) > 100 {
		return nil, errf("channels_limit_exceeded")
	}
	threadTS := rq.arg("thread_ts")
	if threadTS != "" && len(chans) != 1 {
		return nil, invalidArgs("thread_ts needs exactly one channel")
	}
	var resolved []*channel
	for _, c := range chans {
		ch, e := s.memberLocked(c, "not_in_channel")
		if e != nil {
			return nil, e
		}
		resolved = append(resolved, ch)
	}
	ups := make([]*Upload, 0, len(files))
	for _, f := range files {
		u := s.uploads[f.ID]
		if u == nil || !u.Uploaded || u.Completed {
			return nil, errf("file_not_found")
		}
		u.Title = f.Title
		if u.Title == "" {
			u.Title = u.Filename
		}
		ups = append(ups, u)
	}
	out := make([]any, 0, len(ups))
	for _, u := range ups {
		u.Completed = true
		u.InitialComment = rq.arg("initial_comment")
		for _, ch := range resolved {
			m := s.botMessage(ch.ID, s.threadRootLocked(ch.ID, threadTS), content{text: u.InitialComment}, "files")
			m.Files = []string{u.FileID}
			s.storeLocked(m)
			u.Channel, u.ThreadTS, u.MessageTS = ch.ID, m.ThreadTS, m.TS
		}
		out = append(out, map[string]any{
			"id": u.FileID, "title": u.Title, "name": u.Filename, "size": len(u.Content),
			"mimetype": "text/plain", "filetype": "text", "user": s.BotUserID,
			"created": s.now().Unix(), "timestamp": s.now().Unix(),
			"url_private": s.URL + "/files/" + u.FileID, "permalink": s.URL + "/files/" + u.FileID,
		})
	}
	return map[string]any{"files": out}, nil
}

// Uploads returns every file upload started, in order, including those never
// completed.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Upload, 0, len(s.uploadIDs))
	for _, id := range s.uploadIDs {
		u := *s.uploads[id]
		u.Content = append([]byte(nil), u.Content...)
		u.secret = ""
		out = append(out, u)
	}
	return out
}
