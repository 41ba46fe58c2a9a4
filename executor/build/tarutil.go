package build

import (
	"archive/tar"
	"errors"
	"io"
	"strings"
)

// tarWriterClose writes an empty tar stream (CopyIn of it creates just the directory).
func tarWriterClose(w io.Writer) error { return tar.NewWriter(w).Close() }

// walkTar calls fn for every regular file of a tar stream from CopyOut, with its path relative to
// the copied directory (CopyOut prefixes entries with the directory's own name).
func walkTar(r io.Reader, fn func(name string, r io.Reader) error) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		_, rel, ok := strings.Cut(strings.TrimPrefix(h.Name, "./"), "/")
		if !ok || rel == "" {
			continue
		}
		if err := fn(rel, tr); err != nil {
			return err
		}
	}
}
