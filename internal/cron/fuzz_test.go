package cron

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary expressions through Parse and, when they parse, through Next and
// Matches: nothing may panic, Next's answer must be selected, and the search stays within bounds.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		business,
		"* */15 * ? * *",
		"* 10-50/20 22-2 ? * *",
		"* 0 12 L * ?",
		"* 0 12 L-3 * ?",
		"* 0 12 15W * ?",
		"* 0 12 LW * ?",
		"* 0 12 ? * 6L",
		"* 0 12 ? * 6#3",
		"* 0 12 ? jan-mar,DEC mon",
		"* 0 0 1 1 ? 2025-2031/3",
		"* 0 12 29 2 ? *",
		"* * * 31 2 ? *",
		"* 30 2 ? * *",
		"",
		"* * * * * *",
		"* * * ? * ?",
		"0 * * * * ?",
		"* 60 * * * ?",
		"* 12345 * * * ?",
		"* */0 * * * ?",
		"* 1,,2 * * * ?",
		"* * * L-31 * ?",
		"* * * ? * 6#6",
		"* * * ? * 1,6L",
		"* * * * * ? 2030-2025",
		strings.Repeat("* ", 129),
	} {
		f.Add(seed)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	froms := []time.Time{
		time.Date(2026, 1, 15, 10, 20, 30, 0, time.UTC),
		time.Date(2026, 3, 7, 23, 59, 59, 0, ny),
		time.Date(2026, 11, 1, 1, 30, 0, 0, ny),
		time.Date(2040, 12, 30, 20, 0, 0, 0, ny), // golang/go#81583
	}
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			if s != nil {
				t.Fatalf("Parse(%q) returned a schedule with error %v", expr, err)
			}
			if !strings.HasPrefix(err.Error(), "cron: ") {
				t.Fatalf("Parse(%q) error %q lacks the cron: prefix", expr, err)
			}
			return
		}
		if s.String() != expr {
			t.Fatalf("String() = %q, want %q", s.String(), expr)
		}
		for _, from := range froms {
			r, ok, steps := s.next(from)
			if steps > 16 {
				t.Errorf("Parse(%q).Next(%v) took %d steps", expr, from, steps)
			}
			if !ok {
				continue
			}
			if !s.Matches(r) {
				t.Fatalf("Parse(%q).Next(%v) = %v, which does not match", expr, from, r)
			}
			if r.Before(from.Add(-time.Minute)) || r.Second() != 0 || r.Nanosecond() != 0 {
				t.Fatalf("Parse(%q).Next(%v) = %v, not a minute start at or after from's minute", expr, from, r)
			}
		}
	})
}
