package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readAll(t testing.TB, s *Store, kind, id string) string {
	t.Helper()
	rc, err := s.Open(kind, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// writeLog writes the chunks with the given secrets and returns the stored text.
func writeLog(t testing.TB, secrets []string, chunks ...string) string {
	t.Helper()
	s := newStore(t)
	w, err := s.Create("build", "b1", Options{Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		if n, err := w.Write([]byte(c)); err != nil || n != len(c) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return readAll(t, s, "build", "b1")
}

func TestMasking(t *testing.T) {
	cases := []struct {
		name    string
		secrets []string
		chunks  []string
		want    string
	}{
		{"exact", []string{"hunter22"}, []string{"password=hunter22 ok\n"}, "password=*** ok\n"},
		{"twice on a line", []string{"hunter22"}, []string{"hunter22 hunter22\n"}, "*** ***\n"},
		{"split across 2 writes", []string{"hunter22"}, []string{"password=hun", "ter22 ok\n"}, "password=*** ok\n"},
		{"split across 3 writes", []string{"s3cr3t-value"}, []string{"a s3", "cr3t-v", "alue b\n"}, "a *** b\n"},
		{"byte by byte", []string{"s3cr3t-value"}, strings.Split("x s3cr3t-value y\n", ""), "x *** y\n"},
		{"overlapping secrets", []string{"abcdef", "defghi"}, []string{"xabcdefghiy\n"}, "x***y\n"},
		{"overlapping split", []string{"abcdef", "defghi"}, []string{"xabcd", "efg", "hiy\n"}, "x***y\n"},
		{"prefix of a longer secret", []string{"abcd", "abcdefgh"}, []string{"1 abcd", "efgh 2\n"}, "1 *** 2\n"},
		{"shorter secret only", []string{"abcd", "abcdefgh"}, []string{"1 abcd", "efgX 2\n"}, "1 ***efgX 2\n"},
		{"secret at EOF", []string{"hunter22"}, []string{"tail hunter22"}, "tail ***"},
		{"secret split at EOF", []string{"hunter22"}, []string{"tail hun", "ter22"}, "tail ***"},
		{"partial secret at EOF is text", []string{"hunter22"}, []string{"tail hunter2"}, "tail hunter2"},
		{"chain of repeats", []string{"aaaa"}, []string{"aaaaaaaaaa\n"}, "***\n"},
		{"multi-line secret masked per line", []string{"-----BEGIN KEY-----\nMIIEabcdef\n-----END KEY-----\n"},
			[]string{"-----BEGIN KEY-----\n", "MIIEabcdef\n", "-----END KEY-----\n"}, "***\n***\n***\n"},
		{"CRLF secret lines", []string{"line-one\r\nline-two"}, []string{"line-one\r\nline-two\r\n"}, "***\r\n***\r\n"},
		{"short secrets ignored", []string{"abc", "", "yes"}, []string{"abc yes\n"}, "abc yes\n"},
		{"no secrets", nil, []string{"plain\n"}, "plain\n"},
		{"secret across newline is not one", []string{"abcd"}, []string{"ab\ncd\n"}, "ab\ncd\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := writeLog(t, tc.secrets, tc.chunks...); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// referenceMask masks the whole text at once, naively: every occurrence of a secret (secrets
// split into lines, short ones dropped); each run of overlapping occurrences becomes one "***".
func referenceMask(text string, secrets []string) string {
	type iv struct{ s, e int }
	var occ []iv
	for _, v := range secrets {
		for _, s := range strings.Split(v, "\n") {
			s = strings.TrimSuffix(s, "\r")
			if len(s) < MinSecretLen {
				continue
			}
			for i := 0; i+len(s) <= len(text); i++ {
				if text[i:i+len(s)] == s {
					occ = append(occ, iv{i, i + len(s)})
				}
			}
		}
	}
	var b strings.Builder
	pos := 0
	for i := 0; i < len(text); {
		// the run starting at the first occurrence at or after i
		start, end := -1, -1
		for _, o := range occ {
			if o.s >= i && (start < 0 || o.s < start) {
				start, end = o.s, o.e
			}
		}
		if start < 0 {
			break
		}
		for grew := true; grew; {
			grew = false
			for _, o := range occ {
				if o.s >= start && o.s < end && o.e > end {
					end, grew = o.e, true
				}
			}
		}
		b.WriteString(text[pos:start])
		b.WriteString("***")
		pos, i = end, end
	}
	b.WriteString(text[pos:])
	return b.String()
}

func TestMaskingRandomSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := "ab c\n"
	for iter := range 3000 {
		var secrets []string
		for range 1 + r.IntN(3) {
			n := 4 + r.IntN(5)
			b := make([]byte, n)
			for i := range b {
				b[i] = "abc"[r.IntN(3)]
			}
			secrets = append(secrets, string(b))
		}
		var text strings.Builder
		for text.Len() < 200 {
			if r.IntN(4) == 0 {
				text.WriteString(secrets[r.IntN(len(secrets))])
			} else {
				text.WriteByte(alphabet[r.IntN(len(alphabet))])
			}
		}
		full := text.String()
		var chunks []string
		for rest := full; rest != ""; {
			n := min(1+r.IntN(12), len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		want := referenceMask(full, secrets)
		if got := writeLog(t, secrets, chunks...); got != want {
			t.Fatalf("iteration %d: secrets %q chunks %q\n got %q\nwant %q", iter, secrets, chunks, got, want)
		}
	}
}

func TestCap(t *testing.T) {
	s := newStore(t)
	w, err := s.Create("build", "capped", Options{Cap: 4 << 10, Secrets: []string{"topsecret"}})
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 99) + "\n" // 100 bytes
	total := 0
	for i := range 100 {
		chunk := line
		if i == 50 {
			chunk = "topsecret " + line // masked to "*** " before the cap counts it
		}
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		total += len(chunk)
	}
	// While live, the marker is there with the count so far.
	lines, n, err := s.Tail("build", "capped", 1)
	if err != nil || n != 42 || !strings.HasPrefix(lines[0], "[conveyor] log truncated: the 4 KiB cap was reached; ") {
		t.Fatalf("live tail %q, %d lines, %v", lines, n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	masked := total - len("topsecret") + len("***")
	wantDiscarded := masked - 4096
	text := readAll(t, s, "build", "capped")
	want := strings.Repeat(line, 40) + strings.Repeat("x", 96) + "\n" +
		fmt.Sprintf("[conveyor] log truncated: the 4 KiB cap was reached; %d more bytes were discarded", wantDiscarded)
	if strings.TrimRight(text, " \n") != want {
		t.Fatalf("log ends %q,\nwant %q", text[len(text)-200:], want[len(want)-150:])
	}
	if c := strings.Count(text, "[conveyor] log truncated"); c != 1 {
		t.Errorf("%d markers", c)
	}
	info, err := s.Stat("build", "capped")
	if err != nil || !info.Truncated || info.Discarded != int64(wantDiscarded) || !info.Complete || info.Lines != 42 {
		t.Errorf("info %+v, %v", info, err)
	}
}

func TestDefaultCapMarker(t *testing.T) {
	s := newStore(t)
	w, _ := s.Create("build", "big", Options{})
	chunk := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 1<<10) // 64 KiB
	for range (DefaultCap / len(chunk)) + 3 {
		w.Write(chunk)
	}
	w.Close()
	lines, _, _ := s.Tail("build", "big", 1)
	if want := "[conveyor] log truncated: the 100 MiB cap was reached; 196608 more bytes were discarded"; strings.TrimRight(lines[0], " ") != want {
		t.Errorf("marker %q", lines[0])
	}
}

// bigLog writes n numbered lines and returns the store.
func bigLog(t testing.TB, n int, close bool) (*Store, *Writer) {
	t.Helper()
	s := newStore(t)
	w, err := s.Create("build", "big", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for i := 1; i <= n; i++ {
		buf = fmt.Appendf(buf, "line %07d\n", i)
		if len(buf) > 32<<10 {
			w.Write(buf)
			buf = buf[:0]
		}
	}
	w.Write(buf)
	if close {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return s, w
}

func TestRangesOnMillionLines(t *testing.T) {
	const n = 1_000_000
	for _, closed := range []bool{true, false} {
		s, w := bigLog(t, n, closed)
		check := func(from, count int) {
			t.Helper()
			lines, total, err := s.Lines("build", "big", from, count)
			if err != nil {
				t.Fatal(err)
			}
			if total != n {
				t.Fatalf("total %d", total)
			}
			wantLen := max(min(count, n-from+1), 0)
			if len(lines) != wantLen {
				t.Fatalf("Lines(%d, %d): %d lines", from, count, len(lines))
			}
			for i, l := range lines {
				if want := fmt.Sprintf("line %07d", from+i); l != want {
					t.Fatalf("Lines(%d, %d)[%d] = %q, want %q", from, count, i, l, want)
				}
			}
		}
		for _, from := range []int{1, 2, 1023, 1024, 1025, 2048, 2049, 500_000, 999_901, 999_999, 1_000_000} {
			check(from, 100)
		}
		check(1_000_001, 10)
		tail, total, err := s.Tail("build", "big", 3)
		if err != nil || total != n || strings.Join(tail, ",") != "line 0999998,line 0999999,line 1000000" {
			t.Fatalf("tail %q %d %v", tail, total, err)
		}
		// Memory: a range in the middle of a ~13 MB log costs a read buffer and the lines.
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 10 {
			s.Lines("build", "big", 654_321, 100)
			s.Tail("build", "big", 100)
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 20; per > 256<<10 {
			t.Errorf("closed=%v: %d bytes allocated per call", closed, per)
		}
		if !closed {
			w.Close()
		}
	}
}

func TestLinesDetails(t *testing.T) {
	s := newStore(t)
	w, _ := s.Create("build", "d", Options{})
	long := strings.Repeat("y", MaxLineBytes+10)
	w.Write([]byte("crlf\r\n" + long + "\nno newline yet"))
	lines, total, _ := s.Lines("build", "d", 1, 10)
	if total != 2 || len(lines) != 2 || lines[0] != "crlf" || lines[1] != long[:MaxLineBytes]+" …[line truncated]" {
		t.Fatalf("live: %d lines, total %d", len(lines), total)
	}
	w.Close()
	lines, total, _ = s.Lines("build", "d", 3, 10)
	if total != 3 || len(lines) != 1 || lines[0] != "no newline yet" {
		t.Fatalf("closed: %q total %d", lines, total)
	}
	if got := readAll(t, s, "build", "d"); got != "crlf\r\n"+long+"\nno newline yet" {
		t.Error("download differs")
	}
}

func TestNamesAndLifecycle(t *testing.T) {
	s := newStore(t)
	for _, bad := range [][2]string{{"", "x"}, {"build", ""}, {"..", "x"}, {"build", "../x"}, {"build", "a/b"}, {"build", ".hidden"}} {
		if _, err := s.Create(bad[0], bad[1], Options{}); !errors.Is(err, ErrBadName) {
			t.Errorf("Create(%q, %q): %v", bad[0], bad[1], err)
		}
	}
	w, err := s.Create("build", "proj:6f1c-42", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("build", "proj:6f1c-42", Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("second Create: %v", err)
	}
	if err := s.Remove("build", "proj:6f1c-42"); !errors.Is(err, ErrLive) {
		t.Errorf("Remove live: %v", err)
	}
	w.Write([]byte("a\n"))
	w.Close()
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("late\n")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v", err)
	}
	if _, err := s.Create("build", "proj:6f1c-42", Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("Create over a complete log: %v", err)
	}
	if err := s.Remove("build", "proj:6f1c-42"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Lines("build", "proj:6f1c-42", 1, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lines after Remove: %v", err)
	}
	if _, err := s.Follow(context.Background(), "build", "nope", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Follow unknown: %v", err)
	}
}

func TestOrphanLogAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s1, _ := Open(dir)
	w, _ := s1.Create("build", "crashed", Options{})
	for i := 1; i <= 3000; i++ {
		fmt.Fprintf(w, "line %d\n", i)
	}
	w.Write([]byte("partial"))
	w.Flush() // the process dies here: no Close, no .meta
	s2, _ := Open(dir)
	info, err := s2.Stat("build", "crashed")
	if err != nil || info.Complete || info.Live || info.Lines != 3001 {
		t.Fatalf("info %+v %v", info, err)
	}
	lines, total, _ := s2.Lines("build", "crashed", 2999, 5)
	if total != 3001 || strings.Join(lines, ",") != "line 2999,line 3000,partial" {
		t.Fatalf("%q %d", lines, total)
	}
	ch, err := s2.Follow(context.Background(), "build", "crashed", 2048)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for range ch {
		got++
	}
	if got != 3001-2047 {
		t.Errorf("followed %d lines", got)
	}
}

func collect(t testing.TB, ch <-chan Line, timeout time.Duration) []Line {
	t.Helper()
	var out []Line
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, l)
		case <-deadline:
			t.Fatalf("follow did not end; %d lines so far", len(out))
		}
	}
}

func checkSeq(t testing.TB, got []Line, from, to int) {
	t.Helper()
	if len(got) != to-from+1 {
		t.Fatalf("%d lines, want %d (%d..%d)", len(got), to-from+1, from, to)
	}
	for i, l := range got {
		if l.N != from+i || l.Text != fmt.Sprintf("line %07d", from+i) {
			t.Fatalf("line %d = %+v", from+i, l)
		}
	}
}

func TestFollowCompleteLog(t *testing.T) {
	s, _ := bigLog(t, 5000, true)
	ch, err := s.Follow(context.Background(), "build", "big", 0)
	if err != nil {
		t.Fatal(err)
	}
	checkSeq(t, collect(t, ch, 10*time.Second), 1, 5000)
	ch, _ = s.Follow(context.Background(), "build", "big", 3333)
	checkSeq(t, collect(t, ch, 10*time.Second), 3333, 5000)
	ch, _ = s.Follow(context.Background(), "build", "big", 9999)
	if got := collect(t, ch, 10*time.Second); len(got) != 0 {
		t.Errorf("beyond the end: %d lines", len(got))
	}
}

func TestFollowLive(t *testing.T) {
	s := newStore(t)
	w, _ := s.Create("build", "live", Options{})
	fmt.Fprintf(w, "line %07d\nline %07d\n", 1, 2)
	const followers = 5
	var chans []<-chan Line
	for i := range followers {
		ch, err := s.Follow(context.Background(), "build", "live", 1+i%2)
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	results := make([][]Line, followers)
	var wg sync.WaitGroup
	for i, ch := range chans {
		wg.Go(func() { results[i] = collect(t, ch, 30*time.Second) })
	}
	for i := 3; i <= 20_000; i++ {
		fmt.Fprintf(w, "line %07d\n", i)
		if i%5000 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// A late follower starting in the middle while the log is still live.
	mid, _ := s.Follow(context.Background(), "build", "live", 10_000)
	w.Close()
	wg.Wait()
	for i, got := range results {
		checkSeq(t, got, 1+i%2, 20_000)
	}
	checkSeq(t, collect(t, mid, 30*time.Second), 10_000, 20_000)
}

func TestFollowContextCancel(t *testing.T) {
	s := newStore(t)
	w, _ := s.Create("build", "c", Options{})
	defer w.Close()
	w.Write([]byte("line 0000001\n"))
	ctx, cancel := context.WithCancel(context.Background())
	ch, _ := s.Follow(ctx, "build", "c", 1)
	if l := <-ch; l.N != 1 {
		t.Fatalf("first %+v", l)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("line after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
	// The writer forgot the follower.
	w.mu.Lock()
	n := len(w.subs)
	w.mu.Unlock()
	if n != 0 {
		t.Errorf("%d subscriptions left", n)
	}
}

func TestSlowFollowerDoesNotBlockWriter(t *testing.T) {
	s := newStore(t)
	w, _ := s.Create("build", "slow", Options{})
	ch, _ := s.Follow(context.Background(), "build", "slow", 1) // nobody reads it yet
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf []byte
		for i := 1; i <= 200_000; i++ {
			buf = fmt.Appendf(buf[:0], "line %07d\n", i)
			w.Write(buf)
		}
		w.Close()
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("writer blocked by a follower that does not read")
	}
	checkSeq(t, collect(t, ch, 30*time.Second), 1, 200_000)
}

func TestConcurrentWriters(t *testing.T) {
	s := newStore(t)
	w, _ := s.Create("build", "cc", Options{Secrets: []string{"secret-token"}})
	ch, _ := s.Follow(context.Background(), "build", "cc", 1)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 5000 {
				fmt.Fprintf(w, "g%d line %d secret-token\n", g, i)
			}
		})
	}
	wg.Wait()
	w.Close()
	got := collect(t, ch, 30*time.Second)
	if len(got) != 20_000 {
		t.Fatalf("%d lines", len(got))
	}
	seen := map[string]bool{}
	for i, l := range got {
		var g, n int
		if _, err := fmt.Sscanf(l.Text, "g%d line %d ***", &g, &n); err != nil || l.N != i+1 || seen[l.Text] {
			t.Fatalf("line %+v: %v", l, err)
		}
		seen[l.Text] = true
	}
}

func TestFilesOnDisk(t *testing.T) {
	s := newStore(t)
	w, _ := s.Create("deploy", "d-ABC123", Options{})
	w.Write([]byte("x\n"))
	w.Close()
	for _, ext := range []string{".log", ".idx", ".meta"} {
		fi, err := os.Stat(filepath.Join(s.dir, "deploy", "d-ABC123"+ext))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", ext, fi, err)
		}
	}
}
