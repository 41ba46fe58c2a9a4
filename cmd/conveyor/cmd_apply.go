package main

// `conveyor apply -f conveyor.yaml`: create or update the resources a conveyor.yaml declares.
//
// A conveyor.yaml is a mapping of sections (connections, projects, deploymentConfigs,
// applications, pipelines, notifications). Each section is a small handler in configSections: it
// reads its part of the file, checks every resource locally
// (positions are the conveyor.yaml's own lines and columns) and returns, for each valid resource, how
// to apply it. `conveyor validate` uses the same handlers, offline.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/pipeline"
)

// configSection handles one top-level section of a conveyor.yaml.
type configSection struct {
	name string
	// load checks the section's value locally and returns its resources.
	load func(cf *configFile, key, value *yaml.Node, providers pipeline.Providers) []*configResource
}

// configSections lists the sections in the order they are applied: a later section may use what an
// earlier one creates (a pipeline names a build project, a deployment group, a connection).
func configSections() []configSection {
	return []configSection{
		{name: "connections", load: loadConnections}, // git connections (cmd_connections.go): pipelines' ConnectionArn names them
		{name: "projects", load: loadProjects},       // CodeBuild projects (cmd_projects.go): pipelines name them
		// CodeDeploy (cmd_deploy_config.go): groups name configs, pipelines name applications and groups.
		{name: "deploymentConfigs", load: loadDeploymentConfigs},
		{name: "applications", load: loadApplications},
		{name: "pipelines", load: loadPipelines},
		{name: "notifications", load: loadNotifications}, // targets and rules (config_notifications.go); rules may name pipelines
	}
}

func configSectionNames() []string {
	var names []string
	for _, s := range configSections() {
		names = append(names, s.name)
	}
	return names
}

// configResource is one resource a conveyor.yaml declares.
type configResource struct {
	kind, name string
	problems   []problem // found locally: the resource is not applied
	apply      func(ctx context.Context, env *applyEnv) (applyResult, error)
}

// applyEnv is what resources are applied with.
type applyEnv struct {
	cfg    *clientConfig
	cp     *codepipeline.Client
	dryRun bool
}

// applyResult is what happened to one resource.
type applyResult struct {
	Kind    string    `json:"kind"`
	Name    string    `json:"name"`
	Status  string    `json:"status"` // created, updated, unchanged, would create, would update, invalid, failed
	Version int       `json:"version,omitempty"`
	Changed []string  `json:"changed,omitempty"` // paths that differ, for would update
	Error   string    `json:"error,omitempty"`
	Errors  []problem `json:"errors,omitempty"`
}

func (r applyResult) String() string {
	switch r.Status {
	case "created", "updated":
		if r.Version == 0 { // unversioned resources (projects)
			if len(r.Changed) > 0 {
				return r.Status + ": " + strings.Join(r.Changed, ", ")
			}
			return r.Status
		}
		return fmt.Sprintf("%s (version %d)", r.Status, r.Version)
	case "would update":
		if r.Version == 0 {
			return "would update: " + strings.Join(r.Changed, ", ")
		}
		return fmt.Sprintf("would update (version %d → %d): %s", r.Version, r.Version+1, strings.Join(r.Changed, ", "))
	case "invalid":
		return fmt.Sprintf("invalid (%d %s), not applied", len(r.Errors), plural(len(r.Errors), "error", "errors"))
	case "failed":
		return "failed: " + r.Error
	}
	return r.Status
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func runApply(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("apply [-f conveyor.yaml] [--dry-run]")
	file := c.String("f", "conveyor.yaml", "the file declaring the resources (YAML or JSON); - reads standard input")
	dryRun := c.Bool("dry-run", false, "only print what would be created or updated")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	data, err := readInput(*file)
	if err != nil {
		return err
	}
	name := *file
	if name == "-" {
		name = "<stdin>"
	}
	resources, fileProblems := loadConfig(name, data, registerProviders(providerDeps{}))
	if len(fileProblems) > 0 {
		return failed("%s\nnothing was applied", joinProblems(fileProblems))
	}
	env := &applyEnv{cfg: c.cfg, dryRun: *dryRun}
	for _, r := range resources {
		if len(r.problems) == 0 {
			if env.cp, err = c.cfg.codePipeline(); err != nil {
				return err
			}
			break
		}
	}
	var results []applyResult
	failures := 0
	for _, r := range resources {
		res := applyResult{Kind: r.kind, Name: r.name}
		if len(r.problems) > 0 {
			res.Status, res.Errors = "invalid", r.problems
			if !c.cfg.json() {
				fmt.Fprintln(errOut, joinProblems(r.problems))
			}
		} else {
			got, err := r.apply(ctx, env)
			if err != nil {
				res.Status, res.Error = "failed", err.Error()
			} else {
				got.Kind, got.Name = r.kind, r.name
				res = got
			}
		}
		if res.Status == "invalid" || res.Status == "failed" {
			failures++
		}
		results = append(results, res)
		if !c.cfg.json() {
			fmt.Fprintf(out, "%s %s: %s\n", res.Kind, res.Name, res)
		}
	}
	if c.cfg.json() {
		if results == nil {
			results = []applyResult{}
		}
		if err := printJSON(out, map[string]any{"resources": results, "dryRun": *dryRun}); err != nil {
			return err
		}
	} else if len(resources) == 0 {
		fmt.Fprintf(out, "%s declares no resources\n", name)
	}
	if failures > 0 {
		return failed("%d of %d %s failed", failures, len(resources), plural(len(resources), "resource", "resources"))
	}
	return nil
}

// --- reading a conveyor.yaml ---

// maxConfigSize bounds a conveyor.yaml; each pipeline in it is still limited to
// pipeline.MaxDeclarationSize.
const maxConfigSize = 16 << 20

// configFile is a conveyor.yaml being read.
type configFile struct {
	name  string
	src   []byte // without a byte-order mark
	lines []int  // byte offset where each line starts
	root  *yaml.Node
}

// isConfigFile tells a conveyor.yaml from a pipeline declaration: it is named conveyor.yaml (.yml,
// .json), or its top-level mapping has a key naming a section.
func isConfigFile(file string, data []byte) bool {
	switch strings.ToLower(filepath.Base(file)) {
	case "conveyor.yaml", "conveyor.yml", "conveyor.json":
		return true
	}
	var doc yaml.Node
	if yaml.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &doc) != nil || len(doc.Content) == 0 {
		return false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return false
	}
	sections := configSectionNames()
	for i := 0; i+1 < len(root.Content); i += 2 {
		for _, s := range sections {
			if root.Content[i].Value == s {
				return true
			}
		}
	}
	return false
}

// loadConfig reads a conveyor.yaml and checks every resource in it. fileProblems are problems with
// the file as a whole (syntax, unknown sections): then nothing may be applied.
func loadConfig(name string, data []byte, providers pipeline.Providers) (resources []*configResource, fileProblems []problem) {
	if len(data) > maxConfigSize {
		return nil, []problem{{File: name, Message: fmt.Sprintf("the file is %d bytes; a conveyor.yaml may be at most %d MiB", len(data), maxConfigSize>>20)}}
	}
	cf := &configFile{name: name, src: bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))}
	cf.lines = []int{0}
	for i, b := range cf.src {
		if b == '\n' {
			cf.lines = append(cf.lines, i+1)
		}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(cf.src))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, []problem{{File: name, Message: "the file is empty; expected sections such as pipelines:"}}
		}
		return nil, []problem{yamlProblem(name, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, []problem{yamlProblem(name, err)}
		}
		return nil, []problem{{File: name, Line: extra.Line, Column: extra.Column, Message: "the file holds more than one YAML document; a conveyor.yaml is one document"}}
	}
	if len(doc.Content) == 0 {
		return nil, []problem{{File: name, Message: "the file is empty; expected sections such as pipelines:"}}
	}
	cf.root = doc.Content[0]
	if cf.root.Kind != yaml.MappingNode {
		return nil, []problem{{File: name, Line: cf.root.Line, Column: cf.root.Column,
			Message: "a conveyor.yaml is a mapping of sections (" + strings.Join(configSectionNames(), ", ") + ")"}}
	}
	keys := map[string]*yaml.Node{}
	values := map[string]*yaml.Node{}
	known := map[string]bool{}
	for _, s := range configSections() {
		known[s.name] = true
	}
	for i := 0; i+1 < len(cf.root.Content); i += 2 {
		k := cf.root.Content[i]
		switch {
		case k.Kind != yaml.ScalarNode:
			fileProblems = append(fileProblems, problem{File: name, Line: k.Line, Column: k.Column, Message: "section names are plain words"})
		case keys[k.Value] != nil:
			fileProblems = append(fileProblems, problem{File: name, Line: k.Line, Column: k.Column,
				Message: fmt.Sprintf("section %q appears twice (first at line %d)", k.Value, keys[k.Value].Line)})
		case !known[k.Value]:
			fileProblems = append(fileProblems, problem{File: name, Line: k.Line, Column: k.Column,
				Message: fmt.Sprintf("unknown section %q; supported sections: %s", k.Value, strings.Join(configSectionNames(), ", "))})
		default:
			keys[k.Value], values[k.Value] = k, cf.root.Content[i+1]
		}
	}
	if len(fileProblems) > 0 {
		return nil, fileProblems
	}
	for _, s := range configSections() {
		if keys[s.name] != nil {
			resources = append(resources, s.load(cf, keys[s.name], values[s.name], providers)...)
		}
	}
	return resources, nil
}

// yamlProblem turns a yaml.v3 error ("yaml: line 3: …") into a located problem.
func yamlProblem(file string, err error) problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := problem{File: file, Message: "invalid YAML: " + msg}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(n); err == nil {
				p.Line, p.Message = line, "invalid YAML: "+after
			}
		}
	}
	return p
}

func (cf *configFile) lineStart(line int) int {
	if line < 1 {
		return 0
	}
	if line > len(cf.lines) {
		return len(cf.src)
	}
	return cf.lines[line-1]
}

// offset is the byte offset of a 1-based line and column (columns count characters, as yaml.v3's do).
func (cf *configFile) offset(line, col int) int {
	off := cf.lineStart(line)
	for c := 1; c < col && off < len(cf.src) && cf.src[off] != '\n'; c++ {
		_, size := utf8.DecodeRune(cf.src[off:])
		off += size
	}
	return off
}

// nextKeyStart is where the root key after key starts (the end of key's section), or the end of
// the file.
func (cf *configFile) nextKeyStart(key *yaml.Node) int {
	for i := 0; i+2 < len(cf.root.Content); i += 2 {
		if cf.root.Content[i] == key {
			return cf.lineStart(cf.root.Content[i+2].Line)
		}
	}
	return len(cf.src)
}

// itemSource cuts one item of a section's list out of the file, as a document of its own in which
// every line and column is where it is in the conveyor.yaml: the item's text is preceded by as many
// line breaks as lines before it and by spaces up to its column. Parsing it therefore reports
// positions of the conveyor.yaml itself, with nothing to translate.
//
// A block item ends where the next item (or the next section) starts; a flow item ({…}, as in
// JSON) ends at its closing brace.
func (cf *configFile) itemSource(item, next *yaml.Node, sectionEnd int) []byte {
	start := cf.offset(item.Line, item.Column)
	var end int
	switch {
	case item.Style&yaml.FlowStyle != 0:
		end = matchFlow(cf.src, start)
	case next != nil:
		end = cf.lineStart(next.Line)
	default:
		end = sectionEnd
	}
	if end < start {
		end = len(cf.src)
	}
	text := trimDanglingDash(cf.src[start:end])
	var b bytes.Buffer
	b.Grow(item.Line + item.Column + len(text))
	b.WriteString(strings.Repeat("\n", item.Line-1))
	b.WriteString(strings.Repeat(" ", item.Column-1))
	b.Write(text)
	return b.Bytes()
}

// trimDanglingDash drops trailing blank lines and a last line that holds only the "-" of the next
// item (when that item starts on the line after its dash).
func trimDanglingDash(b []byte) []byte {
	b = bytes.TrimRight(b, " \t\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 && string(bytes.TrimSpace(b[i+1:])) == "-" {
		b = bytes.TrimRight(b[:i], " \t\r\n")
	}
	return b
}

// matchFlow returns the offset just after the flow collection ({…} or […]) that starts at start,
// skipping quoted strings and comments; len(src) when it does not close.
func matchFlow(src []byte, start int) int {
	depth := 0
	prev := byte(' ')
	for i := start; i < len(src); i++ {
		c := src[i]
		switch {
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		case (c == '"' || c == '\'') && strings.IndexByte(" \t\r\n{[,:", prev) >= 0:
			// A quote starts a quoted scalar only at the start of one (it's is a plain scalar).
			for i++; i < len(src); i++ {
				if c == '"' && src[i] == '\\' {
					i++
					continue
				}
				if src[i] == c {
					if c == '\'' && i+1 < len(src) && src[i+1] == '\'' {
						i++ // '' is an escaped quote
						continue
					}
					break
				}
			}
		case c == '#' && strings.IndexByte(" \t\r\n", prev) >= 0:
			for i < len(src) && src[i] != '\n' {
				i++
			}
			c = '\n'
		}
		prev = c
	}
	return len(src)
}

// foreignAlias returns the first alias under n whose anchor is not under n: each pipeline of a
// conveyor.yaml is read on its own, so it cannot refer to an anchor in another one.
func foreignAlias(n *yaml.Node) *yaml.Node {
	inside := map[*yaml.Node]bool{}
	var aliases []*yaml.Node
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		inside[n] = true
		if n.Kind == yaml.AliasNode {
			aliases = append(aliases, n)
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	for _, a := range aliases {
		if !inside[a.Alias] {
			return a
		}
	}
	return nil
}

// mappingValue returns the value of key in a mapping node.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// --- the pipelines: section ---

// loadPipelines reads `pipelines:`, a list of pipeline declarations (bare, or wrapped in
// {pipeline: …} as get-pipeline prints them).
// sectionList checks that a section is a list (or empty) and returns its items; a section of any
// other shape is one resource with the problem, so the rest of the file is still checked.
func sectionList(cf *configFile, section string, value *yaml.Node, kind, shape string) ([]*yaml.Node, *configResource) {
	if value == nil || (value.Kind == yaml.ScalarNode && value.ShortTag() == "!!null") {
		return nil, nil
	}
	if value.Kind != yaml.SequenceNode {
		return nil, &configResource{kind: kind, name: section, problems: []problem{{File: cf.name, Line: value.Line, Column: value.Column,
			Path: section, Message: "must be a list of " + shape}}}
	}
	return value.Content, nil
}

// declaredNames remembers the line each name of a section was first declared at, so that a second
// declaration is reported with a pointer to the first.
type declaredNames map[string]int

// again records name as declared at line; for a name declared before it returns the problem's
// message and true.
func (d declaredNames) again(kind, name string, line int) (string, bool) {
	if first, dup := d[name]; dup {
		return fmt.Sprintf("%s %q is declared twice (first at line %d)", kind, name, first), true
	}
	d[name] = line
	return "", false
}

func loadPipelines(cf *configFile, key, value *yaml.Node, providers pipeline.Providers) []*configResource {
	items, bad := sectionList(cf, "pipelines", value, "pipeline", "pipeline declarations (- name: …)")
	if bad != nil {
		return []*configResource{bad}
	}
	sectionEnd := cf.nextKeyStart(key)
	names := declaredNames{}
	var out []*configResource
	for i, item := range items {
		label := fmt.Sprintf("pipelines[%d]", i)
		r := &configResource{kind: "pipeline", name: label}
		out = append(out, r)
		at := func(n *yaml.Node, path, format string, args ...any) {
			r.problems = append(r.problems, problem{File: cf.name, Line: n.Line, Column: n.Column, Path: path, Message: fmt.Sprintf(format, args...)})
		}
		if item.Kind == yaml.AliasNode {
			at(item, label, "a YAML alias (*%s) cannot stand for a whole pipeline; write the pipeline out (aliases inside it work)", item.Value)
			continue
		}
		if item.Kind != yaml.MappingNode {
			at(item, label, "must be a pipeline declaration (a mapping with name:, stages: …)")
			continue
		}
		if alias := foreignAlias(item); alias != nil {
			at(alias, label, "YAML alias *%s refers to an anchor outside this pipeline; anchors and aliases work only within one pipeline", alias.Value)
			continue
		}
		decl, prefix := item, label
		if w := mappingValue(item, "pipeline"); w != nil {
			decl, prefix = w, label+".pipeline"
		}
		nameNode := mappingValue(decl, "name")
		if nameNode != nil && nameNode.Kind == yaml.ScalarNode && nameNode.Value != "" {
			r.name = nameNode.Value
		}
		var next *yaml.Node
		if i+1 < len(items) {
			next = items[i+1]
		}
		d, sm, err := pipeline.ParseAndValidate(cf.name, cf.itemSource(item, next, sectionEnd), providers)
		if err != nil {
			r.problems = problemsOf(err, cf.name, prefix)
			continue
		}
		r.name = d.Name
		where := nameNode
		if where == nil { // the name came through a YAML merge key
			where = decl
		}
		if msg, dup := names.again("pipeline", d.Name, where.Line); dup {
			at(where, prefix+".name", "%s", msg)
			continue
		}
		r.apply = func(ctx context.Context, env *applyEnv) (applyResult, error) { return applyPipeline(ctx, env, d, sm) }
	}
	return out
}

// applyPipeline creates the pipeline if it does not exist, updates it if its declaration differs
// from the server's (versions aside), or leaves it alone.
func applyPipeline(ctx context.Context, env *applyEnv, d *pipeline.Declaration, sm *pipeline.SourceMap) (applyResult, error) {
	cur, err := env.cp.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String(d.Name)})
	if isAPIError(err, "PipelineNotFoundException") {
		if env.dryRun {
			return applyResult{Status: "would create"}, nil
		}
		var cap responseCapture
		res, err := env.cp.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: toSDKDeclaration(d)}, noInputValidation, capture(&cap))
		if err != nil {
			return applyResult{}, declarationAPIError(err, sm, cap.request)
		}
		return applyResult{Status: "created", Version: int(aws.ToInt32(res.Pipeline.Version))}, nil
	}
	if err != nil {
		return applyResult{}, apiError(err)
	}
	version := int(aws.ToInt32(cur.Pipeline.Version))
	changed := declarationDiff(d, fromSDKDeclaration(cur.Pipeline))
	switch {
	case len(changed) == 0:
		return applyResult{Status: "unchanged", Version: version}, nil
	case env.dryRun:
		return applyResult{Status: "would update", Version: version, Changed: changed}, nil
	}
	var cap responseCapture
	res, err := env.cp.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: toSDKDeclaration(d)}, noInputValidation, capture(&cap))
	if err != nil {
		return applyResult{}, declarationAPIError(err, sm, cap.request)
	}
	return applyResult{Status: "updated", Version: int(aws.ToInt32(res.Pipeline.Version))}, nil
}

// declarationDiff lists the paths where two declarations differ, ignoring the version and
// spelled-out defaults (pipelineType V1, executionMode SUPERSEDED, runOrder 1).
func declarationDiff(a, b *pipeline.Declaration) []string {
	var ta, tb any
	_ = json.Unmarshal(normalizedDeclaration(a), &ta)
	_ = json.Unmarshal(normalizedDeclaration(b), &tb)
	var paths []string
	diffPaths(ta, tb, "", &paths)
	const shown = 5
	if len(paths) > shown {
		paths = append(paths[:shown], fmt.Sprintf("… %d more", len(paths)-shown))
	}
	return paths
}

func normalizedDeclaration(d *pipeline.Declaration) []byte {
	raw, _ := json.Marshal(d)
	var c pipeline.Declaration
	_ = json.Unmarshal(raw, &c) // a deep copy
	c.Version = 0
	c.PipelineType = c.EffectivePipelineType()
	c.ExecutionMode = c.EffectiveExecutionMode()
	for i := range c.Stages {
		for j := range c.Stages[i].Actions {
			c.Stages[i].Actions[j].RunOrder = c.Stages[i].Actions[j].EffectiveRunOrder()
		}
	}
	raw, _ = json.Marshal(&c)
	return raw
}

func diffPaths(a, b any, path string, out *[]string) {
	here := path
	if here == "" {
		here = "(the declaration)"
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			*out = append(*out, here)
			return
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			p := k
			if path != "" {
				p = path + "." + k
			}
			diffPaths(av[k], bv[k], p, out)
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			*out = append(*out, here)
			return
		}
		for i := range av {
			diffPaths(av[i], bv[i], fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		if !reflect.DeepEqual(a, b) {
			*out = append(*out, here)
		}
	}
}

// --- problems ---

// problem is one thing wrong with a file, located when possible.
type problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// String renders "file:line:col: path: message", leaving out the parts that are unknown.
func (p problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
		if p.Column > 0 {
			loc += ":" + strconv.Itoa(p.Column)
		}
	}
	s := loc + ": "
	if p.Path != "" {
		s += p.Path + ": "
	}
	return s + p.Message
}

func joinProblems(ps []problem) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problemsOf lists the problems of a ParseAndValidate error; prefix (e.g. "pipelines[2]") is put
// before each path.
func problemsOf(err error, file, prefix string) []problem {
	var verrs pipeline.ValidationErrors
	var perr *pipeline.ParseError
	switch {
	case errors.As(err, &verrs):
		out := make([]problem, 0, len(verrs))
		for _, e := range verrs {
			path := e.Path
			if prefix != "" {
				path = strings.TrimSuffix(prefix+"."+path, ".")
			}
			out = append(out, problem{File: file, Line: e.Line, Column: e.Column, Path: path, Message: e.Message})
		}
		return out
	case errors.As(err, &perr):
		return []problem{{File: file, Line: perr.Line, Column: perr.Column, Path: prefix, Message: perr.Message}}
	}
	return []problem{{File: file, Path: prefix, Message: err.Error()}}
}
