package buildspec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/internal/fixtures"
)

func mustParse(t *testing.T, name string, src string) *Buildspec {
	t.Helper()
	b, err := Parse(name, []byte(src))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return b
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func cmds(line int, texts ...string) []Command {
	out := make([]Command, len(texts))
	for i, s := range texts {
		out[i] = Command{Text: s, Line: line + i}
	}
	return out
}

// The sample app of the end-to-end fixtures, as it is shipped.
func TestParseSampleAppFixture(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtures.Dir(t, "sample-app/v1"), "buildspec.yml"))
	if err != nil {
		data = readTestdata(t, "sample-app.yml") // a copy, for runs outside the shared tree
	}
	b, err := Parse("buildspec.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Buildspec{
		Version: "0.2",
		Env: Env{
			Variables:         []Var{{Name: "CGO_ENABLED", Value: "0", Line: 5}},
			ExportedVariables: []string{"APP_VERSION"},
		},
		Phases: []Phase{
			{Name: "install", Line: 10, RuntimeVersions: map[string]string{"golang": "1.22"}, Commands: cmds(14, "go version")},
			{Name: "pre_build", Line: 15, Commands: cmds(17, "go vet ./...", "go test ./...")},
			{Name: "build", Line: 19, Commands: cmds(21,
				`APP_VERSION=$(grep 'const version' main.go | cut -d'"' -f2)-$(echo "${CODEBUILD_RESOLVED_SOURCE_VERSION:-local}" | cut -c1-7)`,
				`echo "building sample-app $APP_VERSION"`,
				`go build -o bin/sample-app .`)},
			{Name: "post_build", Line: 24, Commands: cmds(26, `echo "build finished with status $CODEBUILD_BUILD_SUCCEEDING"`)},
		},
		Artifacts: &Artifacts{Line: 28, Files: []string{"bin/sample-app", "appspec.yml", "scripts/**/*"}},
	}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("got\n%#v\nwant\n%#v", b, want)
	}
	if got := b.Phases[1].Type(); got != "PRE_BUILD" {
		t.Errorf("Type() = %q", got)
	}
	if p, ok := b.Phase(PhaseBuild); !ok || p.Line != 19 {
		t.Errorf("Phase(build) = %v, %v", p, ok)
	}
	if _, ok := b.Phase(PhaseInstall + "x"); ok {
		t.Error("Phase found a phase that does not exist")
	}
}

// A buildspec with every key.
func TestParseFull(t *testing.T) {
	b, err := Parse("full.yml", readTestdata(t, "full.yml"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("Version", b.Version, "0.2")
	check("RunAs", b.RunAs, "builder")
	check("Env.Shell", b.Env.Shell, "bash")
	check("Env.Variables", b.Env.Variables, []Var{
		{Name: "JAVA_HOME", Value: "/usr/lib/jvm/java-17", Line: 9},
		{Name: "PATH_EXTRA", Value: "$PATH:/opt/bin", Line: 10},
		{Name: "RETRIES", Value: "3", Line: 11},
		{Name: "FLAG", Value: "yes", Line: 12},
		{Name: "EMPTY", Value: "", Line: 13},
	})
	check("Env.ParameterStore", b.Env.ParameterStore, []Var{{Name: "LOGIN_PASSWORD", Value: "/CodeBuild/dockerLoginPassword", Line: 15}})
	check("Env.SecretsManager", b.Env.SecretsManager, []SecretVar{
		{Var{"DB_PASSWORD", "prod/db:password", 17}, SecretRef{SecretID: "prod/db", JSONKey: "password"}},
		{Var{"API_TOKEN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbCdEf:token:AWSPREVIOUS", 18},
			SecretRef{SecretID: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api-AbCdEf", JSONKey: "token", VersionStage: "AWSPREVIOUS"}},
		{Var{"WHOLE", "plain-secret", 19}, SecretRef{SecretID: "plain-secret"}},
		{Var{"PINNED", "prod/db:::6c4e1b1a-0000-4000-8000-000000000000", 20},
			SecretRef{SecretID: "prod/db", VersionID: "6c4e1b1a-0000-4000-8000-000000000000"}},
	})
	check("Env.ExportedVariables", b.Env.ExportedVariables, []string{"APP_VERSION", "JAVA_HOME"})
	check("Env.GitCredentialHelper", b.Env.GitCredentialHelper, true)
	check("Proxy", b.Proxy, Proxy{UploadArtifacts: false, Logs: true})

	var names []string
	for _, p := range b.Phases {
		names = append(names, p.Name)
	}
	check("phase order", names, PhaseNames())
	install, pre, build, post := b.Phases[0], b.Phases[1], b.Phases[2], b.Phases[3]
	check("install.RunAs", install.RunAs, "root")
	check("install.OnFailure", install.OnFailure, OnFailure{Mode: OnFailureAbort})
	check("install.RuntimeVersions", install.RuntimeVersions, map[string]string{"java": "corretto17", "golang": "1.20", "nodejs": "18.x"})
	check("install.Commands", install.Commands, cmds(42, "apt-get update -y"))
	check("install.Finally", install.Finally, cmds(44, "echo install finished"))
	check("pre_build.RunAs (global)", pre.RunAs, "builder")
	check("pre_build.OnFailure.Mode", pre.OnFailure.Mode, OnFailureRetry)
	check("pre_build.OnFailure.Retries", pre.OnFailure.Retries, 2)
	check("pre_build.OnFailure.Pattern", pre.OnFailure.Pattern.String(), "connection (reset|refused)")
	check("pre_build.Commands", pre.Commands, cmds(48,
		"aws ecr get-login-password | docker login --username AWS --password-stdin $REPO",
		`echo "quoted: fine"`))
	check("build.OnFailure", build.OnFailure, OnFailure{Mode: OnFailureContinue})
	check("build.Commands", build.Commands, []Command{
		{Text: "mvn -B package", Line: 53},
		{Text: "if [ -f extra.sh ]; then\n  ./extra.sh\nfi\n", Line: 54},
		{Text: "true", Line: 58},
		{Text: "42", Line: 59},
	})
	check("build.Finally", build.Finally, cmds(61, "echo build finished"))
	check("post_build.Commands", post.Commands, cmds(33, `echo "done with $CODEBUILD_BUILD_SUCCEEDING"`))
	check("post_build.OnFailure", post.OnFailure, OnFailure{})

	check("Reports", b.Reports, []Report{
		{Group: "arn:aws:codebuild:eu-west-1:123456789012:report-group/unit", Line: 64, Files: []string{"**/*"},
			BaseDirectory: "target/surefire-reports", FileFormat: "JUNITXML"},
		{Group: "coverage", Line: 69, Files: []string{"target/site/jacoco/jacoco.xml"}, FileFormat: "JACOCOXML"},
	})
	check("Artifacts", b.Artifacts, &Artifacts{
		Line: 74, Files: []string{"target/app.jar", "appspec.yml"}, Name: "app-$(date +%Y-%m-%d)", DiscardPaths: true,
		BaseDirectory: "out*", ExcludePaths: []string{"**/*.tmp"}, EnableSymlinks: true, S3Prefix: "builds",
		Secondary: []Artifacts{
			{Identifier: "docs", Line: 86, Files: []string{"docs/**/*"}, Name: "docs", BaseDirectory: "site"},
			{Identifier: "reports", Line: 91, Files: []string{"reports/*.xml"}, DiscardPaths: true},
		},
	})
	check("Cache", b.Cache, &Cache{Line: 96, Paths: []string{"/root/.m2/**/*"}, Key: "maven-$(codebuild-hash-files pom.xml)",
		FallbackKeys: []string{"maven-"}, Action: "restore"})
}

func TestParseValidVariants(t *testing.T) {
	t.Run("0.1", func(t *testing.T) {
		b := mustParse(t, "v01.yml", string(readTestdata(t, "v01.yml")))
		if b.Version != Version01 || len(b.Phases) != 1 || len(b.Phases[0].Commands) != 2 {
			t.Errorf("got %+v", b)
		}
	})
	t.Run("anchors, aliases and merge keys", func(t *testing.T) {
		b := mustParse(t, "anchors.yml", string(readTestdata(t, "anchors.yml")))
		post, _ := b.Phase(PhasePostBuild)
		pre, _ := b.Phase(PhasePreBuild)
		build, _ := b.Phase(PhaseBuild)
		if !reflect.DeepEqual(post.Commands, pre.Commands) || len(post.Commands) != 2 {
			t.Errorf("post_build commands = %v", post.Commands)
		}
		for _, p := range []*Phase{pre, build, post} {
			if p.OnFailure.Mode != OnFailureRetry || p.OnFailure.Retries != 3 {
				t.Errorf("%s on-failure = %+v", p.Name, p.OnFailure)
			}
		}
	})
	t.Run("install with only runtime-versions", func(t *testing.T) {
		b := mustParse(t, "rt.yml", string(readTestdata(t, "runtime-only-install.yml")))
		if got := b.Phases[0].RuntimeVersions["python"]; got != "3.12" || b.Phases[0].Commands != nil {
			t.Errorf("install = %+v", b.Phases[0])
		}
	})
	t.Run("version forms", func(t *testing.T) {
		for src, want := range map[string]string{
			`0.2`: "0.2", `"0.2"`: "0.2", `'0.1'`: "0.1", `0.1`: "0.1", `0.20`: "0.2",
		} {
			b := mustParse(t, src, "version: "+src+"\nphases:\n  build:\n    commands: [make]\n")
			if b.Version != want {
				t.Errorf("version: %s → %q, want %q", src, b.Version, want)
			}
		}
	})
	t.Run("byte order mark and CRLF", func(t *testing.T) {
		b := mustParse(t, "bom.yml", "\xef\xbb\xbfversion: 0.2\r\nphases:\r\n  build:\r\n    commands:\r\n      - make\r\n")
		if b.Phases[0].Commands[0] != (Command{Text: "make", Line: 5}) {
			t.Errorf("got %+v", b.Phases[0].Commands)
		}
	})
	t.Run("scalars in commands keep their text", func(t *testing.T) {
		b := mustParse(t, "s.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n      - 1.10\n      - 0x1F\n      - 2024-01-02\n      - ~/bin/tool\n")
		var got []string
		for _, c := range b.Phases[0].Commands {
			got = append(got, c.Text)
		}
		if want := []string{"true", "1.10", "0x1F", "2024-01-02", "~/bin/tool"}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("run-as inheritance", func(t *testing.T) {
		b := mustParse(t, "r.yml", "version: 0.2\nrun-as: app\nphases:\n  install:\n    run-as: root\n    commands: [x]\n  build:\n    commands: [y]\n")
		if b.Phases[0].RunAs != "root" || b.Phases[1].RunAs != "app" || b.RunAs != "app" {
			t.Errorf("got %q %q %q", b.RunAs, b.Phases[0].RunAs, b.Phases[1].RunAs)
		}
	})
}

func TestBooleans(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{
		{"yes", true}, {"Yes", true}, {"YES", true}, {"true", true}, {"True", true}, {"TRUE", true}, {`"yes"`, true},
		{"no", false}, {"No", false}, {"NO", false}, {"false", false}, {"False", false}, {"'no'", false}, {"", false},
	} {
		src := "version: 0.2\nenv:\n  git-credential-helper: " + tc.value + "\nphases:\n  build:\n    commands: [x]\n" +
			"artifacts:\n  files: [a]\n  discard-paths: " + tc.value + "\n  enable-symlinks: " + tc.value +
			"\nproxy:\n  logs: " + tc.value + "\n  upload-artifacts: " + tc.value +
			"\nreports:\n  r:\n    files: [a]\n    discard-paths: " + tc.value + "\n"
		b := mustParse(t, tc.value, src)
		got := []bool{b.Env.GitCredentialHelper, b.Artifacts.DiscardPaths, b.Artifacts.EnableSymlinks, b.Proxy.Logs,
			b.Proxy.UploadArtifacts, b.Reports[0].DiscardPaths}
		for i, g := range got {
			if g != tc.want {
				t.Errorf("%q: switch %d = %v, want %v", tc.value, i, g, tc.want)
			}
		}
	}
	for _, bad := range []string{"on", "off", "y", "1", "enabled", "[yes]"} {
		_, err := Parse("b.yml", []byte("version: 0.2\nphases:\n  build:\n    commands: [x]\nartifacts:\n  files: [a]\n  discard-paths: "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "artifacts.discard-paths: must be yes or no") {
			t.Errorf("discard-paths: %s: err = %v", bad, err)
		}
	}
}

func TestOnFailure(t *testing.T) {
	for _, tc := range []struct {
		in      string
		mode    string
		retries int
		pattern string
		problem string
	}{
		{in: "ABORT", mode: "ABORT"},
		{in: "abort", mode: "ABORT"},
		{in: "CONTINUE", mode: "CONTINUE"},
		{in: "RETRY", mode: "RETRY", retries: 3},
		{in: "RETRY-0", mode: "RETRY", retries: 0},
		{in: "RETRY-5", mode: "RETRY", retries: 5},
		{in: "retry-100", mode: "RETRY", retries: 100},
		{in: "RETRY-Connection reset", mode: "RETRY", retries: 3, pattern: "Connection reset"},
		{in: "RETRY-.*timeout.*", mode: "RETRY", retries: 3, pattern: ".*timeout.*"},
		{in: "RETRY-2-Throttl(ed|ing)", mode: "RETRY", retries: 2, pattern: "Throttl(ed|ing)"},
		{in: "RETRY-3-4-5", mode: "RETRY", retries: 3, pattern: "4-5"},
		{in: "RETRY-abc-5", mode: "RETRY", retries: 3, pattern: "abc-5"},
		{in: "RETRY-5x", mode: "RETRY", retries: 3, pattern: "5x"},
		{in: "RETRY-101", problem: "retry count 101 is out of range: use 0 to 100"},
		{in: "RETRY-0005", problem: "out of range"},
		{in: "RETRY-404-Not Found", problem: "retry count 404 is out of range"},
		{in: "RETRY-", problem: "needs a count or a regex"},
		{in: "RETRY-3-", problem: "give a regex after the count"},
		{in: "RETRY-(unclosed", problem: "invalid regex"},
		{in: "STOP", problem: `unknown on-failure "STOP": use ABORT, CONTINUE, RETRY, RETRY-<count>, RETRY-<regex> or RETRY-<count>-<regex>`},
		{in: "RETRY 3", problem: "unknown on-failure"},
		{in: "RETRY-" + strings.Repeat("a", maxRegexLen+1), problem: "longer than 4096 characters"},
	} {
		of, problem := parseOnFailure(tc.in)
		if tc.problem != "" {
			if !strings.Contains(problem, tc.problem) {
				t.Errorf("%q: problem %q, want it to contain %q", clip(tc.in), problem, tc.problem)
			}
			continue
		}
		if problem != "" {
			t.Errorf("%q: unexpected problem %q", tc.in, problem)
			continue
		}
		pat := ""
		if of.Pattern != nil {
			pat = of.Pattern.String()
		}
		if of.Mode != tc.mode || of.Retries != tc.retries || pat != tc.pattern {
			t.Errorf("%q → %+v (pattern %q), want %s/%d/%q", tc.in, of, pat, tc.mode, tc.retries, tc.pattern)
		}
	}
}

func TestSecretRef(t *testing.T) {
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
	for _, tc := range []struct {
		in      string
		want    SecretRef
		problem string
	}{
		{in: "my-secret", want: SecretRef{SecretID: "my-secret"}},
		{in: "my-secret:password", want: SecretRef{SecretID: "my-secret", JSONKey: "password"}},
		{in: "my-secret:password:AWSPREVIOUS", want: SecretRef{SecretID: "my-secret", JSONKey: "password", VersionStage: "AWSPREVIOUS"}},
		{in: "my-secret:::v-1", want: SecretRef{SecretID: "my-secret", VersionID: "v-1"}},
		{in: "my-secret::AWSPENDING", want: SecretRef{SecretID: "my-secret", VersionStage: "AWSPENDING"}},
		{in: arn, want: SecretRef{SecretID: arn}},
		{in: arn + ":user", want: SecretRef{SecretID: arn, JSONKey: "user"}},
		{in: arn + ":user:AWSCURRENT:v1", want: SecretRef{SecretID: arn, JSONKey: "user", VersionStage: "AWSCURRENT", VersionID: "v1"}},
		{in: "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x", want: SecretRef{SecretID: "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x"}},
		{in: ":key", problem: "the secret id is empty"},
		{in: "a:b:c:d:e", problem: "too many ':'-separated parts"},
		{in: arn + ":a:b:c:d", problem: "too many"},
		{in: "arn:aws:ssm:us-east-1:123456789012:parameter/x", problem: "is not a Secrets Manager secret ARN"},
		{in: "arn:aws:secretsmanager:us-east-1:123456789012:secret:", problem: "is not a Secrets Manager secret ARN"},
		{in: "arn:aws:secretsmanager", problem: "is not a Secrets Manager secret ARN"},
	} {
		got, problem := parseSecretRef(tc.in)
		if tc.problem != "" {
			if !strings.Contains(problem, tc.problem) {
				t.Errorf("%q: problem %q, want %q", tc.in, problem, tc.problem)
			}
			continue
		}
		if problem != "" || got != tc.want {
			t.Errorf("%q → %+v %q, want %+v", tc.in, got, problem, tc.want)
		}
		if s := got.String(); s != strings.TrimRight(tc.in, ":") && tc.in != "my-secret:::v-1" && tc.in != "my-secret::AWSPENDING" {
			t.Errorf("%q: String() = %q", tc.in, s)
		}
	}
	if s := (SecretRef{SecretID: "s", VersionID: "v"}).String(); s != "s:::v" {
		t.Errorf("String() = %q", s)
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Parse("buildspec.yml", []byte("version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"Hello: world\"\n  pre-build:\n    commands: [x]\n"))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %T %v", err, err)
	}
	want := `buildspec.yml:5:9: phases.build.commands[0]: must be a string, found a mapping: quote the command, it contains ": ": - 'echo "Hello: world"'
buildspec.yml:6:3: phases.pre-build: unknown key "pre-build" (did you mean "pre_build"?); allowed here: install, pre_build, build, post_build`
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	ctx := es.ContextMessage()
	if want := `phases.build.commands[0]: must be a string, found a mapping: quote the command, it contains ": ": - 'echo "Hello: world"' at line 5, column 9 (and 1 more problem)`; ctx != want {
		t.Errorf("ContextMessage:\n got %s\nwant %s", ctx, want)
	}
	if got := (Errors{{Message: "the file is empty"}}).ContextMessage(); got != "the file is empty" {
		t.Errorf("ContextMessage = %q", got)
	}
	if got := (Errors{{Line: 3, Message: "invalid YAML: x"}, {}, {}}).ContextMessage(); got != "invalid YAML: x at line 3 (and 2 more problems)" {
		t.Errorf("ContextMessage = %q", got)
	}
	if (Errors{}).ContextMessage() != "" {
		t.Error("empty ContextMessage")
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 0.2\nphases:\n  build:\n    commands:\n")
	for range 150 {
		b.WriteString("      - a: b\n")
	}
	_, err := Parse("many.yml", []byte(b.String()))
	var es Errors
	if !errors.As(err, &es) || len(es) != maxReportedErrors+1 {
		t.Fatalf("got %d errors", len(es))
	}
	if last := es[len(es)-1]; last.Message != "50 more problems not shown; fix these first" || last.File != "many.yml" {
		t.Errorf("last = %+v", last)
	}
}
