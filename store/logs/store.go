// Package logs stores the output of builds (and deployments) as append-only log files with a
// small line index, masks secrets as they are written, caps their size, and serves line ranges,
// tails, downloads and live following.
//
// On disk, under the directory given to Open:
//
//	<kind>/<id>.log   the log text, exactly as written after masking (plus the truncation marker)
//	<kind>/<id>.idx   the line index: little-endian uint64 byte offsets of lines 1, 1+N, 1+2N, …
//	                  (N = 1024), so any line is found by one 8-byte read and a scan of at most
//	                  N-1 lines
//	<kind>/<id>.meta  JSON written by Writer.Close: the log is complete
//
// Line numbers start at 1. A line is the text up to a "\n" (a trailing "\r" is dropped when
// reading); while a log is being written, only complete lines are visible; once it is closed, a
// final line without "\n" is visible too. Lines longer than MaxLineBytes are cut when read (the
// download returns them whole).
//
// One Store per directory per process: live state (writers, followers) is in memory. A log left
// without .meta by a crash is served as it is and never followed beyond its end.
package logs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Errors.
var (
	ErrNotFound = errors.New("log not found")
	ErrExists   = errors.New("log already exists")
	ErrClosed   = errors.New("log writer closed")
	ErrLive     = errors.New("log is being written")
	ErrBadName  = errors.New("invalid log kind or id")
)

// DefaultCap is the size at which a log is truncated when Options.Cap is zero.
const DefaultCap = 100 << 20

// MaxLineBytes is the longest line Lines, Tail and Follow return; the rest of a longer line is
// replaced by " …[line truncated]".
const MaxLineBytes = 64 << 10

// indexEvery is N: the index holds the offset of every N-th line.
const indexEvery = 1024

// Store is a directory of logs. It is safe for concurrent use.
type Store struct {
	dir  string
	mu   sync.Mutex
	live map[string]*Writer // key: kind/id
}

// Open opens (creating it if needed) the log directory dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("log directory %s: %w", dir, err)
	}
	return &Store{dir: dir, live: map[string]*Writer{}}, nil
}

// validName accepts ids such as "build-42", "project:6f1c…", "d-ABC123": letters, digits and
// . _ - : up to 200 bytes, not starting with a dot.
func validName(s string) bool {
	if s == "" || len(s) > 200 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == ':':
		default:
			return false
		}
	}
	return true
}

func (s *Store) paths(kind, id string) (base string, err error) {
	if !validName(kind) || !validName(id) {
		return "", fmt.Errorf("%w: %q/%q", ErrBadName, kind, id)
	}
	return filepath.Join(s.dir, kind, id), nil
}

func key(kind, id string) string { return kind + "/" + id }

// Options configure a new log.
type Options struct {
	// Cap is the size in bytes after which output is discarded (default DefaultCap). One marker
	// line states it; its count of discarded bytes is final once the writer is closed.
	Cap int64
	// Secrets are values to mask as "***" (see Writer).
	Secrets []string
}

// Create starts a new log. It fails with ErrExists if the log exists, on disk or live.
func (s *Store) Create(kind, id string, opts Options) (*Writer, error) {
	base, err := s.paths(kind, id)
	if err != nil {
		return nil, err
	}
	k := key(kind, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live[k] != nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, k)
	}
	if err := os.MkdirAll(filepath.Dir(base), 0o750); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	f, err := os.OpenFile(base+".log", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrExists, k)
		}
		return nil, fmt.Errorf("create log: %w", err)
	}
	idx, err := os.OpenFile(base+".idx", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		f.Close()
		os.Remove(base + ".log")
		return nil, fmt.Errorf("create log index: %w", err)
	}
	w := newWriter(s, k, base, f, idx, opts)
	s.live[k] = w
	return w, nil
}

func (s *Store) release(k string, w *Writer) {
	s.mu.Lock()
	if s.live[k] == w {
		delete(s.live, k)
	}
	s.mu.Unlock()
}

// meta is the completion record.
type meta struct {
	Lines     int   `json:"lines"`
	Bytes     int64 `json:"bytes"`
	Truncated bool  `json:"truncated,omitempty"`
	Discarded int64 `json:"discarded,omitempty"`
}

func readMeta(base string) (meta, bool, error) {
	b, err := os.ReadFile(base + ".meta")
	if errors.Is(err, fs.ErrNotExist) {
		return meta{}, false, nil
	}
	if err != nil {
		return meta{}, false, err
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return meta{}, false, fmt.Errorf("log metadata %s.meta: %w", base, err)
	}
	return m, true, nil
}

func writeMeta(base string, m meta) error {
	b, _ := json.Marshal(m)
	tmp := base + ".meta.tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, base+".meta")
}

// Info describes a log.
type Info struct {
	Lines     int   // visible lines
	Bytes     int64 // size of the log file
	Live      bool  // a writer is appending to it
	Complete  bool  // its writer closed it (false while live, and for a log cut short by a crash)
	Truncated bool  // the cap was reached
	Discarded int64 // bytes discarded after the cap (final once Complete)
}

// Stat describes a log.
func (s *Store) Stat(kind, id string) (Info, error) {
	base, err := s.paths(kind, id)
	if err != nil {
		return Info{}, err
	}
	st, err := s.state(key(kind, id), base)
	if err != nil {
		return Info{}, err
	}
	return Info{Lines: st.lines, Bytes: st.size, Live: st.live, Complete: st.complete, Truncated: st.truncated, Discarded: st.discarded}, nil
}

// Remove deletes a log that is not being written.
func (s *Store) Remove(kind, id string) error {
	base, err := s.paths(kind, id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live[key(kind, id)] != nil {
		return fmt.Errorf("%w: %s", ErrLive, key(kind, id))
	}
	var errs []error
	for _, ext := range []string{".log", ".idx", ".meta"} {
		if err := os.Remove(base + ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// humanSize writes a cap the way people read it: "100 MiB".
func humanSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
