package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "conveyor.db")
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestOpenAppliesMigrationsOnceAndSetsPragmas(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	var mode string
	if err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q (%v), want wal", mode, err)
	}
	var sync, fk, busy int
	_ = db.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync)
	_ = db.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk)
	_ = db.r.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy)
	if sync != 2 || fk != 1 || busy != 5000 {
		t.Errorf("synchronous=%d foreign_keys=%d reader busy_timeout=%d, want 2 (FULL), 1, 5000", sync, fk, busy)
	}
	if _, err := db.r.ExecContext(ctx, "CREATE TABLE nope (x)"); err == nil {
		t.Error("the read pool must be query-only")
	}
	db.Close()
	db2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	var n int
	_ = db2.w.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n)
	db2.Close()
	if n < 1 {
		t.Fatalf("schema_migrations has %d rows", n)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode = %v, want 0600 (it holds sealed secrets)", fi.Mode().Perm())
	}
}

func TestOpenRefusesANewerDatabase(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	if _, err := db.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(ctx, path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("want a refusal naming the schema version, got %v", err)
	}
}

func TestFinishActionIsCompareAndSet(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	err := db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.CreatePipeline(ctx, "p", []byte(`{}`)); err != nil {
			return err
		}
		ex := &Execution{ID: "e1", Pipeline: "p", PipelineVersion: 1, Status: "InProgress", Mode: "SUPERSEDED", TriggerType: "StartPipelineExecution"}
		if err := tx.InsertExecution(ctx, ex); err != nil {
			return err
		}
		return tx.InsertActionExecution(ctx, &ActionExecution{ID: "a1", ExecutionID: "e1", Pipeline: "p", PipelineVersion: 1,
			StageName: "S", ActionName: "A", RunOrder: 1, Attempt: 1, Status: "InProgress"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wins := make(chan string, 10)
	for _, status := range []string{"Succeeded", "Failed", "Abandoned", "Succeeded", "Failed"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := db.Write(ctx, func(tx *Tx) error {
				return tx.FinishAction(ctx, &ActionExecution{ID: "a1", Status: status})
			})
			if err == nil {
				wins <- status
			} else if !errors.Is(err, ErrConflict) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	var got []string
	for w := range wins {
		got = append(got, w)
	}
	if len(got) != 1 {
		t.Fatalf("%d writers won the compare-and-set (%v), want exactly 1", len(got), got)
	}
	a, _ := db.Read().GetActionExecution(ctx, "a1")
	if a.Status != got[0] {
		t.Errorf("stored %s, winner %s", a.Status, got[0])
	}
}

func TestClientRequestTokenIsUniquePerPipeline(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	err := db.Write(ctx, func(tx *Tx) error {
		for _, p := range []string{"a", "b"} {
			if _, err := tx.CreatePipeline(ctx, p, []byte(`{}`)); err != nil {
				return err
			}
		}
		for i, p := range []string{"a", "b"} {
			if err := tx.InsertExecution(ctx, &Execution{ID: "x" + p, Pipeline: p, PipelineVersion: 1, Status: "InProgress",
				Mode: "SUPERSEDED", TriggerType: "t", ClientRequestToken: "tok"}); err != nil {
				return err
			}
			_ = i
		}
		err := tx.InsertExecution(ctx, &Execution{ID: "y", Pipeline: "a", PipelineVersion: 1, Status: "InProgress",
			Mode: "SUPERSEDED", TriggerType: "t", ClientRequestToken: "tok"})
		if !errors.Is(err, ErrConflict) {
			t.Errorf("a reused token in the same pipeline: %v, want ErrConflict", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBlobsAreContentAddressedAndAtomic(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	blobs, err := OpenBlobs(filepath.Join(t.TempDir(), "blobs"), db)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("conveyor"), 10000)
	info, err := blobs.Put(ctx, bytes.NewReader(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if info.SHA256 != hex.EncodeToString(sum[:]) || info.Size != int64(len(body)) {
		t.Fatalf("info = %+v", info)
	}
	again, err := blobs.Put(ctx, bytes.NewReader(body), 0)
	if err != nil || again.SHA256 != info.SHA256 {
		t.Fatalf("second put: %+v %v", again, err)
	}
	f, err := blobs.Open(info.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, body) {
		t.Fatal("blob content differs")
	}
	if _, err := blobs.Put(ctx, bytes.NewReader(body), 100); err == nil {
		t.Error("a blob over the limit must be refused")
	}
	if entries, _ := os.ReadDir(filepath.Join(blobs.Dir(), "tmp")); len(entries) != 0 {
		t.Errorf("temp files left behind: %d", len(entries))
	}
	if _, err := blobs.Open("../../etc/passwd"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a non-sha name must not open a file: %v", err)
	}
}

func TestSealerBindsValuesToTheirContext(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal([]byte("hunter2"), "access-key:A")
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("plaintext visible in the sealed value")
	}
	if got, err := s.Open(sealed, "access-key:A"); err != nil || string(got) != "hunter2" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.Open(sealed, "access-key:B"); err == nil {
		t.Error("a sealed value must not open under another context")
	}
	other, _ := NewSealer(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(sealed, "access-key:A"); err == nil {
		t.Error("a sealed value must not open under another key")
	}
	dir := t.TempDir()
	k1, created, err := LoadOrCreateKey("", filepath.Join(dir, "secret.key"))
	if err != nil || !created || len(k1) != 32 {
		t.Fatalf("create key: %v %v", created, err)
	}
	k2, created, err := LoadOrCreateKey("", filepath.Join(dir, "secret.key"))
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("reload key: %v %v", created, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "secret.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v", fi.Mode().Perm())
	}
	if _, _, err := LoadOrCreateKey("too-short", ""); err == nil {
		t.Error("a malformed CONVEYOR_SECRET_KEY must be refused")
	}
}
