package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ParseCucumber parses a Cucumber JSON report (cucumber-jvm, cucumber-js, cucumber-ruby and the
// formatters that copy them): an array of features, each with elements (scenarios), each with
// steps whose result has a status and a duration in nanoseconds.
//
// Each scenario is one test case: Name is the scenario, Prefix the feature, File the feature's
// uri, DurationNanos the sum of its steps' durations. Background elements are not cases: their
// steps count towards the scenario that follows (cucumber-jvm writes a background before every
// scenario). The status, from the steps and the before/after hooks, most severe first:
//
//   - FAILED when a step or hook failed (Message: its error_message);
//   - ERROR when a step is undefined or ambiguous (the scenario could not run as written);
//   - UNKNOWN when a step has a status outside Cucumber's set;
//   - SKIPPED when a step is pending or skipped;
//   - SUCCEEDED otherwise (all passed, or no steps).
//
// Durations that are integers are nanoseconds; a number with a fraction is taken as seconds
// (behave's formatter).
func ParseCucumber(r io.Reader) (Report, error) {
	d := json.NewDecoder(&capped{r: r})
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return Report{}, cucumberErr(err)
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '[' {
		return Report{}, fmt.Errorf("%w: a Cucumber JSON report is an array of features", ErrInvalid)
	}
	rep := newReport()
	for d.More() {
		var f cukeFeature
		if err := d.Decode(&f); err != nil {
			return Report{}, cucumberErr(err)
		}
		f.cases(&rep)
	}
	if _, err := d.Token(); err != nil {
		return Report{}, cucumberErr(err)
	}
	return rep, nil
}

func cucumberErr(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return ErrTooLarge
	}
	return fmt.Errorf("%w: %v", ErrInvalid, err)
}

type cukeFeature struct {
	URI      string        `json:"uri"`
	Name     string        `json:"name"`
	Elements []cukeElement `json:"elements"`
}

type cukeElement struct {
	Name    string     `json:"name"`
	Keyword string     `json:"keyword"`
	Type    string     `json:"type"`
	Steps   []cukeStep `json:"steps"`
	Before  []cukeStep `json:"before"`
	After   []cukeStep `json:"after"`
}

type cukeStep struct {
	Keyword string     `json:"keyword"`
	Name    string     `json:"name"`
	Result  cukeResult `json:"result"`
}

type cukeResult struct {
	Status       string      `json:"status"`
	Duration     json.Number `json:"duration"`
	ErrorMessage string      `json:"error_message"`
}

func (f *cukeFeature) cases(rep *Report) {
	var background []cukeStep
	for _, e := range f.Elements {
		if strings.EqualFold(e.Type, "background") || strings.EqualFold(strings.TrimSpace(e.Keyword), "background") {
			background = append(background, e.Steps...)
			continue
		}
		steps := e.Steps
		if len(background) > 0 {
			steps = append(background, e.Steps...)
			background = nil
		}
		tc := TestCase{Name: e.Name, Prefix: f.Name, File: f.URI, Status: StatusSucceeded}
		var msg string
		consider := func(s cukeStep, isHook bool) {
			st, m := stepStatus(s, isHook)
			if rank(st) > rank(tc.Status) {
				tc.Status, msg = st, m
			}
		}
		for _, h := range e.Before {
			consider(h, true)
		}
		for _, s := range steps {
			consider(s, false)
			tc.DurationNanos = addNanos(tc.DurationNanos, parseDuration(s.Result.Duration))
		}
		for _, h := range e.After {
			consider(h, true)
		}
		tc.Message = msg
		rep.add(tc)
	}
}

func stepStatus(s cukeStep, isHook bool) (status, message string) {
	what := strings.TrimSpace(strings.TrimSpace(s.Keyword) + " " + s.Name)
	if isHook {
		what = "hook"
	}
	switch strings.ToLower(s.Result.Status) {
	case "passed", "":
		return StatusSucceeded, ""
	case "failed":
		if s.Result.ErrorMessage != "" {
			return StatusFailed, s.Result.ErrorMessage
		}
		return StatusFailed, "failed: " + what
	case "undefined":
		return StatusError, "undefined step: " + what
	case "ambiguous":
		return StatusError, joinMessage("ambiguous step: "+what, s.Result.ErrorMessage)
	case "pending":
		return StatusSkipped, joinMessage("pending step: "+what, s.Result.ErrorMessage)
	case "skipped":
		return StatusSkipped, ""
	default:
		return StatusUnknown, fmt.Sprintf("step %q has status %q", what, s.Result.Status)
	}
}

// parseDuration reads a step duration: an integer is nanoseconds, a fraction seconds.
func parseDuration(n json.Number) int64 {
	s := string(n)
	if s == "" {
		return 0
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return max(i, 0)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f <= 0 {
		return 0
	}
	if !strings.ContainsAny(s, ".") {
		// an integer too large for int64, or 1e9-style: nanoseconds
		if f >= math.MaxInt64 {
			return math.MaxInt64
		}
		return int64(f)
	}
	ns := f * 1e9
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(ns)
}
