package appspec

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/internal/yamldoc"
)

// Limits that keep hostile input cheap. A real appspec nests four levels deep
// (hooks.BeforeInstall[0].location) and holds a few dozen values.
const (
	maxNesting = 16
	maxValues  = 100_000
)

// parseYAML reads one YAML document.
func parseYAML(data []byte) (*yaml.Node, *Error) {
	root, err := yamldoc.Decode(data, "an appspec")
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, &Error{Message: "the file is empty; an appspec needs at least version: 0.0 and os: linux"}
	}
	return root, nil
}

// walker resolves aliases and merge keys while the decoder reads the document, counting every
// value it visits (aliases included) so that an alias bomb is refused early.
type walker struct {
	values int
	active map[*yaml.Node]bool // anchors being expanded: an alias that contains itself
	// stop is set once a limit is hit; the decoder then reports that one problem.
	stop *Error
}

// node follows aliases and counts the visit. It returns nil once a limit was hit.
func (w *walker) node(n *yaml.Node, depth int) *yaml.Node {
	if w.stop != nil {
		return nil
	}
	w.values++
	switch {
	case w.values > maxValues:
		w.stop = &Error{Line: n.Line, Column: n.Column, Message: fmt.Sprintf("the file holds more than %d YAML values (counting what aliases expand to); an appspec is far smaller", maxValues)}
		return nil
	case depth > maxNesting:
		w.stop = &Error{Line: n.Line, Column: n.Column, Message: fmt.Sprintf("mappings and lists are nested more than %d levels deep", maxNesting)}
		return nil
	}
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			w.stop = &Error{Line: n.Line, Column: n.Column, Message: fmt.Sprintf("unknown YAML alias *%s", n.Value)}
			return nil
		}
		if w.active[n.Alias] {
			w.stop = &Error{Line: n.Line, Column: n.Column, Message: fmt.Sprintf("YAML alias *%s refers to itself", n.Value)}
			return nil
		}
		n = n.Alias
	}
	return n
}

// entry is one key of a mapping, with the merge keys (<<) applied.
type entry struct {
	key   string
	kline int
	kcol  int
	value *yaml.Node
}

// mapping returns the entries of a mapping node in the order written, merged keys after the
// mapping's own (a key the mapping sets itself wins, as YAML specifies). ok is false when n is
// not a mapping or a limit was hit.
func (w *walker) mapping(n *yaml.Node, depth int) (out []entry, dup *entry, ok bool) {
	if n.Kind != yaml.MappingNode {
		return nil, nil, false
	}
	seen := map[string]bool{}
	var merged []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := w.node(n.Content[i], depth+1)
		if k == nil {
			return nil, nil, false
		}
		if k.Kind != yaml.ScalarNode {
			w.stop = &Error{Line: k.Line, Column: k.Column, Message: "a mapping key must be a plain value, not a list or mapping"}
			return nil, nil, false
		}
		v := n.Content[i+1]
		if k.Tag == "!!merge" {
			m, ok := w.merge(v, depth)
			if !ok {
				return nil, nil, false
			}
			merged = append(merged, m...)
			continue
		}
		if seen[k.Value] {
			if dup == nil {
				dup = &entry{key: k.Value, kline: k.Line, kcol: k.Column}
			}
			continue
		}
		seen[k.Value] = true
		out = append(out, entry{key: k.Value, kline: k.Line, kcol: k.Column, value: v})
	}
	for _, e := range merged {
		if !seen[e.key] {
			seen[e.key] = true
			out = append(out, e)
		}
	}
	return out, dup, true
}

func (w *walker) merge(v *yaml.Node, depth int) ([]entry, bool) {
	v = w.node(v, depth+1)
	if v == nil {
		return nil, false
	}
	sources := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		sources = v.Content
	}
	var out []entry
	for _, s := range sources {
		src := w.node(s, depth+2)
		if src == nil {
			return nil, false
		}
		if src.Kind != yaml.MappingNode {
			w.stop = &Error{Line: s.Line, Column: s.Column, Message: "a YAML merge key (<<) needs a mapping or a list of mappings"}
			return nil, false
		}
		w.active[src] = true
		m, _, ok := w.mapping(src, depth+2)
		delete(w.active, src)
		if !ok {
			if w.stop == nil {
				w.stop = &Error{Line: s.Line, Column: s.Column, Message: "a YAML merge key (<<) needs a mapping"}
			}
			return nil, false
		}
		out = append(out, m...)
	}
	return out, true
}

// describe names the kind of a node for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!null":
		return "nothing (null)"
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true/false"
	}
	return "a string"
}
