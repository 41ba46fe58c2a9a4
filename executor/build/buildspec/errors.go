package buildspec

import (
	"fmt"

	"github.com/conveyorci/conveyor/internal/fileerr"
)

// ContextStatusCode is the phase-context status code CodeBuild reports when the buildspec cannot be
// used: DOWNLOAD_SOURCE fails with this code and a message (see Errors.ContextMessage).
const ContextStatusCode = "YAML_FILE_ERROR"

// maxReportedErrors caps how many problems one Parse reports; a hostile file could otherwise produce
// hundreds of thousands of lines.
const maxReportedErrors = 100

// Error is one problem with a buildspec: file:line:col, the key path and a message (the shape all
// of Conveyor's file parsers share).
type Error = fileerr.Error

// Errors are all the problems of one buildspec, sorted by position.
type Errors []Error

func (es Errors) Error() string { return fileerr.Errors(es).Error() }

// ContextMessage is a one-line summary for the DOWNLOAD_SOURCE phase context (status code
// ContextStatusCode), in the spirit of CodeBuild's: the first problem without the file name, and how
// many more there are. The full list belongs in the build log.
func (es Errors) ContextMessage() string {
	if len(es) == 0 {
		return ""
	}
	first := es[0]
	first.File = ""
	msg := first.Error()
	if first.Line > 0 {
		// "Expected … at line 6" reads better than a bare "6:11:" at the start of a phase context.
		first.Line, first.Column = 0, 0
		msg = first.Error() + fmt.Sprintf(" at line %d, column %d", es[0].Line, es[0].Column)
		if es[0].Column == 0 {
			msg = first.Error() + fmt.Sprintf(" at line %d", es[0].Line)
		}
	}
	if n := len(es) - 1; n == 1 {
		msg += " (and 1 more problem)"
	} else if n > 1 {
		msg += fmt.Sprintf(" (and %d more problems)", n)
	}
	return msg
}

// finish sorts, de-duplicates and caps the problems (fileerr.Errors.Finish).
func (es Errors) finish(file string) Errors {
	return Errors(fileerr.Errors(es).Finish(file, maxReportedErrors))
}
