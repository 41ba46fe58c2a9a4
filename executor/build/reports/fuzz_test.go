package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func seedFiles(f *testing.F, suffix string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*"+suffix))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func checkInvariants(t *testing.T, rep Report) {
	n := 0
	for s, c := range rep.Summary.ByStatus {
		if rank(s) == 0 {
			t.Fatalf("status %q in summary", s)
		}
		n += c
	}
	if n != rep.Summary.Total || len(rep.Cases)+rep.Dropped != rep.Summary.Total {
		t.Fatalf("summary %+v, %d cases, %d dropped", rep.Summary, len(rep.Cases), rep.Dropped)
	}
	for _, c := range rep.Cases {
		if rank(c.Status) == 0 || c.DurationNanos < 0 || len(c.Message) > MaxMessageBytes {
			t.Fatalf("bad case %+v", c)
		}
		if !utf8.ValidString(c.Message) || !utf8.ValidString(c.Name) {
			t.Fatalf("invalid UTF-8 in %+v", c)
		}
	}
}

func FuzzParseJUnit(f *testing.F) {
	seedFiles(f, ".xml")
	f.Add([]byte(`<testsuite><testcase name="a"><failure message="m">&#27;x</failure></testcase></testsuite>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseJUnit(strings.NewReader(string(data)))
		if err == nil {
			checkInvariants(t, rep)
		}
	})
}

func FuzzParseCucumber(f *testing.F) {
	seedFiles(f, ".json")
	f.Add([]byte(`[{"elements":[{"type":"background","steps":[{"result":{"status":"failed"}}]},{"name":"s"}]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := ParseCucumber(strings.NewReader(string(data)))
		if err == nil {
			checkInvariants(t, rep)
		}
	})
}
