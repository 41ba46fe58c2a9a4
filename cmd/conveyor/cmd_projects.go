package main

// CodeBuild projects: the `projects:` section of a conveyor.yaml (apply and validate) and
// `conveyor projects …` (create, update, get, list, delete through the AWS SDK).
//
// A project is written in the CreateProject request shape (build.Project's JSON member names), in
// YAML or JSON. It is read against that shape, so unknown keys, duplicate keys and values of the
// wrong kind are reported at their line and column, and YAML scalars are taken by their text where
// a string is expected (value: 1.10 stays "1.10"). Then (*build.Project).Validate checks it and
// its problems are mapped back to the file too.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/internal/suggest"
	"github.com/conveyorci/conveyor/pipeline"
)

// --- reading a project ---

// projectReader converts a YAML node to the JSON of a build.Project, guided by the Go type, and
// collects problems at their positions.
type projectReader struct {
	file     string
	prefix   string // "projects[2]" in a conveyor.yaml; "" for a file holding one project
	problems []problem
}

func (pr *projectReader) at(n *yaml.Node, path, format string, args ...any) {
	p := problem{File: pr.file, Path: pr.path(path), Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	pr.problems = append(pr.problems, p)
}

func (pr *projectReader) path(p string) string {
	switch {
	case pr.prefix == "":
		return p
	case p == "":
		return pr.prefix
	case strings.HasPrefix(p, "["):
		return pr.prefix + p
	}
	return pr.prefix + "." + p
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// jsonFields lists a struct's JSON member names and their field types.
func jsonFields(t reflect.Type) (names []string, types map[string]reflect.Type) {
	types = map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
		types[name] = f.Type
	}
	return names, types
}

// pair is one key and value of a YAML mapping.
type pair struct{ key, value *yaml.Node }

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// mappingPairs returns a mapping's pairs, explicit ones first, then those of merge keys (<<) whose
// keys are not written explicitly. duplicates are explicit keys written twice.
func mappingPairs(n *yaml.Node) (pairs []pair, duplicates []pair) {
	seen := map[string]*yaml.Node{}
	var merged []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			v = resolveAlias(v)
			if v.Kind == yaml.SequenceNode {
				for _, m := range v.Content {
					merged = append(merged, resolveAlias(m))
				}
			} else {
				merged = append(merged, v)
			}
			continue
		}
		if seen[k.Value] != nil {
			duplicates = append(duplicates, pair{k, v})
			continue
		}
		seen[k.Value] = k
		pairs = append(pairs, pair{k, v})
	}
	for _, m := range merged {
		if m.Kind != yaml.MappingNode {
			continue
		}
		more, _ := mappingPairs(m)
		for _, p := range more {
			if seen[p.key.Value] == nil {
				seen[p.key.Value] = p.key
				pairs = append(pairs, p)
			}
		}
	}
	return pairs, duplicates
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.ShortTag() == "!!null" {
		return "nothing"
	}
	return "a scalar"
}

// convert turns n into a JSON-ready value for a field of type t; ok is false when it is absent
// (null) or wrong (a problem was recorded).
func (pr *projectReader) convert(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	n = resolveAlias(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, false
	}
	if t == rawMessageType {
		return genericValue(n), true
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			pr.at(n, path, "must be a mapping (key: value lines), found %s", kindName(n))
			return nil, false
		}
		names, types := jsonFields(t)
		pairs, dups := mappingPairs(n)
		for _, d := range dups {
			pr.at(d.key, joinKey(path, d.key.Value), "duplicate key %q", d.key.Value)
		}
		obj := map[string]any{}
		for _, p := range pairs {
			key := p.key.Value
			ft, ok := types[key]
			if !ok {
				msg := fmt.Sprintf("unknown key %q", key)
				if s := suggest.Closest(key, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				pr.at(p.key, joinKey(path, key), "%s; allowed here: %s", msg, strings.Join(names, ", "))
				continue
			}
			if v, ok := pr.convert(p.value, ft, joinKey(path, key)); ok {
				obj[key] = v
			}
		}
		return obj, true
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			pr.at(n, path, "must be a list (- item lines), found %s", kindName(n))
			return nil, false
		}
		list := []any{}
		for i, item := range n.Content {
			if v, ok := pr.convert(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); ok {
				list = append(list, v)
			} else if item = resolveAlias(item); item.Kind == yaml.ScalarNode && item.ShortTag() == "!!null" {
				pr.at(item, fmt.Sprintf("%s[%d]", path, i), "empty list item")
			}
		}
		return list, true
	}
	if n.Kind != yaml.ScalarNode {
		pr.at(n, path, "must be a single value, found %s", kindName(n))
		return nil, false
	}
	switch t.Kind() {
	case reflect.String:
		return n.Value, true
	case reflect.Bool:
		switch strings.ToLower(n.Value) {
		case "true", "yes":
			return true, true
		case "false", "no":
			return false, true
		}
		pr.at(n, path, "must be true or false, found %q", n.Value)
		return nil, false
	case reflect.Int, reflect.Int32, reflect.Int64:
		v, err := strconv.ParseInt(n.Value, 10, 32)
		if err != nil {
			pr.at(n, path, "must be a whole number, found %q", n.Value)
			return nil, false
		}
		return v, true
	case reflect.Float32, reflect.Float64:
		v, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			pr.at(n, path, "must be a number, found %q", n.Value)
			return nil, false
		}
		return v, true
	}
	pr.at(n, path, "cannot be read (type %s)", t)
	return nil, false
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// genericValue converts a node for a free-form member (logsConfig, vpcConfig, …).
func genericValue(n *yaml.Node) any {
	n = resolveAlias(n)
	switch n.Kind {
	case yaml.MappingNode:
		pairs, _ := mappingPairs(n)
		m := map[string]any{}
		for _, p := range pairs {
			m[p.key.Value] = genericValue(p.value)
		}
		return m
	case yaml.SequenceNode:
		l := []any{}
		for _, item := range n.Content {
			l = append(l, genericValue(item))
		}
		return l
	}
	switch n.ShortTag() {
	case "!!null":
		return nil
	case "!!bool":
		return strings.EqualFold(n.Value, "true")
	case "!!int":
		if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return v
		}
	case "!!float":
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil && !isInfOrNaN(v) {
			return v
		}
	}
	return n.Value
}

func isInfOrNaN(f float64) bool { return f != f || f > 1e308 || f < -1e308 }

// readProject reads one project from its node: the shape, then Validate (which fills defaults).
// Problems are located in the file.
func (pr *projectReader) readProject(n *yaml.Node) (*build.Project, bool) {
	before := len(pr.problems)
	v, ok := pr.convert(n, reflect.TypeFor[build.Project](), "")
	if !ok && len(pr.problems) == before {
		pr.at(n, "", "must be a project (a mapping with name:, source:, artifacts:, environment: …)")
	}
	if len(pr.problems) > before {
		return nil, false
	}
	raw, _ := json.Marshal(v)
	var p build.Project
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		pr.at(n, "", "%v", err)
		return nil, false
	}
	if err := p.Validate(); err != nil {
		var ve *build.ValidationError
		if !errors.As(err, &ve) {
			pr.at(n, "", "%v", err)
			return nil, false
		}
		for _, msg := range ve.Problems {
			field, text, _ := strings.Cut(msg, ": ")
			pr.at(locateField(n, field), field, "%s", text)
		}
		return nil, false
	}
	return &p, true
}

var fieldTokenRe = regexp.MustCompile(`^([^\[]*)((?:\[\d+\])*)$`)

// locateField finds where a field path (environment.environmentVariables[0].name) is written: the
// key of the last member found, or the list item; a member that is not written is reported where
// its parent is.
func locateField(root *yaml.Node, field string) *yaml.Node {
	at := root
	n := resolveAlias(root)
	for _, tok := range strings.Split(field, ".") {
		m := fieldTokenRe.FindStringSubmatch(tok)
		if m == nil {
			return at
		}
		if m[1] != "" {
			if n == nil || n.Kind != yaml.MappingNode {
				return at
			}
			pairs, _ := mappingPairs(n)
			var found *pair
			for i := range pairs {
				if pairs[i].key.Value == m[1] {
					found = &pairs[i]
					break
				}
			}
			if found == nil {
				return at
			}
			at, n = found.key, resolveAlias(found.value)
		}
		for _, idx := range regexp.MustCompile(`\d+`).FindAllString(m[2], -1) {
			i, _ := strconv.Atoi(idx)
			if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return at
			}
			at = n.Content[i]
			n = resolveAlias(at)
		}
	}
	return at
}

// --- the projects: section of a conveyor.yaml ---

// loadProjects reads `projects:`, a list of projects in the CreateProject shape.
func loadProjects(cf *configFile, _, value *yaml.Node, _ pipeline.Providers) []*configResource {
	items, bad := sectionList(cf, "projects", value, "project", "projects (- name: …) in the CreateProject shape")
	if bad != nil {
		return []*configResource{bad}
	}
	names := declaredNames{}
	var out []*configResource
	for i, item := range items {
		label := fmt.Sprintf("projects[%d]", i)
		r := &configResource{kind: "project", name: label}
		out = append(out, r)
		pr := &projectReader{file: cf.name, prefix: label}
		if nameNode := mappingValue(resolveAlias(item), "name"); nameNode != nil && nameNode.Kind == yaml.ScalarNode && nameNode.Value != "" {
			r.name = nameNode.Value
		}
		p, ok := pr.readProject(item)
		if !ok {
			r.problems = pr.problems
			continue
		}
		where := locateField(item, "name")
		if msg, dup := names.again("project", p.Name, where.Line); dup {
			pr.at(where, "name", "%s", msg)
			r.problems = pr.problems
			continue
		}
		r.apply = func(ctx context.Context, env *applyEnv) (applyResult, error) { return applyProject(ctx, env, p) }
	}
	return out
}

// applyProject creates the project if it does not exist, updates it if it differs from the
// server's (ARN and dates aside), or leaves it alone.
func applyProject(ctx context.Context, env *applyEnv, p *build.Project) (applyResult, error) {
	cb, err := env.cfg.codeBuild()
	if err != nil {
		return applyResult{}, err
	}
	cur, found, err := fetchProject(ctx, cb, p.Name)
	if err != nil {
		return applyResult{}, err
	}
	if !found {
		if env.dryRun {
			return applyResult{Status: "would create"}, nil
		}
		if err := createProject(ctx, cb, p); err != nil {
			return applyResult{}, err
		}
		return applyResult{Status: "created"}, nil
	}
	changed := projectDiff(p, cur)
	switch {
	case len(changed) == 0:
		return applyResult{Status: "unchanged"}, nil
	case env.dryRun:
		return applyResult{Status: "would update", Changed: changed}, nil
	}
	if err := updateProject(ctx, cb, p, cur); err != nil {
		return applyResult{}, err
	}
	return applyResult{Status: "updated", Changed: changed}, nil
}

// fetchProject reads a project as the server stores it.
func fetchProject(ctx context.Context, cb *codebuild.Client, name string) (*build.Project, bool, error) {
	var cap responseCapture
	if _, err := cb.BatchGetProjects(ctx, &codebuild.BatchGetProjectsInput{Names: []string{name}}, captureCB(&cap)); err != nil {
		return nil, false, apiError(err)
	}
	raws := rawList(cap.response, "projects")
	if len(raws) == 0 {
		return nil, false, nil
	}
	var p build.Project
	if err := json.Unmarshal(raws[0], &p); err != nil {
		return nil, false, fmt.Errorf("read project %s: %w", name, err)
	}
	return &p, true, nil
}

// projectMap is a project as a JSON object.
func projectMap(p *build.Project) map[string]any {
	raw, _ := json.Marshal(p)
	m := map[string]any{}
	_ = json.Unmarshal(raw, &m)
	return m
}

// sdkInput fills a CodeBuild SDK input from a project's JSON object: the SDK's member names are
// the JSON member names with a capital letter, which encoding/json matches without regard to case.
func sdkInput(m map[string]any, in any) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, in); err != nil {
		return fmt.Errorf("convert the project for the CodeBuild API: %w", err)
	}
	return nil
}

func createProject(ctx context.Context, cb *codebuild.Client, p *build.Project) error {
	m := projectMap(p)
	delete(m, "arn")
	delete(m, "created")
	delete(m, "lastModified")
	var in codebuild.CreateProjectInput
	if err := sdkInput(m, &in); err != nil {
		return err
	}
	if _, err := cb.CreateProject(ctx, &in, cbNoInputValidation); err != nil {
		return apiError(err)
	}
	return nil
}

// updateProject makes the server's project equal to p. UpdateProject keeps the members a request
// leaves out, so members the server has and p has not are sent empty.
func updateProject(ctx context.Context, cb *codebuild.Client, p, cur *build.Project) error {
	m := projectMap(p)
	for k, v := range projectMap(cur) {
		if _, ok := m[k]; ok {
			continue
		}
		switch k {
		case "arn", "created", "lastModified":
			continue
		case "cache":
			m[k] = map[string]any{"type": build.CacheNone}
			continue
		}
		switch v.(type) {
		case string:
			m[k] = ""
		case float64:
			m[k] = 0
		case bool:
			m[k] = false
		case []any:
			m[k] = []any{}
		case map[string]any:
			m[k] = map[string]any{}
		}
	}
	delete(m, "arn")
	delete(m, "created")
	delete(m, "lastModified")
	var in codebuild.UpdateProjectInput
	if err := sdkInput(m, &in); err != nil {
		return err
	}
	if _, err := cb.UpdateProject(ctx, &in, cbNoInputValidation); err != nil {
		return apiError(err)
	}
	return nil
}

// projectDiff lists the paths where two projects differ, ignoring the ARN, the dates and members
// that are empty (an empty list, "", 0, false and no cache are the same as leaving them out).
func projectDiff(a, b *build.Project) []string {
	na, nb := normalizedProject(a), normalizedProject(b)
	var paths []string
	diffPaths(na, nb, "", &paths)
	const shown = 5
	if len(paths) > shown {
		paths = append(paths[:shown], fmt.Sprintf("… %d more", len(paths)-shown))
	}
	return paths
}

func normalizedProject(p *build.Project) any {
	m := projectMap(p)
	delete(m, "arn")
	delete(m, "created")
	delete(m, "lastModified")
	if c, ok := m["cache"].(map[string]any); ok && c["type"] == build.CacheNone {
		delete(m, "cache")
	}
	v, _ := dropEmpty(m)
	return v
}

// dropEmpty removes empty members; ok is false when v itself is empty.
func dropEmpty(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, false
	case string:
		return x, x != ""
	case float64:
		return x, x != 0
	case bool:
		return x, x
	case []any:
		out := []any{}
		for _, e := range x {
			e, _ = dropEmpty(e) // list items keep their places
			out = append(out, e)
		}
		return out, len(out) > 0
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e, ok := dropEmpty(e); ok {
				out[k] = e
			}
		}
		return out, len(out) > 0
	}
	return v, true
}

// --- conveyor projects ---

func projectsCommands() []subcommand {
	return []subcommand{
		{"create", "-f FILE", "create a project from a YAML or JSON file in the CreateProject shape", projectsCreate},
		{"update", "-f FILE", "make a project equal to the file (members left out are cleared)", projectsUpdate},
		{"get", "NAME", "print a project as YAML you can edit and give to update (--output json: the API's shape)", projectsGet},
		{"list", "", "list projects", projectsList},
		{"delete", "NAME", "delete a project (its builds are kept)", projectsDelete},
	}
}

func runProjects(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runGroup(ctx, "projects", projectsCommands(), args, out, errOut)
}

// readProjectFile reads and checks a file holding one project.
func readProjectFile(file string) (*build.Project, error) {
	data, err := readInput(file)
	if err != nil {
		return nil, err
	}
	name := file
	if file == "-" {
		name = "<stdin>"
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")), &doc); err != nil {
		return nil, failed("%s", yamlProblem(name, err))
	}
	if len(doc.Content) == 0 {
		return nil, failed("%s: the file is empty; expected a project (name:, source:, artifacts:, environment: …)", name)
	}
	root := doc.Content[0]
	if mappingValue(root, "projects") != nil {
		return nil, failed("%s is a conveyor.yaml (it has a projects: section); use conveyor apply -f %s", name, file)
	}
	pr := &projectReader{file: name}
	p, ok := pr.readProject(root)
	if !ok {
		return nil, failed("%s", joinProblems(pr.problems))
	}
	return p, nil
}

func projectsCreate(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("projects create -f FILE")
	file := c.String("f", "", "the project: YAML or JSON in the CreateProject shape; - reads standard input")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return c.usageError("-f FILE is required")
	}
	p, err := readProjectFile(*file)
	if err != nil {
		return err
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	if err := createProject(ctx, cb, p); err != nil {
		return err
	}
	if c.cfg.json() {
		cur, _, err := fetchProject(ctx, cb, p.Name)
		if err != nil {
			return err
		}
		return printJSON(out, map[string]any{"project": cur})
	}
	fmt.Fprintf(out, "created project %s\n", p.Name)
	return nil
}

func projectsUpdate(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("projects update -f FILE")
	file := c.String("f", "", "the project: YAML or JSON in the CreateProject shape; - reads standard input")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return c.usageError("-f FILE is required")
	}
	p, err := readProjectFile(*file)
	if err != nil {
		return err
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	cur, found, err := fetchProject(ctx, cb, p.Name)
	if err != nil {
		return err
	}
	if !found {
		return failed("project %s does not exist: create it with conveyor projects create -f %s", p.Name, *file)
	}
	changed := projectDiff(p, cur)
	if len(changed) > 0 {
		if err := updateProject(ctx, cb, p, cur); err != nil {
			return err
		}
	}
	if c.cfg.json() {
		now, _, err := fetchProject(ctx, cb, p.Name)
		if err != nil {
			return err
		}
		return printJSON(out, map[string]any{"project": now})
	}
	if len(changed) == 0 {
		fmt.Fprintf(out, "project %s is unchanged\n", p.Name)
		return nil
	}
	fmt.Fprintf(out, "updated project %s: %s\n", p.Name, strings.Join(changed, ", "))
	return nil
}

func projectsGet(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("projects get NAME")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	var cap responseCapture
	if _, err := cb.BatchGetProjects(ctx, &codebuild.BatchGetProjectsInput{Names: []string{pos[0]}}, captureCB(&cap)); err != nil {
		return apiError(err)
	}
	raws := rawList(cap.response, "projects")
	if len(raws) == 0 {
		return failed("project %s does not exist", pos[0])
	}
	if c.cfg.json() {
		return printRaw(out, raws[0])
	}
	var p build.Project
	if err := json.Unmarshal(raws[0], &p); err != nil {
		return err
	}
	fmt.Fprintf(out, "# project %s", p.Name)
	if p.LastModified != nil {
		fmt.Fprintf(out, ", modified %s", clock(time.UnixMilli(int64(*p.LastModified*1000))))
	}
	fmt.Fprintf(out, "\n# edit and run: conveyor projects update -f FILE\n")
	p.Arn, p.Created, p.LastModified = "", nil, nil
	return writeYAMLFromJSON(out, &p)
}

// writeYAMLFromJSON prints v as block YAML in its JSON member order.
func writeYAMLFromJSON(w io.Writer, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	var plain func(n *yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&doc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

func projectsList(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("projects list")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	var names []string
	var next *string
	for {
		res, err := cb.ListProjects(ctx, &codebuild.ListProjectsInput{NextToken: next})
		if err != nil {
			return apiError(err)
		}
		names = append(names, res.Projects...)
		if next = res.NextToken; aws.ToString(next) == "" {
			break
		}
	}
	if c.cfg.json() {
		return printJSON(out, map[string]any{"projects": append([]string{}, names...)})
	}
	if len(names) == 0 {
		fmt.Fprintln(out, "no projects; create one with conveyor projects create -f FILE or conveyor apply -f conveyor.yaml")
		return nil
	}
	var projects []build.Project
	for start := 0; start < len(names); start += 100 {
		var cap responseCapture
		if _, err := cb.BatchGetProjects(ctx, &codebuild.BatchGetProjectsInput{Names: names[start:min(start+100, len(names))]}, captureCB(&cap)); err != nil {
			return apiError(err)
		}
		for _, raw := range rawList(cap.response, "projects") {
			var p build.Project
			if err := json.Unmarshal(raw, &p); err == nil {
				projects = append(projects, p)
			}
		}
	}
	sort.Slice(projects, func(i, j int) bool { return projects[i].Name < projects[j].Name })
	g := &grid{}
	g.row("NAME", "SOURCE", "IMAGE", "COMPUTE TYPE", "MODIFIED")
	for _, p := range projects {
		mod := "-"
		if p.LastModified != nil {
			mod = clock(time.UnixMilli(int64(*p.LastModified * 1000)))
		}
		g.row(p.Name, p.Source.Type, p.Environment.Image, p.Environment.ComputeType, mod)
	}
	return g.write(out)
}

func projectsDelete(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("projects delete NAME")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	if _, err := cb.DeleteProject(ctx, &codebuild.DeleteProjectInput{Name: aws.String(pos[0])}); err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printJSON(out, map[string]any{"name": pos[0], "deleted": true})
	}
	fmt.Fprintf(out, "deleted project %s (its builds are kept)\n", pos[0])
	return nil
}
