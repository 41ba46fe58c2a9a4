package git

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Repo is the cached mirror of one remote repository: a bare repository filled by shallow fetches
// of the commits asked for, so repeated fetches transfer only new objects. Fetches hold the
// repository's lock; reads (archives, commits already present) share it.
type Repo struct {
	c      *Client
	dir    string
	remote Remote
	lock   *sync.RWMutex
}

// Dir is the cache's directory.
func (r *Repo) Dir() string { return r.dir }

// URL is the remote's URL.
func (r *Repo) URL() URL { return r.remote.URL }

// init creates the bare cache repository once.
func (r *Repo) init(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(r.dir, "HEAD")); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(r.dir), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Join(r.c.Dir, "tmp"), "init-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := r.c.run(ctx, tmp, r.c.baseEnv(nil), nil, "git init", "init", "--quiet", "--bare", "--", "repo.git"); err != nil {
		return err
	}
	// Built aside and renamed, so a crash never leaves a half-made cache behind.
	if err := os.Rename(filepath.Join(tmp, "repo.git"), r.dir); err != nil {
		return fmt.Errorf("create git cache %s: %w", r.dir, err)
	}
	return nil
}

// local runs a git command in the cache that does not reach the remote.
func (r *Repo) local(ctx context.Context, op string, args ...string) ([]byte, error) {
	return r.c.output(ctx, r.dir, r.c.baseEnv(nil), op, args...)
}

// has reports whether the cache holds the commit (or the tag of a commit) id.
func (r *Repo) has(ctx context.Context, id string) bool {
	_, err := r.local(ctx, "git cat-file", "cat-file", "-e", id+"^{commit}")
	return err == nil
}

// fetch fetches wants (commit ids or refspecs) at depth into the cache; depth 0 fetches the
// complete history.
func (r *Repo) fetch(ctx context.Context, depth int, wants ...string) error {
	s, err := r.c.open(ctx, r.remote)
	if err != nil {
		return err
	}
	defer s.cleanup()
	args := []string{"fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head"}
	if depth > 0 {
		args = append(args, "--depth="+strconv.Itoa(depth))
	} else if _, err := os.Stat(filepath.Join(r.dir, "shallow")); err == nil {
		args = append(args, "--unshallow")
	}
	args = append(append(args, "--", r.remote.URL.String()), wants...)
	return r.c.run(ctx, r.dir, s.env, nil, "git fetch", args...)
}

// ensure fetches the ids the cache lacks, one commit deep; the caller holds the lock. ref, when
// given, is fetched instead when the server refuses to serve an id directly (servers that only
// serve advertised refs), and the id looked for in its recent history.
func (r *Repo) ensure(ctx context.Context, ids []string, ref string) error {
	if err := r.init(ctx); err != nil {
		return err
	}
	var missing []string
	for _, id := range ids {
		if !IsCommitID(id) {
			return fmt.Errorf("%q is not a commit id (40 hex digits): %w", id, ErrNoCommit)
		}
		if !r.has(ctx, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := r.fetch(ctx, 1, missing...)
	if err != nil && ref != "" {
		if ferr := r.fetch(ctx, 50, "+"+ref+":refs/conveyor/fetched"); ferr != nil {
			return errors.Join(err, ferr)
		}
		err = nil
	}
	if err != nil {
		return err
	}
	for _, id := range missing {
		if !r.has(ctx, id) {
			return fmt.Errorf("commit %s is not in %s (deleted, or force-pushed away?): %w", id, r.remote.URL.String(), ErrNoCommit)
		}
	}
	return nil
}

// Ensure makes sure the cache holds the commit id, fetching exactly that commit (shallow) when it
// does not, and returns the commit it names: for an annotated tag's id, the tagged commit. ref
// (e.g. refs/heads/main) is a fallback for servers that serve only advertised refs.
func (r *Repo) Ensure(ctx context.Context, id, ref string) (string, error) {
	r.lock.Lock()
	defer r.lock.Unlock()
	if err := r.ensure(ctx, []string{id}, ref); err != nil {
		return "", err
	}
	return r.peel(ctx, id)
}

func (r *Repo) peel(ctx context.Context, id string) (string, error) {
	out, err := r.local(ctx, "git rev-parse", "rev-parse", "--verify", "--quiet", "--end-of-options", id+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%s does not name a commit: %w", id, ErrNoCommit)
	}
	return strings.TrimSpace(string(out)), nil
}

// Refs are a remote's branches and tags.
type Refs struct {
	// Head is the ref the remote's HEAD points to ("refs/heads/main"), "" when unknown.
	Head string
	// Refs maps refs/heads/* and refs/tags/* to commit ids (annotated tags peeled).
	Refs map[string]string
}

// DefaultBranch is the branch HEAD points to ("main"), "" when unknown.
func (r Refs) DefaultBranch() string {
	b, _ := strings.CutPrefix(r.Head, "refs/heads/")
	return b
}

// LsRemote lists the remote's branches and tags (one request, nothing fetched).
func (r *Repo) LsRemote(ctx context.Context) (Refs, error) {
	s, err := r.c.open(ctx, r.remote)
	if err != nil {
		return Refs{}, err
	}
	defer s.cleanup()
	out, err := r.c.output(ctx, filepath.Join(r.c.Dir, "tmp"), s.env, "git ls-remote", "ls-remote", "--symref", "--", r.remote.URL.String())
	if err != nil {
		return Refs{}, err
	}
	refs := Refs{Refs: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		left, name, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		if target, ok := strings.CutPrefix(left, "ref: "); ok {
			if name == "HEAD" {
				refs.Head = target
			}
			continue
		}
		if !IsCommitID(left) || !strings.HasPrefix(name, "refs/heads/") && !strings.HasPrefix(name, "refs/tags/") {
			continue
		}
		if tag, ok := strings.CutSuffix(name, "^{}"); ok {
			refs.Refs[tag] = left // the peeled commit wins over the tag object
			continue
		}
		if _, peeled := refs.Refs[name]; !peeled || strings.HasPrefix(name, "refs/heads/") {
			refs.Refs[name] = left
		}
	}
	return refs, sc.Err()
}

// Changes are the paths that differ between two commits.
type Changes struct {
	// Base is the commit compared with ("" when there was none: then every file counts as changed).
	Base  string
	Paths []string
}

// ChangedPaths lists the files that differ between before and after, as git diff before..after
// does: from the trees, never from a payload's commit lists. For a new branch (before all zeros),
// or a before that is gone from the server, the base is the merge base with defaultBranch (a
// branch created at a commit of defaultBranch changes nothing); with no base at all (no
// defaultBranch given, an orphan branch) every file of after counts as changed.
func (r *Repo) ChangedPaths(ctx context.Context, before, after, defaultBranch string) (Changes, error) {
	r.lock.Lock()
	defer r.lock.Unlock()
	if err := r.ensure(ctx, []string{after}, ""); err != nil {
		return Changes{}, err
	}
	head, err := r.peel(ctx, after)
	if err != nil {
		return Changes{}, err
	}
	base := ""
	if !IsZero(before) {
		if err := r.ensure(ctx, []string{before}, ""); err == nil {
			base, _ = r.peel(ctx, before)
		} else {
			r.c.Log.Info("the push's before commit cannot be fetched; using the merge base", "before", before, "err", err)
		}
	}
	if base == "" {
		if base, err = r.mergeBase(ctx, head, defaultBranch); err != nil {
			return Changes{}, err
		}
	}
	var out []byte
	if base == "" {
		out, err = r.local(ctx, "git ls-tree", "ls-tree", "-r", "-z", "--name-only", "--full-tree", "--end-of-options", head)
	} else {
		out, err = r.local(ctx, "git diff-tree", "diff-tree", "-r", "-z", "--name-only", "--no-renames", "--no-commit-id", "--end-of-options", base, head)
	}
	if err != nil {
		return Changes{}, err
	}
	var paths []string
	for _, p := range bytes.Split(out, []byte{0}) {
		if len(p) > 0 {
			paths = append(paths, string(p))
		}
	}
	sort.Strings(paths)
	return Changes{Base: base, Paths: paths}, nil
}

// mergeBase finds where head's branch left defaultBranch, deepening the cache step by step until
// the histories meet. "" when there is no default branch or the histories never meet.
func (r *Repo) mergeBase(ctx context.Context, head, defaultBranch string) (string, error) {
	if defaultBranch == "" || CheckBranchName(defaultBranch) != nil {
		return "", nil
	}
	spec := "+refs/heads/" + defaultBranch + ":refs/conveyor/default"
	for _, depth := range []int{64, 1024, 0} {
		if err := r.fetch(ctx, depth, head, spec); err != nil {
			var ge *Error
			if errors.As(err, &ge) && strings.Contains(ge.Stderr, "couldn't find remote ref") {
				return "", nil // no such default branch
			}
			return "", err
		}
		out, err := r.local(ctx, "git merge-base", "merge-base", "--end-of-options", head, "refs/conveyor/default")
		if err == nil {
			return strings.TrimSpace(string(out)), nil
		}
	}
	return "", nil
}

// CommitInfo is what a commit says about itself.
type CommitInfo struct {
	ID             string
	Parents        []string
	AuthorName     string
	AuthorEmail    string
	AuthorDate     time.Time
	CommitterName  string
	CommitterEmail string
	CommitterDate  time.Time
	Message        string
}

// Commit reads a commit the cache holds.
func (r *Repo) Commit(ctx context.Context, id string) (CommitInfo, error) {
	r.lock.RLock()
	defer r.lock.RUnlock()
	if !IsCommitID(id) {
		return CommitInfo{}, fmt.Errorf("%q is not a commit id: %w", id, ErrNoCommit)
	}
	raw, err := r.local(ctx, "git cat-file", "cat-file", "commit", id)
	if err != nil {
		return CommitInfo{}, err
	}
	return ParseCommit(id, raw)
}

// ParseCommit reads a raw commit object (git cat-file commit).
func ParseCommit(id string, raw []byte) (CommitInfo, error) {
	c := CommitInfo{ID: id}
	header, msg, _ := bytes.Cut(raw, []byte("\n\n"))
	c.Message = string(msg)
	for _, line := range strings.Split(string(header), "\n") {
		key, value, _ := strings.Cut(line, " ")
		switch key {
		case "parent":
			c.Parents = append(c.Parents, value)
		case "author":
			c.AuthorName, c.AuthorEmail, c.AuthorDate = parseIdent(value)
		case "committer":
			c.CommitterName, c.CommitterEmail, c.CommitterDate = parseIdent(value)
		}
	}
	if c.CommitterDate.IsZero() {
		return c, fmt.Errorf("commit %s has no committer line", id)
	}
	return c, nil
}

// parseIdent reads "Name <email> 1700000000 +0100".
func parseIdent(s string) (name, email string, when time.Time) {
	lt, gt := strings.IndexByte(s, '<'), strings.LastIndexByte(s, '>')
	if lt < 0 || gt < lt {
		return s, "", time.Time{}
	}
	name, email = strings.TrimSpace(s[:lt]), s[lt+1:gt]
	fields := strings.Fields(s[gt+1:])
	if len(fields) != 2 {
		return name, email, time.Time{}
	}
	secs, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return name, email, time.Time{}
	}
	when = time.Unix(secs, 0).UTC()
	if tz, err := time.Parse("-0700", fields[1]); err == nil {
		_, off := tz.Zone()
		when = when.In(time.FixedZone(fields[1], off))
	}
	return name, email, when
}

// ArchiveZip writes the commit's tree as a zip, without .git: exactly what git archive makes of it
// (export-ignore and export-subst attributes included).
func (r *Repo) ArchiveZip(ctx context.Context, commit string, w io.Writer) error {
	r.lock.RLock()
	defer r.lock.RUnlock()
	if !IsCommitID(commit) {
		return fmt.Errorf("%q is not a commit id: %w", commit, ErrNoCommit)
	}
	return r.c.run(ctx, r.dir, r.c.baseEnv(nil), w, "git archive", "archive", "--format=zip", "--end-of-options", commit)
}

// CloneZip writes a zip of a clone checked out at commit, with its complete history in .git: the
// branch (when given) points at the commit and origin is the remote's URL, so git commands in a
// build behave as in a fresh clone.
func (r *Repo) CloneZip(ctx context.Context, commit, branch string, w io.Writer) error {
	if !IsCommitID(commit) {
		return fmt.Errorf("%q is not a commit id: %w", commit, ErrNoCommit)
	}
	if branch != "" {
		if err := CheckBranchName(branch); err != nil {
			return err
		}
	}
	r.lock.Lock()
	err := r.ensure(ctx, []string{commit}, "")
	if err == nil {
		if _, statErr := os.Stat(filepath.Join(r.dir, "shallow")); statErr == nil {
			err = r.fetch(ctx, 0, commit)
		}
	}
	r.lock.Unlock()
	if err != nil {
		return err
	}
	r.lock.RLock()
	defer r.lock.RUnlock()
	tmp, err := os.MkdirTemp(filepath.Join(r.c.Dir, "tmp"), "clone-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "src")
	env := r.c.baseEnv(nil)
	steps := [][]string{{"init", "--quiet", "--", src}}
	if err := r.c.run(ctx, tmp, env, nil, "git init", steps[0]...); err != nil {
		return err
	}
	// Borrow the cache's objects, pack what the commit needs into the clone, then stop borrowing.
	alternates := filepath.Join(src, ".git", "objects", "info", "alternates")
	if err := os.WriteFile(alternates, []byte(filepath.Join(r.dir, "objects")+"\n"), 0o600); err != nil {
		return err
	}
	if branch != "" {
		steps = [][]string{
			{"update-ref", "refs/heads/" + branch, commit},
			{"symbolic-ref", "HEAD", "refs/heads/" + branch},
			{"update-ref", "refs/remotes/origin/" + branch, commit},
		}
	} else {
		steps = [][]string{{"update-ref", "--no-deref", "HEAD", commit}}
	}
	steps = append(steps, []string{"repack", "-a", "-d", "-q"})
	for _, args := range steps {
		if err := r.c.run(ctx, src, env, nil, "git "+args[0], args...); err != nil {
			return err
		}
	}
	if err := os.Remove(alternates); err != nil {
		return err
	}
	steps = [][]string{
		{"config", "remote.origin.url", r.remote.URL.String()},
		{"config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*"},
		{"reset", "--hard", "--quiet"},
	}
	for _, args := range steps {
		if err := r.c.run(ctx, src, env, nil, "git "+args[0], args...); err != nil {
			return err
		}
	}
	return zipDir(ctx, src, w)
}
