package appspec

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Hostile files are refused quickly, with an error that says why, and never panic.
func TestHostileInput(t *testing.T) {
	aliasBomb := func() string {
		var b strings.Builder
		b.WriteString("version: 0.0\nos: linux\nhooks:\n  BeforeInstall: &a [{location: a.sh}, {location: a.sh}, {location: a.sh}, {location: a.sh}]\n")
		prev := "a"
		for i := range 10 {
			// Lists of lists are not scripts, but each level is visited before it is refused.
			fmt.Fprintf(&b, "  x%d: &b%d [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", i, i, prev, prev, prev, prev, prev, prev, prev, prev, prev)
			prev = fmt.Sprintf("b%d", i)
		}
		return b.String()
	}
	mergeBomb := func() string {
		var b strings.Builder
		b.WriteString("version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - &m0 {location: a.sh}\n")
		prev := "m0"
		for i := 1; i < 7; i++ {
			fmt.Fprintf(&b, "    - &m%d {<<: [%s], location: a.sh}\n", i, strings.TrimSuffix(strings.Repeat("*"+prev+", ", 12), ", "))
			prev = fmt.Sprintf("m%d", i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		name     string
		src      func() string
		fragment string
	}{
		{"2 MiB file", func() string {
			return "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n" + strings.Repeat("    - location: aaaaaaaaaaaaaaaaaaaa.sh\n", 2<<20/30)
		}, "at most 1048576 bytes (1 MiB) are accepted"},
		{"alias bomb under an unknown event", aliasBomb, "unknown lifecycle event"},
		{"merge bomb", mergeBomb, "more than 100000 YAML values"},
		{"recursive merge", func() string {
			return "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - &a {location: a.sh, <<: *a}\n"
		}, "refers to itself"},
		{"deep flow nesting", func() string {
			return "version: 0.0\nos: linux\nhooks: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
		}, "must be a mapping of lifecycle events"},
		{"deeper than the YAML parser allows", func() string {
			return "version: 0.0\nhooks: " + strings.Repeat("[", 20000) + "\n"
		}, "invalid YAML"},
		{"binary garbage", func() string { return "\x00\x01\x02version: \xff\xfe" }, "not UTF-8"},
		{"NUL in a value", func() string { return "version: 0.0\nos: linux\nfiles:\n  - source: \"a\\0b\"\n    destination: /x\n" }, "NUL"},
		{"many long unknown keys", func() string {
			var b strings.Builder
			b.WriteString("version: 0.0\nos: linux\n")
			for i := range 5000 {
				fmt.Fprintf(&b, "%s%d: 1\n", strings.Repeat("x", 150), i)
			}
			return b.String()
		}, "more problems not shown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s, err := Parse("hostile.yml", []byte(tc.src()))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v; hostile input must be refused quickly", d)
			}
			var es Errors
			if s != nil || !errors.As(err, &es) {
				t.Fatalf("got %v, %v; want Errors", s, err)
			}
			if !strings.Contains(err.Error(), tc.fragment) {
				t.Errorf("error %q does not contain %q", clip(err.Error()), tc.fragment)
			}
		})
	}
}
