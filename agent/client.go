package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/conveyorci/conveyor/agent/protocol"
)

// StatusError is a non-2xx answer from the server.
type StatusError struct {
	Status  int
	Code    string
	Message string
}

func (e *StatusError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Code != "" {
		return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, msg)
	}
	return fmt.Sprintf("server answered %d: %s", e.Status, msg)
}

// statusOf returns the HTTP status of a server refusal, 0 for anything else (network errors).
func statusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// final says whether retrying a call cannot help: the server understood and refused it.
func final(err error) bool {
	s := statusOf(err)
	return s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests
}

// client speaks the agent protocol.
type client struct {
	base    *url.URL
	http    *http.Client
	version string
	// auth is "Bearer <agentId>:<credential>" once registered.
	auth string
}

func newClient(server string, hc *http.Client, version string) (*client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want a URL such as https://conveyor.example.com", server)
	}
	if hc == nil {
		hc = &http.Client{} // no overall timeout: polls are long; every call has a context deadline
	}
	return &client{base: u, http: hc, version: version}, nil
}

// url joins an escaped path (and query) to the server's base URL.
func (c *client) url(p string) string {
	return strings.TrimRight(c.base.String(), "/") + "/" + strings.TrimLeft(p, "/")
}

// do sends a JSON request and decodes a JSON answer into out (when not nil). It returns the
// HTTP status; a non-2xx answer is a *StatusError.
func (c *client) do(ctx context.Context, method, p string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(p), body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.headers(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, readError(resp)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode the server's answer to %s %s: %w", method, p, err)
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

func (c *client) headers(req *http.Request) {
	req.Header.Set(protocol.AgentHeader, c.version)
	req.Header.Set("User-Agent", "conveyor-agent/"+c.version)
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
}

func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	se := &StatusError{Status: resp.StatusCode}
	var pe protocol.Error
	if json.Unmarshal(b, &pe) == nil && (pe.Code != "" || pe.Message != "") {
		se.Code, se.Message = pe.Code, pe.Message
	} else {
		se.Message = strings.TrimSpace(string(b))
		if len(se.Message) > 200 {
			se.Message = se.Message[:200]
		}
	}
	return se
}

// Fetch downloads a bundle (lifecycle.Fetcher).
func (c *client) Fetch(ctx context.Context, bundlePath string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(bundlePath), nil)
	if err != nil {
		return nil, err
	}
	c.headers(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp.Body, nil
}

func commandPath(id, what string) string {
	return protocol.PathPrefix + "/commands/" + url.PathEscape(id) + "/" + what
}
