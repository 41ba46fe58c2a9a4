// Package git is Conveyor's only code that runs git: a cached mirror per connection and
// repository, shallow fetches of exactly the commits asked for, changed paths between two commits
// (with the merge base for new branches), archives of a commit as a zip, and ls-remote for polling.
//
// Everything that reaches git from outside is checked first: repository URLs are https, http or
// ssh (URL or scp-like) only, never file://, ext:: or anything starting with "-"; commit ids are
// hex; branch names pass git's own rules; "--" or --end-of-options separates them from options.
// Hosts that resolve to loopback, private or link-local addresses are refused unless the remote
// allows private networks, and the address that was checked is the one git connects to.
// Credentials reach git through its environment (http.extraHeader, GIT_SSH_COMMAND with a key file),
// never through its arguments or a URL, and never appear in logs or errors.
package git

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// URL is a validated repository URL.
type URL struct {
	Scheme string // https, http or ssh
	User   string // ssh only
	Host   string // name or IP address, without brackets
	Port   string // "" for the scheme's default
	Path   string // on the server, without a leading slash for scp-like URLs
	scp    bool   // user@host:path
}

// ParseURL checks a repository URL: https://host/path, http://host/path, ssh://[user@]host[:port]/path
// or the scp-like [user@]host:path. Credentials in the URL are refused (they belong in the
// connection's token or SSH key), as are other transports (file://, ext::, local paths) and
// anything git could read as an option.
func ParseURL(raw string) (URL, error) {
	if raw == "" {
		return URL{}, fmt.Errorf("the repository URL is empty")
	}
	if len(raw) > 2048 {
		return URL{}, fmt.Errorf("the repository URL is longer than 2048 characters")
	}
	if strings.HasPrefix(raw, "-") {
		return URL{}, fmt.Errorf("repository URL %q starts with '-'", raw)
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f {
			return URL{}, fmt.Errorf("repository URL %q contains white space or control characters", raw)
		}
	}
	if i := strings.Index(raw, "::"); i >= 0 && !strings.Contains(raw[:i], "/") && !strings.Contains(raw[:i], "[") {
		return URL{}, fmt.Errorf("repository URL %q uses a remote helper (%s::); use https://, http:// or ssh://", raw, raw[:i])
	}
	if strings.Contains(raw, "://") {
		return parseStandard(raw)
	}
	return parseSCP(raw)
}

func parseStandard(raw string) (URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return URL{}, fmt.Errorf("repository URL %q: %v", raw, err)
	}
	out := URL{Scheme: strings.ToLower(u.Scheme), Host: u.Hostname(), Port: u.Port(), Path: u.Path}
	switch out.Scheme {
	case "https", "http":
		if u.User != nil {
			return URL{}, fmt.Errorf("repository URL %q holds credentials: give them as the connection's token instead", redact(u))
		}
	case "ssh":
		if u.User != nil {
			if _, hasPassword := u.User.Password(); hasPassword {
				return URL{}, fmt.Errorf("repository URL %q holds a password: use the connection's SSH key", redact(u))
			}
			out.User = u.User.Username()
		}
	default:
		return URL{}, fmt.Errorf("repository URL %q: scheme %q is not allowed; use https://, http:// or ssh:// (or user@host:path)", raw, u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return URL{}, fmt.Errorf("repository URL %q: a query or fragment is not allowed", raw)
	}
	if err := checkHostName(out.Host); err != nil {
		return URL{}, fmt.Errorf("repository URL %q: %v", raw, err)
	}
	if strings.HasPrefix(out.User, "-") {
		return URL{}, fmt.Errorf("repository URL %q: the user name starts with '-'", raw)
	}
	return out, nil
}

func redact(u *url.URL) string {
	c := *u
	c.User = url.User("REDACTED")
	return c.String()
}

// parseSCP reads [user@]host:path, git's scp-like ssh syntax.
func parseSCP(raw string) (URL, error) {
	hostPart, path, ok := strings.Cut(raw, ":")
	if !ok || strings.Contains(hostPart, "/") {
		return URL{}, fmt.Errorf("repository URL %q is not a URL: use https://host/path, ssh://host/path or user@host:path (local paths and file:// are not allowed)", raw)
	}
	out := URL{Scheme: "ssh", Path: path, scp: true}
	if user, host, ok := strings.Cut(hostPart, "@"); ok {
		out.User, out.Host = user, host
	} else {
		out.Host = hostPart
	}
	if out.User == "" && strings.Contains(hostPart, "@") || strings.HasPrefix(out.User, "-") {
		return URL{}, fmt.Errorf("repository URL %q: bad user name", raw)
	}
	if err := checkHostName(out.Host); err != nil {
		return URL{}, fmt.Errorf("repository URL %q: %v", raw, err)
	}
	if strings.HasPrefix(path, "-") {
		return URL{}, fmt.Errorf("repository URL %q: the path starts with '-'", raw)
	}
	return out, nil
}

func checkHostName(h string) error {
	if h == "" {
		return fmt.Errorf("no host")
	}
	if net.ParseIP(h) != nil {
		return nil
	}
	if strings.HasPrefix(h, "-") || strings.HasPrefix(h, ".") {
		return fmt.Errorf("host %q is not a host name", h)
	}
	for _, r := range h {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_'
		if !ok {
			return fmt.Errorf("host %q is not a host name", h)
		}
	}
	return nil
}

// String renders the URL as git is given it.
func (u URL) String() string {
	if u.scp {
		user := ""
		if u.User != "" {
			user = u.User + "@"
		}
		host := u.Host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return user + host + ":" + u.Path
	}
	v := url.URL{Scheme: u.Scheme, Host: u.hostPort(), Path: u.Path}
	if u.User != "" {
		v.User = url.User(u.User)
	}
	return v.String()
}

func (u URL) hostPort() string {
	if u.Port == "" {
		if strings.Contains(u.Host, ":") {
			return "[" + u.Host + "]"
		}
		return u.Host
	}
	return net.JoinHostPort(u.Host, u.Port)
}

// effectivePort is the port git connects to.
func (u URL) effectivePort() string {
	if u.Port != "" {
		return u.Port
	}
	switch u.Scheme {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return "22"
}

// RepositoryID is the repository's path without ".git" and surrounding slashes: "team/app".
func (u URL) RepositoryID() string {
	return strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git")
}

// IsBase reports whether the URL names a forge rather than one repository: no path, or a path
// that does not end in ".git" and is not the repository id given.
func (u URL) IsBase(fullRepositoryID string) bool {
	p := strings.Trim(u.Path, "/")
	switch {
	case p == "":
		return true
	case strings.HasSuffix(p, ".git"), fullRepositoryID == "":
		return false
	}
	return !strings.EqualFold(p, strings.Trim(fullRepositoryID, "/"))
}

// Join returns the repository fullRepositoryID ("owner/repo") under a base URL.
func (u URL) Join(fullRepositoryID string) URL {
	id := strings.Trim(fullRepositoryID, "/")
	if !strings.HasSuffix(id, ".git") {
		id += ".git"
	}
	out := u
	base := strings.TrimSuffix(u.Path, "/")
	switch {
	case u.scp && base == "":
		out.Path = id
	case base == "":
		out.Path = "/" + id
	default:
		out.Path = base + "/" + id
	}
	return out
}

// WebURL is the repository's browser address (https and http URLs only; "" for ssh).
func (u URL) WebURL() string {
	if u.Scheme != "https" && u.Scheme != "http" {
		return ""
	}
	v := url.URL{Scheme: u.Scheme, Host: u.hostPort(), Path: strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git")}
	return v.String()
}
