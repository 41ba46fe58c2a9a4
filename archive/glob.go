package archive

import (
	"path"
	"strings"
)

// MatchGlob reports whether the slash-separated path matches pattern, in the glob dialect of
// buildspec artifacts, reports and cache paths:
//
//   - the pattern and the path are compared segment by segment (split on "/");
//   - a segment "**" matches zero or more whole segments: "**/*" matches every file at any depth
//     (top level included), "dir/**/*" everything below dir, "a/**/b" matches a/b and a/x/y/b;
//   - inside a segment, "*" matches any run of characters, "?" one character, "[...]" a class and
//     "\" escapes, as in path.Match; "*" never crosses a "/", so "dir/*" matches direct children
//     only; "*" matches names starting with a dot;
//   - a leading "./" and repeated slashes are ignored in both; a pattern without wildcards
//     matches exactly that path;
//   - a malformed segment (an unclosed "[") matches nothing.
//
// Matching is on paths only: a pattern that names a directory does not match the files in it.
func MatchGlob(pattern, name string) bool {
	return matchSegments(globSegments(pattern), globSegments(name))
}

func globSegments(s string) []string {
	s = strings.TrimPrefix(s, "./")
	parts := strings.Split(s, "/")
	out := parts[:0]
	for i, p := range parts {
		if p == "" && i > 0 || p == "." {
			continue // "a//b", "a/./b", trailing "/"; a leading "" keeps absolute paths absolute
		}
		out = append(out, p)
	}
	return out
}

// matchSegments is a linear-space dynamic programme over segments, so patterns with many "**"
// cannot blow up.
func matchSegments(pat, name []string) bool {
	// cur[j] reports whether pat[:i] matches name[:j].
	cur := make([]bool, len(name)+1)
	next := make([]bool, len(name)+1)
	cur[0] = true
	for i := range pat {
		clear(next)
		if pat[i] == "**" {
			seen := false
			for j := 0; j <= len(name); j++ {
				seen = seen || cur[j]
				next[j] = seen
			}
		} else {
			for j := 1; j <= len(name); j++ {
				if cur[j-1] && matchSegment(pat[i], name[j-1]) {
					next[j] = true
				}
			}
		}
		cur, next = next, cur
	}
	return cur[len(name)]
}

func matchSegment(pat, seg string) bool {
	if !strings.ContainsAny(pat, `*?[\`) {
		return pat == seg
	}
	ok, err := path.Match(pat, seg)
	return ok && err == nil
}
