package buildspec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic, must answer quickly, must return
// either a buildspec or Errors (never both, never neither), and what it accepts must satisfy the
// invariants the runner relies on. Seeds: every buildspec under testdata plus a few hostile shapes.
// Crashers found by `go test -fuzz` are kept under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yml", "testdata/errors/*.yml"} {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "{", "[]", "null", "- a", "a: &a [*a]", "a: *b", "<<: {a: 1}", "? [a]\n: b\n", "\xef\xbb\xbf",
		"version: 0.2\nphases: {build: {commands: [a: b]}}",
		"version: 0.2\nphases:\n  build:\n    on-failure: RETRY-3-(a|b\n    commands: [x]\n",
		"version: 0.2\nenv:\n  secrets-manager: {A: 'arn:aws:secretsmanager:r:1:secret:n:k:s:v'}\nphases: {build: {commands: [x]}}",
		"version: 0.2\nphases:\n  build:\n    commands:\n      -\n      - `x`\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		b, err := Parse("fuzz.yml", data)
		// A pathological input (one that makes parsing superlinear) shows as tens of seconds even
		// on a loaded machine under -race; ordinary slowness is the benchmarks' business.
		if d := time.Since(start); d > 30*time.Second {
			t.Fatalf("Parse took %v", d)
		}
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			if b != nil {
				t.Fatal("buildspec returned with an error")
			}
			for _, e := range es {
				if e.Message == "" || e.File != "fuzz.yml" || e.Line < 0 || e.Column < 0 {
					t.Fatalf("bad error %#v", e)
				}
			}
			if len(es) > maxReportedErrors+1 {
				t.Fatalf("%d errors", len(es))
			}
			_ = es.ContextMessage()
			return
		}
		if b == nil {
			t.Fatal("nil buildspec without error")
		}
		if b.Version != Version01 && b.Version != Version02 {
			t.Fatalf("version %q", b.Version)
		}
		if len(b.Phases) == 0 {
			t.Fatal("no phases")
		}
		last := -1
		for _, p := range b.Phases {
			i := indexOf(PhaseNames(), p.Name)
			if i <= last {
				t.Fatalf("phases out of order: %v", b.Phases)
			}
			last = i
			if len(p.Commands) == 0 && (p.Name != PhaseInstall || len(p.RuntimeVersions) == 0) {
				t.Fatalf("phase %s without commands", p.Name)
			}
			if len(p.Finally) > 0 && len(p.Commands) == 0 {
				t.Fatalf("phase %s with finally and no commands", p.Name)
			}
			switch p.OnFailure.Mode {
			case "", OnFailureAbort, OnFailureContinue:
			case OnFailureRetry:
				if p.OnFailure.Retries < 0 || p.OnFailure.Retries > 100 {
					t.Fatalf("retries %d", p.OnFailure.Retries)
				}
			default:
				t.Fatalf("on-failure mode %q", p.OnFailure.Mode)
			}
		}
		if a := b.Artifacts; a != nil {
			if len(a.Files) == 0 {
				t.Fatal("artifacts without files")
			}
			for _, s := range a.Secondary {
				if len(s.Files) == 0 || s.Identifier == "" {
					t.Fatalf("secondary artifact %+v", s)
				}
			}
		}
		if len(b.Reports) > maxReportGroups {
			t.Fatalf("%d report groups", len(b.Reports))
		}
		for _, s := range b.Env.SecretsManager {
			if s.Ref.SecretID == "" {
				t.Fatalf("secret without id: %+v", s)
			}
			if again, problem := parseSecretRef(s.Ref.String()); problem != "" || again != s.Ref {
				t.Fatalf("secret ref %+v does not round-trip: %+v %q", s.Ref, again, problem)
			}
		}
	})
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
