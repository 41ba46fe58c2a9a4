package store

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// Blobs is the content-addressed blob store on disk: <dir>/<sha[0:2]>/<sha256>. A blob is written
// to a temporary file in the same directory tree, synced, then renamed into place, so a reader never
// sees a partial blob and a crash leaves at most a stray temp file.
type Blobs struct {
	dir string
	db  *DB
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	SHA256 string
	MD5    string
	Size   int64
}

var shaPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// OpenBlobs prepares the blob directory.
func OpenBlobs(dir string, db *DB) (*Blobs, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o750); err != nil {
		return nil, fmt.Errorf("blob directory %s: %w", dir, err)
	}
	return &Blobs{dir: dir, db: db}, nil
}

// Dir is the blob root.
func (b *Blobs) Dir() string { return b.dir }

// Put stores the content of r (at most limit bytes when limit > 0) and records it.
func (b *Blobs) Put(ctx context.Context, r io.Reader, limit int64) (BlobInfo, error) {
	tmp, err := os.CreateTemp(filepath.Join(b.dir, "tmp"), "blob-*")
	if err != nil {
		return BlobInfo{}, fmt.Errorf("create temp blob: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	hs, hm := sha256.New(), md5.New()
	src := r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	n, err := io.Copy(io.MultiWriter(tmp, hs, hm), &ctxReader{ctx: ctx, r: src})
	if err == nil && limit > 0 && n > limit {
		err = fmt.Errorf("blob larger than the limit of %d bytes", limit)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return BlobInfo{}, fmt.Errorf("write blob: %w", err)
	}
	info := BlobInfo{SHA256: hex.EncodeToString(hs.Sum(nil)), MD5: hex.EncodeToString(hm.Sum(nil)), Size: n}
	final := b.path(info.SHA256)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return BlobInfo{}, fmt.Errorf("blob directory: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return BlobInfo{}, fmt.Errorf("store blob: %w", err)
	}
	err = b.db.Write(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, `INSERT INTO blobs (sha256, size, created_at) VALUES (?, ?, ?)
			ON CONFLICT (sha256) DO NOTHING`, info.SHA256, info.Size, ms(tx.now))
		return err
	})
	if err != nil {
		return BlobInfo{}, fmt.Errorf("record blob: %w", err)
	}
	return info, nil
}

// PutFile stores the file at path.
func (b *Blobs) PutFile(ctx context.Context, path string) (BlobInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return BlobInfo{}, err
	}
	defer f.Close()
	return b.Put(ctx, f, 0)
}

// Open opens a blob for reading.
func (b *Blobs) Open(sha string) (*os.File, error) {
	if !shaPattern.MatchString(sha) {
		return nil, fmt.Errorf("blob %q: %w", sha, ErrNotFound)
	}
	f, err := os.Open(b.path(sha))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", sha, ErrNotFound)
	}
	return f, err
}

// Path is where a blob lives on disk (for executors that mount or unzip it directly).
func (b *Blobs) Path(sha string) (string, error) {
	if !shaPattern.MatchString(sha) {
		return "", fmt.Errorf("blob %q: %w", sha, ErrNotFound)
	}
	return b.path(sha), nil
}

func (b *Blobs) path(sha string) string { return filepath.Join(b.dir, sha[:2], sha) }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
