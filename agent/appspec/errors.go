package appspec

import (
	"fmt"
	"strings"

	"github.com/conveyorci/conveyor/internal/fileerr"
	"github.com/conveyorci/conveyor/internal/suggest"
)

// maxReportedErrors caps how many problems one Parse reports: a hostile file could otherwise
// produce hundreds of thousands of lines.
const maxReportedErrors = 50

// Error is one problem with an appspec (or, in AppSpec.Warnings, something ignored):
// "appspec.yml:12:7: hooks.BeforeInstall[0].timeout: must be …".
type Error = fileerr.Error

// Errors is every problem Parse found, sorted by position.
type Errors = fileerr.Errors

func finish(es Errors, file string) Errors { return es.Finish(file, maxReportedErrors) }

// unknownMessage names an unknown key or value and suggests the closest allowed one.
func unknownMessage(what, got string, allowed []string) string {
	msg := fmt.Sprintf("unknown %s %q", what, clip(got))
	if s := suggest.Closest(got, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; allowed: " + strings.Join(allowed, ", ")
}

// clip shortens hostile values quoted in messages.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
