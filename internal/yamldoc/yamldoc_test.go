package yamldoc

import (
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     string // "" for a root without error; "empty" for no root and no error
	}{
		{"a mapping", "version: 0.2\nphases: {}\n", ""},
		{"empty", "", "empty"},
		{"only comments", "# nothing yet\n", "empty"},
		{"two documents", "a: 1\n---\nb: 2\n", "2: invalid YAML: the file holds more than one YAML document (---); a thing is one document"},
		{"tab indentation", "a:\n\tb: 1\n", "2: invalid YAML: found character that cannot start any token (YAML indentation must use spaces, not tabs)"},
		{"unquoted at-sign", "a:\n  b: @home\n", "(a value starting with `, @ or % must be quoted)"},
		{"list item with colon", "cmds:\n  - curl -H Accept: text/plain: x\n", `(a list item containing ": " must be quoted)`},
		{"undefined anchor", "a: 1\nb:\n  c: *nope\n", "3:6: invalid YAML: alias *nope refers to an anchor &nope that is not defined before it"},
		{"unclosed flow list", "a: [1, 2\nb: 3\n", "(at or after this line)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, err := Decode([]byte(c.in), "a thing")
			switch {
			case c.want == "":
				if err != nil || root == nil {
					t.Fatalf("root %v, err %v", root, err)
				}
			case c.want == "empty":
				if err != nil || root != nil {
					t.Fatalf("root %v, err %v; want neither", root, err)
				}
			case err == nil:
				t.Fatalf("no error; want %q", c.want)
			case !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q; want it to contain %q", err.Error(), c.want)
			}
		})
	}
}

// A hostile document comes back as an error, never as a panic or an endless parse.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{"a: 1\n", "a: &x [*x]\n", "- [\n", "\t", "a: !!binary x\n", "{a: [b, {c: d}]}\n---\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		root, err := Decode(data, "a thing")
		if root != nil && err != nil {
			t.Fatalf("both a root and an error: %v", err)
		}
		if err != nil && err.Message == "" {
			t.Fatal("an error without a message")
		}
	})
}
