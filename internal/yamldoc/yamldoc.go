// Package yamldoc reads a user's YAML file as exactly one document, the part every parser of
// Conveyor's YAML files (buildspec, appspec) shares: it never panics on hostile input, refuses a
// second document, and turns yaml.v3's syntax errors into a line, a column and a hint for the usual
// causes (tabs, unquoted @ or `, ": " inside a list item, undefined anchors).
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/internal/fileerr"
)

// Decode reads data as one YAML document and returns its root node, aliases and merge keys left
// as they are for the caller to resolve under its own limits. An empty file (or one of only
// comments) returns nil and no error: each parser says what its file needs. what names the file's
// kind in messages ("a buildspec").
func Decode(data []byte, what string) (*yaml.Node, *fileerr.Error) {
	var doc yaml.Node
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("the YAML parser failed on this input: %v", r)
			}
		}()
		dec := yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&doc); err != nil {
			return err
		}
		var extra yaml.Node
		switch err := dec.Decode(&extra); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		default:
			return fmt.Errorf("yaml: line %d: the file holds more than one YAML document (---); %s is one document", extra.Line, what)
		}
	}()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, syntaxError(data, err)
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

var (
	yamlLineRe      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchorRe = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// parserErrors are the messages of yaml.v3's parser (as opposed to its scanner).
var parserErrors = []string{
	"did not find expected <document start>", "did not find expected node content",
	"did not find expected '-' indicator", "did not find expected key",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"found undefined tag handle", "found duplicate %YAML directive", "found incompatible YAML document",
	"found duplicate %TAG directive",
}

func isParserError(msg string) bool {
	for _, p := range parserErrors {
		if msg == p {
			return true
		}
	}
	return false
}

// aliasOffset finds the first *name in data that is a whole alias, or -1.
func aliasOffset(data []byte, name string) int {
	needle := []byte("*" + name)
	for base := 0; ; {
		k := bytes.Index(data[base:], needle)
		if k < 0 {
			return -1
		}
		off := base + k
		end := off + len(needle)
		if end == len(data) || bytes.IndexByte([]byte(" \t\r\n,[]{}"), data[end]) >= 0 {
			return off
		}
		base = off + 1
	}
}

// position converts a byte offset into a 1-based line and column (columns count characters).
func position(data []byte, off int) (line, col int) {
	line, col = 1, 1
	for _, r := range string(data[:off]) {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// syntaxError turns a YAML syntax error into an Error, with a hint for the usual causes.
func syntaxError(data []byte, err error) *fileerr.Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &fileerr.Error{Message: "invalid YAML: " + msg}
	if m := yamlLineRe.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Message = "invalid YAML: " + m[2]
		msg = m[2]
	}
	if isParserError(msg) {
		// yaml.v3 reports these at the 0-based line where the enclosing block or list starts (its
		// scanner errors are 1-based and point at the problem).
		e.Line++
		e.Message += " (at or after this line)"
	}
	if m := unknownAnchorRe.FindStringSubmatch(msg); m != nil {
		// yaml.v3 gives no position; the first use of the alias is where it goes wrong.
		if off := aliasOffset(data, m[1]); off >= 0 {
			e.Line, e.Column = position(data, off)
		}
		e.Message = fmt.Sprintf("invalid YAML: alias *%s refers to an anchor &%s that is not defined before it", m[1], m[1])
	}
	if e.Line > 0 {
		line := SourceLine(data, e.Line)
		value := strings.TrimPrefix(strings.TrimLeft(line, " "), "- ")
		if _, v, ok := strings.Cut(value, ": "); ok {
			value = v
		}
		value = strings.TrimLeft(value, " ")
		switch {
		case strings.Contains(line, "\t") && strings.Contains(e.Message, "cannot start any token"):
			e.Message += " (YAML indentation must use spaces, not tabs)"
		case strings.Contains(e.Message, "cannot start any token") && value != "" && strings.ContainsRune("`@%", rune(value[0])):
			e.Message += " (a value starting with `, @ or % must be quoted)"
		case strings.Contains(e.Message, "mapping values are not allowed") && strings.Contains(strings.TrimLeft(line, " "), "- "):
			e.Message += ` (a list item containing ": " must be quoted)`
		}
	}
	return e
}

// SourceLine returns line n (1-based) of data, without its line break.
func SourceLine(data []byte, n int) string {
	for i := 1; i < n; i++ {
		k := bytes.IndexByte(data, '\n')
		if k < 0 {
			return ""
		}
		data = data[k+1:]
	}
	if k := bytes.IndexByte(data, '\n'); k >= 0 {
		data = data[:k]
	}
	return strings.TrimSuffix(string(data), "\r")
}
