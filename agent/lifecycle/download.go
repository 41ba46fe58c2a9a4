package lifecycle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/archive"
)

// Fetcher downloads a revision from the server with the agent's credential.
type Fetcher interface {
	Fetch(ctx context.Context, bundlePath string) (io.ReadCloser, error)
}

// download fetches the revision into bundle.tar, checking its size and sha256 as it streams.
func download(ctx context.Context, f Fetcher, rev protocol.Revision, file string) (int64, error) {
	if rev.BundlePath == "" {
		return 0, errors.New("the command names no bundle to download")
	}
	body, err := f.Fetch(ctx, rev.BundlePath)
	if err != nil {
		return 0, fmt.Errorf("download the revision: %w", err)
	}
	defer body.Close()
	out, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	src := io.Reader(body)
	if rev.Size > 0 {
		src = io.LimitReader(body, rev.Size+1) // one byte more than promised is enough to refuse it
	}
	n, err := io.Copy(io.MultiWriter(out, h), src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("download the revision: %w", err)
	}
	if rev.Size > 0 && n != rev.Size {
		return n, fmt.Errorf("the revision is %d bytes, the server announced %d", n, rev.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); rev.SHA256 != "" && !strings.EqualFold(got, rev.SHA256) {
		return n, fmt.Errorf("the revision's sha256 is %s, the server announced %s: refusing it", got, rev.SHA256)
	}
	return n, nil
}

// unpack extracts the bundle into dir with the archive package's safety rules, whatever the
// declared type says about gzip (tar and tgz are told apart by their first bytes).
func unpack(ctx context.Context, bundle, bundleType, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	f, err := os.Open(bundle)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(4)
	isZip := len(head) == 4 && string(head) == "PK\x03\x04"
	isGzip := len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b
	switch strings.ToLower(bundleType) {
	case "zip":
		if !isZip {
			return errors.New("the bundle type is zip but the revision is not a zip file")
		}
		return archive.ExtractZip(ctx, bundle, dir, archive.Limits{})
	case "tar", "tgz", "tar.gz", "":
		if isZip {
			return archive.ExtractZip(ctx, bundle, dir, archive.Limits{})
		}
		return archive.ExtractTar(ctx, br, dir, isGzip, archive.Limits{})
	}
	return fmt.Errorf("unknown bundle type %q (zip, tar or tgz)", bundleType)
}

// findAppSpec returns the appspec's name in dir: name when given, else appspec.yml, else
// appspec.yaml. ok is false when there is none.
func findAppSpec(dir, name string) (string, bool) {
	names := []string{name}
	if name == "" || name == "appspec.yml" {
		names = []string{"appspec.yml", "appspec.yaml"}
	}
	for _, n := range names {
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(n))); err == nil && fi.Mode().IsRegular() {
			return n, true
		}
	}
	return names[0], false
}

// stripTopDir moves the contents of a single top-level directory holding the appspec up into
// dir, as AWS's agent does for archives made of a project folder.
func stripTopDir(dir, appspecName string) (bool, error) {
	if _, ok := findAppSpec(dir, appspecName); ok {
		return false, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 || !entries[0].IsDir() {
		return false, err
	}
	top := filepath.Join(dir, entries[0].Name())
	if _, ok := findAppSpec(top, appspecName); !ok {
		return false, nil
	}
	tmp := dir + ".strip"
	if err := os.RemoveAll(tmp); err != nil {
		return false, err
	}
	if err := os.Rename(top, tmp); err != nil {
		return false, err
	}
	if err := os.Remove(dir); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, dir)
}

// checkAppSpecName refuses an AppSpecFilename that leaves the revision.
func checkAppSpecName(name string) error {
	if name == "" {
		return nil
	}
	if !fs.ValidPath(name) {
		return fmt.Errorf("appspec file name %q must be a path inside the revision", name)
	}
	return nil
}
