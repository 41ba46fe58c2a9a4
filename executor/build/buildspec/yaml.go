package buildspec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Limits that keep hostile input cheap. A real buildspec nests five levels deep
// (artifacts.secondary-artifacts.ID.files[0]) and holds a few hundred values; a 1 MiB file of
// one-word commands holds about 250,000.
const (
	maxNesting = 32
	maxValues  = 300_000
)

type nodeKind uint8

const (
	kindNull nodeKind = iota
	kindScalar
	kindMap
	kindList
)

// node is the YAML document with aliases expanded, merge keys applied and positions kept.
type node struct {
	kind      nodeKind
	tag       string // scalars: !!str, !!int, !!float, !!bool, !!timestamp
	text      string // scalars: the value, or the literal text of a number or boolean
	line, col int
	fields    []field // kindMap, in the order written
	items     []*node // kindList
}

type field struct {
	key       string
	line, col int // of the key
	value     *node
}

func (n *node) describe() string {
	switch n.kind {
	case kindNull:
		return "nothing (null)"
	case kindMap:
		return "a mapping"
	case kindList:
		return "a list"
	}
	switch n.tag {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true/false"
	}
	return "a string"
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

// parseYAML reads one YAML document into a node tree. Problems that stop it are returned as a single
// Error; they are syntax errors, or limits exceeded.
func parseYAML(data []byte) (*node, *Error) {
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
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		default:
			return fmt.Errorf("yaml: line %d: the file holds more than one YAML document (---); a buildspec is one document", extra.Line)
		}
	}()
	if errors.Is(err, io.EOF) {
		return nil, &Error{Message: "the file is empty; a buildspec needs at least version and phases"}
	}
	if err != nil {
		return nil, yamlError(data, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, &Error{Message: "the file is empty; a buildspec needs at least version and phases"}
		}
		root = root.Content[0]
	}
	c := &converter{active: map[*yaml.Node]bool{}}
	return c.convert(root, 0)
}

// yamlError turns a YAML syntax error into an Error, with a hint for the usual causes.
func yamlError(data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{Message: "invalid YAML: " + msg}
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
		line := sourceLine(data, e.Line)
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

// sourceLine returns line n (1-based) of data, without its line break.
func sourceLine(data []byte, n int) string {
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

type converter struct {
	values int
	active map[*yaml.Node]bool // anchors being expanded, to refuse aliases that contain themselves
}

func failAt(n *yaml.Node, format string, args ...any) *Error {
	return &Error{Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)}
}

func (c *converter) convert(n *yaml.Node, depth int) (*node, *Error) {
	c.values++
	if c.values > maxValues {
		return nil, failAt(n, "the file holds more than %d YAML values (counting what aliases expand to); a buildspec is far smaller", maxValues)
	}
	if depth > maxNesting {
		return nil, failAt(n, "mappings and lists are nested more than %d levels deep", maxNesting)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, failAt(n, "unknown YAML alias *%s", n.Value)
		}
		if c.active[n.Alias] {
			return nil, failAt(n, "YAML alias *%s refers to itself", n.Value)
		}
		c.active[n.Alias] = true
		defer delete(c.active, n.Alias)
		return c.convert(n.Alias, depth)
	case yaml.ScalarNode:
		out := &node{kind: kindScalar, text: n.Value, line: n.Line, col: n.Column, tag: n.ShortTag()}
		switch out.tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
		case "!!null":
			out.kind, out.text = kindNull, ""
		default:
			return nil, failAt(n, "unsupported YAML tag %s; write plain values", n.Tag)
		}
		return out, nil
	case yaml.SequenceNode:
		if n.ShortTag() != "!!seq" {
			return nil, failAt(n, "unsupported YAML tag %s", n.Tag)
		}
		out := &node{kind: kindList, line: n.Line, col: n.Column}
		for _, item := range n.Content {
			v, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			out.items = append(out.items, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	}
	return nil, failAt(n, "unsupported YAML node")
}

func (c *converter) mapping(n *yaml.Node, depth int) (*node, *Error) {
	if n.ShortTag() != "!!map" {
		return nil, failAt(n, "unsupported YAML tag %s", n.Tag)
	}
	out := &node{kind: kindMap, line: n.Line, col: n.Column}
	seen := map[string]bool{}
	var merged []field
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, failAt(k, "a mapping key must be a plain value, not a list or mapping")
		}
		if k.ShortTag() == "!!merge" {
			fields, err := c.merge(v, depth)
			if err != nil {
				return nil, err
			}
			merged = append(merged, fields...)
			continue
		}
		if seen[k.Value] {
			return nil, failAt(k, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		val, err := c.convert(v, depth+1)
		if err != nil {
			return nil, err
		}
		out.fields = append(out.fields, field{key: k.Value, line: k.Line, col: k.Column, value: val})
	}
	// Merged keys (<<: *defaults) apply where the mapping does not set the key itself; among several
	// merged mappings the first wins, as YAML specifies.
	for _, f := range merged {
		if !seen[f.key] {
			seen[f.key] = true
			out.fields = append(out.fields, f)
		}
	}
	return out, nil
}

func (c *converter) merge(v *yaml.Node, depth int) ([]field, *Error) {
	sources := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		sources = v.Content
	}
	var out []field
	for _, s := range sources {
		m, err := c.convert(s, depth+1)
		if err != nil {
			return nil, err
		}
		if m.kind != kindMap {
			return nil, failAt(s, "a YAML merge key (<<) needs a mapping or a list of mappings")
		}
		out = append(out, m.fields...)
	}
	return out, nil
}
