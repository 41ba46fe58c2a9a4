package buildspec

import (
	"fmt"
	"strings"
)

// unknownKeyMessage names an unknown key, suggests the closest allowed one when it is a likely typo
// (pre-build → pre_build), and lists what is allowed.
func unknownKeyMessage(key string, allowed []string) string {
	msg := fmt.Sprintf("unknown key %q", key)
	if s := suggest(key, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if hint := misplacedHint(key); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg + "; allowed here: " + strings.Join(allowed, ", ")
}

var (
	topLevelKeys = []string{"version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"}
	phaseKeys    = []string{"run-as", "on-failure", "runtime-versions", "commands", "finally"}
)

// misplacedHint explains a key that is valid somewhere else: usually an indentation mistake.
func misplacedHint(key string) string {
	for _, k := range phaseKeys {
		if k == key {
			return key + " belongs inside a phase (install, pre_build, build or post_build): check the indentation"
		}
	}
	for _, k := range topLevelKeys {
		if k == key {
			return key + " is a top-level key: check the indentation"
		}
	}
	return ""
}

// suggest returns the candidate closest to s when it is close enough to be a likely typo: the same
// up to case, '-' versus '_', or one or two edits away (fewer for short names).
func suggest(s string, candidates []string) string {
	norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "_", "-") }
	for _, c := range candidates {
		if norm(s) == norm(c) {
			return c
		}
	}
	best, bestDist := "", 3
	for _, c := range candidates {
		limit := 2
		switch {
		case len(c) <= 3:
			limit = 0
		case len(c) <= 5:
			limit = 1
		}
		if d := editDistance(norm(s), norm(c), bestDist); d <= limit && d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or limit when it is at least limit (which keeps
// it cheap on long hostile keys).
func editDistance(a, b string, limit int) int {
	if len(a) > 100 || len(b) > 100 {
		return limit
	}
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
