// Package gittest serves real git repositories over HTTP for tests: git's own smart HTTP backend
// (git http-backend, from the git installation) behind net/http/cgi, with pushes made by the git
// CLI from a work tree. It is test support only; the server never imports it.
package gittest

import (
	"io"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// HTTPBackend is where Debian's git keeps its smart HTTP backend.
const HTTPBackend = "/usr/lib/git-core/git-http-backend"

// Server is a git smart HTTP server on a loopback port.
type Server struct {
	URL  string // http://127.0.0.1:port
	Root string // GIT_PROJECT_ROOT
	srv  *httptest.Server
}

// NewServer starts a server; it stops when the test ends. It fails the test when git's HTTP
// backend is missing (the test needs the real thing).
func NewServer(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(HTTPBackend); err != nil {
		t.Fatalf("git's HTTP backend is needed for this test: %v (install git)", err)
	}
	root := t.TempDir()
	// The backend's complaints (a client asking for a commit the server lacks) are expected in
	// tests; they go nowhere rather than into the test binary's output.
	h := &cgi.Handler{Path: HTTPBackend, Root: "/", Stderr: io.Discard, Env: []string{
		"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root,
	}}
	s := &Server{Root: root, srv: httptest.NewServer(h)}
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Repo is a bare repository on the server and a work tree that pushes to it.
type Repo struct {
	t    testing.TB
	URL  string // the clone URL
	Bare string
	Work string
}

// NewRepo creates path (e.g. "team/app") on the server, with main as its default branch, and a
// work tree whose origin it is.
func (s *Server) NewRepo(t testing.TB, path string) *Repo {
	t.Helper()
	bare := filepath.Join(s.Root, filepath.FromSlash(path)+".git")
	r := &Repo{t: t, URL: s.URL + "/" + path + ".git", Bare: bare, Work: t.TempDir()}
	Run(t, "", "init", "--quiet", "--bare", "--initial-branch=main", bare)
	Run(t, bare, "config", "http.receivepack", "true")
	Run(t, r.Work, "init", "--quiet", "--initial-branch=main")
	Run(t, r.Work, "config", "user.name", "Test Author")
	Run(t, r.Work, "config", "user.email", "author@example.com")
	Run(t, r.Work, "config", "commit.gpgsign", "false")
	Run(t, r.Work, "remote", "add", "origin", r.URL)
	return r
}

// Run runs git in dir (with no user or system configuration) and returns its trimmed output.
func Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_DATE=2026-11-20T10:00:00Z", "GIT_COMMITTER_DATE=2026-11-20T10:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Git runs git in the work tree.
func (r *Repo) Git(args ...string) string {
	r.t.Helper()
	return Run(r.t, r.Work, args...)
}

// Write writes files (path → content; "" content deletes the file) into the work tree.
func (r *Repo) Write(files map[string]string) {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.Work, filepath.FromSlash(p))
		if content == "" {
			if err := os.Remove(full); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Commit writes files, commits everything with message and returns the commit id.
func (r *Repo) Commit(message string, files map[string]string) string {
	r.t.Helper()
	r.Write(files)
	r.Git("add", "--all")
	r.Git("commit", "--quiet", "--allow-empty", "-m", message)
	return r.Git("rev-parse", "HEAD")
}

// Push pushes refspecs (default: the current branch) to the server.
func (r *Repo) Push(refspecs ...string) {
	r.t.Helper()
	if len(refspecs) == 0 {
		refspecs = []string{"HEAD"}
	}
	r.Git(append([]string{"push", "--quiet", "--force", "origin"}, refspecs...)...)
}
