package logs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// state is what a reader may see of a log.
type state struct {
	lines     int   // visible lines
	end       int64 // readers never read past this offset
	size      int64 // file size
	live      bool
	complete  bool
	truncated bool
	discarded int64
}

// state returns the visible extent of a log: from its live writer (after flushing it), from its
// completion record, or, for a log cut short by a crash, by scanning its tail.
func (s *Store) state(k, base string) (state, error) {
	s.mu.Lock()
	w := s.live[k]
	s.mu.Unlock()
	if w != nil {
		if st, ok := w.snapshot(); ok {
			return st, nil
		}
	}
	m, ok, err := readMeta(base)
	if err != nil {
		return state{}, err
	}
	if ok {
		return state{lines: m.Lines, end: m.Bytes, size: m.Bytes, complete: true, truncated: m.Truncated, discarded: m.Discarded}, nil
	}
	return orphanState(base)
}

// orphanState counts the lines of a log that has no writer and no completion record, from its
// last index entry on.
func orphanState(base string) (state, error) {
	f, err := os.Open(base + ".log")
	if errors.Is(err, fs.ErrNotExist) {
		return state{}, ErrNotFound
	}
	if err != nil {
		return state{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return state{}, err
	}
	size := fi.Size()
	entry, off := lastIndexEntry(base, size)
	lines := entry * indexEvery
	buf := make([]byte, 64<<10)
	last := byte('\n')
	for off < size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if n > 0 {
			lines += bytes.Count(buf[:n], []byte{'\n'})
			last = buf[n-1]
			off += int64(n)
		}
		if err != nil && err != io.EOF {
			return state{}, err
		}
		if n == 0 {
			break
		}
	}
	if size > 0 && last != '\n' {
		lines++
	}
	return state{lines: lines, end: size, size: size}, nil
}

// lastIndexEntry returns the last usable index entry: its number and offset. Entries pointing
// past size (an index written ahead of a crash) are ignored.
func lastIndexEntry(base string, size int64) (int, int64) {
	idx, err := os.Open(base + ".idx")
	if err != nil {
		return 0, 0
	}
	defer idx.Close()
	fi, err := idx.Stat()
	if err != nil {
		return 0, 0
	}
	var b [8]byte
	for e := fi.Size()/8 - 1; e > 0; e-- {
		if _, err := idx.ReadAt(b[:], e*8); err != nil {
			continue
		}
		if off := int64(binary.LittleEndian.Uint64(b[:])); off <= size {
			return int(e), off
		}
	}
	return 0, 0
}

// seekLine returns a reader positioned at the start of line n (1-based, n ≤ st.lines).
func seekLine(f *os.File, base string, st state, n int) (*lineReader, error) {
	entry := (n - 1) / indexEvery
	off := int64(0)
	if entry > 0 {
		e, o, err := indexEntry(base, entry, st.end)
		if err != nil {
			return nil, err
		}
		entry, off = e, o
	}
	lr := &lineReader{f: f, off: off, end: st.end}
	for skip := n - 1 - entry*indexEvery; skip > 0; skip-- {
		if _, ok, err := lr.next(true); err != nil || !ok {
			return nil, fmt.Errorf("log index: line %d not found: %v", n, err)
		}
	}
	return lr, nil
}

// indexEntry reads entry e, or the closest earlier one if the index is short (a crash).
func indexEntry(base string, e int, end int64) (int, int64, error) {
	idx, err := os.Open(base + ".idx")
	if err != nil {
		return 0, 0, nil // no index: scan from the start
	}
	defer idx.Close()
	var b [8]byte
	for ; e > 0; e-- {
		if _, err := idx.ReadAt(b[:], int64(e)*8); err != nil {
			continue
		}
		if off := int64(binary.LittleEndian.Uint64(b[:])); off <= end {
			return e, off, nil
		}
	}
	return 0, 0, nil
}

// lineReader reads lines from a log file with ReadAt, never past end; end may grow.
type lineReader struct {
	f     *os.File
	off   int64 // file offset of buf[r]
	end   int64
	buf   []byte
	r, w  int
	long  []byte // a line longer than the buffer, being assembled (up to MaxLineBytes)
	atEOF bool
}

const readBuffer = 64 << 10

var truncMark = []byte(" …[line truncated]")

// next returns the next line without its newline (and a trailing "\r"). A last line without a
// newline is returned only when it ends at end (ok false means no complete line yet). With skip,
// the text is not assembled. The returned slice is valid until the next call.
func (lr *lineReader) next(skip bool) ([]byte, bool, error) {
	if lr.buf == nil {
		lr.buf = make([]byte, readBuffer)
	}
	lr.long = lr.long[:0]
	overflow := false
	for {
		if i := bytes.IndexByte(lr.buf[lr.r:lr.w], '\n'); i >= 0 {
			line := lr.buf[lr.r : lr.r+i]
			lr.r += i + 1
			lr.off += int64(i) + 1
			if skip {
				return nil, true, nil
			}
			if len(lr.long) > 0 || overflow {
				line = lr.appendLong(line, &overflow)
			}
			return finishLine(line, overflow), true, nil
		}
		// No newline buffered: keep what there is, read more.
		if !skip && lr.w > lr.r {
			lr.appendLong(lr.buf[lr.r:lr.w], &overflow)
		}
		lr.off += int64(lr.w - lr.r)
		lr.r, lr.w = 0, 0
		if lr.off >= lr.end {
			// The rest of a final line without newline, if the log ends here.
			if len(lr.long) > 0 || overflow {
				return finishLine(lr.long, overflow), true, nil
			}
			return nil, false, nil
		}
		n, err := lr.f.ReadAt(lr.buf[:min(int64(len(lr.buf)), lr.end-lr.off)], lr.off)
		lr.w = n
		if n == 0 && err != nil {
			if err == io.EOF {
				return nil, false, nil
			}
			return nil, false, err
		}
	}
}

// The final partial line is returned when the reader reaches end; the caller only asks for
// lines it knows are visible, so reaching end mid-line means the log ends there.

func (lr *lineReader) appendLong(b []byte, overflow *bool) []byte {
	room := MaxLineBytes - len(lr.long)
	if len(b) > room {
		b = b[:max(room, 0)]
		*overflow = true
	}
	lr.long = append(lr.long, b...)
	return lr.long
}

func finishLine(line []byte, overflow bool) []byte {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if overflow {
		line = append(line[:len(line):len(line)], truncMark...)
	}
	return line
}

// Lines returns up to n lines starting at line from (1-based) and the number of visible lines.
// from beyond the end returns no lines. Only the index entry and the lines asked for are read.
func (s *Store) Lines(kind, id string, from, n int) ([]string, int, error) {
	base, err := s.paths(kind, id)
	if err != nil {
		return nil, 0, err
	}
	st, err := s.state(key(kind, id), base)
	if err != nil {
		return nil, 0, err
	}
	if from < 1 {
		from = 1
	}
	if n <= 0 || from > st.lines {
		return nil, st.lines, nil
	}
	n = min(n, st.lines-from+1)
	f, err := os.Open(base + ".log")
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	lr, err := seekLine(f, base, st, from)
	if err != nil {
		return nil, 0, err
	}
	out := make([]string, 0, n)
	for range n {
		line, ok, err := lr.next(false)
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			break
		}
		out = append(out, string(line))
	}
	return out, st.lines, nil
}

// Tail returns the last n lines and the number of visible lines; the first returned line is
// line total-len(lines)+1.
func (s *Store) Tail(kind, id string, n int) ([]string, int, error) {
	base, err := s.paths(kind, id)
	if err != nil {
		return nil, 0, err
	}
	st, err := s.state(key(kind, id), base)
	if err != nil {
		return nil, 0, err
	}
	return s.Lines(kind, id, max(st.lines-n+1, 1), n)
}

// Open returns the whole log file for download, as far as it is written (a live log is
// flushed first).
func (s *Store) Open(kind, id string) (io.ReadCloser, error) {
	base, err := s.paths(kind, id)
	if err != nil {
		return nil, err
	}
	st, err := s.state(key(kind, id), base)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(base + ".log")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, 0, st.size), f}, nil
}

// Line is one log line.
type Line struct {
	N    int // line number, from 1
	Text string
}

// followBuffer is how many lines a follower may have sent but not yet received.
const followBuffer = 256

// Follow delivers the lines from fromLine (1-based; < 1 means 1) on, then new lines as they are
// written, and closes the channel when the log is complete and every line was delivered, or when
// ctx ends. A log with no live writer is delivered up to its end.
//
// Followers never slow the writer: the writer only signals (non-blocking, coalesced) that lines
// were added, and each follower reads them from the file at its own pace, so a slow consumer
// falls behind in the file, not in memory. Any number may follow one log. A follower that
// delivered the truncation marker before Close sees the count as it was then.
func (s *Store) Follow(ctx context.Context, kind, id string, fromLine int) (<-chan Line, error) {
	base, err := s.paths(kind, id)
	if err != nil {
		return nil, err
	}
	k := key(kind, id)
	sig := make(chan struct{}, 1)
	s.mu.Lock()
	w := s.live[k]
	s.mu.Unlock()
	var done <-chan struct{}
	if w != nil && w.subscribe(sig) {
		done = w.done
	} else {
		w = nil
	}
	f, err := os.Open(base + ".log")
	if err != nil {
		if w != nil {
			w.unsubscribe(sig)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	if fromLine < 1 {
		fromLine = 1
	}
	out := make(chan Line, followBuffer)
	go func() {
		defer close(out)
		defer f.Close()
		if w != nil {
			defer w.unsubscribe(sig)
		}
		next := fromLine
		var lr *lineReader
		for {
			st, err := s.state(k, base)
			if err != nil {
				return
			}
			if next <= st.lines {
				if lr == nil {
					if lr, err = seekLine(f, base, st, next); err != nil {
						return
					}
				}
				lr.end = st.end
				for ; next <= st.lines; next++ {
					line, ok, err := lr.next(false)
					if err != nil || !ok {
						return
					}
					select {
					case out <- Line{N: next, Text: string(line)}:
					case <-ctx.Done():
						return
					}
				}
			}
			if !st.live {
				return
			}
			select {
			case <-sig:
			case <-done:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
