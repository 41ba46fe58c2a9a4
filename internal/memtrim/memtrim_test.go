package memtrim

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

func rssFileKB(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "RssFile:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// The executable's clean pages leave the resident set, and the program runs on (its code is read
// back as it is used).
func TestReleaseExecutablePages(t *testing.T) {
	before := rssFileKB(t)
	n, err := ReleaseExecutablePages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	if n <= 0 || after >= before {
		t.Errorf("released %d bytes; RssFile %d kB → %d kB", n, before, after)
	}
	// Code and constants still work after the release.
	if got := strings.Repeat(strconv.Itoa(42), 2); got != "4242" {
		t.Fatal(got)
	}
	t.Logf("released %d MiB of mappings; RssFile %d kB → %d kB", n>>20, before, after)
}
