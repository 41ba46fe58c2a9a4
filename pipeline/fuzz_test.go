package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse, Validate and ParseAndValidate. They must never panic,
// must answer quickly (the size and nesting limits keep every step linear), and what Parse accepts
// must survive a JSON round trip unchanged. Seeds: every file under testdata plus a few hostile
// shapes. Crashers found by `go test -fuzz` are kept under testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"testdata/*.yaml", "testdata/*.json", "testdata/errors/*.yaml", "testdata/errors/*.json"} {
		m, _ := filepath.Glob(pattern)
		seeds = append(seeds, m...)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "{", "{}", "[]", "null", "- a", "a: &a [*a]", "a: *b", "<<: {a: 1}",
		"{\"pipeline\": {}, \"metadata\": []}",
		"name: x\nstages: [{actions: [{configuration: {A: \"#{\", B: \"#{a.b}#{\"}}]}]}",
		"\xef\xbb\xbf{\"name\": \"\xff\"}",
		"a: !!binary aGVsbG8=\n",
		"? [a]\n: b\n",
		allFieldsYAML,
	} {
		f.Add([]byte(s))
	}
	reg := testProviders()
	f.Fuzz(func(t *testing.T, data []byte) {
		d, sm, err := Parse("fuzz", data)
		var perrs ValidationErrors
		var pe *ParseError
		switch {
		case err == nil:
			if d == nil || sm == nil {
				t.Fatal("nil declaration without error")
			}
		case errors.As(err, &perrs):
			if d == nil || sm == nil || len(perrs) == 0 {
				t.Fatal("field errors without the partial declaration")
			}
		case errors.As(err, &pe):
			if d != nil || sm != nil {
				t.Fatal("declaration with a ParseError")
			}
			return
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error text")
		}
		verr := Validate(d, reg, sm)
		var verrs ValidationErrors
		if verr != nil && !errors.As(verr, &verrs) {
			t.Fatalf("Validate returned %T", verr)
		}
		for _, e := range verrs {
			if e.Line == 0 || e.Message == "" {
				t.Fatalf("error without position or message: %#v", e)
			}
		}
		_, _, _ = ParseAndValidate("fuzz", data, reg)
		if err != nil {
			return
		}
		// What Parse accepts, once marshalled, parses back to the same thing.
		out, merr := json.Marshal(d)
		if merr != nil {
			t.Fatalf("marshal: %v", merr)
		}
		d2, _, err2 := Parse("again", out)
		if err2 != nil {
			t.Fatalf("re-parse of %s: %v", out, err2)
		}
		out2, _ := json.Marshal(d2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the declaration:\n%s\n%s", out, out2)
		}
		for _, ref := range VariableRefs(string(data)) {
			if ref.Start < 0 || ref.End > len(data) || ref.Start >= ref.End {
				t.Fatalf("bad ref %v", ref)
			}
		}
	})
}

// FuzzVariableRefs checks what the engine relies on when it substitutes references: in order, not
// overlapping, and each [Start:End) slice is exactly "#{" + Namespace + "." + Key + "}".
func FuzzVariableRefs(f *testing.F) {
	for _, s := range []string{"", "#{a.b}", "x#{a.b}y#{c.d.e}", "#{", "#{}", "#{a}", "#{#{a.b}}", "#{a.b", "}#{a.b}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		refs, bad := scanVariableRefs(s)
		last := 0
		for _, r := range refs {
			if r.Start < last || r.End > len(s) || s[r.Start:r.End] != "#{"+r.Namespace+"."+r.Key+"}" {
				t.Fatalf("bad ref %+v in %q", r, s)
			}
			last = r.End
		}
		for _, b := range bad {
			if b.start < 0 || b.end > len(s) || b.start >= b.end || s[b.start:b.start+2] != "#{" {
				t.Fatalf("bad malformed span %+v in %q", b, s)
			}
		}
		if !strings.Contains(s, "#{") && (len(refs) > 0 || len(bad) > 0) {
			t.Fatal("refs without #{")
		}
	})
}
