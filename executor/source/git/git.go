package git

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Remote is a repository to fetch from and the credentials to fetch it with.
type Remote struct {
	URL URL
	// Token is sent as HTTP Basic authentication: "user:password" as given, or TokenUser and the
	// token as the password.
	Token     string
	TokenUser string
	// SSHKey is a private key (OpenSSH or PEM) for ssh URLs.
	SSHKey              string
	AllowPrivateNetwork bool
}

// Client runs git for every connection. Its directory holds the mirror caches
// (<dir>/<connection>/<repository>.git), temporary work trees and SSH's known_hosts.
type Client struct {
	Dir string
	// Resolver resolves repository hosts (nil: the system's).
	Resolver *net.Resolver
	Log      *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.RWMutex
}

// NewClient prepares the directory.
func NewClient(dir string, resolver *net.Resolver, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Work trees and key files of a previous run (one that crashed) go; one server owns the
	// directory.
	tmp := filepath.Join(dir, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("clean %s: %w", tmp, err)
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("git directory %s: %w", dir, err)
	}
	return &Client{Dir: dir, Resolver: resolver, Log: log, locks: map[string]*sync.RWMutex{}}, nil
}

var safeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Repo returns the cached mirror of a remote for a connection. The cache is keyed by the URL too,
// so a connection pointed elsewhere starts a fresh one.
func (c *Client) Repo(connection string, r Remote) (*Repo, error) {
	if connection == "" || connection == "." || connection == ".." || safeName.MatchString(connection) {
		return nil, fmt.Errorf("connection name %q cannot name a cache directory", connection)
	}
	sum := sha256.Sum256([]byte(r.URL.String()))
	id := strings.Trim(safeName.ReplaceAllString(r.URL.RepositoryID(), "_"), "._")
	if len(id) > 64 {
		id = id[:64]
	}
	dir := filepath.Join(c.Dir, connection, id+"-"+hex.EncodeToString(sum[:4])+".git")
	c.mu.Lock()
	l, ok := c.locks[dir]
	if !ok {
		l = &sync.RWMutex{}
		c.locks[dir] = l
	}
	c.mu.Unlock()
	return &Repo{c: c, dir: dir, remote: r, lock: l}, nil
}

// RemoveConnection deletes a connection's caches.
func (c *Client) RemoveConnection(connection string) error {
	if connection == "" || safeName.MatchString(connection) || connection == "." || connection == ".." {
		return fmt.Errorf("connection name %q cannot name a cache directory", connection)
	}
	return os.RemoveAll(filepath.Join(c.Dir, connection))
}

// Error is a failed git command: what was attempted and the end of git's standard error.
type Error struct {
	Op     string
	Stderr string
	Err    error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return e.Op + ": " + msg
}

func (e *Error) Unwrap() error { return e.Err }

// session is the environment of git commands against one remote: the checked address pinned,
// credentials in configuration passed through the environment, a key file for ssh.
type session struct {
	env     []string
	cleanup func()
}

const (
	lowSpeedLimit = "1000" // bytes per second…
	lowSpeedTime  = "60"   // …for this many seconds aborts a stalled transfer
)

// baseEnv is what every git command runs with: no system or user configuration, no prompts, no
// hooks, and only the transports allowed that the remote needs.
func (c *Client) baseEnv(config [][2]string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.Dir,
		"LC_ALL=C",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_HTTP_LOW_SPEED_LIMIT=" + lowSpeedLimit,
		"GIT_HTTP_LOW_SPEED_TIME=" + lowSpeedTime,
		"GIT_ASKPASS=",
		"SSH_ASKPASS=",
	}
	// Proxies and CA bundles are the host's business.
	for _, k := range []string{"http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	config = append([][2]string{
		{"protocol.allow", "never"},
		{"core.hooksPath", os.DevNull},
		{"credential.helper", ""},
		{"http.followRedirects", "false"},
		{"gc.autoDetach", "false"},
		{"advice.detachedHead", "false"},
	}, config...)
	env = append(env, fmt.Sprintf("GIT_CONFIG_COUNT=%d", len(config)))
	for i, kv := range config {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, kv[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, kv[1]))
	}
	return env
}

// open resolves and checks the remote's host and prepares the environment to reach it.
func (c *Client) open(ctx context.Context, r Remote) (*session, error) {
	u := r.URL
	addrs, err := resolve(ctx, c.Resolver, u.Host, r.AllowPrivateNetwork)
	if err != nil {
		return nil, err
	}
	config := [][2]string{{"protocol." + u.Scheme + ".allow", "always"}}
	s := &session{cleanup: func() {}}
	switch u.Scheme {
	case "https", "http":
		// git connects to the address that was checked, not to whatever DNS says a moment later.
		pins := make([]string, len(addrs))
		for i, a := range addrs {
			pins[i] = addrString(a)
		}
		config = append(config, [2]string{"http.curloptResolve", u.Host + ":" + u.effectivePort() + ":" + strings.Join(pins, ",")})
		if r.Token != "" {
			user, pass, ok := strings.Cut(r.Token, ":")
			if !ok {
				user, pass = r.TokenUser, r.Token
				if user == "" {
					user = "x-access-token"
				}
			}
			// Scoped to the repository's origin, so a header never goes anywhere else.
			origin := u.Scheme + "://" + u.hostPort() + "/"
			config = append(config, [2]string{"http." + origin + ".extraHeader",
				"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))})
		}
	case "ssh":
		args := []string{"ssh", "-F", os.DevNull, "-o", "BatchMode=yes", "-o", "ConnectTimeout=30",
			"-o", "ServerAliveInterval=15", "-o", "StrictHostKeyChecking=accept-new",
			"-o", "UserKnownHostsFile=" + filepath.Join(c.Dir, "known_hosts"),
			"-o", "HostName=" + addrs[0].Unmap().String(), "-o", "HostKeyAlias=" + u.Host}
		if r.SSHKey != "" {
			f, err := os.CreateTemp(filepath.Join(c.Dir, "tmp"), "key-*")
			if err != nil {
				return nil, err
			}
			key := r.SSHKey
			if !strings.HasSuffix(key, "\n") {
				key += "\n"
			}
			_, werr := f.WriteString(key)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(f.Name())
				return nil, fmt.Errorf("write the SSH key file: %w", werr)
			}
			s.cleanup = func() { os.Remove(f.Name()) }
			args = append(args, "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", f.Name())
		}
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = shellQuote(a)
		}
		s.env = append(s.env, "GIT_SSH_COMMAND="+strings.Join(quoted, " "), "GIT_SSH_VARIANT=ssh")
	}
	s.env = append(c.baseEnv(config), s.env...)
	return s, nil
}

func addrString(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		return "[" + a.String() + "]"
	}
	return a.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// run runs git in dir with env, returning its standard output. Standard error is kept (its end) for
// the error message.
func (c *Client) run(ctx context.Context, dir string, env []string, stdout io.Writer, op string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = stdout
	var stderr tailBuffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	c.Log.Debug("git", "op", op, "dir", dir, "took", time.Since(start), "err", err)
	if err != nil {
		if ctx.Err() != nil {
			return &Error{Op: op, Err: ctx.Err()}
		}
		return &Error{Op: op, Stderr: stderr.String(), Err: err}
	}
	return nil
}

// output runs git and returns its standard output.
func (c *Client) output(ctx context.Context, dir string, env []string, op string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	err := c.run(ctx, dir, env, &out, op, args...)
	return out.Bytes(), err
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

var (
	hexPattern     = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)
	zeroCommit     = regexp.MustCompile(`^0+$`)
	refNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/+@-]*$`)
)

// ErrNoCommit is wrapped by errors about commits that are not there or are not commits.
var ErrNoCommit = errors.New("no such commit")

// IsCommitID reports whether s is a full commit id (SHA-1 or SHA-256).
func IsCommitID(s string) bool { return hexPattern.MatchString(s) }

// IsZero reports whether s is the all-zero id git hooks use for "no commit" (a new or deleted ref).
func IsZero(s string) bool { return s == "" || zeroCommit.MatchString(s) }

// CheckBranchName applies git's rules for branch names (git check-ref-format), a little stricter.
func CheckBranchName(name string) error {
	switch {
	case name == "":
		return errors.New("the branch name is empty")
	case len(name) > 255:
		return errors.New("the branch name is longer than 255 characters")
	case !refNamePattern.MatchString(name),
		strings.Contains(name, ".."), strings.Contains(name, "//"), strings.Contains(name, "@{"),
		strings.HasSuffix(name, "/"), strings.HasSuffix(name, "."), strings.HasSuffix(name, ".lock"),
		strings.Contains(name, "/."), name == "@":
		return fmt.Errorf("%q is not a valid branch name", name)
	}
	return nil
}
