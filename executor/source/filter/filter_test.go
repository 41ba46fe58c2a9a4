package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/pipeline"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, name string
		want          bool
	}{
		{"main", "main", true},
		{"main", "main2", false},
		{"release/**", "release/1.2", true},
		{"release/**", "release/1.2/hotfix", true},
		{"release/*", "release/1.2/hotfix", false},
		{"feature*", "feature-x", true},
		{"feature*", "feature/x", false},
		{"v*", "v1.0.0", true},
		{"v?.0", "v1.0", true},
		{"v[0-9].*", "v2.1", true},
		{"v[0-9].*", "vx.1", false},
		{"src/**", "src/a/b/c.go", true},
		{"src/**", "srcx/a.go", false},
		{"**/*.md", "README.md", true},
		{"**/*.md", "docs/guide/intro.md", true},
		{"*.md", "docs/intro.md", false},
		{"*.{go,mod}", "go.mod", true},
		{"*.{go,mod}", "main.go", true},
		{"*.{go,mod}", "go.sum", false},
		{"{src,lib}/**/*.{js,ts}", "lib/x/y.ts", true},
		{"{src,lib}/**/*.{js,ts}", "test/x/y.ts", false},
		{`\{literal\}`, "{literal}", true},
		{"a{b", "a{b", true},
		{"[", "[", false},
	} {
		if got := Match(c.pattern, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.name, got, c.want)
		}
	}
	// Brace bombs are bounded rather than expanded.
	bomb := strings.Repeat("{a,b}", 40)
	if Match(bomb, strings.Repeat("a", 40)) {
		t.Error("a 2^40 brace expansion matched; it should be refused")
	}
}

func crit(includes, excludes []string) *pipeline.FilterCriteria {
	return &pipeline.FilterCriteria{Includes: includes, Excludes: excludes}
}

func paths(p ...string) func() ([]string, error) { return func() ([]string, error) { return p, nil } }

func TestMatchPush(t *testing.T) {
	noPaths := func() ([]string, error) {
		t.Fatal("the changed files were computed though no filter needs them")
		return nil, nil
	}
	for _, c := range []struct {
		name    string
		filters []pipeline.GitPushFilter
		push    Push
		want    bool
		reason  string
	}{
		{"branch included", []pipeline.GitPushFilter{{Branches: crit([]string{"main", "release/**"}, nil)}},
			Push{Branch: "release/2", Paths: noPaths}, true, ""},
		{"branch not included", []pipeline.GitPushFilter{{Branches: crit([]string{"main"}, nil)}},
			Push{Branch: "dev", Paths: noPaths}, false, `branch dev is not included by ["main"]`},
		{"excludes win over includes", []pipeline.GitPushFilter{{Branches: crit([]string{"**"}, []string{"wip/*"})}},
			Push{Branch: "wip/x", Paths: noPaths}, false, `wip/x is excluded by "wip/*"`},
		{"only excludes", []pipeline.GitPushFilter{{Branches: crit(nil, []string{"wip/*"})}},
			Push{Branch: "main", Paths: noPaths}, true, ""},
		{"tag push needs a tag filter", []pipeline.GitPushFilter{{Branches: crit([]string{"**"}, nil)}},
			Push{Tag: "v1", Paths: noPaths}, false, "a tag push, and the filter has no tags"},
		{"tag included", []pipeline.GitPushFilter{{Tags: crit([]string{"v*"}, []string{"v0*"})}},
			Push{Tag: "v1.2", Paths: noPaths}, true, ""},
		{"tag excluded", []pipeline.GitPushFilter{{Tags: crit([]string{"v*"}, []string{"v0*"})}},
			Push{Tag: "v0.9", Paths: noPaths}, false, "excluded"},
		{"branch push and a tag-only filter", []pipeline.GitPushFilter{{Tags: crit([]string{"v*"}, nil)}},
			Push{Branch: "main", Paths: noPaths}, false, "the filter is on tags"},
		{"second filter matches", []pipeline.GitPushFilter{{Tags: crit([]string{"v*"}, nil)}, {Branches: crit([]string{"main"}, nil)}},
			Push{Branch: "main", Paths: noPaths}, true, ""},
		{"a changed path included", []pipeline.GitPushFilter{{Branches: crit([]string{"main"}, nil), FilePaths: crit([]string{"src/**"}, nil)}},
			Push{Branch: "main", Paths: paths("README.md", "src/app/main.go")}, true, ""},
		{"no changed path included", []pipeline.GitPushFilter{{FilePaths: crit([]string{"src/**"}, nil)}},
			Push{Branch: "main", Paths: paths("README.md", "docs/a.md")}, false, "no changed file passes filePaths"},
		{"excluded paths do not count", []pipeline.GitPushFilter{{FilePaths: crit([]string{"src/**"}, []string{"**/*.md"})}},
			Push{Branch: "main", Paths: paths("src/NOTES.md")}, false, "changed: src/NOTES.md"},
		{"one path left after excludes", []pipeline.GitPushFilter{{FilePaths: crit([]string{"src/**"}, []string{"**/*.md"})}},
			Push{Branch: "main", Paths: paths("src/NOTES.md", "src/a.go")}, true, ""},
		{"only path excludes", []pipeline.GitPushFilter{{FilePaths: crit(nil, []string{"docs/**"})}},
			Push{Branch: "main", Paths: paths("docs/a.md")}, false, "no changed file"},
		{"branch fails before paths are computed", []pipeline.GitPushFilter{{Branches: crit([]string{"main"}, nil), FilePaths: crit([]string{"**"}, nil)}},
			Push{Branch: "dev", Paths: noPaths}, false, "not included"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := MatchPush(c.filters, c.push)
			if err != nil {
				t.Fatal(err)
			}
			if d.Match != c.want || !strings.Contains(d.Reason, c.reason) {
				t.Fatalf("MatchPush = %+v, want match %v with a reason containing %q", d, c.want, c.reason)
			}
		})
	}
	failing := func() ([]string, error) { return nil, errors.New("fetch failed") }
	if _, err := MatchPush([]pipeline.GitPushFilter{{FilePaths: crit([]string{"**"}, nil)}}, Push{Branch: "main", Paths: failing}); err == nil {
		t.Fatal("an error computing the changed files must not be taken for a verdict")
	}
}

func TestMatchPullRequest(t *testing.T) {
	filters := []pipeline.GitPullRequestFilter{{Events: []string{"OPEN", "UPDATED"}, Branches: crit([]string{"main"}, nil), FilePaths: crit([]string{"src/**"}, nil)}}
	for _, c := range []struct {
		name   string
		ev     PullRequest
		want   bool
		reason string
	}{
		{"open into main touching src", PullRequest{Event: "OPEN", TargetBranch: "main", Paths: paths("src/a.go")}, true, ""},
		{"closed", PullRequest{Event: "CLOSED", TargetBranch: "main", Paths: paths("src/a.go")}, false, "event CLOSED is not one of OPEN, UPDATED"},
		{"into another branch", PullRequest{Event: "UPDATED", TargetBranch: "dev", Paths: paths("src/a.go")}, false, "target branch dev"},
		{"no src change", PullRequest{Event: "UPDATED", TargetBranch: "main", Paths: paths("README.md")}, false, "no changed file"},
	} {
		d, err := MatchPullRequest(filters, c.ev)
		if err != nil || d.Match != c.want || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: %+v %v", c.name, d, err)
		}
	}
	if d, _ := MatchPullRequest([]pipeline.GitPullRequestFilter{{}}, PullRequest{Event: "CLOSED", TargetBranch: "x"}); !d.Match {
		t.Error("a filter without events or branches takes every pull request")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("{src,lib}/**/*.{js,ts}", "lib/x/y.ts")
	f.Add(`\{a\}[b-c]?*`, "{a}bxy")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 255 {
			return
		}
		Match(pattern, name) // must not panic or run away
	})
}
