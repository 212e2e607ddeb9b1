package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// DefaultMaxUpload is the default largest playbook output uploaded to Slack
// whole (10 MiB); past it the last DefaultMaxUpload bytes are uploaded with
// a note pointing to the job in AWX.
const DefaultMaxUpload = DefaultMaxLogUpload

// LogRepeatWindow is how long after a /deploy log upload the same request's
// output is not uploaded again: the answer points to the earlier file.
const LogRepeatWindow = time.Minute

// digestTailBytes is how much of the output's end is read for the failure
// digest's last lines.
const digestTailBytes = 64 << 10

// spooled is a job's output kept in a private file on disk rather than in
// memory. The file is unlinked as soon as it is created (where the system
// allows it), so nothing is left behind when the process dies.
type spooled struct {
	f    *os.File
	size int64
	// unlinked tells whether the file's name is already gone.
	unlinked bool
}

// newSpool creates an empty private spool file in dir ("" for the system's
// temporary directory).
func newSpool(dir string) (*spooled, error) {
	f, err := os.CreateTemp(dir, "deploybot-output-*.log") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("spool file: %w", err)
	}
	sp := &spooled{f: f}
	if os.Remove(f.Name()) == nil {
		sp.unlinked = true
	}
	return sp, nil
}

// Close closes and removes the file.
func (sp *spooled) Close() error {
	err := sp.f.Close()
	if !sp.unlinked {
		if rerr := os.Remove(sp.f.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// spoolOutput reads job's full output from the runner into a spool file.
// The caller closes it.
func (s *runs) spoolOutput(ctx context.Context, job JobRef) (*spooled, error) {
	sp, err := newSpool(s.OutputDir)
	if err != nil {
		return nil, err
	}
	if err := s.runner.Output(ctx, job, sp.f); err != nil {
		_ = sp.Close()
		return nil, err
	}
	size, err := sp.f.Seek(0, io.SeekEnd)
	if err != nil {
		_ = sp.Close()
		return nil, fmt.Errorf("spool file: %w", err)
	}
	sp.size = size
	return sp, nil
}

// tail returns at most the last n bytes of the output.
func (sp *spooled) tail(n int64) (string, error) {
	start := max(0, sp.size-n)
	b := make([]byte, sp.size-start)
	if _, err := sp.f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read spool: %w", err)
	}
	return string(b), nil
}

// maxUpload returns the upload cap in force: MaxUpload, else the
// configuration's limits.max_log_upload, else DefaultMaxUpload.
func (s *runs) maxUpload() int64 {
	switch {
	case s.MaxUpload > 0:
		return s.MaxUpload
	case s.cat().MaxLogUpload > 0:
		return s.cat().MaxLogUpload
	}
	return DefaultMaxUpload
}

// uploadOutput uploads the spooled output of req as a file in its thread:
// whole when it fits the upload cap, otherwise its last part under a note
// that says what was left out and where the full output is (the AWX job).
func (s *runs) uploadOutput(ctx context.Context, req *Request, sp *spooled) error {
	title := fmt.Sprintf("Playbook output of #%d", req.ID)
	limit := s.maxUpload()
	if sp.size <= limit {
		return s.notifier.Upload(ctx, req, logName(req), title, io.NewSectionReader(sp.f, 0, sp.size))
	}
	// Start the tail at a line boundary when one is near.
	start := sp.size - limit
	head := make([]byte, min(4096, limit))
	if n, _ := sp.f.ReadAt(head, start); n > 0 {
		if i := bytes.IndexByte(head[:n], '\n'); i >= 0 && i+1 < n {
			start += int64(i + 1)
		}
	}
	body, err := newSpool(s.OutputDir)
	if err != nil {
		return err
	}
	defer body.Close()
	note := fmt.Sprintf("[deploybot] This output is %s, more than the %s upload limit: below are its last %s. The full output is in AWX: %s\n\n",
		byteText(sp.size), byteText(limit), byteText(sp.size-start), s.jobText(req.Job))
	if _, err := io.WriteString(body.f, note); err != nil {
		return fmt.Errorf("spool file: %w", err)
	}
	if _, err := io.Copy(body.f, io.NewSectionReader(sp.f, start, sp.size-start)); err != nil {
		return fmt.Errorf("spool file: %w", err)
	}
	n, err := body.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("spool file: %w", err)
	}
	title += fmt.Sprintf(" (last %s of %s)", byteText(sp.size-start), byteText(sp.size))
	return s.notifier.Upload(ctx, req, logName(req), title, io.NewSectionReader(body.f, 0, n))
}

// jobText names a job in AWX: its web page when the AWX URL is known.
func (s *runs) jobText(job JobRef) string {
	if s.AWXURL == "" {
		return fmt.Sprintf("job %d", job.ID)
	}
	// AWX's own links to a job (UnifiedJob.get_ui_url in awx/main/models).
	kind := "playbook"
	if job.Kind == AdHocCommand {
		kind = "command"
	}
	return fmt.Sprintf("%s/#/jobs/%s/%d", strings.TrimRight(s.AWXURL, "/"), kind, job.ID)
}

// byteText shows a size in B, KB or MB (binary units).
func byteText(n int64) string {
	switch {
	case n >= 1<<20:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MB"
	case n >= 1<<10:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<10))) + " KB"
	}
	return fmt.Sprintf("%d bytes", n)
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// recentLog returns when request id's output was last uploaded on request,
// if that was within LogRepeatWindow, and otherwise reserves the upload
// (so that two commands at once upload once). release undoes a reservation
// whose upload failed.
func (s *runs) recentLog(id int64, now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, at := range s.logSent {
		if now.Sub(at) >= LogRepeatWindow {
			delete(s.logSent, k)
		}
	}
	if at, ok := s.logSent[id]; ok {
		return at, true
	}
	s.logSent[id] = now
	return time.Time{}, false
}

func (s *runs) releaseLog(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.logSent, id)
}
