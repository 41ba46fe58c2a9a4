package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Object is one version of an object in a bucket (the S3 source provider's storage).
type Object struct {
	Bucket    string
	Key       string
	VersionID string
	SHA256    string
	Size      int64
	ETag      string
	Created   time.Time
}

// PutObject records a new version of bucket/key pointing at a stored blob.
func (tx *Tx) PutObject(ctx context.Context, bucket, key string, blob BlobInfo) (Object, error) {
	o := Object{Bucket: bucket, Key: key, VersionID: uuid.NewString(), SHA256: blob.SHA256, Size: blob.Size,
		ETag: blob.MD5, Created: tx.now}
	_, err := tx.q.ExecContext(ctx, `INSERT INTO objects (bucket, key, version_id, seq, sha256, size, etag, created_at)
		VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM objects WHERE bucket = ? AND key = ?), ?, ?, ?, ?)`,
		bucket, key, o.VersionID, bucket, key, o.SHA256, o.Size, o.ETag, ms(tx.now))
	if err != nil {
		return Object{}, fmt.Errorf("record object %s/%s: %w", bucket, key, err)
	}
	return o, nil
}

const objectColumns = `bucket, key, version_id, sha256, size, etag, created_at`

func scanObject(s scanner) (Object, error) {
	var o Object
	var created int64
	err := s.Scan(&o.Bucket, &o.Key, &o.VersionID, &o.SHA256, &o.Size, &o.ETag, &created)
	o.Created = fromMS(created)
	return o, err
}

// GetObject returns a version of bucket/key; an empty version means the latest.
func (tx *Tx) GetObject(ctx context.Context, bucket, key, version string) (Object, error) {
	var row *sql.Row
	if version == "" {
		row = tx.q.QueryRowContext(ctx, `SELECT `+objectColumns+` FROM objects WHERE bucket = ? AND key = ?
			ORDER BY seq DESC LIMIT 1`, bucket, key)
	} else {
		row = tx.q.QueryRowContext(ctx, `SELECT `+objectColumns+` FROM objects WHERE bucket = ? AND key = ? AND version_id = ?`,
			bucket, key, version)
	}
	o, err := scanObject(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Object{}, fmt.Errorf("object %s/%s: %w", bucket, key, ErrNotFound)
	}
	if err != nil {
		return Object{}, fmt.Errorf("read object %s/%s: %w", bucket, key, err)
	}
	return o, nil
}

// ListObjectVersions lists the versions of bucket/key, newest first.
func (tx *Tx) ListObjectVersions(ctx context.Context, bucket, key string, limit int) ([]Object, error) {
	out, err := queryAll(ctx, tx.q, scanObject, `SELECT `+objectColumns+` FROM objects WHERE bucket = ? AND key = ?
		ORDER BY seq DESC LIMIT ?`, bucket, key, limit)
	if err != nil {
		return nil, fmt.Errorf("list versions of %s/%s: %w", bucket, key, err)
	}
	return out, nil
}
