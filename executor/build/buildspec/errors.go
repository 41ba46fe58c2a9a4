package buildspec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ContextStatusCode is the phase-context status code CodeBuild reports when the buildspec cannot be
// used: DOWNLOAD_SOURCE fails with this code and a message (see Errors.ContextMessage).
const ContextStatusCode = "YAML_FILE_ERROR"

// maxReportedErrors caps how many problems one Parse reports; a hostile file could otherwise produce
// hundreds of thousands of lines.
const maxReportedErrors = 100

// Error is one problem with a buildspec.
type Error struct {
	// File is the filename given to Parse.
	File string
	// Line and Column say where the problem was written, 1-based (Column counts characters). A
	// missing key is reported where its parent key was written; both are 0 when there is no place to
	// point at (an empty or oversized file).
	Line, Column int
	// Field is the path of the offending key, e.g. phases.build.commands[2],
	// env.variables.FOO or artifacts.secondary-artifacts.logs.files; "" for the file as a whole.
	Field string
	// Message says what is wrong and, where it can, how to fix it.
	Message string
}

// Error renders "file:line:col: field: message", leaving out the parts that are empty.
func (e Error) Error() string {
	var b strings.Builder
	loc := e.File
	if e.Line > 0 {
		if loc != "" {
			loc += ":"
		}
		loc += strconv.Itoa(e.Line)
		if e.Column > 0 {
			loc += ":" + strconv.Itoa(e.Column)
		}
	}
	if loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem Parse found, sorted by position. Parse returns at most 100; when there
// were more, the last entry says how many were left out.
type Errors []Error

// Error prints one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

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

// finish sorts the problems by position and caps their number.
func (es Errors) finish(file string) Errors {
	for i := range es {
		es[i].File = file
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if (a.Line == 0) != (b.Line == 0) {
			return a.Line == 0 // whole-file problems first
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Message < b.Message
	})
	// The same problem can be found twice (a key both unknown and misplaced): keep one.
	out := es[:0]
	for i, e := range es {
		if i > 0 && e == es[i-1] {
			continue
		}
		out = append(out, e)
	}
	if len(out) > maxReportedErrors {
		more := len(out) - maxReportedErrors
		out = append(out[:maxReportedErrors], Error{File: file,
			Message: fmt.Sprintf("%d more problems not shown; fix these first", more)})
	}
	return out
}
