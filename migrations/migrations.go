// Package migrations holds the numbered SQL migrations of the Conveyor database, embedded in the
// binary. Files are named NNNN_description.sql, applied in order, each in its own transaction with
// its bookkeeping row. Never edit a released file: add a new one.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
