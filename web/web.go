// Package web holds the dashboard's templates and static assets, embedded in the binary: no
// JavaScript build step, no files to deploy beside it. server/ui renders the templates and serves
// the assets.
package web

import (
	"embed"
	"io/fs"
)

//go:embed templates static
var files embed.FS

// Templates are the html/template files (templates/*.html).
func Templates() fs.FS { sub, _ := fs.Sub(files, "templates"); return sub }

// Static are the assets served under /static/ (CSS, JavaScript).
func Static() fs.FS { sub, _ := fs.Sub(files, "static"); return sub }
