// Package suggest finds the likely intended name for a mistyped one ("did you mean …?"), for the
// parsers of user files.
package suggest

import "strings"

// Closest returns the candidate s most likely meant: the same up to case and '-' versus '_', or
// one or two edits away (fewer for short names); "" when none is close enough.
func Closest(s string, candidates []string) string {
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
		if d := Distance(norm(s), norm(c), bestDist); d <= limit && d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// Distance is the Levenshtein distance of a and b, or limit when it is at least limit (which keeps
// it cheap on long hostile input).
func Distance(a, b string, limit int) int {
	if len(a) > 200 || len(b) > 200 {
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
