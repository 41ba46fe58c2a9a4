package main

// `conveyor logs BUILD_ID [-f] [--tail N]`: a build's log through GET /api/v1/builds/{id}/logs.
// The whole log is streamed (?download=1) and never held in memory; -f follows it over
// server-sent events and resumes with Last-Event-ID when the connection drops.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/conveyorci/conveyor/executor/build"
)

func runLogs(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("logs BUILD_ID [-f] [--tail N]")
	follow := c.Bool("f", false, "follow the log to the end of the build; the exit status is the build's result (0 SUCCEEDED, 1 otherwise)")
	c.BoolVar(follow, "follow", false, "same as -f")
	tail := c.Int("tail", -1, "print only the last N lines (with -f: then follow)")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	id := pos[0]
	switch {
	case *follow:
		after := 0
		if *tail >= 0 {
			if after, err = printTail(ctx, c.cfg, id, *tail, out); err != nil {
				return err
			}
		}
		status, err := followBuildLog(ctx, c.cfg, id, after, out, errOut)
		if err != nil {
			return err
		}
		return buildResult(ctx, c.cfg, id, status)
	case *tail >= 0:
		_, err := printTail(ctx, c.cfg, id, *tail, out)
		return err
	}
	return downloadLog(ctx, c.cfg, id, out, errOut)
}

// buildLogPath is the REST path of a build's log.
func buildLogPath(id string) string {
	return "/api/v1/builds/" + url.PathEscape(id) + "/logs"
}

// signedGet sends a SigV4-signed GET to the server's REST extras and returns the response for the
// caller to read (and close): unlike rest, the body is streamed. Answers of 300 and above are
// returned as errors in the server's words (their body is read and closed).
func (c *clientConfig) signedGet(ctx context.Context, path string, header http.Header) (*http.Response, error) {
	creds, err := c.credentials()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(*c.endpoint, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	payloadHash := hex.EncodeToString(sha256.New().Sum(nil))
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, "conveyor", *c.region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) == nil && e.Type != "" {
			return nil, &restError{status: resp.StatusCode, code: e.Type, message: e.Message}
		}
		return nil, &restError{status: resp.StatusCode, message: fmt.Sprintf("GET %s: %s", path, resp.Status)}
	}
	return resp, nil
}

// restError is an error answer of the REST extras.
type restError struct {
	status        int
	code, message string
}

func (e *restError) Error() string {
	if e.code == "" {
		return e.message
	}
	return e.code + ": " + e.message
}

// downloadLog copies the log as it is so far to out.
func downloadLog(ctx context.Context, cfg *clientConfig, id string, out, errOut io.Writer) error {
	resp, err := cfg.signedGet(ctx, buildLogPath(id)+"?download=1", nil)
	var re *restError
	if errors.As(err, &re) && re.status == http.StatusNotFound && strings.Contains(re.message, "no log yet") {
		fmt.Fprintf(errOut, "build %s has no log yet (it is queued or provisioning); conveyor logs -f %s waits for it\n", id, id)
		return nil
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(out, resp.Body)
	return err
}

// logPage is the JSON answer of ?tail=N and ?from=L&limit=N.
type logPage struct {
	BuildID  string   `json:"buildId"`
	First    int      `json:"first"`
	Lines    []string `json:"lines"`
	Total    int      `json:"total"`
	Complete bool     `json:"complete"`
	Status   string   `json:"status"`
}

// maxPageLines is the most lines the server returns for one range request.
const maxPageLines = 10000

func getLogPage(ctx context.Context, cfg *clientConfig, id, query string) (logPage, error) {
	resp, err := cfg.signedGet(ctx, buildLogPath(id)+"?"+query, nil)
	if err != nil {
		return logPage{}, err
	}
	defer resp.Body.Close()
	var p logPage
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		return logPage{}, fmt.Errorf("read the log of %s: %w", id, err)
	}
	return p, nil
}

// printTail prints the last n lines of the log and returns the number of the last line of the
// log at that moment (what a follower resumes after).
func printTail(ctx context.Context, cfg *clientConfig, id string, n int, out io.Writer) (int, error) {
	if n <= maxPageLines {
		q := n
		if q == 0 {
			q = 1 // the server reads 0 as its default; ask for one line and print none
		}
		p, err := getLogPage(ctx, cfg, id, "tail="+strconv.Itoa(q))
		if err != nil {
			return 0, err
		}
		if n > 0 {
			if err := writeLines(out, p.Lines); err != nil {
				return 0, err
			}
		}
		return p.Total, nil
	}
	// More than one page: learn the length, then read the range page by page.
	p, err := getLogPage(ctx, cfg, id, "tail=1")
	if err != nil {
		return 0, err
	}
	total := p.Total
	for from := max(1, total-n+1); from <= total; {
		page, err := getLogPage(ctx, cfg, id, fmt.Sprintf("from=%d&limit=%d", from, min(maxPageLines, total-from+1)))
		if err != nil {
			return 0, err
		}
		if len(page.Lines) == 0 {
			break
		}
		if err := writeLines(out, page.Lines); err != nil {
			return 0, err
		}
		from += len(page.Lines)
	}
	return total, nil
}

func writeLines(out io.Writer, lines []string) error {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, err := out.Write(b.Bytes())
	return err
}

// followBuildLog prints the log from line after+1 to the end of the build over server-sent events
// and returns the build's final status. A dropped connection is resumed with Last-Event-ID; it
// gives up after several attempts in a row that brought nothing.
func followBuildLog(ctx context.Context, cfg *clientConfig, id string, after int, out, errOut io.Writer) (string, error) {
	last := after
	failures := 0
	for {
		before := last
		status, err := followOnce(ctx, cfg, id, &last, out)
		if err == nil {
			return status, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		var re *restError
		if errors.As(err, &re) && re.status < 500 {
			return "", err // the build does not exist, or the key may not read it
		}
		if last > before {
			failures = 0
		}
		failures++
		if failures > 8 {
			return "", fmt.Errorf("lost the log stream of build %s after line %d: %w", id, last, err)
		}
		fmt.Fprintf(errOut, "conveyor: the log stream was interrupted (%v); resuming after line %d\n", err, last)
		delay := min(time.Duration(1<<failures)*125*time.Millisecond, 5*time.Second)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(delay):
		}
	}
}

// errStreamEnded is a stream that ended before its "end" event.
var errStreamEnded = errors.New("the server closed the stream before the end of the build")

// followOnce reads one SSE connection: `line` events (id = line number, data = the line as a
// JSON string) and the final `end` event ({"status"}). *last is the last line printed.
func followOnce(ctx context.Context, cfg *clientConfig, id string, last *int, out io.Writer) (string, error) {
	h := http.Header{"Accept": {"text/event-stream"}}
	if *last > 0 {
		h.Set("Last-Event-ID", strconv.Itoa(*last))
	}
	resp, err := cfg.signedGet(ctx, buildLogPath(id), h)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	bw := bufio.NewWriterSize(out, 32<<10)
	defer bw.Flush()
	var event, eventID string
	var data []string
	for {
		raw, err := r.ReadString('\n')
		if err != nil {
			bw.Flush()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return "", errStreamEnded
			}
			return "", err
		}
		line := strings.TrimRight(raw, "\r\n")
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "": // a comment (keep-alive)
			case "event":
				event = value
			case "id":
				eventID = value
			case "data":
				data = append(data, value)
			}
			continue
		}
		// A blank line dispatches the event.
		payload := strings.Join(data, "\n")
		switch event {
		case "line":
			var text string
			if err := json.Unmarshal([]byte(payload), &text); err != nil {
				return "", fmt.Errorf("unreadable log line event: %w", err)
			}
			bw.WriteString(text)
			bw.WriteByte('\n')
			if n, err := strconv.Atoi(eventID); err == nil {
				*last = n
			}
			if r.Buffered() == 0 {
				if err := bw.Flush(); err != nil {
					return "", err
				}
			}
		case "end":
			var end struct {
				Status string `json:"status"`
			}
			if err := json.Unmarshal([]byte(payload), &end); err != nil {
				return "", fmt.Errorf("unreadable end event: %w", err)
			}
			return end.Status, bw.Flush()
		}
		event, eventID, data = "", "", nil
	}
}

// buildResult turns a final build status into the command's exit: nil for SUCCEEDED, status 1
// otherwise, saying where the build failed.
func buildResult(ctx context.Context, cfg *clientConfig, id, status string) error {
	if status == build.StatusSucceeded {
		return nil
	}
	msg := fmt.Sprintf("build %s: %s", id, status)
	if cb, err := cfg.codeBuild(); err == nil {
		if b, _, err := getBuild(ctx, cb, id); err == nil {
			if where := failureContext(b); where != "" {
				msg += " (" + where + ")"
			}
		}
	}
	return &exitError{code: 1, err: errors.New(msg)}
}

// failureContext names the first phase that did not succeed and its context.
func failureContext(b build.Build) string {
	for _, p := range b.Phases {
		if p.PhaseStatus == "" || p.PhaseStatus == build.StatusSucceeded || p.PhaseStatus == build.StatusInProgress {
			continue
		}
		s := p.PhaseType + " " + p.PhaseStatus
		if len(p.Contexts) > 0 {
			s += ": " + p.Contexts[0].StatusCode + ": " + oneLine(p.Contexts[0].Message, 200)
		}
		return s
	}
	return ""
}
