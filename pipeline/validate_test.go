package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/executor"
)

// testProviders mirrors aws-formats.md §4.5 for the providers the validator is tested against. The
// executors are nil: validation must never run anything.
func testProviders() *executor.Registry {
	boolKey := func(keys ...string) func(map[string]string) map[string]string {
		return func(cfg map[string]string) map[string]string {
			out := map[string]string{}
			for _, k := range keys {
				if v, ok := cfg[k]; ok && v != "true" && v != "false" {
					out[k] = fmt.Sprintf("%s must be \"true\" or \"false\", found %q", k, v)
				}
			}
			return out
		}
	}
	r := executor.NewRegistry()
	r.Register(executor.Spec{
		Type:           executor.ActionType{Category: "Source", Owner: "AWS", Provider: "S3"},
		RequiredConfig: []string{"S3Bucket", "S3ObjectKey"},
		OptionalConfig: []string{"PollForSourceChanges"},
		MinOutputs:     1, MaxOutputs: 1,
		ValidateConfig: boolKey("PollForSourceChanges"),
	}, nil)
	r.Register(executor.Spec{
		Type:           executor.ActionType{Category: "Approval", Owner: "AWS", Provider: "Manual"},
		OptionalConfig: []string{"CustomData", "ExternalEntityLink", "NotificationArn"},
	}, nil)
	for _, cat := range []string{"Build", "Test"} {
		r.Register(executor.Spec{
			Type:           executor.ActionType{Category: cat, Owner: "AWS", Provider: "CodeBuild"},
			RequiredConfig: []string{"ProjectName"},
			OptionalConfig: []string{"PrimarySource", "BatchEnabled", "CombineArtifacts", "EnvironmentVariables"},
			MinInputs:      1, MaxInputs: 5, MinOutputs: 0, MaxOutputs: 5,
			ValidateConfig: boolKey("BatchEnabled", "CombineArtifacts"),
		}, nil)
	}
	r.Register(executor.Spec{
		Type:           executor.ActionType{Category: "Deploy", Owner: "AWS", Provider: "CodeDeploy"},
		RequiredConfig: []string{"ApplicationName", "DeploymentGroupName"},
		MinInputs:      1, MaxInputs: 1,
	}, nil)
	r.Register(executor.Spec{
		Type:           executor.ActionType{Category: "Source", Owner: "AWS", Provider: "CodeStarSourceConnection"},
		RequiredConfig: []string{"ConnectionArn", "FullRepositoryId", "BranchName"},
		OptionalConfig: []string{"OutputArtifactFormat", "DetectChanges"},
		MinOutputs:     1, MaxOutputs: 1,
		ValidateConfig: func(cfg map[string]string) map[string]string {
			out := boolKey("DetectChanges")(cfg)
			if f, ok := cfg["OutputArtifactFormat"]; ok && f != "CODE_ZIP" && f != "CODEBUILD_CLONE_REF" {
				out["OutputArtifactFormat"] = "OutputArtifactFormat must be CODE_ZIP or CODEBUILD_CLONE_REF"
			}
			return out
		},
	}, nil)
	r.Register(executor.Spec{
		Type:      executor.ActionType{Category: "Compute", Owner: "AWS", Provider: "Commands"},
		MinInputs: 1, MaxInputs: 10, MaxOutputs: 1,
	}, nil)
	return r
}

// Compact YAML builders: each test case is a small declaration in flow style.

func act(name, typ, extra string) string {
	p := strings.Split(typ, "/")
	s := fmt.Sprintf(`{name: %s, actionTypeId: {category: %s, owner: %s, provider: %s, version: "1"}`, name, p[0], p[1], p[2])
	if extra != "" {
		s += ", " + extra
	}
	return s + "}"
}

func stage(name string, actions ...string) string { return stageX(name, "", actions...) }

func stageX(name, extra string, actions ...string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf("  - {name: %s%s, actions: [%s]}\n", name, extra, strings.Join(actions, ", "))
}

func decl(top string, stages ...string) string {
	return "name: P\n" + top + "stages:\n" + strings.Join(stages, "")
}

var (
	s3Src       = act("Src", "Source/AWS/S3", `configuration: {S3Bucket: b, S3ObjectKey: k.zip}, outputArtifacts: [{name: SourceArtifact}], namespace: SrcVars`)
	manual      = act("Approve", "Approval/AWS/Manual", "")
	codestarSrc = act("Source", "Source/AWS/CodeStarSourceConnection", `configuration: {ConnectionArn: arn, FullRepositoryId: o/r, BranchName: main}, outputArtifacts: [{name: SourceArtifact}], namespace: SrcVars`)
	srcStage    = stage("Source", s3Src)
	csStage     = stage("Source", codestarSrc)
	v2          = "pipelineType: V2\n"
)

func build(name, extra string) string {
	s := `configuration: {ProjectName: p}, inputArtifacts: [{name: SourceArtifact}]`
	if extra != "" {
		s += ", " + extra
	}
	return act(name, "Build/AWS/CodeBuild", s)
}

func deploy(name, in string) string {
	return act(name, "Deploy/AWS/CodeDeploy", fmt.Sprintf(`configuration: {ApplicationName: a, DeploymentGroupName: g}, inputArtifacts: [{name: %s}]`, in))
}

// trig builds a V2 pipeline with a CodeStar source and the given triggers block.
func trig(triggers string) string {
	return decl(v2+"triggers:\n"+triggers, csStage, stage("Approve", manual))
}

type wantErr struct{ path, msg string }

type validateCase struct {
	name string
	src  string
	want []wantErr // every error expected, no more
}

func runValidateCases(t *testing.T, cases []validateCase) {
	t.Helper()
	reg := testProviders()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, sm, err := Parse("case.yaml", []byte(tc.src))
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, tc.src)
			}
			err = Validate(d, reg, sm)
			var got ValidationErrors
			if err != nil && !errors.As(err, &got) {
				t.Fatalf("Validate returned %T: %v", err, err)
			}
			for _, w := range tc.want {
				found := false
				for _, e := range got {
					if e.Path == w.path && strings.Contains(e.Message, w.msg) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("missing error %s: …%s…\ngot:\n%v\nsource:\n%s", w.path, w.msg, got, tc.src)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(got), len(tc.want), got)
			}
			for _, e := range got {
				if e.Line == 0 || e.File != "case.yaml" {
					t.Errorf("error without position: %#v", e)
				}
			}
		})
	}
}

func TestValidateValidFiles(t *testing.T) {
	reg := testProviders()
	for _, f := range []string{"valid-v1.yaml", "valid-v2.yaml", "valid-v2.json", "get-pipeline.json"} {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			d, sm, err := Parse(f, data)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if err := Validate(d, reg, sm); err != nil {
				t.Fatalf("valid declaration rejected:\n%v", err)
			}
		})
	}
}

func TestValidateValidCompact(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"V1 S3 then Manual", decl("", srcStage, stage("Approve", manual)), nil},
		{"V2 CodeStar build deploy", decl(v2, csStage, stage("Build", build("Build", "outputArtifacts: [{name: Out}]")), stage("Deploy", deploy("Deploy", "Out"))), nil},
		{"same stage lower runOrder", decl("", srcStage, stage("B",
			build("Build", "runOrder: 1, outputArtifacts: [{name: Out}], namespace: B"),
			act("Test", "Test/AWS/CodeBuild", `runOrder: 2, configuration: {ProjectName: "#{B.X}"}, inputArtifacts: [{name: Out}]`))), nil},
		{"runOrder gaps and 999", decl("", srcStage, stage("B", act("A", "Approval/AWS/Manual", "runOrder: 999"), act("C", "Approval/AWS/Manual", "runOrder: 5"))), nil},
		{"ROLLBACK accepted", decl(v2, csStage, stageX("Deploy", "onFailure: {result: ROLLBACK}", manual)), nil},
		{"QUEUED V2", decl(v2+"executionMode: QUEUED\n", srcStage, stage("A", manual)), nil},
		{"PARALLEL V2", decl(v2+"executionMode: PARALLEL\n", srcStage, stage("A", manual)), nil},
		{"SUPERSEDED V1", decl("executionMode: SUPERSEDED\n", srcStage, stage("A", manual)), nil},
		{"artifactStores map", decl("artifactStores: {us-east-1: {type: S3, location: bucket-1}, eu-west-1: {type: S3, location: bucket-2}}\n", srcStage, stage("A", manual)), nil},
		{"commands action V2", decl(v2, csStage, stage("Run", act("Run", "Compute/AWS/Commands",
			`commands: [make test], outputVariables: [RESULT], environmentVariables: [{name: GOFLAGS, value: "-mod=mod"}], inputArtifacts: [{name: SourceArtifact}], outputArtifacts: [{name: Out, files: ["bin/*"]}]`))), nil},
		{"trigger", trig("  - {providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Source, pullRequest: [{events: [OPEN, UPDATED, CLOSED]}]}}\n"), nil},
		{"all reserved references", decl(v2+"variables: [{name: ENV}]\n", srcStage, stage("A",
			act("Approve", "Approval/AWS/Manual", `configuration: {CustomData: "#{codepipeline.PipelineExecutionId} #{variables.ENV} #{SrcVars.VersionId}"}`))), nil},
		{"conditions", decl(v2, csStage, stageX("D",
			`beforeEntry: {conditions: [{result: SKIP, rules: [{name: R, ruleTypeId: {category: Rule, owner: AWS, provider: VariableCheck, version: "1"}, configuration: {Variable: x, Operator: MATCHES, Value: "x|y"}}]}]}, onSuccess: {conditions: [{result: FAIL, rules: [{name: R1, ruleTypeId: {category: Rule, provider: VariableCheck}, configuration: {Variable: "#{codepipeline.PipelineExecutionId}", Operator: NE, Value: none}}, {name: R2, ruleTypeId: {category: Rule, provider: DeploymentWindow}, configuration: {Cron: "* * 9-17 ? * MON-FRI *", TimeZone: Europe/Berlin}, timeoutInMinutes: 60}]}]}, onFailure: {conditions: [{result: ROLLBACK, rules: [{name: R, ruleTypeId: {category: Rule, provider: DeploymentWindow}, configuration: {Cron: "* * * ? * SAT,SUN", TimeZone: "UTC+05:30"}}]}]}`,
			manual)), nil},
	})
}

func TestValidatePipelineRules(t *testing.T) {
	ok := []string{srcStage, stage("A", manual)}
	runValidateCases(t, []validateCase{
		{"name missing", "stages:\n" + strings.Join(ok, ""), []wantErr{{"name", "pipeline name is required"}}},
		{"name chars", strings.Replace(decl("", ok...), "name: P", "name: my pipeline", 1), []wantErr{{"name", `pipeline name "my pipeline" contains characters that are not allowed; use letters, digits, '.', '@', '-' and '_'`}}},
		{"name length", strings.Replace(decl("", ok...), "name: P", "name: "+strings.Repeat("p", 101), 1), []wantErr{{"name", "is 101 characters long; use 1 to 100"}}},
		{"roleArn", decl("roleArn: arn:aws:iam::12:user/x\n", ok...), []wantErr{{"roleArn", "is not an IAM role ARN"}}},
		{"roleArn china partition ok", decl("roleArn: arn:aws-cn:iam::123456789012:role/r\n", ok...), nil},
		{"both stores", decl("artifactStore: {type: S3, location: bucket}\nartifactStores: {us-east-1: {type: S3, location: bucket}}\n", ok...), []wantErr{{"artifactStores", "cannot both be set"}}},
		{"store type", decl("artifactStore: {type: GCS, location: bucket}\n", ok...), []wantErr{{"artifactStore.type", `artifact store type "GCS" is not valid; use one of S3`}}},
		{"store location short", decl("artifactStore: {type: S3, location: ab}\n", ok...), []wantErr{{"artifactStore.location", "use 3 to 63"}}},
		{"store location chars", decl("artifactStore: {type: S3, location: my_bucket}\n", ok...), []wantErr{{"artifactStore.location", "not allowed; use letters, digits, '-' and '.'"}}},
		{"store location missing", decl("artifactStore: {type: S3}\n", ok...), []wantErr{{"artifactStore.location", "location is required"}}},
		{"store encryption", decl("artifactStore: {type: S3, location: bucket, encryptionKey: {id: k, type: AES}}\n", ok...), []wantErr{{"artifactStore.encryptionKey.type", "use one of KMS"}}},
		{"stores region key", decl("artifactStores: {x: {type: S3, location: bucket}}\n", ok...), []wantErr{{"artifactStores.x", "region name of 4 to 30"}}},
		{"version negative", decl("version: -1\n", ok...), []wantErr{{"version", "must be 1 or greater"}}},
		{"pipelineType", decl("pipelineType: V3\n", ok...), []wantErr{{"pipelineType", `pipelineType "V3" is not valid; use one of V1, V2`}}},
		{"QUEUED needs V2", decl("executionMode: QUEUED\n", ok...), []wantErr{{"executionMode", "executionMode QUEUED requires pipelineType V2 (this pipeline is V1)"}}},
		{"PARALLEL needs V2", decl("pipelineType: V1\nexecutionMode: PARALLEL\n", ok...), []wantErr{{"executionMode", "requires pipelineType V2"}}},
		{"executionMode unknown", decl(v2+"executionMode: queued\n", ok...), []wantErr{{"executionMode", `(did you mean "QUEUED"?)`}}},
		{"one stage", decl("", srcStage), []wantErr{{"stages", "a pipeline needs 2 to 50 stages, found 1"}, {"stages", "at least one action that is not a source action"}}},
		{"no stages", decl(""), []wantErr{{"stages", "2 to 50 stages, found 0"}}},
		{"51 stages", decl("", append([]string{srcStage}, manyStages(50)...)...), []wantErr{{"stages", "2 to 50 stages, found 51"}}},
		{"50 stages ok", decl("", append([]string{srcStage}, manyStages(49)...)...), nil},
	})
}

func manyStages(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = stage(fmt.Sprintf("S%d", i), manual)
	}
	return out
}

func TestValidateStageRules(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"duplicate stage", decl("", srcStage, stage("A", manual), stage("A", manual)), []wantErr{{"stages[2].name", `stage name "A" is already used by stages[1]; stage names must be unique`}}},
		{"stage name chars", decl("", srcStage, stage(`"Build Stage"`, manual)), []wantErr{{"stages[1].name", "not allowed"}}},
		{"stage name missing", decl("", srcStage, "  - {actions: ["+manual+"]}\n"), []wantErr{{"stages[1].name", "stage name is required"}}},
		{"no actions", decl("", srcStage, stage("A"), stage("B", manual)), []wantErr{{"stages[1].actions", "a stage needs 1 to 50 actions, found 0"}}},
		{"51 actions", decl("", srcStage, stage("A", manyManual(51)...)), []wantErr{{"stages[1].actions", "1 to 50 actions, found 51"}}},
		{"first stage non-source", decl("", stage("Source", s3Src, manual), stage("B", act("M", "Approval/AWS/Manual", ""))),
			[]wantErr{{"stages[0].actions[1].actionTypeId.category", `the first stage may contain only source actions; move Approval action "Approve" to a later stage`}}},
		{"first stage without source", decl("", stage("Source", manual), stage("B", act("M", "Approval/AWS/Manual", ""))),
			[]wantErr{{"stages[0].actions[0].actionTypeId.category", "the first stage may contain only source actions"}}},
		{"source in later stage", decl("", srcStage, stage("B", manual, act("Src2", "Source/AWS/S3", `configuration: {S3Bucket: b, S3ObjectKey: k}, outputArtifacts: [{name: Other}]`))),
			[]wantErr{{"stages[1].actions[1].actionTypeId.category", `only the first stage may contain source actions; move source action "Src2" to stage "Source"`}}},
		{"only sources", decl("", srcStage, stage("B", act("Src2", "Source/AWS/S3", `configuration: {S3Bucket: b, S3ObjectKey: k}, outputArtifacts: [{name: Other}]`))),
			[]wantErr{{"stages[1].actions[0].actionTypeId.category", "only the first stage"}, {"stages", "at least one action that is not a source action"}}},
		{"blocker", decl("", srcStage, stageX("A", "blockers: [{name: B, type: Cron}]", manual)), []wantErr{{"stages[1].blockers[0].type", "use one of Schedule"}}},
		{"duplicate action", decl("", srcStage, stage("A", manual, manual)), []wantErr{{"stages[1].actions[1].name", `action name "Approve" is already used by stages[1].actions[0]`}}},
		{"same action name in other stage ok", decl("", srcStage, stage("A", manual), stage("B", manual)), nil},
	})
}

func manyManual(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = act(fmt.Sprintf("M%d", i), "Approval/AWS/Manual", "")
	}
	return out
}

func TestValidateActionRules(t *testing.T) {
	with := func(a string) string { return decl(v2, csStage, stage("A", a)) }
	runValidateCases(t, []validateCase{
		{"action name chars", with(act(`"My Action"`, "Approval/AWS/Manual", "")), []wantErr{{"stages[1].actions[0].name", `action name "My Action" contains characters`}}},
		{"action name missing", with(`{actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}}`), []wantErr{{"stages[1].actions[0].name", "action name is required"}}},
		{"category typo", with(act("B", "Bild/AWS/CodeBuild", `configuration: {ProjectName: p}, inputArtifacts: [{name: SourceArtifact}]`)),
			[]wantErr{{"stages[1].actions[0].actionTypeId.category", `category "Bild" is not valid (did you mean "Build"?); use one of Source, Build, Deploy, Test, Invoke, Approval, Compute`}}},
		{"owner", with(act("M", "Approval/Amazon/Manual", "")), []wantErr{{"stages[1].actions[0].actionTypeId.owner", "use one of AWS, ThirdParty, Custom"}}},
		{"provider chars", with(act("M", "Approval/AWS/Man.ual", "")), []wantErr{{"stages[1].actions[0].actionTypeId.provider", `provider "Man.ual" is not valid; use 1 to 35 letters, digits, '-' and '_'`}}},
		{"provider long", with(act("M", "Approval/AWS/"+strings.Repeat("M", 36), "")), []wantErr{{"stages[1].actions[0].actionTypeId.provider", "1 to 35"}}},
		{"type missing", with(`{name: M}`), []wantErr{
			{"stages[1].actions[0].actionTypeId.category", "category is required"},
			{"stages[1].actions[0].actionTypeId.owner", "owner is required"},
			{"stages[1].actions[0].actionTypeId.provider", "provider is required"},
			{"stages[1].actions[0].actionTypeId.version", "version is required"},
		}},
		{"version chars", with(`{name: M, actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1.0"}}`), []wantErr{{"stages[1].actions[0].actionTypeId.version", `version "1.0" is not valid`}}},
		{"version 2", with(`{name: M, actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "2"}}`), []wantErr{{"stages[1].actions[0].actionTypeId.version", `Approval/AWS/Manual has only version "1", found "2"`}}},
		{"runOrder high", with(act("M", "Approval/AWS/Manual", "runOrder: 1000")), []wantErr{{"stages[1].actions[0].runOrder", "runOrder is 1000; it must be between 1 and 999 (default 1)"}}},
		{"runOrder negative", with(act("M", "Approval/AWS/Manual", "runOrder: -1")), []wantErr{{"stages[1].actions[0].runOrder", "between 1 and 999"}}},
		{"config key long", with(act("M", "Approval/AWS/Manual", "configuration: {"+strings.Repeat("K", 51)+": v}")), []wantErr{
			{"stages[1].actions[0].configuration." + strings.Repeat("K", 51), "keys must be 1 to 50 characters"},
			{"stages[1].actions[0].configuration." + strings.Repeat("K", 51), "unknown configuration key"},
		}},
		{"config value empty", with(act("M", "Approval/AWS/Manual", `configuration: {CustomData: ""}`)), []wantErr{{"stages[1].actions[0].configuration.CustomData", "configuration value of CustomData is empty; values must be 1 to 1000 characters"}}},
		{"config value null", with(act("M", "Approval/AWS/Manual", `configuration: {CustomData: }`)), []wantErr{{"stages[1].actions[0].configuration.CustomData", "is empty"}}},
		{"config value long", with(act("M", "Approval/AWS/Manual", "configuration: {CustomData: "+strings.Repeat("x", 1001)+"}")), []wantErr{{"stages[1].actions[0].configuration.CustomData", "is 1001 characters long; at most 1000"}}},
		{"config value 1000 runes ok", with(act("M", "Approval/AWS/Manual", "configuration: {CustomData: "+strings.Repeat("é", 1000)+"}")), nil},
		{"input name chars", decl(v2, csStage, stage("A", build("B", "")), stage("C", deploy("D", "bad.name"))), []wantErr{
			{"stages[2].actions[0].inputArtifacts[0].name", `input artifact name "bad.name" contains characters that are not allowed; use letters, digits, '-' and '_'`},
			{"stages[2].actions[0].inputArtifacts[0].name", "not produced by any action"},
		}},
		{"input listed twice", with(strings.Replace(build("B", ""), `inputArtifacts: [{name: SourceArtifact}]`, `inputArtifacts: [{name: SourceArtifact}, {name: SourceArtifact}]`, 1)),
			[]wantErr{{"stages[1].actions[0].inputArtifacts[1].name", `input artifact "SourceArtifact" is already listed at inputArtifacts[0]`}}},
		{"output name missing", with(build("B", "outputArtifacts: [{files: [x]}]")), []wantErr{{"stages[1].actions[0].outputArtifacts[0].name", "output artifact name is required"}}},
		{"output files count", with(build("B", "outputArtifacts: [{name: O, files: [a,b,c,d,e,f,g,h,i,j,k]}]")), []wantErr{{"stages[1].actions[0].outputArtifacts[0].files", "1 to 10 files, found 11"}}},
		{"namespace chars", with(act("M", "Approval/AWS/Manual", "namespace: my.ns")), []wantErr{{"stages[1].actions[0].namespace", `namespace "my.ns" contains characters that are not allowed; use letters, digits, '@', '-' and '_'`}}},
		{"namespace reserved codepipeline", with(act("M", "Approval/AWS/Manual", "namespace: codepipeline")), []wantErr{{"stages[1].actions[0].namespace", `namespace "codepipeline" is reserved`}}},
		{"namespace reserved variables", with(act("M", "Approval/AWS/Manual", "namespace: variables")), []wantErr{{"stages[1].actions[0].namespace", `namespace "variables" is reserved`}}},
		{"namespace duplicate", with(act("M", "Approval/AWS/Manual", "namespace: SrcVars")), []wantErr{{"stages[1].actions[0].namespace", `namespace "SrcVars" is already declared by action "Source" in stage "Source"`}}},
		{"namespace clashes with artifact", with(act("M", "Approval/AWS/Manual", "namespace: SourceArtifact")), []wantErr{{"stages[1].actions[0].namespace", "same name as an output artifact"}}},
		{"timeout low", with(act("M", "Approval/AWS/Manual", "timeoutInMinutes: 4")), []wantErr{{"stages[1].actions[0].timeoutInMinutes", "timeoutInMinutes is 4; it must be between 5 and 86400"}}},
		{"timeout high", with(act("M", "Approval/AWS/Manual", "timeoutInMinutes: 86401")), []wantErr{{"stages[1].actions[0].timeoutInMinutes", "between 5 and 86400"}}},
		{"region", with(act("M", "Approval/AWS/Manual", "region: eu")), []wantErr{{"stages[1].actions[0].region", "region is 2 characters long; it must be 4 to 30"}}},
		{"action roleArn", with(act("M", "Approval/AWS/Manual", "roleArn: nope")), []wantErr{{"stages[1].actions[0].roleArn", "not an IAM role ARN"}}},
		{"commands elsewhere", with(act("M", "Approval/AWS/Manual", "commands: [ls]")), []wantErr{{"stages[1].actions[0].commands", "commands is only used by the Compute/AWS/Commands action"}}},
		{"commands in V1", decl("", srcStage, stage("R", act("R", "Compute/AWS/Commands", "commands: [ls], inputArtifacts: [{name: SourceArtifact}]"))), []wantErr{{"stages[1].actions[0].actionTypeId", "the Commands action requires pipelineType V2"}}},
		{"commands shape", with(act("R", "Compute/AWS/Commands", `commands: [""], outputVariables: [], environmentVariables: [{name: "A-B", value: x, type: SECRET}], inputArtifacts: [{name: SourceArtifact}]`)), []wantErr{
			{"stages[1].actions[0].commands[0]", "command is 0 characters long; it must be 1 to 1000"},
			{"stages[1].actions[0].outputVariables", "1 to 15 output variables, found 0"},
			{"stages[1].actions[0].environmentVariables[0].name", "use letters, digits and '_'"},
			{"stages[1].actions[0].environmentVariables[0].type", "use one of PLAINTEXT, SECRETS_MANAGER"},
		}},
	})
}

func manyInputs(n int) string {
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, "{name: SourceArtifact}")
	}
	return strings.Join(names, ", ")
}

func TestValidateArtifactFlow(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"undeclared input", decl("", srcStage, stage("D", deploy("D", "BuildOutput"))), []wantErr{{"stages[1].actions[0].inputArtifacts[0].name",
			`input artifact "BuildOutput" is not produced by any action; declared output artifacts: SourceArtifact`}}},
		{"typo input", decl("", srcStage, stage("D", deploy("D", "SourceArtefact"))), []wantErr{{"stages[1].actions[0].inputArtifacts[0].name", `(did you mean "SourceArtifact"?)`}}},
		{"input from later stage", decl("", srcStage, stage("D", deploy("D", "Out")), stage("B", build("B", "outputArtifacts: [{name: Out}]"))),
			[]wantErr{{"stages[1].actions[0].inputArtifacts[0].name", `input artifact "Out" is produced by action "B" in stage "B", which runs later`}}},
		{"input from same runOrder", decl("", srcStage, stage("B", build("B", "outputArtifacts: [{name: Out}]"), deploy("D", "Out"))),
			[]wantErr{{"stages[1].actions[1].inputArtifacts[0].name", `produced by action "B" in stage "B" with runOrder 1, which does not run before this action (runOrder 1); give this action a higher runOrder`}}},
		{"input from higher runOrder", decl("", srcStage, stage("B", build("B", "runOrder: 3, outputArtifacts: [{name: Out}]"), act("D", "Deploy/AWS/CodeDeploy", `runOrder: 2, configuration: {ApplicationName: a, DeploymentGroupName: g}, inputArtifacts: [{name: Out}]`))),
			[]wantErr{{"stages[1].actions[1].inputArtifacts[0].name", "with runOrder 3, which does not run before this action (runOrder 2)"}}},
		{"own output", decl("", srcStage, stage("B", strings.Replace(build("B", "outputArtifacts: [{name: Out}]"), "{name: SourceArtifact}]", "{name: SourceArtifact}, {name: Out}]", 1))),
			[]wantErr{{"stages[1].actions[0].inputArtifacts[1].name", `action "B" cannot take its own output artifact "Out" as input`}}},
		{"duplicate output", decl("", srcStage, stage("B", build("B", "outputArtifacts: [{name: SourceArtifact}]"))),
			[]wantErr{{"stages[1].actions[0].outputArtifacts[0].name", `output artifact "SourceArtifact" is already produced by action "Src" in stage "Source"; output artifact names must be unique in the pipeline`}}},
		{"no outputs at all", decl("", stage("Source", act("Src", "Source/AWS/S3", `configuration: {S3Bucket: b, S3ObjectKey: k}`)), stage("D", deploy("D", "X"))), []wantErr{
			{"stages[0].actions[0].outputArtifacts", "Source/AWS/S3 takes exactly 1 output artifact, found 0"},
			{"stages[1].actions[0].inputArtifacts[0].name", "the pipeline declares no output artifacts"},
		}},
	})
}

func TestValidateProviders(t *testing.T) {
	runValidateCases(t, []validateCase{
		{"unknown type", decl("", srcStage, stage("D", act("L", "Invoke/AWS/Lambda", "configuration: {FunctionName: f}"))), []wantErr{{"stages[1].actions[0].actionTypeId",
			"action type Invoke/AWS/Lambda is not supported; supported: Approval/AWS/Manual, Build/AWS/CodeBuild, Compute/AWS/Commands, Deploy/AWS/CodeDeploy, Source/AWS/CodeStarSourceConnection, Source/AWS/S3, Test/AWS/CodeBuild"}}},
		{"wrong category", decl("", srcStage, stage("D", act("D", "Build/AWS/CodeDeploy", "configuration: {ApplicationName: a}"))), []wantErr{{"stages[1].actions[0].actionTypeId", "(did you mean Deploy/AWS/CodeDeploy?)"}}},
		{"missing required", decl("", stage("Source", act("Src", "Source/AWS/S3", `configuration: {S3Bucket: b}, outputArtifacts: [{name: SourceArtifact}]`)), stage("A", manual)),
			[]wantErr{{"stages[0].actions[0].configuration.S3ObjectKey", "Source/AWS/S3 needs configuration key S3ObjectKey (required: S3Bucket, S3ObjectKey)"}}},
		{"no configuration", decl("", stage("Source", act("Src", "Source/AWS/S3", `outputArtifacts: [{name: SourceArtifact}]`)), stage("A", manual)), []wantErr{
			{"stages[0].actions[0].configuration.S3Bucket", "needs configuration key S3Bucket"},
			{"stages[0].actions[0].configuration.S3ObjectKey", "needs configuration key S3ObjectKey"},
		}},
		{"unknown key", decl("", stage("Source", act("Src", "Source/AWS/S3", `configuration: {S3Bucket: b, S3ObjectKey: k, PollForSourceChange: "false"}, outputArtifacts: [{name: SourceArtifact}]`)), stage("A", manual)),
			[]wantErr{{"stages[0].actions[0].configuration.PollForSourceChange", `unknown configuration key "PollForSourceChange" for Source/AWS/S3 (did you mean "PollForSourceChanges"?); allowed: S3Bucket, S3ObjectKey, PollForSourceChanges`}}},
		{"unknown key manual", decl("", srcStage, stage("A", act("M", "Approval/AWS/Manual", "configuration: {Comment: hi}"))),
			[]wantErr{{"stages[1].actions[0].configuration.Comment", "allowed: CustomData, ExternalEntityLink, NotificationArn"}}},
		{"manual with input", decl("", srcStage, stage("A", act("M", "Approval/AWS/Manual", "inputArtifacts: [{name: SourceArtifact}]"))),
			[]wantErr{{"stages[1].actions[0].inputArtifacts", "Approval/AWS/Manual takes no input artifacts, found 1"}}},
		{"deploy without input", decl("", srcStage, stage("A", act("D", "Deploy/AWS/CodeDeploy", "configuration: {ApplicationName: a, DeploymentGroupName: g}"))),
			[]wantErr{{"stages[1].actions[0].inputArtifacts", "Deploy/AWS/CodeDeploy takes exactly 1 input artifact, found 0"}}},
		{"build without input", decl("", srcStage, stage("A", act("B", "Build/AWS/CodeBuild", "configuration: {ProjectName: p}"))),
			[]wantErr{{"stages[1].actions[0].inputArtifacts", "Build/AWS/CodeBuild takes 1 to 5 input artifacts, found 0"}}},
		{"build with 6 inputs", decl("", srcStage, stage("A", act("B", "Build/AWS/CodeBuild", "configuration: {ProjectName: p}, inputArtifacts: ["+manyInputs(6)+"]"))), []wantErr{
			{"stages[1].actions[0].inputArtifacts", "takes 1 to 5 input artifacts, found 6"},
			{"stages[1].actions[0].inputArtifacts[1].name", "already listed"}, {"stages[1].actions[0].inputArtifacts[2].name", "already listed"},
			{"stages[1].actions[0].inputArtifacts[3].name", "already listed"}, {"stages[1].actions[0].inputArtifacts[4].name", "already listed"},
			{"stages[1].actions[0].inputArtifacts[5].name", "already listed"},
		}},
		{"ValidateConfig", decl("", stage("Source", act("Src", "Source/AWS/S3", `configuration: {S3Bucket: b, S3ObjectKey: k, PollForSourceChanges: maybe}, outputArtifacts: [{name: SourceArtifact}]`)), stage("A", manual)),
			[]wantErr{{"stages[0].actions[0].configuration.PollForSourceChanges", `PollForSourceChanges must be "true" or "false", found "maybe"`}}},
	})
}

func TestValidateVariables(t *testing.T) {
	ok := []string{srcStage, stage("A", manual)}
	withRef := func(top, value string) string {
		return decl(top, srcStage, stage("A", act("M", "Approval/AWS/Manual", `configuration: {CustomData: "`+value+`"}`)))
	}
	runValidateCases(t, []validateCase{
		{"V1 variables", decl("variables: [{name: ENV}]\n", ok...), []wantErr{{"variables", "pipeline variables requires pipelineType V2"}}},
		{"name chars", decl(v2+"variables: [{name: my.var}]\n", ok...), []wantErr{{"variables[0].name", `variable name "my.var" contains characters`}}},
		{"name missing", decl(v2+"variables: [{defaultValue: x}]\n", ok...), []wantErr{{"variables[0].name", "variable name is required"}}},
		{"name long", decl(v2+"variables: [{name: "+strings.Repeat("v", 129)+"}]\n", ok...), []wantErr{{"variables[0].name", "use 1 to 128"}}},
		{"duplicate", decl(v2+"variables: [{name: A}, {name: A}]\n", ok...), []wantErr{{"variables[1].name", `variable "A" is already declared at variables[0]`}}},
		{"default long", decl(v2+"variables: [{name: A, defaultValue: "+strings.Repeat("d", 1001)+"}]\n", ok...), []wantErr{{"variables[0].defaultValue", "1001 characters long; it must be 1 to 1000"}}},
		{"description long", decl(v2+"variables: [{name: A, description: "+strings.Repeat("d", 201)+"}]\n", ok...), []wantErr{{"variables[0].description", "at most 200"}}},
		{"51 variables", decl(v2+"variables: ["+manyVars(51)+"]\n", ok...), []wantErr{{"variables", "at most 50 variables, found 51"}}},
		{"undeclared variable", withRef(v2+"variables: [{name: DEPLOY_ENV}]\n", "#{variables.DEPLOY_EVN}"), []wantErr{{"stages[1].actions[0].configuration.CustomData",
			`#{variables.DEPLOY_EVN} refers to pipeline variable "DEPLOY_EVN", which is not declared (did you mean "DEPLOY_ENV"?); declared variables: DEPLOY_ENV`}}},
		{"no variables", withRef("", "#{variables.X}"), []wantErr{{"stages[1].actions[0].configuration.CustomData", "the pipeline declares no variables"}}},
		{"unknown namespace", withRef("", "#{Build.X}"), []wantErr{{"stages[1].actions[0].configuration.CustomData", `#{Build.X} refers to namespace "Build", which no action declares; declared namespaces: SrcVars`}}},
		{"codepipeline key", withRef("", "#{codepipeline.ExecutionId}"), []wantErr{{"stages[1].actions[0].configuration.CustomData", "#{codepipeline.ExecutionId} is not defined; the codepipeline namespace provides only #{codepipeline.PipelineExecutionId}"}}},
		{"unclosed", withRef("", "start #{SrcVars.VersionId"), []wantErr{{"stages[1].actions[0].configuration.CustomData", `malformed variable reference "#{SrcVars.VersionId"; write #{namespace.name}`}}},
		{"no dot", withRef("", "#{VersionId}"), []wantErr{{"stages[1].actions[0].configuration.CustomData", `malformed variable reference "#{VersionId}"`}}},
		{"empty", withRef("", "#{} and #{SrcVars.VersionId}"), []wantErr{{"stages[1].actions[0].configuration.CustomData", `malformed variable reference "#{}"`}}},
		{"later namespace", decl("", srcStage, stage("A", act("M", "Approval/AWS/Manual", `configuration: {CustomData: "#{Later.X}"}`)), stage("B", act("M", "Approval/AWS/Manual", "namespace: Later"))),
			[]wantErr{{"stages[1].actions[0].configuration.CustomData", `#{Later.X} refers to namespace "Later" of action "M" in stage "B", which does not run before this action`}}},
		{"same runOrder namespace", decl("", srcStage, stage("A", act("M", "Approval/AWS/Manual", `configuration: {CustomData: "#{Peer.X}"}`), act("N", "Approval/AWS/Manual", "namespace: Peer"))),
			[]wantErr{{"stages[1].actions[0].configuration.CustomData", "which does not run before this action"}}},
		{"own namespace", decl("", srcStage, stage("A", act("M", "Approval/AWS/Manual", `configuration: {CustomData: "#{Me.X}"}, namespace: Me`))),
			[]wantErr{{"stages[1].actions[0].configuration.CustomData", "refers to this action's own namespace"}}},
	})
}

func manyVars(n int) string {
	var s []string
	for i := 0; i < n; i++ {
		s = append(s, fmt.Sprintf("{name: V%d}", i))
	}
	return strings.Join(s, ", ")
}

func TestValidateTriggers(t *testing.T) {
	one := func(git string) string {
		return trig("  - {providerType: CodeStarSourceConnection, gitConfiguration: " + git + "}\n")
	}
	push := func(f string) string { return one("{sourceActionName: Source, push: [" + f + "]}") }
	patterns := func(n int, l int) string {
		var s []string
		for i := 0; i < n; i++ {
			s = append(s, strings.Repeat("p", l))
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	runValidateCases(t, []validateCase{
		{"V1 triggers", decl("triggers: [{providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Source, push: [{branches: {includes: [main]}}]}}]\n", csStage, stage("A", manual)),
			[]wantErr{{"triggers", "triggers requires pipelineType V2"}}},
		{"providerType", trig("  - {providerType: GitHub, gitConfiguration: {sourceActionName: Source, push: [{tags: {includes: [v*]}}]}}\n"),
			[]wantErr{{"triggers[0].providerType", `providerType "GitHub" is not supported; use CodeStarSourceConnection`}}},
		{"providerType missing", trig("  - {gitConfiguration: {sourceActionName: Source, push: [{tags: {includes: [v*]}}]}}\n"),
			[]wantErr{{"triggers[0].providerType", "providerType is required"}}},
		{"gitConfiguration missing", trig("  - {providerType: CodeStarSourceConnection}\n"), []wantErr{{"triggers[0].gitConfiguration", "gitConfiguration is required"}}},
		{"sourceActionName missing", one("{push: [{tags: {includes: [v*]}}]}"), []wantErr{{"triggers[0].gitConfiguration.sourceActionName", "sourceActionName is required"}}},
		{"sourceActionName unknown", one("{sourceActionName: Src, push: [{tags: {includes: [v*]}}]}"),
			[]wantErr{{"triggers[0].gitConfiguration.sourceActionName", `sourceActionName "Src" does not name an action of the first stage "Source"; declared actions: Source`}}},
		{"sourceActionName not CodeStar", decl(v2+"triggers: [{providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Src, push: [{tags: {includes: [v*]}}]}}]\n", srcStage, stage("A", manual)),
			[]wantErr{{"triggers[0].gitConfiguration.sourceActionName", `action "Src" is Source/AWS/S3; triggers work only with CodeStarSourceConnection source actions`}}},
		{"two triggers one source", trig("  - {providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Source, push: [{tags: {includes: [v*]}}]}}\n  - {providerType: CodeStarSourceConnection, gitConfiguration: {sourceActionName: Source, push: [{branches: {includes: [main]}}]}}\n"),
			[]wantErr{{"triggers[1].gitConfiguration.sourceActionName", `source action "Source" already has a trigger (triggers[0])`}}},
		{"no filters", one("{sourceActionName: Source}"), []wantErr{{"triggers[0].gitConfiguration", "at least one push or pullRequest filter"}}},
		{"4 push filters", push("{tags: {includes: [a]}}, {tags: {includes: [b]}}, {tags: {includes: [c]}}, {tags: {includes: [d]}}"),
			[]wantErr{{"triggers[0].gitConfiguration.push", "1 to 3 push filters, found 4"}}},
		{"4 pr filters", one("{sourceActionName: Source, pullRequest: [{events: [OPEN]}, {events: [OPEN]}, {events: [OPEN]}, {events: [OPEN]}]}"),
			[]wantErr{{"triggers[0].gitConfiguration.pullRequest", "1 to 3 pullRequest filters, found 4"}}},
		{"bad event", one("{sourceActionName: Source, pullRequest: [{events: [OPEN, MERGED]}]}"),
			[]wantErr{{"triggers[0].gitConfiguration.pullRequest[0].events[1]", `pull request event "MERGED" is not valid; use one of OPEN, UPDATED, CLOSED`}}},
		{"duplicate event", one("{sourceActionName: Source, pullRequest: [{events: [OPEN, OPEN]}]}"),
			[]wantErr{{"triggers[0].gitConfiguration.pullRequest[0].events[1]", "event OPEN is listed twice"}}},
		{"4 events", one("{sourceActionName: Source, pullRequest: [{events: [OPEN, UPDATED, CLOSED, OPEN]}]}"), []wantErr{
			{"triggers[0].gitConfiguration.pullRequest[0].events", "1 to 3 events (OPEN, UPDATED, CLOSED), found 4"},
			{"triggers[0].gitConfiguration.pullRequest[0].events[3]", "listed twice"},
		}},
		{"empty events", one("{sourceActionName: Source, pullRequest: [{events: []}]}"), []wantErr{{"triggers[0].gitConfiguration.pullRequest[0].events", "found 0"}}},
		{"9 includes", push("{branches: {includes: " + patterns(9, 3) + "}}"), []wantErr{{"triggers[0].gitConfiguration.push[0].branches.includes", "includes lists 1 to 8 glob patterns, found 9"}}},
		{"8 includes ok", push("{branches: {includes: " + patterns(8, 3) + ", excludes: " + patterns(8, 255) + "}}"), nil},
		{"long pattern", push("{filePaths: {excludes: " + patterns(1, 256) + "}}"), []wantErr{{"triggers[0].gitConfiguration.push[0].filePaths.excludes[0]", "pattern is 256 characters long; it must be 1 to 255"}}},
		{"empty criteria", push("{tags: {}}"), []wantErr{{"triggers[0].gitConfiguration.push[0].tags", "a filter needs includes, excludes or both"}}},
		{"empty includes", push("{tags: {includes: []}}"), []wantErr{
			{"triggers[0].gitConfiguration.push[0].tags", "needs includes, excludes or both"},
			{"triggers[0].gitConfiguration.push[0].tags.includes", "found 0"},
		}},
		{"empty push filter", push("{}"), []wantErr{{"triggers[0].gitConfiguration.push[0]", "an empty push filter"}}},
	})
}

func TestValidateStageConditions(t *testing.T) {
	rule := `{name: R, ruleTypeId: {category: Rule, owner: AWS, provider: VariableCheck, version: "1"}, configuration: {Variable: a, Operator: EQ, Value: b}}`
	cond := func(result string, rules ...string) string {
		if len(rules) == 0 {
			rules = []string{rule}
		}
		r := ""
		if result != "" {
			r = "result: " + result + ", "
		}
		return "{" + r + "rules: [" + strings.Join(rules, ", ") + "]}"
	}
	with := func(top, stageFields string) string {
		return decl(top, srcStage, stageX("D", stageFields, manual))
	}
	runValidateCases(t, []validateCase{
		{"V1 onFailure", with("", "onFailure: {result: FAIL}"), []wantErr{{"stages[1].onFailure", "onFailure requires pipelineType V2"}}},
		{"V1 onSuccess", with("", "onSuccess: {conditions: ["+cond("FAIL")+"]}"), []wantErr{{"stages[1].onSuccess", "onSuccess requires pipelineType V2"}}},
		{"V1 beforeEntry", with("", "beforeEntry: {conditions: ["+cond("FAIL")+"]}"), []wantErr{{"stages[1].beforeEntry", "beforeEntry requires pipelineType V2"}}},
		{"result unknown", with(v2, "onFailure: {result: ABORT}"), []wantErr{{"stages[1].onFailure.result", `onFailure result "ABORT" is not valid; use one of ROLLBACK, FAIL, RETRY, SKIP`}}},
		{"result empty", with(v2, "onFailure: {}"), []wantErr{{"stages[1].onFailure.result", "onFailure needs a result"}}},
		{"SKIP ok", with(v2, "onFailure: {result: SKIP}"), nil},
		{"RETRY without configuration ok", with(v2, "onFailure: {result: RETRY}"), nil},
		{"ROLLBACK in PARALLEL", with(v2+"executionMode: PARALLEL\n", "onFailure: {result: ROLLBACK}"), []wantErr{{"stages[1].onFailure.result", "ROLLBACK is not available in PARALLEL execution mode"}}},
		{"ROLLBACK condition in PARALLEL", with(v2+"executionMode: PARALLEL\n", "onSuccess: {conditions: ["+cond("ROLLBACK")+"]}"), []wantErr{{"stages[1].onSuccess.conditions[0].result", "not available in PARALLEL"}}},
		{"retryConfiguration with FAIL", with(v2, "onFailure: {result: FAIL, retryConfiguration: {retryMode: ALL_ACTIONS}}"), []wantErr{{"stages[1].onFailure.retryConfiguration", "retryConfiguration only applies when result is RETRY"}}},
		{"retryMode", with(v2, "onFailure: {result: RETRY, retryConfiguration: {retryMode: SOME}}"), []wantErr{{"stages[1].onFailure.retryConfiguration.retryMode", "use one of FAILED_ACTIONS, ALL_ACTIONS"}}},
		{"retryMode missing", with(v2, "onFailure: {result: RETRY, retryConfiguration: {}}"), []wantErr{{"stages[1].onFailure.retryConfiguration.retryMode", "retryMode is required"}}},
		{"onFailure 2 conditions", with(v2, "onFailure: {result: ROLLBACK, conditions: ["+cond("ROLLBACK")+", "+cond("FAIL")+"]}"), []wantErr{{"stages[1].onFailure.conditions", "onFailure takes at most 1 condition, found 2"}}},
		{"RETRY with conditions", with(v2, "onFailure: {result: RETRY, conditions: ["+cond("")+"]}"), []wantErr{{"stages[1].onFailure.conditions", "an automatic RETRY cannot be combined with conditions"}}},
		{"onSuccess no conditions", with(v2, "onSuccess: {conditions: []}"), []wantErr{{"stages[1].onSuccess.conditions", "exactly 1 condition is required, found 0"}}},
		{"beforeEntry 2 conditions", with(v2, "beforeEntry: {conditions: ["+cond("FAIL")+", "+cond("SKIP")+"]}"), []wantErr{{"stages[1].beforeEntry.conditions", "exactly 1 condition is required, found 2"}}},
		{"beforeEntry ROLLBACK", with(v2, "beforeEntry: {conditions: ["+cond("ROLLBACK")+"]}"), []wantErr{{"stages[1].beforeEntry.conditions[0].result", `condition result "ROLLBACK" is not valid; use one of FAIL, SKIP`}}},
		{"onSuccess SKIP", with(v2, "onSuccess: {conditions: ["+cond("SKIP")+"]}"), []wantErr{{"stages[1].onSuccess.conditions[0].result", "use one of ROLLBACK, FAIL"}}},
		{"no rules", with(v2, "beforeEntry: {conditions: [{result: FAIL, rules: []}]}"), []wantErr{{"stages[1].beforeEntry.conditions[0].rules", "a condition has 1 to 5 rules, found 0"}}},
		{"6 rules", with(v2, "beforeEntry: {conditions: ["+cond("FAIL", manyRules(6)...)+"]}"), []wantErr{{"stages[1].beforeEntry.conditions[0].rules", "1 to 5 rules, found 6"}}},
		{"rule shape", with(v2, "beforeEntry: {conditions: ["+cond("FAIL", `{name: "bad name", ruleTypeId: {category: Action, owner: Me}, timeoutInMinutes: 1}`, rule, rule)+"]}"), []wantErr{
			{"stages[1].beforeEntry.conditions[0].rules[0].name", "contains characters that are not allowed"},
			{"stages[1].beforeEntry.conditions[0].rules[0].ruleTypeId.category", "use one of Rule"},
			{"stages[1].beforeEntry.conditions[0].rules[0].ruleTypeId.owner", "use one of AWS"},
			{"stages[1].beforeEntry.conditions[0].rules[0].ruleTypeId.provider", "rule provider is required"},
			{"stages[1].beforeEntry.conditions[0].rules[0].timeoutInMinutes", "between 5 and 86400"},
			{"stages[1].beforeEntry.conditions[0].rules[2].name", `rule name "R" is already used by rules[1]`},
		}},
		{"rule config value long", with(v2, "beforeEntry: {conditions: ["+cond("FAIL", `{name: R, ruleTypeId: {category: Rule, provider: VariableCheck}, configuration: {Variable: a, Operator: EQ, Value: `+strings.Repeat("x", 10001)+`}}`)+"]}"),
			[]wantErr{{"stages[1].beforeEntry.conditions[0].rules[0].configuration.Value", "10001 characters long; it must be 1 to 10000"}}},
		{"rule provider unsupported", with(v2, "beforeEntry: {conditions: ["+cond("FAIL", `{name: R, ruleTypeId: {category: Rule, provider: CloudWatchAlarm}, configuration: {AlarmName: a}}`)+"]}"),
			[]wantErr{{"stages[1].beforeEntry.conditions[0].rules[0].ruleTypeId.provider", `rule provider "CloudWatchAlarm" is not supported by Conveyor (supported: DeploymentWindow, VariableCheck)`}}},
		{"VariableCheck parameters", with(v2, "onSuccess: {conditions: ["+cond("FAIL", `{name: R, ruleTypeId: {category: Rule, provider: VariableCheck}, configuration: {Variabel: a, Operator: GT}}`)+"]}"), []wantErr{
			{"stages[1].onSuccess.conditions[0].rules[0].configuration", "VariableCheck rules need configuration Value, Variable"},
			{"stages[1].onSuccess.conditions[0].rules[0].configuration.Operator", `Operator "GT" is not valid; use one of EQ, NE, CONTAINS, MATCHES`},
			{"stages[1].onSuccess.conditions[0].rules[0].configuration.Variabel", `unknown configuration key "Variabel" for VariableCheck rules (did you mean "Variable"?)`},
		}},
		{"MATCHES bad regexp", with(v2, "onSuccess: {conditions: ["+cond("FAIL", `{name: R, ruleTypeId: {category: Rule, provider: VariableCheck}, configuration: {Variable: a, Operator: MATCHES, Value: "a("}}`)+"]}"),
			[]wantErr{{"stages[1].onSuccess.conditions[0].rules[0].configuration.Value", "not a valid regular expression"}}},
		{"MATCHES with a reference is checked when it runs", with(v2+"variables: [{name: RE}]\n", "onSuccess: {conditions: ["+cond("FAIL", `{name: R, ruleTypeId: {category: Rule, provider: VariableCheck}, configuration: {Variable: a, Operator: MATCHES, Value: "#{variables.RE}"}}`)+"]}"), nil},
		{"DeploymentWindow", with(v2, "beforeEntry: {conditions: ["+cond("FAIL", `{name: R, ruleTypeId: {category: Rule, provider: DeploymentWindow}, configuration: {Cron: "* * 25 ? * *", TimeZone: EST}}`)+"]}"), []wantErr{
			{"stages[1].beforeEntry.conditions[0].rules[0].configuration.Cron", `hours field "25": value 25 out of range 0-23`},
			{"stages[1].beforeEntry.conditions[0].rules[0].configuration.TimeZone", `"EST" is not a time zone Conveyor knows`},
		}},
		{"DeploymentWindow needs Cron", with(v2, "beforeEntry: {conditions: ["+cond("FAIL", `{name: R, ruleTypeId: {category: Rule, provider: DeploymentWindow}, configuration: {TimeZone: Asia/Tokyo}}`)+"]}"),
			[]wantErr{{"stages[1].beforeEntry.conditions[0].rules[0].configuration", "DeploymentWindow rules need configuration Cron"}}},
		{"SKIP with a window", with(v2, "beforeEntry: {conditions: ["+cond("SKIP", `{name: R, ruleTypeId: {category: Rule, provider: DeploymentWindow}, configuration: {Cron: "* * * ? * *"}}`)+"]}"),
			[]wantErr{{"stages[1].beforeEntry.conditions[0].rules[0].ruleTypeId.provider", "a condition with result SKIP takes VariableCheck rules"}}},
	})
}

func manyRules(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{name: R%d, ruleTypeId: {category: Rule, provider: VariableCheck}, configuration: {Variable: a, Operator: EQ, Value: b}}`, i)
	}
	return out
}

func TestValidateAllErrorsSorted(t *testing.T) {
	src := decl("executionMode: QUEUED\n",
		stage("Source", s3Src, manual),
		stage("Source", deploy("D", "Missing"), act("X", "Invoke/AWS/Lambda", "")))
	d, sm, err := Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var errs ValidationErrors
	if !errors.As(Validate(d, testProviders(), sm), &errs) {
		t.Fatal("want ValidationErrors")
	}
	if len(errs) != 5 {
		t.Fatalf("want 5 errors, got:\n%v", errs)
	}
	for i := 1; i < len(errs); i++ {
		a, b := errs[i-1], errs[i]
		if a.Line > b.Line || (a.Line == b.Line && a.Column > b.Column) {
			t.Errorf("not sorted by position: %v before %v", a, b)
		}
	}
	if errs.Code() != CodeInvalidStructure {
		t.Errorf("Code() = %s", errs.Code())
	}
	lines := strings.Split(errs.Error(), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "p.yaml:2:16: executionMode: ") {
		t.Errorf("Error():\n%s", errs.Error())
	}
}

func TestValidateNilAndNoProviders(t *testing.T) {
	if err := Validate(nil, nil, nil); err == nil {
		t.Error("nil declaration accepted")
	}
	d, _, err := Parse("x.yaml", []byte(decl("", srcStage, stage("A", act("L", "Invoke/AWS/Lambda", "")))))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(d, nil, nil); err != nil {
		t.Errorf("without providers, provider checks are skipped: %v", err)
	}
	// Without a source map, errors have paths and no positions.
	d.Stages = d.Stages[:1]
	var errs ValidationErrors
	if !errors.As(Validate(d, nil, nil), &errs) || errs[0].Line != 0 || errs[0].File != "" {
		t.Fatalf("got %#v", errs)
	}
	if !strings.HasPrefix(errs.Error(), "stages: ") {
		t.Errorf("Error() = %q", errs.Error())
	}
}

func TestErrorKindsAndCode(t *testing.T) {
	cases := []struct {
		errs ValidationErrors
		code ErrorCode
	}{
		{ValidationErrors{{Kind: KindAction}}, CodeInvalidAction},
		{ValidationErrors{{Kind: KindAction}, {Kind: KindStage}}, CodeInvalidStage},
		{ValidationErrors{{Kind: KindStage}, {Kind: KindStructure}}, CodeInvalidStructure},
	}
	for _, c := range cases {
		if got := c.errs.Code(); got != c.code {
			t.Errorf("%v: Code() = %s, want %s", c.errs, got, c.code)
		}
	}
	if got := (FieldError{File: "f", Line: 3, Column: 4, Path: "p", Message: "m"}).Error(); got != "f:3:4: p: m" {
		t.Errorf("got %q", got)
	}
	if got := (FieldError{Message: "m"}).Error(); got != "m" {
		t.Errorf("got %q", got)
	}
}

func TestVariableRefs(t *testing.T) {
	s := "a #{ns.k} b #{codepipeline.PipelineExecutionId}#{variables.X-1} #{bad} #{x.y.z} #{open"
	got := VariableRefs(s)
	want := []VariableRef{
		{"ns", "k", 2, 9},
		{"codepipeline", "PipelineExecutionId", 12, 47},
		{"variables", "X-1", 47, 63},
		{"x", "y.z", 71, 79},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for _, r := range got {
		if s[r.Start:r.Start+2] != "#{" || s[r.End-1] != '}' {
			t.Errorf("bad offsets %v", r)
		}
	}
	if VariableRefs("no refs # { }") != nil {
		t.Error("want nil")
	}
	_, bad := scanVariableRefs(s)
	if len(bad) != 2 {
		t.Errorf("want 2 malformed, got %v", bad)
	}
}

func TestNaturalLess(t *testing.T) {
	if !naturalLess("stages[2].name", "stages[10].name") || naturalLess("stages[10]", "stages[2]") || !naturalLess("a", "ab") {
		t.Error("naturalLess")
	}
}
