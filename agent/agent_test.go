package agent

// The client loop against the real server is tested in cmd/conveyor (agent_test.go on loopback,
// deploy_e2e_test.go with agents in containers), where the server is wired; these are the parts
// that need no server.

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBackoffGrowsWithJitterUpToTheMaximum(t *testing.T) {
	b := &backoff{Base: 100 * time.Millisecond, Max: time.Second}
	for n := range 40 {
		ceil := min(100*time.Millisecond<<n, time.Second)
		if n > 30 {
			ceil = time.Second
		}
		if d := b.next(); d <= 0 || d > ceil {
			t.Fatalf("wait %d = %v, want in (0, %v]", n, d, ceil)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
	// Jitter: a fleet does not retry in step.
	seen := map[time.Duration]bool{}
	for range 20 {
		b := &backoff{Base: time.Second, Max: time.Minute}
		seen[b.next()] = true
	}
	if len(seen) < 10 {
		t.Errorf("%d distinct first waits of 20", len(seen))
	}
}

func TestIdentityIsOwnerOnlyAndSurvives(t *testing.T) {
	root := t.TempDir()
	if id, err := loadIdentity(root); id != nil || err != nil {
		t.Fatalf("empty root: %v %v", id, err)
	}
	want := &identity{AgentID: "agent-1", Credential: "s3cret", Name: "web-1", Server: "http://x", TokenSHA256: tokenHash("tok")}
	if err := saveIdentity(root, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(root, identityFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %v %v", fi.Mode(), err)
	}
	got, err := loadIdentity(root)
	if err != nil || got.AgentID != "agent-1" || got.Credential != "s3cret" || got.TokenSHA256 != want.TokenSHA256 {
		t.Fatalf("loaded %+v %v", got, err)
	}
	b, _ := os.ReadFile(filepath.Join(root, identityFile))
	if strings.Contains(string(b), `"tok"`) {
		t.Error("the registration token itself is stored")
	}
	os.WriteFile(filepath.Join(root, identityFile), []byte("{"), 0o600)
	if _, err := loadIdentity(root); err == nil || !strings.Contains(err.Error(), "register again with --token") {
		t.Errorf("damaged identity: %v", err)
	}
}

func TestServerURLs(t *testing.T) {
	c, err := newClient("https://ci.example.com/conveyor/", nil, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.url("/agent/v1/commands/next?wait=60"); got != "https://ci.example.com/conveyor/agent/v1/commands/next?wait=60" {
		t.Errorf("url %s", got)
	}
	if got := c.url(commandPath("a/b", "events")); got != "https://ci.example.com/conveyor/agent/v1/commands/a%2Fb/events" {
		t.Errorf("url %s", got)
	}
	for _, bad := range []string{"", "ci.example.com", "ftp://x", "http://"} {
		if _, err := newClient(bad, nil, "v1"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRefusalsAreFinal(t *testing.T) {
	for status, want := range map[int]bool{400: true, 401: true, 403: true, 404: true, 409: true, 410: true, 408: false, 429: false, 500: false, 503: false} {
		if got := final(&StatusError{Status: status}); got != want {
			t.Errorf("final(%d) = %v", status, got)
		}
	}
	if final(errors.New("connection refused")) {
		t.Error("a network error is final")
	}
	if statusOf(&StatusError{Status: http.StatusConflict}) != 409 {
		t.Error("statusOf")
	}
}

func TestNewNeedsAServerAndTakesDefaults(t *testing.T) {
	if _, err := New(Config{Server: "nope", Root: t.TempDir()}); err == nil {
		t.Error("a server without a scheme was accepted")
	}
	a, err := New(Config{Server: "http://127.0.0.1:1", Root: t.TempDir(), PollWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.PollWait != time.Minute || a.cfg.Name == "" || a.cfg.RetryBase != 500*time.Millisecond {
		t.Errorf("defaults %+v", a.cfg)
	}
}
