package archive

import (
	"io/fs"
	"os"
	"sort"
	"strings"
)

type nodeKind uint8

const (
	kindDir nodeKind = iota + 1
	kindFile
	kindSymlink
)

type node struct {
	kind     nodeKind
	target   string // symlink target
	name     string // the entry name in the archive, for errors ("" when implied)
	explicit bool   // the archive had an entry for it (directories may also be implied)
}

// tree is what an archive puts in the destination, built entry by entry. It enforces the
// structural rules (no duplicates, nothing beneath a link or a file) and resolves link targets.
type tree struct {
	nodes map[string]*node
	// disk, when set, is consulted for paths the archive did not create, so that links already
	// present in the destination are followed during resolution.
	disk *os.Root
}

func newTree(disk *os.Root) *tree { return &tree{nodes: make(map[string]*node), disk: disk} }

// add records an entry. name is the original entry name, for errors.
func (t *tree) add(name, p string, kind nodeKind, target string) error {
	for _, a := range ancestors(p) {
		switch n := t.nodes[a]; {
		case n == nil:
			t.nodes[a] = &node{kind: kindDir}
		case n.kind == kindSymlink:
			return entryErr(name, ErrThroughSymlink, "%q is a symbolic link", a)
		case n.kind != kindDir:
			return entryErr(name, ErrNotDir, "%q is a file", a)
		}
	}
	if n := t.nodes[p]; n != nil {
		switch {
		case kind == kindDir && n.kind == kindDir:
			n.explicit, n.name = true, name
			return nil
		case n.kind == kindSymlink:
			return entryErr(name, ErrDuplicate, "would overwrite the symbolic link %q", p)
		case n.kind == kindDir:
			return entryErr(name, ErrDuplicate, "%q is already a directory", p)
		default:
			return entryErr(name, ErrDuplicate, "%q was already extracted", p)
		}
	}
	t.nodes[p] = &node{kind: kind, target: target, name: name, explicit: true}
	return nil
}

// lookup reports whether p is a symbolic link and its target: from the archive's own entries,
// or from the destination on disk for paths the archive did not create.
func (t *tree) lookup(p string) (isLink bool, target string) {
	if n := t.nodes[p]; n != nil {
		return n.kind == kindSymlink, n.target
	}
	if t.disk == nil {
		return false, ""
	}
	fi, err := t.disk.Lstat(p)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return false, ""
	}
	tg, err := t.disk.Readlink(p)
	if err != nil {
		return true, "/" // unreadable link: treat as escaping
	}
	return true, tg
}

// resolve follows the link at linkPath to its final location, through every link on the way.
// It fails when any step leaves the destination root, uses an absolute target, or loops.
// It returns the resolved slash path ("" for the root).
func (t *tree) resolve(name, linkPath, target string) (string, error) {
	stack := splitPath(parentOf(linkPath))
	pending := splitPath(strings.ReplaceAll(target, `\`, "/"))
	hops := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return "", entryErr(name, ErrSymlinkEscape, "link target %q leaves the destination", target)
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, c)
		isLink, tg := t.lookup(strings.Join(stack, "/"))
		if !isLink {
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", entryErr(name, ErrSymlinkEscape, "too many levels of symbolic links resolving %q", target)
		}
		tg = strings.ReplaceAll(tg, `\`, "/")
		if tg == "" || strings.HasPrefix(tg, "/") || isDrivePath(tg) {
			return "", entryErr(name, ErrSymlinkEscape, "link target %q goes through an absolute link", target)
		}
		stack = stack[:len(stack)-1]
		pending = append(splitPath(tg), pending...)
	}
	return strings.Join(stack, "/"), nil
}

// checkLinks resolves every symbolic link the archive created, in name order; the archive is
// complete, so a later entry can no longer change where an earlier link leads. It returns the
// path of the first offending link with the error.
func (t *tree) checkLinks() (string, error) {
	if bad := t.escapingLinks(); len(bad) > 0 {
		return bad[0].path, bad[0].err
	}
	return "", nil
}

type badLink struct {
	path string
	err  error
}

// escapingLinks returns every link that does not resolve inside the root, in name order.
func (t *tree) escapingLinks() []badLink {
	var links []string
	for p, n := range t.nodes {
		if n.kind == kindSymlink {
			links = append(links, p)
		}
	}
	sort.Strings(links)
	var bad []badLink
	for _, p := range links {
		n := t.nodes[p]
		if _, err := t.resolve(n.name, p, n.target); err != nil {
			bad = append(bad, badLink{p, err})
		}
	}
	return bad
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// resolvePath follows links through every component of p, from the root.
func (t *tree) resolvePath(p string) (string, error) {
	return t.resolve(p, "", p)
}
