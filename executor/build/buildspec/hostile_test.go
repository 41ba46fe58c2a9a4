package buildspec

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Hostile files are refused quickly, with an error that says why, and never panic.
func TestHostileInput(t *testing.T) {
	aliasBomb := func() string {
		var b strings.Builder
		b.WriteString("version: 0.2\nenv:\n  variables:\n    a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
		prev := "a"
		for i := range 12 {
			name := fmt.Sprintf("b%d", i)
			fmt.Fprintf(&b, "    %s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev)
			prev = name
		}
		b.WriteString("phases:\n  build:\n    commands: *" + prev + "\n")
		return b.String()
	}
	for _, tc := range []struct {
		name     string
		src      func() string
		fragment string
	}{
		{"2 MiB file", func() string {
			return "version: 0.2\nphases:\n  build:\n    commands:\n" + strings.Repeat("      - echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 2<<20/40)
		}, "at most 1048576 bytes (1 MiB) are accepted"},
		{"alias bomb", aliasBomb, "more than 300000 YAML values (counting what aliases expand to)"},
		{"deep flow nesting", func() string {
			return "version: 0.2\nphases: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
		}, "nested more than 32 levels deep"},
		{"deeper than the YAML parser allows", func() string {
			return "version: 0.2\nphases: " + strings.Repeat("[", 20000) + "\n"
		}, "exceeded max depth"},
		{"deep block nesting", func() string {
			var b strings.Builder
			b.WriteString("version: 0.2\nphases:\n")
			for i := range 600 {
				b.WriteString(strings.Repeat(" ", i+2) + "k:\n")
			}
			return b.String()
		}, "nested more than 32 levels deep"},
		{"recursive alias", func() string {
			return "version: 0.2\nphases: &p\n  build: *p\n"
		}, "refers to itself"},
		{"very many values", func() string {
			return "version: 0.2\nphases:\n  build:\n    commands: [" + strings.Repeat("a,", 350_000) + "a]\n"
		}, "more than 300000 YAML values"},
		{"huge key", func() string {
			return "version: 0.2\nphases:\n  build:\n    commands: [x]\n" + strings.Repeat("k", 1<<19) + ": 1\n"
		}, "invalid YAML: could not find expected ':'"}, // YAML keys are at most 1024 characters
		{"many long unknown keys", func() string {
			var b strings.Builder
			b.WriteString("version: 0.2\nphases:\n  build:\n    commands: [x]\n")
			for i := range 5000 {
				fmt.Fprintf(&b, "%s%d: 1\n", strings.Repeat("x", 150), i)
			}
			return b.String()
		}, "more problems not shown"},
		{"binary garbage", func() string { return "\x00\x01\x02version: \xff\xfe" }, "invalid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src()
			// Bound the work (bytes allocated, linear in the 1 MiB cap) rather than wall-clock
			// time, which a loaded CI machine makes meaningless; a generous guard catches hangs.
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			type parsed struct {
				b   *Buildspec
				err error
			}
			done := make(chan parsed, 1)
			go func() { b, err := Parse("hostile.yml", []byte(src)); done <- parsed{b, err} }()
			var res parsed
			select {
			case res = <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("parsing did not finish: hostile input must be refused, not worked on")
			}
			b, err := res.b, res.err
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<30 {
				t.Errorf("parsing allocated %d MiB; hostile input must cost work linear in its size", alloc>>20)
			}
			var es Errors
			if b != nil || !errors.As(err, &es) {
				t.Fatalf("got %v, %v; want Errors", b, err)
			}
			if !strings.Contains(err.Error(), tc.fragment) {
				t.Errorf("error %q does not contain %q", clip(err.Error()), tc.fragment)
			}
			t.Logf("%v in %v", clip(es[0].Error()), elapsed)
		})
	}
}
