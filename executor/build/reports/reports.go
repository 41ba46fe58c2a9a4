// Package reports parses test result files named by a buildspec's reports section into test
// cases shaped like CodeBuild's (DescribeTestCases) and a summary shaped like its
// TestReportSummary.
//
// The files come out of a build and are hostile input: a file is read up to MaxInputBytes, XML
// nesting is capped at maxDepth and element counts at maxElements, messages are cut to
// MaxMessageBytes, at most MaxCases cases are kept (all are counted in the summary), and no input
// makes a parser panic (both are fuzzed).
package reports

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Test case statuses, as CodeBuild reports them.
const (
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusError     = "ERROR"
	StatusSkipped   = "SKIPPED"
	StatusUnknown   = "UNKNOWN"
)

// Limits on one report file.
const (
	MaxInputBytes   = 64 << 20
	MaxMessageBytes = 2048
	MaxCases        = 100_000
	maxDepth        = 256
	maxElements     = 10_000_000
)

// Errors returned by the parsers.
var (
	ErrTooLarge          = fmt.Errorf("report file larger than %d bytes", MaxInputBytes)
	ErrInvalid           = errors.New("invalid report file")
	ErrUnsupportedFormat = errors.New("unsupported report file format")
)

// TestCase is one test.
type TestCase struct {
	Name          string
	Prefix        string // JUnit: classname, else the enclosing suite's name; Cucumber: the feature
	Status        string // one of the Status constants
	DurationNanos int64
	Message       string // failure, error or skip message and details, at most MaxMessageBytes
	File          string // source file named by the framework (testcase/testsuite file attribute, feature uri)
}

// Summary counts a report's cases like CodeBuild's TestReportSummary.
type Summary struct {
	Total         int
	ByStatus      map[string]int // statusCounts: SUCCEEDED, FAILED, ERROR, SKIPPED, UNKNOWN
	DurationNanos int64
}

// Report is a parsed report file.
type Report struct {
	Cases   []TestCase
	Summary Summary
	// Dropped counts cases beyond MaxCases: in Summary, not in Cases.
	Dropped int
}

// Status is the report's overall status in CodeBuild's terms: FAILED when any case is not
// SUCCEEDED or SKIPPED, else SUCCEEDED.
func (r Report) Status() string {
	for s, n := range r.Summary.ByStatus {
		if n > 0 && s != StatusSucceeded && s != StatusSkipped {
			return StatusFailed
		}
	}
	return StatusSucceeded
}

func newReport() Report {
	return Report{Summary: Summary{ByStatus: map[string]int{
		StatusSucceeded: 0, StatusFailed: 0, StatusError: 0, StatusSkipped: 0, StatusUnknown: 0,
	}}}
}

func (r *Report) add(tc TestCase) {
	if tc.DurationNanos < 0 {
		tc.DurationNanos = 0
	}
	tc.Message = truncate(tc.Message, MaxMessageBytes)
	r.Summary.Total++
	r.Summary.ByStatus[tc.Status]++
	r.Summary.DurationNanos = addNanos(r.Summary.DurationNanos, tc.DurationNanos)
	if len(r.Cases) >= MaxCases {
		r.Dropped++
		return
	}
	r.Cases = append(r.Cases, tc)
}

// Parse parses a report file in a buildspec file-format (case-insensitive; "" is JUNITXML).
// Test formats other than JUNITXML and CUCUMBERJSON, and coverage formats, are not supported.
func Parse(format string, r io.Reader) (Report, error) {
	switch strings.ToUpper(strings.TrimSpace(format)) {
	case "", "JUNITXML":
		return ParseJUnit(r)
	case "CUCUMBERJSON":
		return ParseCucumber(r)
	default:
		return Report{}, fmt.Errorf("%w: %s", ErrUnsupportedFormat, format)
	}
}

// maxInput is MaxInputBytes; tests lower it.
var maxInput int64 = MaxInputBytes

// capped reads at most maxInput bytes and fails with ErrTooLarge past that.
type capped struct {
	r io.Reader
	n int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.n > maxInput {
		return 0, ErrTooLarge
	}
	if rem := maxInput + 1 - c.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > maxInput {
		return 0, ErrTooLarge
	}
	return n, err
}

// truncate cuts s to at most max bytes on a rune boundary, marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…[truncated]"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// addNanos adds without overflowing.
func addNanos(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return 1<<63 - 1
}

// rank orders statuses when several results apply to one case.
func rank(s string) int {
	switch s {
	case StatusFailed:
		return 5
	case StatusError:
		return 4
	case StatusUnknown:
		return 3
	case StatusSkipped:
		return 2
	case StatusSucceeded:
		return 1
	}
	return 0
}
