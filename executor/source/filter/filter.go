// Package filter decides whether a git event passes a V2 pipeline trigger's filters: push filters
// on branches, tags and changed file paths, pull-request filters on events, target branches and
// file paths. Filters of one kind are alternatives (any may match); within a filter every criterion
// given must hold; within a criterion excludes win over includes.
package filter

import (
	"fmt"
	"slices"
	"strings"

	"github.com/conveyorci/conveyor/archive"
	"github.com/conveyorci/conveyor/pipeline"
)

// maxExpansions bounds brace expansion: "{a,b}" eight times over is already 256 patterns.
const maxExpansions = 256

// Match reports whether name (a branch, a tag, or a slash-separated file path) matches the glob
// pattern in CodePipeline's trigger dialect: "*" matches within one path segment, a "**" segment
// any number of segments, "?" one character, "[…]" a class, "{a,b}" either alternative, and "\"
// escapes. See archive.MatchGlob, which does the matching once braces are expanded.
func Match(pattern, name string) bool {
	alts := expandBraces(pattern)
	for _, p := range alts {
		if archive.MatchGlob(p, name) {
			return true
		}
	}
	return false
}

// expandBraces expands every unescaped {a,b,…} group; nil when the expansion is too large.
func expandBraces(p string) []string {
	budget := maxExpansions
	out, ok := expand(p, &budget)
	if !ok {
		return nil
	}
	return out
}

// expand expands the first group of p and recurses; every pattern produced spends budget, so a
// pattern that would expand too far fails early instead of running away.
func expand(p string, budget *int) ([]string, bool) {
	open, depth := -1, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			if depth--; depth > 0 {
				continue
			}
			var out []string
			for _, alt := range splitTopLevel(p[open+1 : i]) {
				more, ok := expand(p[:open]+alt+p[i+1:], budget)
				if !ok {
					return nil, false
				}
				out = append(out, more...)
			}
			return out, true
		}
	}
	if *budget--; *budget < 0 {
		return nil, false
	}
	return []string{p}, true
}

// splitTopLevel splits a brace group's body on commas outside nested groups.
func splitTopLevel(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// allows reports whether one name passes a criterion: included (or no includes) and not excluded.
func allows(c *pipeline.FilterCriteria, name string) (bool, string) {
	for _, p := range c.Excludes {
		if Match(p, name) {
			return false, fmt.Sprintf("%s is excluded by %q", name, p)
		}
	}
	if len(c.Includes) == 0 {
		return true, ""
	}
	for _, p := range c.Includes {
		if Match(p, name) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("%s is not included by %s", name, quoteList(c.Includes))
}

// allowsAnyPath reports whether at least one changed path passes a criterion (a path excluded
// does not count, whatever else includes it).
func allowsAnyPath(c *pipeline.FilterCriteria, paths []string) (bool, string) {
	for _, p := range paths {
		if ok, _ := allows(c, p); ok {
			return true, ""
		}
	}
	const shown = 5
	list := strings.Join(paths[:min(len(paths), shown)], ", ")
	if len(paths) > shown {
		list += fmt.Sprintf(" and %d more", len(paths)-shown)
	}
	if len(paths) == 0 {
		list = "none"
	}
	return false, fmt.Sprintf("no changed file passes filePaths (includes %s, excludes %s); changed: %s",
		quoteList(c.Includes), quoteList(c.Excludes), list)
}

func quoteList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// Push is a push event as the filters see it: a branch or a tag, and the changed files, computed
// only when a filter asks (it costs a git fetch).
type Push struct {
	Branch string // set for a branch push
	Tag    string // set for a tag push
	Paths  func() ([]string, error)
}

// Decision is a filter verdict and, when it is no, why.
type Decision struct {
	Match  bool
	Reason string
}

// MatchPush checks a push against a trigger's push filters. An error means the changed files
// could not be computed.
func MatchPush(filters []pipeline.GitPushFilter, ev Push) (Decision, error) {
	if len(filters) == 0 {
		return Decision{Reason: "the trigger has no push filters"}, nil
	}
	var reasons []string
	for i, f := range filters {
		why, err := matchPushFilter(f, ev)
		if err != nil {
			return Decision{}, err
		}
		if why == "" {
			return Decision{Match: true}, nil
		}
		reasons = append(reasons, fmt.Sprintf("push filter %d: %s", i+1, why))
	}
	return Decision{Reason: strings.Join(reasons, "; ")}, nil
}

// matchPushFilter returns "" when the push passes f, else why not.
func matchPushFilter(f pipeline.GitPushFilter, ev Push) (string, error) {
	if ev.Tag != "" {
		if f.Tags == nil {
			return "a tag push, and the filter has no tags", nil
		}
		_, why := allows(f.Tags, ev.Tag)
		return why, nil
	}
	if f.Tags != nil && f.Branches == nil && f.FilePaths == nil {
		return "a branch push, and the filter is on tags", nil
	}
	if f.Branches != nil {
		if ok, why := allows(f.Branches, ev.Branch); !ok {
			return "branch " + why, nil
		}
	}
	return matchPaths(f.FilePaths, ev.Paths)
}

func matchPaths(c *pipeline.FilterCriteria, paths func() ([]string, error)) (string, error) {
	if c == nil {
		return "", nil
	}
	list, err := paths()
	if err != nil {
		return "", err
	}
	_, why := allowsAnyPath(c, list)
	return why, nil
}

// Pull-request events in the trigger's vocabulary.
const (
	PullRequestOpen    = "OPEN"
	PullRequestUpdated = "UPDATED"
	PullRequestClosed  = "CLOSED"
)

// PullRequest is a pull-request event as the filters see it.
type PullRequest struct {
	Event        string // OPEN | UPDATED | CLOSED
	TargetBranch string // the branch the request would merge into
	Paths        func() ([]string, error)
}

// MatchPullRequest checks a pull-request event against a trigger's pull-request filters; branches
// are the target branches, as in CodePipeline.
func MatchPullRequest(filters []pipeline.GitPullRequestFilter, ev PullRequest) (Decision, error) {
	if len(filters) == 0 {
		return Decision{Reason: "the trigger has no pullRequest filters"}, nil
	}
	var reasons []string
	for i, f := range filters {
		why := ""
		if len(f.Events) > 0 && !slices.Contains(f.Events, ev.Event) {
			why = fmt.Sprintf("event %s is not one of %s", ev.Event, strings.Join(f.Events, ", "))
		} else if f.Branches != nil {
			if ok, w := allows(f.Branches, ev.TargetBranch); !ok {
				why = "target branch " + w
			}
		}
		if why == "" {
			var err error
			if why, err = matchPaths(f.FilePaths, ev.Paths); err != nil {
				return Decision{}, err
			}
		}
		if why == "" {
			return Decision{Match: true}, nil
		}
		reasons = append(reasons, fmt.Sprintf("pullRequest filter %d: %s", i+1, why))
	}
	return Decision{Reason: strings.Join(reasons, "; ")}, nil
}
