// Package durable writes small state files so that a crash leaves either the old content or the
// new one, never a torn file: temp file, fsync, rename, fsync of the directory.
package durable

import (
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces file with data, durably, with mode perm (creating the directory if needed).
func WriteFile(file string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	// Mode first, so the content is never readable with looser permissions.
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
