package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/internal/suggest"
)

// MaxDeclarationSize is the largest declaration file Parse accepts, in bytes.
const MaxDeclarationSize = 1 << 20

// Limits that keep hostile input cheap. A real declaration stays far below them: the deepest path of
// the model (stages[].onFailure.conditions[].rules[].configuration.K) is ten levels, and 50 stages of
// 50 actions with every field set are well under 200,000 values.
const (
	maxDeclNesting = 32
	maxDeclValues  = 300_000
)

// Position is a place in a declaration file: 1-based line and column. Columns count characters, not
// bytes; a tab counts as one column.
type Position struct {
	Line, Column int
}

// IsZero reports whether the position is unknown.
func (p Position) IsZero() bool { return p.Line == 0 }

// SourceMap maps canonical declaration paths to where they were written. Paths look like
// `stages[2].actions[0].inputArtifacts[0].name` or `stages[0].actions[1].configuration.S3Bucket`;
// the empty path is the pipeline object itself. Paths are relative to the pipeline object even when
// the file wraps it as {"pipeline": …, "metadata": …}.
type SourceMap struct {
	// File is the name given to Parse, used in error messages.
	File   string
	values map[string]Position
	keys   map[string]Position
}

func newSourceMap(file string) *SourceMap {
	return &SourceMap{File: file, values: map[string]Position{}, keys: map[string]Position{}}
}

// Position returns where the value at path starts, if path was written in the file.
func (m *SourceMap) Position(path string) (Position, bool) {
	if m == nil {
		return Position{}, false
	}
	p, ok := m.values[path]
	return p, ok
}

// KeyPosition returns where the key naming path (an object field or a map key) was written.
func (m *SourceMap) KeyPosition(path string) (Position, bool) {
	if m == nil {
		return Position{}, false
	}
	p, ok := m.keys[path]
	return p, ok
}

// Nearest returns the position of path, or of its closest ancestor that was written in the file (a
// missing field is reported where its parent object starts). It is zero when nothing matches.
func (m *SourceMap) Nearest(path string) Position {
	if m == nil {
		return Position{}
	}
	for {
		if p, ok := m.values[path]; ok {
			return p
		}
		if path == "" {
			return Position{}
		}
		path = parentPath(path)
	}
}

// parentPath strips the last segment of a canonical path: `a.b[2]` → `a.b` → `a` → “.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// ParseError is a file that could not be read as a declaration at all: too large, not JSON or YAML,
// not an object.
type ParseError struct {
	File         string
	Line, Column int // 0 when unknown
	Message      string
}

func (e *ParseError) Error() string {
	return formatLocated(e.File, e.Line, e.Column, "", e.Message)
}

// formatLocated renders "file:line:col: path: message", leaving out the parts that are empty.
func formatLocated(file string, line, col int, path, msg string) string {
	var b strings.Builder
	loc := file
	if line > 0 {
		if loc != "" {
			loc += ":"
		}
		loc += strconv.Itoa(line)
		if col > 0 {
			loc += ":" + strconv.Itoa(col)
		}
	}
	if loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	if path != "" {
		b.WriteString(path)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	return b.String()
}

// Parse decodes a pipeline declaration from JSON or YAML. data may be the bare `pipeline` object or
// wrapped as `aws codepipeline get-pipeline` prints it: {"pipeline": {...}, "metadata": {...}}
// (metadata ignored). filename is used in error messages only.
//
// Data whose first character (after white space and a byte-order mark) is `{` is read as JSON, the
// rest as YAML. Unknown fields, duplicate keys and values of the wrong type are errors. In YAML a
// scalar where the model wants a string is taken by its literal text (`version: 1`,
// `PollForSourceChanges: false`); in JSON such values must be strings.
//
// When the file cannot be read as a declaration at all, Parse returns a *ParseError and no
// declaration. When it can, but some fields are wrong (unknown field, wrong type), Parse returns
// ValidationErrors listing all of them together with the partially decoded declaration and its
// source map, so that a caller reporting problems (such as `conveyor validate`) can run Validate on
// it too; see ParseAndValidate. Callers that want a usable declaration must check err first.
func Parse(filename string, data []byte) (*Declaration, *SourceMap, error) {
	if len(data) > MaxDeclarationSize {
		return nil, nil, &ParseError{File: filename, Message: fmt.Sprintf(
			"the declaration is %d bytes; a pipeline declaration may be at most %d bytes (1 MiB)", len(data), MaxDeclarationSize)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	var (
		root   *declNode
		isJSON bool
		perr   *ParseError
	)
	if looksLikeJSON(data) {
		isJSON = true
		root, perr = parseJSONTree(data)
		if perr != nil && isJSONSyntaxError(perr) {
			// `{a: 1}` is a YAML flow mapping, not broken JSON; accept it when YAML can read it.
			if yroot, yerr := parseYAMLTree(data); yerr == nil {
				root, perr, isJSON = yroot, nil, false
			}
		}
	} else {
		root, perr = parseYAMLTree(data)
	}
	if perr != nil {
		perr.File = filename
		return nil, nil, perr
	}
	if root.kind != declObject {
		return nil, nil, &ParseError{File: filename, Line: root.pos.Line, Column: root.pos.Column,
			Message: fmt.Sprintf("a pipeline declaration must be an object (a YAML mapping), found %s", root.kind.describe())}
	}

	sm := newSourceMap(filename)
	dec := &declDecoder{sm: sm, json: isJSON}
	pnode := root
	if f := root.field("pipeline"); f != nil {
		// The get-pipeline form: {"pipeline": {...}, "metadata": {...}}.
		for _, f := range root.fields {
			if f.key != "pipeline" && f.key != "metadata" {
				dec.errorAt("", f.keyPos, fmt.Sprintf(
					"unknown field %q next to \"pipeline\"; a wrapped declaration has only \"pipeline\" and \"metadata\"", f.key))
			}
		}
		pnode = f.value
		if pnode.kind != declObject {
			return nil, nil, &ParseError{File: filename, Line: pnode.pos.Line, Column: pnode.pos.Column,
				Message: fmt.Sprintf("\"pipeline\" must be an object, found %s", pnode.kind.describe())}
		}
	}
	d := &Declaration{}
	dec.decode(pnode, reflect.ValueOf(d).Elem(), "")
	if len(dec.errs) > 0 {
		for i := range dec.errs {
			dec.errs[i].File = filename
		}
		dec.errs.sort()
		return d, sm, dec.errs
	}
	return d, sm, nil
}

// ParseAndValidate parses data and validates the result, returning every problem at once (fields
// Parse could not decode and rules Validate found broken), sorted by position. It is what
// `conveyor validate FILE` and the API's CreatePipeline/UpdatePipeline want. The declaration and
// source map are returned only when err is nil.
func ParseAndValidate(filename string, data []byte, providers Providers) (*Declaration, *SourceMap, error) {
	d, sm, err := Parse(filename, data)
	var perrs ValidationErrors
	switch {
	case err == nil:
	case errors.As(err, &perrs):
	default:
		return nil, nil, err
	}
	verr := Validate(d, providers, sm)
	if verr == nil && len(perrs) == 0 {
		return d, sm, nil
	}
	var verrs ValidationErrors
	errors.As(verr, &verrs)
	rejected := make(map[string]bool, len(perrs))
	for _, e := range perrs {
		if e.Path != "" {
			rejected[e.Path] = true
		}
	}
	all := append(ValidationErrors{}, perrs...)
	for _, e := range verrs {
		// A field Parse rejected is left empty and Validate would add "… is required" at the same
		// place (or complain about what is under it): keep the first, more precise message only.
		if !coveredBy(e.Path, rejected) {
			all = append(all, e)
		}
	}
	all.sort()
	return nil, nil, all
}

// coveredBy reports whether path or one of its ancestors is in rejected.
func coveredBy(path string, rejected map[string]bool) bool {
	for path != "" {
		if rejected[path] {
			return true
		}
		path = parentPath(path)
	}
	return false
}

// --- the intermediate tree both syntaxes are read into ---

type declNodeKind uint8

const (
	declNull declNodeKind = iota
	declString
	declNumber
	declBool
	declObject
	declArray
)

func (k declNodeKind) describe() string {
	switch k {
	case declNull:
		return "null"
	case declString:
		return "a string"
	case declNumber:
		return "a number"
	case declBool:
		return "true/false"
	case declObject:
		return "an object"
	default:
		return "a list"
	}
}

type declField struct {
	key    string
	keyPos Position
	value  *declNode
}

type declNode struct {
	kind   declNodeKind
	text   string // scalars: the decoded string, or the literal text of a number/bool
	pos    Position
	fields []declField
	items  []*declNode
}

func (n *declNode) field(key string) *declField {
	for i := range n.fields {
		if n.fields[i].key == key {
			return &n.fields[i]
		}
	}
	return nil
}

func looksLikeJSON(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// --- JSON ---

const jsonSyntaxPrefix = "invalid JSON: "

func isJSONSyntaxError(e *ParseError) bool { return strings.HasPrefix(e.Message, jsonSyntaxPrefix) }

// lineCounter converts byte offsets into positions. Offsets must be asked in increasing order, which
// keeps the whole walk linear even on a 1 MiB file written on a single line.
type lineCounter struct {
	data      []byte
	off       int
	line, col int
}

func newLineCounter(data []byte) *lineCounter { return &lineCounter{data: data, line: 1, col: 1} }

func (c *lineCounter) at(off int) Position {
	if off > len(c.data) {
		off = len(c.data)
	}
	if off < c.off { // not expected; restart rather than return nonsense
		c.off, c.line, c.col = 0, 1, 1
	}
	for c.off < off {
		r, size := utf8.DecodeRune(c.data[c.off:])
		if r == '\n' {
			c.line++
			c.col = 1
		} else {
			c.col++
		}
		c.off += size
	}
	return Position{Line: c.line, Column: c.col}
}

type jsonTreeReader struct {
	data   []byte
	dec    *json.Decoder
	lc     *lineCounter
	values int
}

func parseJSONTree(data []byte) (*declNode, *ParseError) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// Offset is the byte just read when the error was seen; point at it.
			off := int(se.Offset) - 1
			if off < 0 {
				off = 0
			}
			p := newLineCounter(data).at(off)
			return nil, &ParseError{Line: p.Line, Column: p.Column, Message: jsonSyntaxPrefix + se.Error()}
		}
		msg := "invalid JSON"
		if err != nil {
			msg = jsonSyntaxPrefix + err.Error()
		}
		return nil, &ParseError{Message: msg}
	}
	r := &jsonTreeReader{data: data, dec: json.NewDecoder(bytes.NewReader(data)), lc: newLineCounter(data)}
	r.dec.UseNumber()
	n, perr := r.value(0)
	if perr != nil {
		return nil, perr
	}
	if _, err := r.dec.Token(); err != io.EOF {
		p := r.lc.at(r.nextStart())
		return nil, &ParseError{Line: p.Line, Column: p.Column, Message: "unexpected data after the JSON object"}
	}
	return n, nil
}

// nextStart is the offset of the next token: after the last one, white space and separators.
func (r *jsonTreeReader) nextStart() int {
	off := int(r.dec.InputOffset())
	for off < len(r.data) {
		switch r.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (r *jsonTreeReader) token() (json.Token, Position, *ParseError) {
	pos := r.lc.at(r.nextStart())
	tok, err := r.dec.Token()
	if err != nil {
		return nil, pos, &ParseError{Line: pos.Line, Column: pos.Column, Message: jsonSyntaxPrefix + err.Error()}
	}
	return tok, pos, nil
}

func (r *jsonTreeReader) value(depth int) (*declNode, *ParseError) {
	tok, pos, perr := r.token()
	if perr != nil {
		return nil, perr
	}
	return r.valueFrom(tok, pos, depth)
}

func (r *jsonTreeReader) valueFrom(tok json.Token, pos Position, depth int) (*declNode, *ParseError) {
	r.values++
	if r.values > maxDeclValues {
		return nil, &ParseError{Line: pos.Line, Column: pos.Column,
			Message: fmt.Sprintf("the declaration has more than %d values", maxDeclValues)}
	}
	if depth > maxDeclNesting {
		return nil, &ParseError{Line: pos.Line, Column: pos.Column,
			Message: fmt.Sprintf("objects and lists are nested more than %d levels deep", maxDeclNesting)}
	}
	switch t := tok.(type) {
	case nil:
		return &declNode{kind: declNull, pos: pos}, nil
	case string:
		return &declNode{kind: declString, text: t, pos: pos}, nil
	case json.Number:
		return &declNode{kind: declNumber, text: string(t), pos: pos}, nil
	case bool:
		return &declNode{kind: declBool, text: strconv.FormatBool(t), pos: pos}, nil
	case json.Delim:
		switch t {
		case '{':
			n := &declNode{kind: declObject, pos: pos}
			seen := map[string]bool{}
			for r.dec.More() {
				ktok, kpos, perr := r.token()
				if perr != nil {
					return nil, perr
				}
				key, _ := ktok.(string)
				if seen[key] {
					return nil, &ParseError{Line: kpos.Line, Column: kpos.Column, Message: fmt.Sprintf("duplicate key %q", key)}
				}
				seen[key] = true
				v, perr := r.value(depth + 1)
				if perr != nil {
					return nil, perr
				}
				n.fields = append(n.fields, declField{key: key, keyPos: kpos, value: v})
			}
			if _, _, perr := r.token(); perr != nil { // '}'
				return nil, perr
			}
			return n, nil
		case '[':
			n := &declNode{kind: declArray, pos: pos}
			for r.dec.More() {
				v, perr := r.value(depth + 1)
				if perr != nil {
					return nil, perr
				}
				n.items = append(n.items, v)
			}
			if _, _, perr := r.token(); perr != nil { // ']'
				return nil, perr
			}
			return n, nil
		}
	}
	return nil, &ParseError{Line: pos.Line, Column: pos.Column, Message: fmt.Sprintf("unexpected JSON token %v", tok)}
}

// --- YAML ---

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func parseYAMLTree(data []byte) (root *declNode, perr *ParseError) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("yaml: the YAML parser failed on this input: %v", r)
			}
		}()
		if err := dec.Decode(&doc); err != nil {
			return err
		}
		var extra yaml.Node
		if err := dec.Decode(&extra); err != io.EOF {
			if err != nil {
				return err
			}
			return fmt.Errorf("yaml: line %d: the file holds more than one YAML document; a declaration is one document", extra.Line)
		}
		return nil
	}()
	if err == io.EOF {
		return nil, &ParseError{Message: "the file is empty; expected a pipeline declaration"}
	}
	if err != nil {
		msg := err.Error()
		pe := &ParseError{Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
		if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
			pe.Line, _ = strconv.Atoi(m[1])
			pe.Message = "invalid YAML: " + m[2]
		}
		return nil, pe
	}
	c := &yamlConverter{active: map[*yaml.Node]bool{}}
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, &ParseError{Message: "the file is empty; expected a pipeline declaration"}
		}
		n = n.Content[0]
	}
	root, perr = c.convert(n, 0)
	return root, perr
}

type yamlConverter struct {
	values int
	active map[*yaml.Node]bool // aliases being expanded, to refuse recursive ones
}

func yamlPos(n *yaml.Node) Position { return Position{Line: n.Line, Column: n.Column} }

func (c *yamlConverter) fail(n *yaml.Node, format string, args ...any) *ParseError {
	return &ParseError{Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)}
}

func (c *yamlConverter) convert(n *yaml.Node, depth int) (*declNode, *ParseError) {
	c.values++
	if c.values > maxDeclValues {
		return nil, c.fail(n, "the declaration has more than %d values (counting what YAML aliases expand to)", maxDeclValues)
	}
	if depth > maxDeclNesting {
		return nil, c.fail(n, "mappings and sequences are nested more than %d levels deep", maxDeclNesting)
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, c.fail(n, "unknown YAML alias %q", n.Value)
		}
		if c.active[n.Alias] {
			return nil, c.fail(n, "YAML alias *%s refers to itself", n.Value)
		}
		c.active[n.Alias] = true
		defer delete(c.active, n.Alias)
		return c.convert(n.Alias, depth)
	case yaml.ScalarNode:
		return c.scalar(n)
	case yaml.SequenceNode:
		if t := n.ShortTag(); t != "!!seq" {
			return nil, c.fail(n, "unsupported YAML tag %s", n.Tag)
		}
		out := &declNode{kind: declArray, pos: yamlPos(n)}
		for _, item := range n.Content {
			v, perr := c.convert(item, depth+1)
			if perr != nil {
				return nil, perr
			}
			out.items = append(out.items, v)
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.DocumentNode:
		return nil, c.fail(n, "unexpected YAML document")
	}
	return nil, c.fail(n, "unsupported YAML node")
}

func (c *yamlConverter) scalar(n *yaml.Node) (*declNode, *ParseError) {
	out := &declNode{text: n.Value, pos: yamlPos(n)}
	switch n.ShortTag() {
	case "!!str", "!!timestamp", "!!binary":
		out.kind = declString
	case "!!int", "!!float":
		out.kind = declNumber
	case "!!bool":
		out.kind = declBool
	case "!!null":
		out.kind = declNull
		out.text = ""
	default:
		return nil, c.fail(n, "unsupported YAML tag %s; write plain values", n.Tag)
	}
	return out, nil
}

func (c *yamlConverter) mapping(n *yaml.Node, depth int) (*declNode, *ParseError) {
	if t := n.ShortTag(); t != "!!map" {
		return nil, c.fail(n, "unsupported YAML tag %s", n.Tag)
	}
	out := &declNode{kind: declObject, pos: yamlPos(n)}
	seen := map[string]bool{}
	var merged []declField
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			return nil, c.fail(k, "mapping keys must be plain scalars")
		}
		if k.ShortTag() == "!!merge" {
			fields, perr := c.merge(v, depth)
			if perr != nil {
				return nil, perr
			}
			merged = append(merged, fields...)
			continue
		}
		if seen[k.Value] {
			return nil, c.fail(k, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		val, perr := c.convert(v, depth+1)
		if perr != nil {
			return nil, perr
		}
		out.fields = append(out.fields, declField{key: k.Value, keyPos: yamlPos(k), value: val})
	}
	// Merged keys (`<<: *defaults`) apply where the mapping does not set the key itself; among
	// several merged mappings the first one wins, as YAML specifies.
	for _, f := range merged {
		if !seen[f.key] {
			seen[f.key] = true
			out.fields = append(out.fields, f)
		}
	}
	return out, nil
}

func (c *yamlConverter) merge(v *yaml.Node, depth int) ([]declField, *ParseError) {
	var sources []*yaml.Node
	if v.Kind == yaml.SequenceNode {
		sources = v.Content
	} else {
		sources = []*yaml.Node{v}
	}
	var out []declField
	for _, s := range sources {
		m, perr := c.convert(s, depth+1)
		if perr != nil {
			return nil, perr
		}
		if m.kind != declObject {
			return nil, c.fail(s, "a YAML merge key (<<) needs a mapping or a list of mappings")
		}
		out = append(out, m.fields...)
	}
	return out, nil
}

// --- decoding the tree into the model ---

type declDecoder struct {
	sm   *SourceMap
	json bool
	errs ValidationErrors
}

func (d *declDecoder) errorAt(path string, pos Position, msg string) {
	d.errs = append(d.errs, FieldError{Path: path, Message: msg, Kind: kindForPath(path), Line: pos.Line, Column: pos.Column})
}

// kindForPath classifies a problem by where it is: inside an action, inside a stage, or elsewhere.
func kindForPath(path string) string {
	switch {
	case strings.HasPrefix(path, "stages[") && strings.Contains(path, "].actions["):
		return KindAction
	case strings.HasPrefix(path, "stages["):
		return KindStage
	default:
		return KindStructure
	}
}

type structFields struct {
	names []string // JSON names in declaration order
	index map[string]int
}

var structFieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if v, ok := structFieldCache.Load(t); ok {
		return v.(*structFields)
	}
	sf := &structFields{index: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		sf.names = append(sf.names, name)
		sf.index[name] = i
	}
	structFieldCache.Store(t, sf)
	return sf
}

func (d *declDecoder) typeError(n *declNode, path, want string) {
	msg := fmt.Sprintf("must be %s, found %s", want, n.kind.describe())
	if want == "a string" && d.json && (n.kind == declNumber || n.kind == declBool) {
		msg = fmt.Sprintf("must be a string: write \"%s\" in quotes", n.text)
	}
	d.errorAt(path, n.pos, msg)
}

func (d *declDecoder) decode(n *declNode, v reflect.Value, path string) {
	d.sm.values[path] = n.pos
	if n.kind == declNull {
		return // absent
	}
	switch v.Kind() {
	case reflect.Pointer:
		e := reflect.New(v.Type().Elem())
		d.decode(n, e.Elem(), path)
		v.Set(e)
	case reflect.Struct:
		if n.kind != declObject {
			d.typeError(n, path, "an object")
			return
		}
		sf := fieldsOf(v.Type())
		for _, f := range n.fields {
			p := joinPath(path, f.key)
			i, ok := sf.index[f.key]
			if !ok {
				d.errorAt(p, f.keyPos, unknownFieldMessage(f.key, sf.names))
				continue
			}
			d.sm.keys[p] = f.keyPos
			d.decode(f.value, v.Field(i), p)
		}
	case reflect.Slice:
		if n.kind != declArray {
			d.typeError(n, path, "a list")
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.items), len(n.items))
		for i, item := range n.items {
			d.decode(item, s.Index(i), indexPath(path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.kind != declObject {
			d.typeError(n, path, "an object")
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.fields))
		for _, f := range n.fields {
			p := joinPath(path, f.key)
			d.sm.keys[p] = f.keyPos
			e := reflect.New(v.Type().Elem()).Elem()
			if f.value.kind == declNull && d.json && e.Kind() == reflect.String {
				d.sm.values[p] = f.value.pos
				d.errorAt(p, f.value.pos, "must be a string, found null")
				continue
			}
			d.decode(f.value, e, p)
			m.SetMapIndex(reflect.ValueOf(f.key), e)
		}
		v.Set(m)
	case reflect.String:
		switch {
		case n.kind == declString:
			v.SetString(n.text)
		case !d.json && (n.kind == declNumber || n.kind == declBool):
			v.SetString(n.text) // YAML `version: 1` means "1"
		default:
			d.typeError(n, path, "a string")
		}
	case reflect.Int, reflect.Int32, reflect.Int64:
		if n.kind != declNumber && (d.json || n.kind != declString) {
			d.typeError(n, path, "a whole number")
			return
		}
		i, err := strconv.ParseInt(strings.TrimSpace(n.text), 10, 32)
		if err != nil {
			d.errorAt(path, n.pos, fmt.Sprintf("must be a whole number, found %q", n.text))
			return
		}
		v.SetInt(i)
	default:
		d.errorAt(path, n.pos, fmt.Sprintf("cannot decode into %s", v.Type()))
	}
}

func unknownFieldMessage(key string, allowed []string) string {
	if s := suggest.Closest(key, allowed); s != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", key, s)
	}
	return fmt.Sprintf("unknown field %q; allowed fields here: %s", key, strings.Join(allowed, ", "))
}

// sortedMapKeys returns the keys of m in order, for deterministic error output.
func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
