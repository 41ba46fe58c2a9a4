package buildspec

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSize is the largest buildspec Parse accepts, in bytes.
const MaxSize = 1 << 20

// Parse decodes and validates a buildspec. filename labels the errors only.
//
// On success it returns the buildspec and a nil error. Otherwise it returns nil and an Errors value
// listing every problem found (syntax errors stop at the first one, as YAML parsing cannot go on),
// sorted by position.
func Parse(filename string, data []byte) (*Buildspec, error) {
	if len(data) > MaxSize {
		return nil, Errors{{Message: fmt.Sprintf(
			"the buildspec is %d bytes; at most %d bytes (1 MiB) are accepted", len(data), MaxSize)}}.finish(filename)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	root, perr := parseYAML(data)
	if perr != nil {
		return nil, Errors{*perr}.finish(filename)
	}
	d := &decoder{data: data}
	b := d.buildspec(root)
	if len(d.errs) > 0 {
		return nil, d.errs.finish(filename)
	}
	return b, nil
}

type decoder struct {
	data []byte
	errs Errors
}

// pos is where something was written: the key that introduced a section, or a value.
type pos struct{ line, col int }

func keyPos(f field) pos  { return pos{f.line, f.col} }
func nodePos(n *node) pos { return pos{n.line, n.col} }

func (d *decoder) errorf(at pos, path, format string, args ...any) {
	d.errs = append(d.errs, Error{Line: at.line, Column: at.col, Field: path, Message: fmt.Sprintf(format, args...)})
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// fields checks that n is a mapping whose keys are all in allowed, reports the rest, and returns the
// allowed fields by key. A null n is an empty mapping.
func (d *decoder) fields(n *node, path string, allowed []string) map[string]field {
	out := map[string]field{}
	switch n.kind {
	case kindNull:
		return out
	case kindMap:
	default:
		d.errorf(nodePos(n), path, "must be a mapping of %s, found %s", strings.Join(allowed, ", "), n.describe())
		return nil
	}
	for _, f := range n.fields {
		if !contains(allowed, f.key) {
			d.errorf(keyPos(f), joinPath(path, f.key), "%s", unknownKeyMessage(f.key, allowed))
			continue
		}
		out[f.key] = f
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a scalar as its literal text. ok is false when n is null (not set) or not a scalar
// (reported).
func (d *decoder) str(n *node, path string) (string, bool) {
	switch n.kind {
	case kindScalar:
		return n.text, true
	case kindNull:
		return "", false
	}
	d.errorf(nodePos(n), path, "must be a string, found %s", n.describe())
	return "", false
}

// requiredStr reads a scalar that must be present and not blank.
func (d *decoder) requiredStr(f field, path, what string) (string, bool) {
	s, ok := d.str(f.value, path)
	if f.value.kind == kindNull || (ok && strings.TrimSpace(s) == "") {
		d.errorf(keyPos(f), path, "%s must not be empty", what)
		return "", false
	}
	return s, ok
}

// boolean reads yes/no/true/false in any case, as buildspecs write them. Null is false.
func (d *decoder) boolean(f field, path string) bool {
	n := f.value
	switch n.kind {
	case kindNull:
		return false
	case kindScalar:
		switch strings.ToLower(n.text) {
		case "yes", "true":
			return true
		case "no", "false":
			return false
		}
		d.errorf(nodePos(n), path, "must be yes or no (true and false work too), found %q", clip(n.text))
		return false
	}
	d.errorf(nodePos(n), path, "must be yes or no, found %s", n.describe())
	return false
}

// stringList reads a list of non-empty scalars (paths, globs, keys, names). A list is required
// non-empty when nonEmpty is set; an absent (null) list is reported at the key then.
func (d *decoder) stringList(f field, path, what string, nonEmpty bool) []string {
	items := d.stringItems(f, path, what, nonEmpty)
	if items == nil {
		return nil
	}
	out := make([]string, len(items))
	for i, item := range items {
		out[i] = item.text
	}
	return out
}

// listItem is a good item of a string list, with its path and position.
type listItem struct {
	text string
	path string
	at   pos
}

// stringItems is stringList with each item's path and position; bad items are reported and left out.
func (d *decoder) stringItems(f field, path, what string, nonEmpty bool) []listItem {
	n := f.value
	switch n.kind {
	case kindNull:
		if nonEmpty {
			d.errorf(keyPos(f), path, "must list at least one %s", what)
		}
		return nil
	case kindList:
	default:
		d.errorf(nodePos(n), path, "must be a list of %ss (one per line, starting with \"- \"), found %s", what, n.describe())
		return nil
	}
	if len(n.items) == 0 && nonEmpty {
		d.errorf(nodePos(n), path, "must list at least one %s", what)
	}
	out := make([]listItem, 0, len(n.items))
	for i, item := range n.items {
		p := indexPath(path, i)
		switch item.kind {
		case kindScalar:
			if strings.TrimSpace(item.text) == "" {
				d.errorf(nodePos(item), p, "empty %s", what)
				continue
			}
			out = append(out, listItem{text: item.text, path: p, at: nodePos(item)})
		case kindNull:
			d.errorf(nodePos(item), p, "empty list item: write a %s after the dash or remove the line", what)
		default:
			d.errorf(nodePos(item), p, "must be a %s (a string), found %s", what, item.describe())
		}
	}
	return out
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	const max = 80
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max]) + "…"
}

// --- the sections ---

func (d *decoder) buildspec(root *node) *Buildspec {
	if root.kind != kindMap {
		d.errorf(nodePos(root), "", "a buildspec must be a YAML mapping (version: 0.2, phases: …), found %s", root.describe())
		return nil
	}
	b := &Buildspec{}
	fs := d.fields(root, "", topLevelKeys)

	if f, ok := fs["version"]; ok {
		b.Version = d.version(f)
	} else {
		d.errorf(nodePos(root), "version", "version is required: add \"version: 0.2\" at the top")
	}
	if f, ok := fs["run-as"]; ok {
		b.RunAs = d.runAs(f, "run-as")
	}
	if f, ok := fs["env"]; ok {
		b.Env = d.env(f)
	}
	if f, ok := fs["proxy"]; ok {
		pf := d.fields(f.value, "proxy", []string{"upload-artifacts", "logs"})
		if g, ok := pf["upload-artifacts"]; ok {
			b.Proxy.UploadArtifacts = d.boolean(g, "proxy.upload-artifacts")
		}
		if g, ok := pf["logs"]; ok {
			b.Proxy.Logs = d.boolean(g, "proxy.logs")
		}
	}
	if f, ok := fs["batch"]; ok {
		d.errorf(keyPos(f), "batch", "batch builds are not supported by Conveyor (build-list, build-matrix, build-graph and build-fanout need CodeBuild's batch service): remove the batch section and run one build per buildspec")
	}
	if f, ok := fs["phases"]; ok {
		b.Phases = d.phases(f, b.RunAs)
	} else {
		d.errorf(nodePos(root), "phases", "phases is required: add a phases section with at least one of install, pre_build, build, post_build")
	}
	if f, ok := fs["reports"]; ok {
		b.Reports = d.reports(f)
	}
	if f, ok := fs["artifacts"]; ok {
		b.Artifacts = d.artifacts(f, "artifacts", "", true)
	}
	if f, ok := fs["cache"]; ok {
		b.Cache = d.cache(f)
	}
	return b
}

func (d *decoder) version(f field) string {
	n := f.value
	if n.kind == kindNull {
		d.errorf(keyPos(f), "version", "version must not be empty: write \"version: 0.2\"")
		return ""
	}
	s, ok := d.str(n, "version")
	if !ok {
		return ""
	}
	switch s {
	case Version01, Version02:
		return s
	}
	if n.tag == "!!float" || n.tag == "!!int" {
		// 0.20 is the number 0.2 to YAML, as to CodeBuild.
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			switch v {
			case 0.1:
				return Version01
			case 0.2:
				return Version02
			}
		}
	}
	d.errorf(nodePos(n), "version", "unsupported buildspec version %q: use 0.2 (or 0.1)", clip(s))
	return ""
}

func (d *decoder) runAs(f field, path string) string {
	s, ok := d.requiredStr(f, path, "run-as")
	if !ok {
		return ""
	}
	if strings.ContainsAny(s, " \t\n\r:") {
		d.errorf(nodePos(f.value), path, "%q is not a Linux user name", clip(s))
		return ""
	}
	return s
}
