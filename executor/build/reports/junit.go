package reports

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseJUnit parses a JUnit XML report: a <testsuites> or <testsuite> root, suites nested to any
// depth, <testcase> elements with classname, name, time (seconds) and file, and inside them
// <failure> (FAILED), <error> (ERROR) or <skipped> (SKIPPED) with a message attribute and text;
// a case without any is SUCCEEDED. When several apply, FAILED wins over ERROR over SKIPPED.
// Surefire's flakyFailure/flakyError/rerunFailure/rerunError do not change the status (the test
// passed on a rerun, or its <failure> says so). googletest's status="notrun" and
// result="skipped"/"suppressed" are SKIPPED.
//
// This covers the shapes written by go-junit-report, gotestsum, pytest, Maven Surefire/Failsafe,
// Gradle, jest-junit, mocha-junit-reporter and googletest. Invalid XML characters (raw control
// bytes, or character references such as &#27; that Surefire writes for ANSI colours) are read
// as "?"; ISO-8859-1 and US-ASCII encodings are accepted besides UTF-8.
func ParseJUnit(r io.Reader) (Report, error) {
	d := xml.NewDecoder(newXMLSanitizer(&capped{r: r}))
	d.CharsetReader = charsetReader
	rep := newReport()
	p := junitParser{rep: &rep}
	if err := p.run(d); err != nil {
		if errors.Is(err, ErrTooLarge) {
			return Report{}, ErrTooLarge
		}
		return Report{}, err
	}
	return rep, nil
}

type junitSuite struct {
	name, file string
}

type junitResult struct {
	status  string
	message string
	text    strings.Builder
}

type junitParser struct {
	rep      *Report
	depth    int
	elements int
	root     bool
	suites   []junitSuite
	// current case
	inCase   bool
	caseDep  int
	tc       TestCase
	results  []*junitResult
	capture  *junitResult // element whose text is being collected
	capDepth int
}

func (p *junitParser) run(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !p.root {
				return fmt.Errorf("%w: no JUnit root element", ErrInvalid)
			}
			return nil
		}
		if err != nil {
			if errors.Is(err, ErrTooLarge) {
				return err
			}
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			p.depth++
			p.elements++
			if p.depth > maxDepth {
				return fmt.Errorf("%w: elements nested deeper than %d", ErrInvalid, maxDepth)
			}
			if p.elements > maxElements {
				return fmt.Errorf("%w: more than %d elements", ErrInvalid, maxElements)
			}
			if err := p.start(t); err != nil {
				return err
			}
		case xml.EndElement:
			p.end(t)
			p.depth--
		case xml.CharData:
			if p.capture != nil && p.depth == p.capDepth {
				if room := MaxMessageBytes + 1 - p.capture.text.Len(); room > 0 {
					if len(t) > room {
						t = t[:room]
					}
					p.capture.text.Write(t)
				}
			}
		}
	}
}

func attr(se xml.StartElement, name string) string {
	for _, a := range se.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (p *junitParser) start(se xml.StartElement) error {
	name := se.Name.Local
	if p.depth == 1 {
		if name != "testsuites" && name != "testsuite" {
			return fmt.Errorf("%w: root element <%s> is not <testsuites> or <testsuite>", ErrInvalid, name)
		}
		p.root = true
	}
	if p.inCase {
		if p.depth != p.caseDep+1 {
			return nil // inside a result element, or system-out
		}
		var status string
		switch name {
		case "failure":
			status = StatusFailed
		case "error":
			status = StatusError
		case "skipped":
			status = StatusSkipped
		default:
			return nil // system-out, system-err, properties, flaky*/rerun*
		}
		res := &junitResult{status: status, message: attr(se, "message")}
		p.results = append(p.results, res)
		p.capture, p.capDepth = res, p.depth
		return nil
	}
	switch name {
	case "testsuite":
		s := junitSuite{name: attr(se, "name"), file: attr(se, "file")}
		if s.file == "" && len(p.suites) > 0 {
			s.file = p.suites[len(p.suites)-1].file
		}
		p.suites = append(p.suites, s)
	case "testcase":
		p.inCase, p.caseDep = true, p.depth
		p.results = p.results[:0]
		p.tc = TestCase{
			Name:          attr(se, "name"),
			Prefix:        attr(se, "classname"),
			Status:        StatusSucceeded,
			DurationNanos: parseSeconds(attr(se, "time")),
			File:          attr(se, "file"),
		}
		var suite junitSuite
		if len(p.suites) > 0 {
			suite = p.suites[len(p.suites)-1]
		}
		if p.tc.Prefix == "" {
			p.tc.Prefix = suite.name
		}
		if p.tc.File == "" {
			p.tc.File = suite.file
		}
		switch strings.ToLower(attr(se, "status")) {
		case "notrun", "skipped", "disabled":
			p.tc.Status = StatusSkipped
		}
		switch strings.ToLower(attr(se, "result")) {
		case "skipped", "suppressed":
			p.tc.Status = StatusSkipped
		}
	}
	return nil
}

func (p *junitParser) end(ee xml.EndElement) {
	if p.capture != nil && p.depth == p.capDepth {
		p.capture = nil
	}
	switch {
	case p.inCase && p.depth == p.caseDep:
		p.inCase = false
		var best *junitResult
		for _, r := range p.results {
			if best == nil || rank(r.status) > rank(best.status) {
				best = r
			}
		}
		if best != nil {
			p.tc.Status = best.status
			p.tc.Message = joinMessage(best.message, best.text.String())
		}
		p.rep.add(p.tc)
	case !p.inCase && ee.Name.Local == "testsuite" && len(p.suites) > 0:
		p.suites = p.suites[:len(p.suites)-1]
	}
}

// joinMessage puts the message attribute first and the element's text (a stack trace, an
// assertion diff) after it, unless the text merely repeats the message.
func joinMessage(msg, text string) string {
	msg = strings.TrimSpace(msg)
	text = strings.TrimSpace(text)
	switch {
	case text == "" || text == msg:
		return msg
	case msg == "" || strings.HasPrefix(text, msg):
		return text
	default:
		return msg + "\n" + text
	}
}

// parseSeconds reads a JUnit time attribute (seconds, possibly "1,234.5") as nanoseconds.
// Missing, negative or malformed times are 0.
func parseSeconds(s string) int64 {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f <= 0 {
		return 0
	}
	ns := f * 1e9
	if ns >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(ns)
}

func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1":
		return &latin1Reader{r: bufio.NewReader(in)}, nil
	}
	return nil, fmt.Errorf("%w: encoding %q", ErrInvalid, label)
}

// latin1Reader converts ISO-8859-1 bytes to UTF-8.
type latin1Reader struct {
	r       *bufio.Reader
	pending []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.pending) > 0 {
			c := copy(p[n:], l.pending)
			l.pending = l.pending[c:]
			n += c
			continue
		}
		b, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b < utf8.RuneSelf {
			p[n] = b
			n++
			continue
		}
		l.pending = utf8.AppendRune(l.pending[:0], rune(b))
	}
	return n, nil
}
