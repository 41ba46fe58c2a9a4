package buildspec

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/internal/yamldoc"
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

// parseYAML reads one YAML document into a node tree. Problems that stop it are returned as a single
// Error; they are syntax errors, or limits exceeded.
func parseYAML(data []byte) (*node, *Error) {
	root, err := yamldoc.Decode(data, "a buildspec")
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, &Error{Message: "the file is empty; a buildspec needs at least version and phases"}
	}
	c := &converter{active: map[*yaml.Node]bool{}}
	return c.convert(root, 0)
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
