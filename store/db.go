// Package store is Conveyor's persistence: SQLite (modernc.org/sqlite, no cgo) for state, and a
// content-addressed blob directory for artifacts and uploaded objects. It never exposes
// database/sql types: callers use the record types and the methods on Tx.
//
// Settings follow docs/architecture.md: WAL, busy_timeout on every connection, foreign keys, one
// writer connection whose transactions begin IMMEDIATE with synchronous=FULL, and a read-only pool.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/conveyorci/conveyor/migrations"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique constraint or a compare-and-set precondition fails.
var ErrConflict = errors.New("conflict")

// DB is the SQLite database: one writer connection and a pool of readers.
type DB struct {
	w, r   *sql.DB
	path   string
	log    *slog.Logger
	now    func() time.Time
	busy   atomic.Int64
	retry  atomic.Int64
	writes atomic.Int64
}

// Options tune Open.
type Options struct {
	// ReadConns is the size of the read pool (default 4).
	ReadConns int
	// Now overrides the clock (tests).
	Now    func() time.Time
	Logger *slog.Logger
}

// Stats are counters for metrics.
type Stats struct {
	BusyErrors int64 // SQLITE_BUSY seen by a write transaction
	Retries    int64 // write transactions retried after SQLITE_BUSY
	Writes     int64 // committed write transactions
}

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
		q.Set("mode", "ro")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "journal_size_limit(67108864)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and applies pending migrations.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.ReadConns <= 0 {
		opts.ReadConns = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("database path %s: %w", path, err)
	}
	w, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	db := &DB{w: w, path: abs, log: opts.Logger, now: opts.Now}
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	// The database holds sealed secrets and audit history: owner-only, like the key file.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Chmod(abs+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.Close()
			return nil, fmt.Errorf("restrict permissions of %s: %w", abs+suffix, err)
		}
	}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open read pool %s: %w", abs, err)
	}
	r.SetMaxOpenConns(opts.ReadConns)
	r.SetMaxIdleConns(opts.ReadConns)
	db.r = r
	return db, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Stats returns counters since Open.
func (db *DB) Stats() Stats {
	return Stats{BusyErrors: db.busy.Load(), Retries: db.retry.Load(), Writes: db.writes.Load()}
}

// Now is the store's clock, truncated to milliseconds as stored.
func (db *DB) Now() time.Time { return db.now().UTC().Truncate(time.Millisecond) }

// queryer is what both *sql.Tx and *sql.DB offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx carries the repository methods. It wraps either a write transaction (Write) or the read pool
// (Read); methods never start another statement while rows are open, so the single writer
// connection cannot deadlock on itself.
type Tx struct {
	q   queryer
	now time.Time
}

// Now is the time of this transaction (one clock reading per transaction keeps rows consistent).
func (tx *Tx) Now() time.Time { return tx.now }

// Read returns a Tx over the read pool (no transaction; each statement sees the latest commit).
func (db *DB) Read() *Tx { return &Tx{q: db.r, now: db.Now()} }

// Write runs fn in an IMMEDIATE transaction on the writer connection with synchronous=FULL, and
// commits when fn returns nil. A transaction that meets SQLITE_BUSY (another process, or WAL
// recovery) is retried a few times with backoff; the count shows in Stats.
func (db *DB) Write(ctx context.Context, fn func(tx *Tx) error) error {
	backoff := 5 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := db.writeOnce(ctx, fn)
		if err == nil {
			db.writes.Add(1)
			return nil
		}
		if !isBusy(err) {
			return err
		}
		db.busy.Add(1)
		if attempt >= 5 {
			return fmt.Errorf("database busy after %d attempts: %w", attempt+1, err)
		}
		db.retry.Add(1)
		db.log.Warn("database busy, retrying write", "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func (db *DB) writeOnce(ctx context.Context, fn func(tx *Tx) error) (err error) {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	defer func() {
		if err != nil {
			if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
			}
		}
	}()
	if err = fn(&Tx{q: sqlTx, now: db.Now()}); err != nil {
		return err
	}
	if err = sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED
	}
	return false
}

func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Checkpoint truncates the WAL; the server calls it from a maintenance loop so the -wal file does
// not grow without bound.
func (db *DB) Checkpoint(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("wal checkpoint: %w", err)
	}
	return nil
}

// migrate applies every embedded migration newer than the database, each in its own transaction
// together with its bookkeeping row. A database newer than this binary is refused.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	type mig struct {
		version int
		name    string
	}
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	var all []mig
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migration %s: name must start with a number and '_'", e.Name())
		}
		all = append(all, mig{v, e.Name()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version < all[j].version })
	var current int
	if err := db.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(all) > 0 && current > all[len(all)-1].version {
		return fmt.Errorf("database %s has schema version %d, newer than this binary knows (%d): upgrade conveyor",
			db.path, current, all[len(all)-1].version)
	}
	for _, m := range all {
		if m.version <= current {
			continue
		}
		body, err := fs.ReadFile(migrations.FS, m.name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", m.name, err)
		}
		err = db.writeOnce(ctx, func(tx *Tx) error {
			if _, err := tx.q.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			_, err := tx.q.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, tx.now.UnixMilli())
			return err
		})
		if err != nil {
			return err
		}
		db.log.Info("applied migration", "migration", m.name)
	}
	return nil
}

// ms converts a time to stored milliseconds (zero time → 0).
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts stored milliseconds back (0 → zero time).
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}
