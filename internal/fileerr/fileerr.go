// Package fileerr is the error shape of Conveyor's parsers of user files: a problem with its
// file, line, column and field ("appspec.yml:12:7: hooks.BeforeInstall[0].timeout: must be …"),
// and a sorted, capped list of them.
package fileerr

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem with a file.
type Error struct {
	File string
	// Line and Column are 1-based; 0 when there is no place to point at (an empty file).
	Line, Column int
	// Field is the path of the offending key, e.g. hooks.BeforeInstall[0].timeout; "" for the
	// file as a whole.
	Field   string
	Message string
}

// Error renders "file:line:col: field: message", leaving out the parts that are empty.
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in a file, sorted by position.
type Errors []Error

// Error prints one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Finish labels the problems with the file name, sorts them by position (whole-file problems
// first; problems at one position stay in the order found), drops exact repeats and keeps at most
// max, adding a last entry that says how many more there were.
func (es Errors) Finish(file string, max int) Errors {
	for i := range es {
		es[i].File = file
	}
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Line != b.Line {
			return a.Line < b.Line // whole-file problems (line 0) first
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Message < b.Message
	})
	seen := make(map[Error]bool, len(es))
	out := es[:0]
	for _, e := range es {
		if seen[e] {
			continue
		}
		seen[e] = true
		out = append(out, e)
	}
	if max > 0 && len(out) > max {
		more := len(out) - max
		out = append(out[:max], Error{File: file, Message: fmt.Sprintf("%d more problems not shown; fix these first", more)})
	}
	return out
}
