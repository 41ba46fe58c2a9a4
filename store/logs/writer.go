package logs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
)

// Writer appends to one log. It is an io.Writer safe for concurrent use (a build's stdout and
// stderr copiers share one); each Write is appended whole, so writes that end in a newline keep
// their lines intact.
//
// Buffering: text goes through a 256 KiB buffer, so a chatty build costs few system calls.
// Readers (Lines, Tail, Open, Follow) flush the buffer before they read, and a Write that
// completes a line wakes every follower, so live viewers see each complete line as soon as it is
// written without the writer ever flushing per line.
//
// Masking: every value in Options.Secrets of at least MinSecretLen bytes is replaced by "***"
// wherever it appears, also when it is split across writes; a value containing newlines is
// masked line by line. Text that might still be the start of a secret is held back until the
// next write or Close: at most the last (longest secret − 1) bytes of an unfinished line, never
// a complete line, so live viewers lose nothing they could see anyway (they see complete lines
// only). Masking is exact-value and best effort (operations rule 8): a secret that the build
// transforms (base64, URL-encoding, one character per line) is not recognised.
//
// Cap: once Options.Cap bytes have been written, the unfinished line is ended, one line
// "[conveyor] log truncated: the 100 MiB cap was reached; N more bytes were discarded" is
// written, and all further output is counted and dropped; Write keeps succeeding so the build is
// not disturbed. N grows while the build runs and is final after Close.
type Writer struct {
	s    *Store
	key  string
	base string

	mu        sync.Mutex
	f         *os.File
	bw        *bufio.Writer
	idx       *os.File
	idxBuf    []byte // index entries not yet written
	m         *masker
	cap       int64
	size      int64 // bytes in the log, buffered ones included
	lines     int   // complete lines
	lineEnd   int64 // offset just after the last newline
	truncated bool
	discarded int64
	markerOff int64 // where the marker's count starts
	markerLen int   // bytes reserved for count and text after it
	closed    bool
	err       error // first write error; sticky
	subs      map[chan struct{}]struct{}
	done      chan struct{}
}

const writeBuffer = 256 << 10

func newWriter(s *Store, k, base string, f, idx *os.File, opts Options) *Writer {
	c := opts.Cap
	if c <= 0 {
		c = DefaultCap
	}
	w := &Writer{
		s: s, key: k, base: base, f: f, idx: idx,
		bw:   bufio.NewWriterSize(f, writeBuffer),
		m:    newMasker(opts.Secrets),
		cap:  c,
		subs: map[chan struct{}]struct{}{},
		done: make(chan struct{}),
	}
	w.idxBuf = binary.LittleEndian.AppendUint64(w.idxBuf, 0) // line 1 starts at 0
	return w
}

// Write appends p (masked). It fails only when the log file cannot be written or the writer is
// closed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	before := w.lines
	if w.m != nil {
		w.m.write(p, w.emit)
	} else {
		w.emit(p)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.lines != before {
		w.signal()
	}
	return len(p), nil
}

// signal wakes every follower without ever blocking: each has a one-slot channel, and a pending
// wake-up already covers this one.
func (w *Writer) signal() {
	for c := range w.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// emit takes masked bytes and applies the cap.
func (w *Writer) emit(b []byte) {
	if w.err != nil {
		return
	}
	if w.truncated {
		w.discarded += int64(len(b))
		return
	}
	if room := w.cap - w.size; int64(len(b)) > room {
		w.append(b[:room])
		w.discarded += int64(len(b)) - room
		w.truncate()
		return
	}
	w.append(b)
}

func (w *Writer) append(b []byte) {
	if len(b) == 0 {
		return
	}
	base := w.size
	for rest := b; ; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		base += int64(i) + 1
		rest = rest[i+1:]
		w.lines++
		w.lineEnd = base
		if w.lines%indexEvery == 0 {
			w.idxBuf = binary.LittleEndian.AppendUint64(w.idxBuf, uint64(base))
		}
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("write log %s: %w", w.key, err)
		return
	}
	w.size += int64(len(b))
}

const markerCountWidth = 20 // digits of the largest int64, and a space

func (w *Writer) truncate() {
	if w.size > w.lineEnd {
		w.append([]byte("\n"))
	}
	head := fmt.Sprintf("[conveyor] log truncated: the %s cap was reached; ", humanSize(w.cap))
	w.markerOff = w.size + int64(len(head))
	tail := w.markerTail()
	w.markerLen = len(tail)
	w.append([]byte(head + tail + "\n"))
	w.truncated = true
}

// markerTail is the part of the marker rewritten on Close, padded to a fixed width.
func (w *Writer) markerTail() string {
	t := fmt.Sprintf("%d more bytes were discarded", w.discarded)
	if pad := markerCountWidth + len(" more bytes were discarded") - len(t); pad > 0 {
		t += string(bytes.Repeat([]byte{' '}, pad))
	}
	return t
}

// flushLocked writes buffered text and then index entries (the index never points past text
// that is on disk).
func (w *Writer) flushLocked() {
	if w.err != nil {
		return
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("write log %s: %w", w.key, err)
		return
	}
	if len(w.idxBuf) > 0 {
		if _, err := w.idx.Write(w.idxBuf); err != nil {
			w.err = fmt.Errorf("write log index %s: %w", w.key, err)
			return
		}
		w.idxBuf = w.idxBuf[:0]
	}
}

// Flush writes buffered text to the file. Readers flush on their own; this is for callers that
// hand the file to something else.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
	return w.err
}

// Close flushes what masking held back, fixes the truncation count, syncs, records the log as
// complete and ends every Follow once it has delivered the last line. Close is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		err := w.err
		w.mu.Unlock()
		return err
	}
	if w.m != nil {
		w.m.flush(w.emit)
	}
	w.flushLocked()
	if w.err == nil && w.truncated {
		if _, err := w.f.WriteAt([]byte(w.markerTail()[:w.markerLen]), w.markerOff); err != nil {
			w.err = fmt.Errorf("write log %s: %w", w.key, err)
		}
	}
	if w.err == nil {
		if err := w.f.Sync(); err != nil {
			w.err = fmt.Errorf("sync log %s: %w", w.key, err)
		}
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("close log %s: %w", w.key, err)
	}
	if err := w.idx.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("close log index %s: %w", w.key, err)
	}
	if w.size > w.lineEnd {
		w.lines++ // the final line without a newline is a line now
		w.lineEnd = w.size
	}
	if w.err == nil {
		if err := writeMeta(w.base, meta{Lines: w.lines, Bytes: w.size, Truncated: w.truncated, Discarded: w.discarded}); err != nil {
			w.err = fmt.Errorf("complete log %s: %w", w.key, err)
		}
	}
	w.closed = true
	close(w.done)
	err := w.err
	w.mu.Unlock()
	w.s.release(w.key, w)
	return err
}

// snapshot flushes and reports what readers may see.
func (w *Writer) snapshot() (state, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return state{}, false
	}
	w.flushLocked()
	return state{lines: w.lines, end: w.lineEnd, size: w.size, live: true, truncated: w.truncated, discarded: w.discarded}, true
}

// subscribe registers a follower; false if the writer is already closed.
func (w *Writer) subscribe(c chan struct{}) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.subs[c] = struct{}{}
	return true
}

func (w *Writer) unsubscribe(c chan struct{}) {
	w.mu.Lock()
	delete(w.subs, c)
	w.mu.Unlock()
}
