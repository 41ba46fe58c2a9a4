package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the .golden files under testdata/errors")

// markerPos returns the line and column (in characters) where the n-th occurrence (from 1) of
// marker starts in data: the independent reference the positions of errors are checked against.
func markerPos(t *testing.T, data []byte, marker string, n int) Position {
	t.Helper()
	off := -1
	for i := 0; i < n; i++ {
		k := bytes.Index(data[off+1:], []byte(marker))
		if k < 0 {
			t.Fatalf("marker %q (#%d) not found", marker, n)
		}
		off += 1 + k
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	lineStart := bytes.LastIndexByte(before, '\n') + 1
	return Position{Line: line, Column: utf8.RuneCount(before[lineStart:]) + 1}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestErrorPositions checks that errors point at the offending text in YAML, JSON and
// tab-indented JSON versions of the same broken pipeline.
func TestErrorPositions(t *testing.T) {
	type expect struct {
		path   string
		marker string // text the error must point at
		msg    string
	}
	cases := []struct {
		file string
		want []expect
	}{
		{"errors/pipeline.yaml", []expect{
			{"stages[0].actions[0].configuration.PollForSourceChange", "PollForSourceChange:", "unknown configuration key"},
			{"stages[1].actions[0].inputArtifacts[0].name", "BuildOutput", `input artifact "BuildOutput" is not produced by any action`},
			{"stages[1].actions[0].configuration.DeploymentGroupName", `"#{Approval.Env}"`, `refers to namespace "Approval" of action "Approve"`},
		}},
		{"errors/pipeline.json", []expect{
			{"stages[0].actions[0].configuration.PollForSourceChange", `"PollForSourceChange"`, "unknown configuration key"},
			{"stages[1].actions[0].inputArtifacts[0].name", `"BuildOutput"`, "is not produced by any action"},
			{"stages[1].actions[0].configuration.DeploymentGroupName", `"#{Approval.Env}"`, "does not run before this action"},
		}},
		{"errors/pipeline-tabs.json", []expect{
			{"stages[0].actions[0].configuration.PollForSourceChange", `"PollForSourceChange"`, "unknown configuration key"},
			{"stages[1].actions[0].inputArtifacts[0].name", `"BuildOutput"`, "is not produced by any action"},
			{"stages[1].actions[0].configuration.DeploymentGroupName", `"#{Approval.Env}"`, "does not run before this action"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data := readTestdata(t, tc.file)
			_, _, err := ParseAndValidate(tc.file, data, testProviders())
			var errs ValidationErrors
			if !errors.As(err, &errs) {
				t.Fatalf("want ValidationErrors, got %v", err)
			}
			if len(errs) != len(tc.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), len(tc.want), errs)
			}
			for _, w := range tc.want {
				pos := markerPos(t, data, w.marker, 1)
				found := false
				for _, e := range errs {
					if e.Path != w.path {
						continue
					}
					found = true
					if e.Line != pos.Line || e.Column != pos.Column || e.File != tc.file {
						t.Errorf("%s: at %s:%d:%d, want %d:%d (%q)", w.path, e.File, e.Line, e.Column, pos.Line, pos.Column, w.marker)
					}
					if !strings.Contains(e.Message, w.msg) {
						t.Errorf("%s: message %q lacks %q", w.path, e.Message, w.msg)
					}
				}
				if !found {
					t.Errorf("no error at %s:\n%v", w.path, errs)
				}
			}
		})
	}
	// The tab-indented file really is tab-indented and the columns differ from the spaced one.
	tabs := readTestdata(t, "errors/pipeline-tabs.json")
	if !bytes.Contains(tabs, []byte("\n\t\t\"stages\"")) {
		t.Fatal("pipeline-tabs.json is not tab-indented")
	}
}

// TestErrorOutputGolden pins the complete output, as `conveyor validate` prints it, of every broken
// file under testdata/errors. Run with -update to rewrite the .golden files after a deliberate change.
func TestErrorOutputGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/errors/*.yaml")
	more, _ := filepath.Glob("testdata/errors/*.json")
	files = append(files, more...)
	if len(files) < 5 {
		t.Fatalf("expected the error fixtures, found %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := filepath.Base(f)
			_, _, err = ParseAndValidate(name, data, testProviders())
			if err == nil {
				t.Fatal("broken fixture accepted")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + filepath.Ext(f) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

func TestParseJSONAndYAMLAgree(t *testing.T) {
	dy, _, err := Parse("valid-v2.yaml", readTestdata(t, "valid-v2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dj, _, err := Parse("valid-v2.json", readTestdata(t, "valid-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dy, dj) {
		a, _ := json.MarshalIndent(dy, "", " ")
		b, _ := json.MarshalIndent(dj, "", " ")
		t.Fatalf("YAML and JSON differ:\n%s\n%s", a, b)
	}
	if dy.Stages[0].Actions[0].ActionTypeID.Version != "1" || dy.Stages[1].Actions[0].Configuration["EnvironmentVariables"] == "" {
		t.Fatalf("unexpected decode: %+v", dy.Stages[0].Actions[0])
	}
}

// normalizeJSON drops what omitempty drops: null, empty lists and empty objects. get-pipeline prints
// `"inputArtifacts": []`; the model treats that the same as leaving the field out.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if n := normalizeJSON(e); n != nil {
				out[k] = n
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeJSON(e)
		}
		return out
	default:
		return v
	}
}

func TestRoundTripGetPipeline(t *testing.T) {
	data := readTestdata(t, "get-pipeline.json")
	d, _, err := Parse("get-pipeline.json", data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var orig struct {
		Pipeline any `json:"pipeline"`
	}
	if err := json.Unmarshal(data, &orig); err != nil {
		t.Fatal(err)
	}
	var again any
	if err := json.Unmarshal(out, &again); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalizeJSON(orig.Pipeline), normalizeJSON(again)) {
		t.Fatalf("round trip changed the declaration:\n%s", out)
	}
	// And the marshalled form parses to the same declaration.
	d2, _, err := Parse("again.json", out)
	if err != nil {
		t.Fatal(err)
	}
	if out2, _ := json.Marshal(d2); !bytes.Equal(out, out2) {
		t.Fatalf("re-parse changed the declaration:\n%s\n%s", out, out2)
	}
}

func TestParseYAMLScalarsAndSourceMap(t *testing.T) {
	data := readTestdata(t, "valid-v1.yaml")
	d, sm, err := Parse("valid-v1.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	a := d.Stages[0].Actions[0]
	if a.ActionTypeID.Version != "1" || a.Configuration["PollForSourceChanges"] != "false" {
		t.Errorf("YAML scalars not taken literally: %+v", a)
	}
	if got := d.Stages[1].Actions[0].TimeoutInMinutes; got != 60 {
		t.Errorf("timeoutInMinutes = %d", got)
	}
	check := func(got Position, marker string, n int) {
		t.Helper()
		if want := markerPos(t, data, marker, n); got != want {
			t.Errorf("position %v, want %v (%q)", got, want, marker)
		}
	}
	p, ok := sm.Position("stages[0].actions[0].configuration.S3Bucket")
	if !ok {
		t.Fatal("no position for S3Bucket")
	}
	check(p, "my-bucket", 1)
	k, _ := sm.KeyPosition("stages[0].actions[0].configuration.S3Bucket")
	check(k, "S3Bucket", 1)
	check(sm.Nearest("stages[0].actions[0].configuration.NotThere"), "S3Bucket", 1) // the configuration mapping starts at its first key
	check(sm.Nearest("stages[1].actions[0].outputArtifacts[3].name"), "name: Review", 1)
	if root := sm.Nearest(""); root.Line != 2 || root.Column != 1 {
		t.Errorf("root at %v", root)
	}
	if _, ok := sm.Position("stages[9]"); ok {
		t.Error("position for a path that does not exist")
	}
	var nilMap *SourceMap
	if !nilMap.Nearest("x").IsZero() {
		t.Error("nil source map")
	}
}

func TestParseErrors(t *testing.T) {
	big := append([]byte("name: x\n#"), bytes.Repeat([]byte("x"), MaxDeclarationSize)...)
	cases := []struct {
		name      string
		src       string
		msg       string
		line, col int // 0: not checked
	}{
		{"too large", string(big), "may be at most 1048576 bytes", 0, 0},
		{"empty", "", "the file is empty", 0, 0},
		{"only comments", "# nothing\n", "the file is empty", 0, 0},
		{"blank JSON-ish", "   \n", "the file is empty", 0, 0},
		{"list", "- name: x\n", "must be an object (a YAML mapping), found a list", 1, 1},
		{"scalar", "hello\n", "found a string", 1, 1},
		{"JSON array", "[1, 2]", "found a list", 1, 1},
		{"JSON syntax", "{\n  \"name\": \"x\",\n  \"stages\": [}\n", "invalid JSON: invalid character '}' looking for beginning of value", 3, 14},
		{"JSON trailing data", "{\"name\": \"x\"}\n{}", "invalid character '{' after top-level value", 2, 1},
		{"JSON unterminated", "{\"name\": \"x\"", "invalid JSON: unexpected end of JSON input", 0, 0},
		{"JSON duplicate key", "{\n\t\"name\": \"a\",\n\t\"name\": \"b\"\n}", `duplicate key "name"`, 3, 2},
		{"JSON duplicate config key", `{"stages": [{"actions": [{"configuration": {"A": "1", "A": "2"}}]}]}`, `duplicate key "A"`, 1, 55},
		{"YAML syntax", "name: x\nstages:\n  - name: [unclosed\n", "invalid YAML", 0, 0},
		{"YAML tab indent", "name: x\nstages:\n\t- name: y\n", "invalid YAML", 3, 0},
		{"YAML duplicate key", "name: a\nstages: []\nname: b\n", `duplicate key "name"`, 3, 1},
		{"YAML two documents", "name: a\n---\nname: b\n", "more than one YAML document", 0, 0},
		{"YAML custom tag", "name: !Ref PipelineName\n", "unsupported YAML tag !Ref", 1, 7},
		{"YAML recursive alias", "name: x\nstages: &s [*s]\n", "refers to itself", 2, 13},
		{"YAML unknown alias", "name: *nope\n", "invalid YAML", 0, 0},
		{"YAML deep", "name: x\nstages: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n", "nested more than 32 levels", 0, 0},
		{"JSON deep", "{\"stages\": " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "}", "nested more than 32 levels", 0, 0},
		{"JSON very deep", "{\"a\": " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "}", "invalid JSON", 0, 0},
		{"YAML very deep", "a: " + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + "\n", "invalid YAML", 0, 0},
		{"wrapped pipeline not an object", `{"pipeline": "x", "metadata": {}}`, `"pipeline" must be an object`, 1, 14},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, sm, err := Parse("f", []byte(tc.src))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want *ParseError, got %T %v", err, err)
			}
			if d != nil || sm != nil {
				t.Error("declaration returned with a ParseError")
			}
			if !strings.Contains(pe.Message, tc.msg) || pe.File != "f" {
				t.Errorf("message %q lacks %q", pe.Error(), tc.msg)
			}
			if tc.line != 0 && (pe.Line != tc.line || (tc.col != 0 && pe.Column != tc.col)) {
				t.Errorf("at %d:%d, want %d:%d (%s)", pe.Line, pe.Column, tc.line, tc.col, pe.Error())
			}
		})
	}
}

// TestParseFieldErrors covers problems Parse reports as ValidationErrors: the file is readable but
// fields are unknown or of the wrong type.
func TestParseFieldErrors(t *testing.T) {
	cases := []struct {
		name   string
		src    string
		path   string
		msg    string
		marker string // where the error must point; "" = not checked
	}{
		{"unknown field typo", "name: x\nstagess: []\n", "stagess", `unknown field "stagess" (did you mean "stages"?)`, "stagess"},
		{"unknown field", `{"name": "é", "colour": 1}`, "colour", `unknown field "colour"; allowed fields here: name, roleArn, artifactStore`, `"colour"`},
		{"unknown action field", "stages:\n  - actions:\n      - {name: a, timeout: 5}\n", "stages[0].actions[0].timeout", `unknown field "timeout"; allowed fields here: name, actionTypeId`, "timeout"},
		{"wrapper extra key", "{\"pipeline\": {\"name\": \"x\"},\n \"tags\": []}", "", `unknown field "tags" next to "pipeline"`, `"tags"`},
		{"JSON bool config", `{"stages": [{"actions": [{"configuration": {"PollForSourceChanges": false}}]}]}`,
			"stages[0].actions[0].configuration.PollForSourceChanges", `must be a string: write "false" in quotes`, "false"},
		{"JSON number config", `{"stages": [{"actions": [{"configuration": {"Port": 8080}}]}]}`, "stages[0].actions[0].configuration.Port", `write "8080" in quotes`, "8080"},
		{"JSON null config", `{"stages": [{"actions": [{"configuration": {"A": null}}]}]}`, "stages[0].actions[0].configuration.A", "must be a string, found null", "null"},
		{"JSON object config", `{"stages": [{"actions": [{"configuration": {"A": {}}}]}]}`, "stages[0].actions[0].configuration.A", "must be a string, found an object", ""},
		{"JSON version number", `{"stages": [{"actions": [{"actionTypeId": {"version": 1}}]}]}`, "stages[0].actions[0].actionTypeId.version", `write "1" in quotes`, ""},
		{"JSON runOrder string", `{"stages": [{"actions": [{"runOrder": "1"}]}]}`, "stages[0].actions[0].runOrder", "must be a whole number, found a string", `"1"`},
		{"runOrder fraction", `{"stages": [{"actions": [{"runOrder": 1.5}]}]}`, "stages[0].actions[0].runOrder", `must be a whole number, found "1.5"`, ""},
		{"runOrder huge", "stages: [{actions: [{runOrder: 99999999999}]}]", "stages[0].actions[0].runOrder", "must be a whole number", ""},
		{"YAML runOrder word", "stages: [{actions: [{runOrder: first}]}]", "stages[0].actions[0].runOrder", `must be a whole number, found "first"`, "first"},
		{"YAML list for object", "stages: [{actions: [{actionTypeId: [a]}]}]", "stages[0].actions[0].actionTypeId", "must be an object, found a list", ""},
		{"YAML object for list", "stages: {name: x}\n", "stages", "must be a list, found an object", ""},
		{"YAML map for string", "name: {a: b}\n", "name", "must be a string, found an object", ""},
		{"YAML map for config", "stages: [{actions: [{configuration: [a]}]}]", "stages[0].actions[0].configuration", "must be an object, found a list", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, sm, err := Parse("f", []byte(tc.src))
			var errs ValidationErrors
			if !errors.As(err, &errs) {
				t.Fatalf("want ValidationErrors, got %T %v", err, err)
			}
			if d == nil || sm == nil {
				t.Error("partial declaration and source map must come with field errors")
			}
			if len(errs) != 1 || errs[0].Path != tc.path || !strings.Contains(errs[0].Message, tc.msg) {
				t.Fatalf("got %v; want %s: %s", errs, tc.path, tc.msg)
			}
			if tc.marker != "" {
				want := markerPos(t, []byte(tc.src), tc.marker, 1)
				if errs[0].Line != want.Line || errs[0].Column != want.Column {
					t.Errorf("at %d:%d, want %v", errs[0].Line, errs[0].Column, want)
				}
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	cases := []struct {
		name  string
		src   string
		check func(*Declaration) bool
	}{
		{"BOM JSON", "\xef\xbb\xbf{\"name\": \"x\"}", func(d *Declaration) bool { return d.Name == "x" }},
		{"BOM YAML", "\xef\xbb\xbfname: x\n", func(d *Declaration) bool { return d.Name == "x" }},
		{"CRLF YAML", "name: x\r\nversion: 3\r\n", func(d *Declaration) bool { return d.Name == "x" && d.Version == 3 }},
		{"YAML flow mapping", "{name: x, version: 2}", func(d *Declaration) bool { return d.Name == "x" && d.Version == 2 }},
		{"JSON nulls", `{"name": "x", "roleArn": null, "stages": null, "variables": null}`, func(d *Declaration) bool { return d.Name == "x" && d.Stages == nil }},
		{"YAML literal scalars", "stages: [{actions: [{configuration: {A: 1.10, B: 0x1F, C: yes, D: true, E: 2024-01-02, F: ~}}]}]",
			func(d *Declaration) bool {
				c := d.Stages[0].Actions[0].Configuration
				return c["A"] == "1.10" && c["B"] == "0x1F" && c["C"] == "yes" && c["D"] == "true" && c["E"] == "2024-01-02" && c["F"] == ""
			}},
		{"YAML quoted runOrder", `stages: [{actions: [{runOrder: "2"}]}]`, func(d *Declaration) bool { return d.Stages[0].Actions[0].RunOrder == 2 }},
		{"unknown top-level key holding anchors", "defaults: &d\n  category: Build\n", nil}, // nil check: must be rejected
		{"YAML anchors and merge", `stages:
  - name: A
    actions:
      - name: one
        actionTypeId: &build {category: Build, owner: AWS, provider: CodeBuild, version: "1"}
        configuration: &cfg {ProjectName: p, PrimarySource: src}
      - name: two
        actionTypeId: *build
        configuration:
          <<: *cfg
          ProjectName: q
`, func(d *Declaration) bool {
			a, b := d.Stages[0].Actions[0], d.Stages[0].Actions[1]
			return a.ActionTypeID == b.ActionTypeID && b.ActionTypeID.Provider == "CodeBuild" &&
				b.Configuration["ProjectName"] == "q" && b.Configuration["PrimarySource"] == "src" && a.Configuration["ProjectName"] == "p"
		}},
		{"wrapped YAML", "pipeline:\n  name: x\nmetadata:\n  pipelineArn: arn\n  created: 2024-01-01\n", func(d *Declaration) bool { return d.Name == "x" }},
		{"every model field", allFieldsYAML, func(d *Declaration) bool {
			s := d.Stages[1]
			a := s.Actions[0]
			return d.ArtifactStores["us-east-1"].EncryptionKey.ID == "k" && d.Triggers[0].GitConfiguration.Push[0].Tags.Excludes[0] == "x" &&
				s.Blockers[0].Type == "Schedule" && s.OnFailure.RetryConfiguration.RetryMode == "ALL_ACTIONS" &&
				s.OnSuccess.Conditions[0].Rules[0].InputArtifacts[0].Name == "S" && s.BeforeEntry.Conditions[0].Rules[0].RoleArn != "" &&
				a.OutputArtifacts[0].Files[0] == "f" && a.EnvironmentVariables[0].Type == "PLAINTEXT" && a.OutputVariables[0] == "V" &&
				a.Region == "us-east-1" && a.RoleArn != "" && a.Commands[0] == "ls" && a.TimeoutInMinutes == 10
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _, err := Parse("f", []byte(tc.src))
			if tc.check == nil {
				if err == nil {
					t.Fatal("unknown top-level field accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(d) {
				got, _ := json.Marshal(d)
				t.Errorf("unexpected declaration: %s", got)
			}
		})
	}
}

// allFieldsYAML sets every field of the CodePipeline model at least once.
const allFieldsYAML = `
name: all
roleArn: arn:aws:iam::123456789012:role/r
artifactStores:
  us-east-1: {type: S3, location: bucket, encryptionKey: {id: k, type: KMS}}
version: 4
pipelineType: V2
executionMode: PARALLEL
variables: [{name: V, defaultValue: d, description: x}]
triggers:
  - providerType: CodeStarSourceConnection
    gitConfiguration:
      sourceActionName: S
      push: [{tags: {includes: [v*], excludes: [x]}, branches: {includes: [main]}, filePaths: {excludes: ["*.md"]}}]
      pullRequest: [{events: [OPEN], branches: {includes: [main]}, filePaths: {includes: [src/**]}}]
stages:
  - name: Source
    actions: [{name: S, actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}, outputArtifacts: [{name: S}]}]
  - name: Run
    blockers: [{name: b, type: Schedule}]
    onFailure: {result: RETRY, retryConfiguration: {retryMode: ALL_ACTIONS}}
    onSuccess:
      conditions: [{result: FAIL, rules: [{name: r, ruleTypeId: {category: Rule, owner: AWS, provider: CodeBuild, version: "1"}, configuration: {ProjectName: p}, commands: [ls], inputArtifacts: [{name: S}], region: us-east-1, timeoutInMinutes: 5}]}]
    beforeEntry:
      conditions: [{result: SKIP, rules: [{name: r, ruleTypeId: {category: Rule, provider: LambdaInvoke}, roleArn: "arn:aws:iam::123456789012:role/r"}]}]
    actions:
      - name: Run
        actionTypeId: {category: Compute, owner: AWS, provider: Commands, version: "1"}
        runOrder: 2
        configuration: {K: v}
        commands: [ls]
        outputArtifacts: [{name: O, files: [f]}]
        inputArtifacts: [{name: S}]
        outputVariables: [V]
        roleArn: arn:aws:iam::123456789012:role/r
        region: us-east-1
        namespace: N
        timeoutInMinutes: 10
        environmentVariables: [{name: E, value: v, type: PLAINTEXT}]
`

// TestParseAndValidateMerges checks that field errors from Parse and rule errors from Validate come
// together, without a second message for a field Parse already rejected.
func TestParseAndValidateMerges(t *testing.T) {
	data := readTestdata(t, "errors/parse-errors.json")
	_, _, err := ParseAndValidate("parse-errors.json", data, testProviders())
	var errs ValidationErrors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v", err)
	}
	out := errs.Error()
	for _, want := range []string{
		`parse-errors.json:3:3: stagess: unknown field "stagess" (did you mean "stages"?)`,
		`stages[0].actions[0].actionTypeId.version: must be a string: write "1" in quotes`,
		`stages[0].actions[0].runOrder: must be a whole number, found a string`,
		`stages[0].actions[0].configuration.PollForSourceChanges: must be a string: write "false" in quotes`,
		`stages[0].actions[0].outputArtifact: unknown field "outputArtifact" (did you mean "outputArtifacts"?)`,
		`parse-errors.json:17:14: stages[1].name: stage name "Approve stage" contains characters that are not allowed`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "version is required") {
		t.Errorf("Validate's message for a field Parse rejected was kept:\n%s", out)
	}
	if d, sm, err := ParseAndValidate("v.yaml", readTestdata(t, "valid-v1.yaml"), testProviders()); err != nil || d == nil || sm == nil {
		t.Errorf("valid file: %v", err)
	}
	if _, _, err := ParseAndValidate("x", []byte("- a"), testProviders()); !errors.As(err, new(*ParseError)) {
		t.Errorf("want ParseError, got %v", err)
	}
}

// TestHostileInputIsCheap: refusing an attack must cost little, not merely be eventually correct.
func TestHostileInputIsCheap(t *testing.T) {
	laughs := "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs += n + ": &" + n + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
		prev = n
	}
	laughs = "metadata:\n" + indent(laughs) + "pipeline:\n  name: *i\n"
	oneLine := "{\"name\": \"x\", \"stages\": [" + strings.Repeat(`{"name": "s", "actions": []},`, 25000) + `{"name": "s", "actions": []}]}`
	inputs := map[string]string{
		"billion laughs":         laughs,
		"deep YAML":              strings.Repeat("- ", 5000) + "x\n",
		"deep JSON":              "{\"a\":" + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "}",
		"1 MiB on one line":      oneLine,
		"many values":            "{\"stages\": [" + strings.Repeat("0,", 400000) + "0]}",
		"many errors":            "{\"stages\": [" + strings.Repeat(`{"actions": [{"inputArtifacts": [{"name": "x"}]}]},`, 15000) + "{}]}",
		"long hostile key names": "{\"" + strings.Repeat("k", 500000) + "\": 1}",
		"parse and rule errors":  "{\"stages\": [" + strings.Repeat(`{"x": 1, "actions": [{"y": 1, "inputArtifacts": [{"name": "x"}]}]},`, 12000) + "{}]}",
	}
	for name, src := range inputs {
		t.Run(name, func(t *testing.T) {
			if len(src) > MaxDeclarationSize {
				t.Fatalf("fixture is %d bytes", len(src))
			}
			// Work, not wall-clock time, is what an attack blows up: bound the bytes allocated
			// (linear in the 1 MiB input cap) and keep a generous guard against hangs. Speed
			// itself belongs in benchmarks.
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			done := make(chan error, 1)
			go func() { _, _, err := ParseAndValidate("f", []byte(src), testProviders()); done <- err }()
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				t.Fatal("parsing did not finish: a hostile input must be refused, not worked on")
			}
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<30 {
				t.Errorf("parsing allocated %d MiB; hostile input must cost work linear in its size", alloc>>20)
			}
		})
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

// TestDocsExamples keeps docs/pipelines.md honest: every YAML and JSON example in it parses and
// validates, and the YAML and JSON versions of the complete example are the same declaration.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "pipelines.md"))
	if err != nil {
		t.Skipf("docs not found: %v", err)
	}
	var decls []*Declaration
	parts := strings.Split(string(doc), "```")
	for i := 1; i < len(parts); i += 2 {
		lang, body, _ := strings.Cut(parts[i], "\n")
		if lang != "yaml" && lang != "json" {
			continue
		}
		d, sm, err := Parse("pipelines.md#"+lang, []byte(body))
		if err != nil {
			t.Fatalf("example %d (%s) does not parse:\n%v", len(decls), lang, err)
		}
		if err := Validate(d, testProviders(), sm); err != nil {
			t.Fatalf("example %d (%s) does not validate:\n%v", len(decls), lang, err)
		}
		decls = append(decls, d)
	}
	if len(decls) != 4 {
		t.Fatalf("found %d examples, want 4", len(decls))
	}
	if !reflect.DeepEqual(decls[0], decls[1]) {
		a, _ := json.MarshalIndent(decls[0], "", " ")
		b, _ := json.MarshalIndent(decls[1], "", " ")
		t.Errorf("the YAML and JSON examples differ:\n%s\n%s", a, b)
	}
}
