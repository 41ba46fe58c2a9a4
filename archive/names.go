package archive

import (
	"path"
	"strings"
)

const (
	maxNameBytes      = 4096
	maxComponentBytes = 255
	maxLinkHops       = 40
)

// cleanName turns an archive entry name into a clean relative slash path. It returns "" for the
// archive root itself ("." or "./"). Backslashes count as separators so that names written on
// Windows cannot smuggle a ".." past the check.
func cleanName(name string) (string, error) {
	if name == "" {
		return "", entryErr(name, ErrUnsafePath, "empty name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", entryErr(name, ErrUnsafePath, "NUL byte in name")
	}
	if len(name) > maxNameBytes {
		return "", entryErr(name, ErrUnsafePath, "name longer than %d bytes", maxNameBytes)
	}
	n := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(n, "/") {
		return "", entryErr(name, ErrUnsafePath, "absolute path")
	}
	if isDrivePath(n) {
		return "", entryErr(name, ErrUnsafePath, "Windows drive path")
	}
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", entryErr(name, ErrUnsafePath, `".." component`)
		}
		if len(c) > maxComponentBytes {
			return "", entryErr(name, ErrUnsafePath, "path component longer than %d bytes", maxComponentBytes)
		}
	}
	c := path.Clean(n)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// isDrivePath reports a Windows drive-letter prefix such as "C:" or "c:/x".
func isDrivePath(n string) bool {
	if len(n) < 2 || n[1] != ':' {
		return false
	}
	b := n[0]
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// checkLinkTarget refuses symlink targets that are unsafe on their face: empty, absolute, a
// drive or UNC path, a NUL byte, or too long. Whether a relative target stays inside the
// destination is decided by tree.resolve.
func checkLinkTarget(entry, target string) error {
	switch {
	case target == "":
		return entryErr(entry, ErrSymlinkEscape, "empty link target")
	case strings.IndexByte(target, 0) >= 0:
		return entryErr(entry, ErrSymlinkEscape, "NUL byte in link target")
	case len(target) > maxNameBytes:
		return entryErr(entry, ErrSymlinkEscape, "link target longer than %d bytes", maxNameBytes)
	}
	t := strings.ReplaceAll(target, `\`, "/")
	if strings.HasPrefix(t, "/") || isDrivePath(t) {
		return entryErr(entry, ErrSymlinkEscape, "absolute link target %q", target)
	}
	return nil
}

// ancestors returns "a", "a/b" for "a/b/c".
func ancestors(p string) []string {
	var out []string
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return out
}

func splitPath(p string) []string {
	if p == "" || p == "." {
		return nil
	}
	return strings.Split(p, "/")
}
