package git

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/executor/source/git/gittest"
)

func TestParseURL(t *testing.T) {
	good := map[string]string{
		"https://github.com/acme/app.git":         "https://github.com/acme/app.git",
		"http://127.0.0.1:3000/team/app.git":      "http://127.0.0.1:3000/team/app.git",
		"ssh://git@gitea.local:2222/team/app.git": "ssh://git@gitea.local:2222/team/app.git",
		"git@github.com:acme/app.git":             "git@github.com:acme/app.git",
		"gitea.local:team/app.git":                "gitea.local:team/app.git",
		"https://[::1]:8443/a/b.git":              "https://[::1]:8443/a/b.git",
	}
	for raw, want := range good {
		u, err := ParseURL(raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", raw, err)
			continue
		}
		if u.String() != want {
			t.Errorf("ParseURL(%q).String() = %q, want %q", raw, u.String(), want)
		}
	}
	bad := map[string]string{
		"":                                   "empty",
		"file:///etc/passwd":                 "scheme",
		"/srv/git/app.git":                   "not a URL",
		"../app.git":                         "not a URL",
		"ext::sh -c touch% /tmp/pwned":       "white space",
		"ext::sh":                            "remote helper",
		"fd::3":                              "remote helper",
		"-uhttps://x/y":                      "starts with '-'",
		"--upload-pack=touch /tmp/x":         "starts with '-'",
		"https://user:pw@github.com/a/b.git": "credentials",
		"https://tok@github.com/a/b.git":     "credentials",
		"ssh://-oProxyCommand=x/a":           "host",
		"ssh://-oProxyCommand=x@host/a":      "user name",
		"git@-oProxyCommand=x:a":             "host",
		"git@host:-a":                        "path starts",
		"ftp://host/a.git":                   "scheme",
		"https://host/a.git?x=1":             "query",
		"https://host/a\n.git":               "white space",
		"https:///a.git":                     "no host",
	}
	for raw, want := range bad {
		if _, err := ParseURL(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseURL(%q) = %v, want an error about %q", raw, err, want)
		}
	}
}

func TestRepositoryURLsAndIDs(t *testing.T) {
	for _, c := range []struct{ url, id, want string }{
		{"https://github.com/", "acme/app", "https://github.com/acme/app.git"},
		{"https://github.com", "acme/app", "https://github.com/acme/app.git"},
		{"https://git.example.com/gitea/", "team/app", "https://git.example.com/gitea/team/app.git"},
		{"https://git.example.com/team/app.git", "team/app", "https://git.example.com/team/app.git"},
		{"https://git.example.com/team/app.git", "something/else", "https://git.example.com/team/app.git"},
		{"https://git.example.com/team/app", "team/app", "https://git.example.com/team/app"},
		{"git@github.com:", "acme/app", "git@github.com:acme/app.git"},
	} {
		u, err := ParseURL(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if u.IsBase(c.id) {
			u = u.Join(c.id)
		}
		if u.String() != c.want {
			t.Errorf("%s + %s = %s, want %s", c.url, c.id, u, c.want)
		}
	}
	u, _ := ParseURL("https://git.example.com/team/app.git")
	if u.RepositoryID() != "team/app" || u.WebURL() != "https://git.example.com/team/app" {
		t.Errorf("RepositoryID %q WebURL %q", u.RepositoryID(), u.WebURL())
	}
}

func TestPrivateNetworkRule(t *testing.T) {
	ctx := context.Background()
	for host, kind := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "10.1.2.3": "private", "192.168.1.1": "private", "172.16.0.9": "private",
		"169.254.169.254": "link-local", "fe80::1": "link-local", "0.0.0.0": "not a public", "100.64.0.1": "not a public",
		"::ffff:127.0.0.1": "loopback", "fd00::1": "private", "localhost": "loopback",
	} {
		_, err := resolve(ctx, nil, host, false)
		if !errors.Is(err, ErrPrivateNetwork) || !strings.Contains(err.Error(), kind) {
			t.Errorf("%s: %v, want a refusal naming a %s address", host, err, kind)
		}
		if _, err := resolve(ctx, nil, host, true); err != nil {
			t.Errorf("%s with private networks allowed: %v", host, err)
		}
	}
	if _, err := resolve(ctx, nil, "8.8.8.8", false); err != nil {
		t.Errorf("a public address: %v", err)
	}
}

func TestCheckBranchName(t *testing.T) {
	for _, ok := range []string{"main", "release/1.2", "feature/x-y_z", "v1.0"} {
		if err := CheckBranchName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a..b", "a b", "a/", "a.lock", "a//b", "a@{1}", "/a", ".a", "a/.b", "a~1", "a^", "a:b"} {
		if err := CheckBranchName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func testClient(t *testing.T) *Client {
	t.Helper()
	c, err := NewClient(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func remoteFor(t *testing.T, url string) Remote {
	t.Helper()
	u, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return Remote{URL: u, AllowPrivateNetwork: true}
}

func TestLoopbackServerRefusedUnlessAllowed(t *testing.T) {
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "team/app")
	head := repo.Commit("one", map[string]string{"a": "1"})
	repo.Push()
	r := remoteFor(t, repo.URL)
	r.AllowPrivateNetwork = false
	cached, err := testClient(t).Repo("app", r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cached.Ensure(context.Background(), head, ""); !errors.Is(err, ErrPrivateNetwork) {
		t.Fatalf("fetch from 127.0.0.1 without --allow-private-network: %v", err)
	}
}

func TestFetchExactlyTheCommitAndArchiveIt(t *testing.T) {
	ctx := context.Background()
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "team/app")
	first := repo.Commit("first", map[string]string{"README.md": "hello\n", "src/main.go": "package main\n", "run.sh": "#!/bin/sh\necho hi\n"})
	repo.Git("update-index", "--chmod=+x", "run.sh")
	exec.Command("ln", "-s", "README.md", filepath.Join(repo.Work, "link")).Run()
	repo.Write(map[string]string{".gitattributes": "secret.txt export-ignore\n", "secret.txt": "not in archives\n"})
	second := repo.Commit("second\n\nwith a body", nil)
	third := repo.Commit("third", map[string]string{"src/main.go": "package main // 3\n"})
	repo.Push()

	c := testClient(t)
	cached, err := c.Repo("app", remoteFor(t, repo.URL))
	if err != nil {
		t.Fatal(err)
	}
	got, err := cached.Ensure(ctx, second, "refs/heads/main")
	if err != nil || got != second {
		t.Fatalf("Ensure(second) = %s, %v", got, err)
	}
	// Exactly that commit, shallow: neither its parent nor the later commit came along.
	if cached.has(ctx, first) || cached.has(ctx, third) {
		t.Fatal("the fetch brought more than the commit asked for")
	}
	info, err := cached.Commit(ctx, second)
	if err != nil || info.Message != "second\n\nwith a body\n" || info.AuthorName != "Test Author" || info.AuthorDate.IsZero() {
		t.Fatalf("commit info = %+v, %v", info, err)
	}
	var zipped bytes.Buffer
	if err := cached.ArchiveZip(ctx, second, &zipped); err != nil {
		t.Fatal(err)
	}
	want := exec.Command("git", "archive", "--format=zip", second)
	want.Dir = repo.Work
	wantZip, err := want.Output()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := zipContents(t, zipped.Bytes()), zipContents(t, wantZip); a != b {
		t.Fatalf("archive differs from git archive:\n%s\nwant\n%s", a, b)
	}
	if strings.Contains(zipContents(t, zipped.Bytes()), "\nsecret.txt ") {
		t.Fatal("export-ignore not honoured")
	}
}

// zipContents lists a zip's entries with their modes and contents, sorted.
func zipContents(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		lines = append(lines, fmt.Sprintf("%s %v %q", f.Name, f.Mode(), body))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestChangedPathsComeFromTheTrees(t *testing.T) {
	ctx := context.Background()
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "team/app")
	base := repo.Commit("base", map[string]string{"README.md": "x", "docs/a.md": "a"})
	repo.Push()
	// 30 commits: only the first touches src/.
	var head string
	for i := range 30 {
		files := map[string]string{"docs/a.md": fmt.Sprintf("a%d", i)}
		if i == 0 {
			files["src/app.go"] = "package app"
		}
		head = repo.Commit(fmt.Sprintf("change %d", i), files)
	}
	repo.Push()
	cached, _ := testClient(t).Repo("app", remoteFor(t, repo.URL))
	ch, err := cached.ChangedPaths(ctx, base, head, "main")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ch.Paths, ",") != "docs/a.md,src/app.go" || ch.Base != base {
		t.Fatalf("changes = %+v", ch)
	}

	// A new branch: compared with where it left main, not with main's later commits.
	repo.Git("checkout", "--quiet", "-b", "feature")
	feature := repo.Commit("feature work", map[string]string{"feature.txt": "f"})
	repo.Git("checkout", "--quiet", "main")
	repo.Commit("main moves on", map[string]string{"main-only.txt": "m"})
	repo.Push("main", "feature")
	ch, err = cached.ChangedPaths(ctx, strings.Repeat("0", 40), feature, "main")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ch.Paths, ",") != "feature.txt" || ch.Base != head {
		t.Fatalf("new branch changes = %+v (merge base should be %s)", ch, head)
	}

	// A new branch at a commit of main changes nothing.
	repo.Push("main:refs/heads/copy")
	mainHead := repo.Git("rev-parse", "main")
	ch, err = cached.ChangedPaths(ctx, strings.Repeat("0", 40), mainHead, "main")
	if err != nil || len(ch.Paths) != 0 || ch.Base != mainHead {
		t.Fatalf("a branch at main's head: %+v, %v", ch, err)
	}

	// A before that is not on the server (force-pushed away, never fetched): the merge base again.
	ch, err = cached.ChangedPaths(ctx, strings.Repeat("1", 40), feature, "main")
	if err != nil || strings.Join(ch.Paths, ",") != "feature.txt" {
		t.Fatalf("unknown before: %+v, %v", ch, err)
	}

	// The first push of a repository: everything is new.
	other := srv.NewRepo(t, "team/other")
	only := other.Commit("only", map[string]string{"a.txt": "a", "b/c.txt": "c"})
	other.Push()
	cachedOther, _ := testClient(t).Repo("other", remoteFor(t, other.URL))
	ch, err = cachedOther.ChangedPaths(ctx, strings.Repeat("0", 40), only, "")
	if err != nil || strings.Join(ch.Paths, ",") != "a.txt,b/c.txt" || ch.Base != "" {
		t.Fatalf("first push: %+v, %v", ch, err)
	}
}

func TestLsRemoteAndAnnotatedTags(t *testing.T) {
	ctx := context.Background()
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "team/app")
	head := repo.Commit("one", map[string]string{"a": "1"})
	repo.Git("tag", "-a", "v1.0", "-m", "release")
	repo.Git("tag", "light")
	repo.Push("main", "v1.0", "light")
	cached, _ := testClient(t).Repo("app", remoteFor(t, repo.URL))
	refs, err := cached.LsRemote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if refs.DefaultBranch() != "main" || refs.Refs["refs/heads/main"] != head || refs.Refs["refs/tags/v1.0"] != head || refs.Refs["refs/tags/light"] != head {
		t.Fatalf("refs = %+v", refs)
	}
	tagObject := repo.Git("rev-parse", "v1.0")
	got, err := cached.Ensure(ctx, tagObject, "refs/tags/v1.0")
	if err != nil || got != head {
		t.Fatalf("Ensure(tag object) = %s, %v; want the tagged commit %s", got, err, head)
	}
}

func TestCloneZipHasHistoryAndBranch(t *testing.T) {
	ctx := context.Background()
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "team/app")
	repo.Commit("one", map[string]string{"a.txt": "1"})
	head := repo.Commit("two", map[string]string{"a.txt": "2"})
	repo.Push()
	cached, _ := testClient(t).Repo("app", remoteFor(t, repo.URL))
	if _, err := cached.Ensure(ctx, head, ""); err != nil { // shallow first, as a CODE_ZIP fetch leaves it
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := cached.CloneZip(ctx, head, "main", &buf); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if f.FileInfo().IsDir() {
			os.MkdirAll(p, 0o755)
			continue
		}
		rc, _ := f.Open()
		b, _ := io.ReadAll(rc)
		rc.Close()
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, f.Mode().Perm())
	}
	if got := gittest.Run(t, dir, "rev-list", "--count", "HEAD"); got != "2" {
		t.Fatalf("history in the clone: %s commits, want 2", got)
	}
	if got := gittest.Run(t, dir, "rev-parse", "--abbrev-ref", "HEAD"); got != "main" {
		t.Fatalf("branch = %s", got)
	}
	if got := gittest.Run(t, dir, "status", "--porcelain"); got != "" {
		t.Fatalf("the clone's work tree is not clean:\n%s", got)
	}
	if got := gittest.Run(t, dir, "config", "remote.origin.url"); got != repo.URL {
		t.Fatalf("origin = %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, ".git", "objects", "info", "alternates")); err == nil {
		t.Fatal("the clone still borrows objects from the cache")
	}
}

func TestTokenIsSentAsHeaderNotInArguments(t *testing.T) {
	c := testClient(t)
	r := remoteFor(t, "https://git.example.com/team/app.git")
	r.Token = "s3cr3t-token"
	r.AllowPrivateNetwork = true
	r.URL.Host = "127.0.0.1" // resolvable without DNS
	s, err := c.open(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(s.env, "\n")
	if !strings.Contains(joined, "http.https://127.0.0.1/.extraHeader") || strings.Contains(joined, "s3cr3t-token") {
		t.Fatalf("the token must travel base64-encoded in a scoped extraHeader:\n%s", joined)
	}
	if !strings.Contains(joined, "GIT_CONFIG_VALUE_0=never") {
		t.Fatal("protocol.allow=never missing")
	}
}
