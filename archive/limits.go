package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Limits bounds what one archive may produce. A zero field takes the value from DefaultLimits.
type Limits struct {
	// MaxFiles caps the number of entries (files, directories and links).
	MaxFiles int
	// MaxFileBytes caps the size of one file, counted as it is written.
	MaxFileBytes int64
	// MaxTotalBytes caps the sum of all file sizes, counted as they are written.
	MaxTotalBytes int64
	// MaxRatio caps uncompressed/compressed size, per zip entry and for a whole gzip stream or
	// zip file. It only applies once the uncompressed side exceeds 1 MiB, so small, very
	// repetitive files (a file of spaces) are never refused.
	MaxRatio float64
}

// DefaultLimits are generous for build artifacts and deployment bundles and still stop a bomb
// long before it fills a disk: 100,000 entries, 2 GiB per file, 4 GiB in total, and a
// compression ratio of 200 (source code and binaries compress 2–10×; a zip bomb 1,000× or more).
var DefaultLimits = Limits{
	MaxFiles:      100_000,
	MaxFileBytes:  2 << 30,
	MaxTotalBytes: 4 << 30,
	MaxRatio:      200,
}

// ratioFloor is the uncompressed size below which the ratio is not checked.
const ratioFloor = 1 << 20

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultLimits.MaxFileBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultLimits.MaxTotalBytes
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultLimits.MaxRatio
	}
	return l
}

// ratioExceeded reports whether written bytes from compressed bytes break the ratio cap.
func (l Limits) ratioExceeded(written, compressed int64) bool {
	if written <= ratioFloor {
		return false
	}
	if compressed <= 0 {
		compressed = 1
	}
	return float64(written) > float64(compressed)*l.MaxRatio
}

// Rules an entry can break. EntryError wraps one of them, so callers can use errors.Is.
var (
	ErrUnsafePath      = errors.New("unsafe path")
	ErrSymlinkEscape   = errors.New("symbolic link leaves the destination")
	ErrThroughSymlink  = errors.New("path goes through a symbolic link")
	ErrNotDir          = errors.New("parent path is not a directory")
	ErrHardLink        = errors.New("hard link target is not a regular file extracted earlier")
	ErrUnsupportedType = errors.New("unsupported entry type")
	ErrDuplicate       = errors.New("duplicate entry")
	ErrTooManyFiles    = errors.New("too many entries")
	ErrFileTooLarge    = errors.New("file too large")
	ErrTotalTooLarge   = errors.New("archive too large")
	ErrRatio           = errors.New("compression ratio too high")
	ErrSizeMismatch    = errors.New("entry larger than its declared size")
	ErrCorrupt         = errors.New("corrupt entry")
)

// EntryError names the entry that broke a rule.
type EntryError struct {
	Entry  string // the name as it appears in the archive
	Err    error  // one of the Err* rules, or an I/O error
	Detail string // optional: what exactly
}

func (e *EntryError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("archive entry %q: %v: %s", e.Entry, e.Err, e.Detail)
	}
	return fmt.Sprintf("archive entry %q: %v", e.Entry, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

func entryErr(name string, err error, format string, args ...any) error {
	return &EntryError{Entry: name, Err: err, Detail: fmt.Sprintf(format, args...)}
}

// countingReader counts bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// copyChecked copies r to w in chunks, checking the context and the limits as bytes are written.
// declared < 0 means unknown. compressed > 0 enables the per-entry ratio check. total is the
// running total for the whole archive; ratioTotal (optional) is checked after every chunk against
// the whole archive's compressed bytes.
func copyChecked(ctx context.Context, name string, w io.Writer, r io.Reader, declared, compressed int64, lim Limits, total *int64, whole func() error) (int64, error) {
	buf := make([]byte, 32<<10)
	var written int64
	for {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			written += int64(n)
			*total += int64(n)
			switch {
			case declared >= 0 && written > declared:
				return written, entryErr(name, ErrSizeMismatch, "declared %d bytes", declared)
			case written > lim.MaxFileBytes:
				return written, entryErr(name, ErrFileTooLarge, "more than %d bytes", lim.MaxFileBytes)
			case *total > lim.MaxTotalBytes:
				return written, entryErr(name, ErrTotalTooLarge, "more than %d bytes in total", lim.MaxTotalBytes)
			case compressed > 0 && lim.ratioExceeded(written, compressed):
				return written, entryErr(name, ErrRatio, "%d bytes from %d compressed, above %g", written, compressed, lim.MaxRatio)
			}
			if whole != nil {
				if err := whole(); err != nil {
					return written, err
				}
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return written, err
			}
		}
		if rerr == io.EOF {
			return written, nil
		}
		if rerr != nil {
			var ee *EntryError
			if errors.As(rerr, &ee) {
				return written, rerr
			}
			return written, entryErr(name, rerr, "read")
		}
	}
}
