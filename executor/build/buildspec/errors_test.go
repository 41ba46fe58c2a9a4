package buildspec

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files under testdata")

// head is a valid start (lines 1-4); cases append the section under test from line 5 on.
const head = "version: 0.2\nphases:\n  build:\n    commands: [make]\n"

type wantErr struct {
	field     string
	line, col int
	fragment  string // the message contains it
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []wantErr
	}{
		// --- the file as a whole ---
		{"empty file", "", []wantErr{{"", 0, 0, "the file is empty"}}},
		{"only a comment", "# nothing\n", []wantErr{{"", 0, 0, "the file is empty"}}},
		{"not a mapping", "- a\n- b\n", []wantErr{{"", 1, 1, "a buildspec must be a YAML mapping (version: 0.2, phases: …), found a list"}}},
		{"a scalar", "hello\n", []wantErr{{"", 1, 1, "must be a YAML mapping"}}},
		{"two documents", head + "---\nversion: 0.2\n", []wantErr{{"", 5, 0, "more than one YAML document"}}},
		{"syntax error", "version: 0.2\nphases:\n  build:\n    commands:\n      - [unclosed\n", []wantErr{{"", 5, 0, "invalid YAML: did not find expected ',' or ']' (at or after this line)"}}},
		{"tab indentation", "version: 0.2\nphases:\n\tbuild:\n", []wantErr{{"", 3, 0, "(YAML indentation must use spaces, not tabs)"}}},
		{"backtick command", "version: 0.2\nphases:\n  build:\n    commands:\n      - `date` > now\n", []wantErr{{"", 5, 0, "invalid YAML: found character that cannot start any token (a value starting with `, @ or % must be quoted)"}}},
		{"colon-space in a quoted command", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"a: b\" : c\n", []wantErr{{"", 5, 0, `invalid YAML: mapping values are not allowed in this context (a list item containing ": " must be quoted)`}}},
		{"bad indentation", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a\n     - echo b\n", []wantErr{{"", 4, 0, "invalid YAML: did not find expected key (at or after this line)"}}},
		{"duplicate key", head + "artifacts:\n  files: [a]\nartifacts:\n  files: [b]\n", []wantErr{{"", 7, 1, `duplicate key "artifacts"`}}},
		{"duplicate phase", "version: 0.2\nphases:\n  build:\n    commands: [a]\n  build:\n    commands: [b]\n", []wantErr{{"", 5, 3, `duplicate key "build"`}}},
		{"unknown alias", head + "cache:\n  paths: *nope\n", []wantErr{{"", 6, 10, "invalid YAML: alias *nope refers to an anchor &nope that is not defined before it"}}},
		{"custom tag", head + "cache:\n  paths: !Ref Paths\n", []wantErr{{"", 6, 10, "unsupported YAML tag !Ref"}}},

		// --- version ---
		{"version missing", "phases:\n  build:\n    commands: [make]\n", []wantErr{{"version", 1, 1, `version is required: add "version: 0.2" at the top`}}},
		{"version 0.3", "version: 0.3\nphases:\n  build:\n    commands: [make]\n", []wantErr{{"version", 1, 10, `unsupported buildspec version "0.3": use 0.2 (or 0.1)`}}},
		{"version 1", "version: 1\nphases:\n  build:\n    commands: [make]\n", []wantErr{{"version", 1, 10, `unsupported buildspec version "1"`}}},
		{"version text", "version: latest\nphases:\n  build:\n    commands: [make]\n", []wantErr{{"version", 1, 10, `unsupported buildspec version "latest"`}}},
		{"version empty", "version:\nphases:\n  build:\n    commands: [make]\n", []wantErr{{"version", 1, 1, "version must not be empty"}}},
		{"version list", "version: [0.2]\nphases:\n  build:\n    commands: [make]\n", []wantErr{{"version", 1, 10, "must be a string, found a list"}}},

		// --- unknown keys ---
		{"unknown top-level key", head + "artifact:\n  files: [a]\n", []wantErr{{"artifact", 5, 1, `unknown key "artifact" (did you mean "artifacts"?); allowed here: version, run-as, env, proxy, batch, phases, reports, artifacts, cache`}}},
		{"pre-build", "version: 0.2\nphases:\n  pre-build:\n    commands: [a]\n", []wantErr{{"phases.pre-build", 3, 3, `unknown key "pre-build" (did you mean "pre_build"?); allowed here: install, pre_build, build, post_build`}}},
		{"postbuild", "version: 0.2\nphases:\n  postbuild:\n    commands: [a]\n", []wantErr{{"phases.postbuild", 3, 3, `(did you mean "post_build"?)`}}},
		{"Build in capitals", "version: 0.2\nphases:\n  Build:\n    commands: [a]\n", []wantErr{{"phases.Build", 3, 3, `(did you mean "build"?)`}}},
		{"commands directly under phases", "version: 0.2\nphases:\n  commands:\n    - make\n", []wantErr{{"phases.commands", 3, 3, `unknown key "commands" (commands belongs inside a phase (install, pre_build, build or post_build): check the indentation)`}}},
		{"artifacts indented under phases", head + "  artifacts:\n    files: [a]\n", []wantErr{{"phases.artifacts", 5, 3, "artifacts is a top-level key: check the indentation"}}},
		{"unknown phase key", "version: 0.2\nphases:\n  build:\n    command:\n      - make\n", []wantErr{
			{"phases.build.commands", 3, 3, "commands is required when a phase is present"},
			{"phases.build.command", 4, 5, `unknown key "command" (did you mean "commands"?); allowed here: run-as, on-failure, runtime-versions, commands, finally`},
		}},
		{"phase env", "version: 0.2\nphases:\n  build:\n    env:\n      variables: {A: b}\n    commands: [make]\n", []wantErr{{"phases.build.env", 4, 5, `unknown key "env" (env is a top-level key: check the indentation)`}}},
		{"runtime_versions", "version: 0.2\nphases:\n  install:\n    runtime_versions:\n      golang: 1.22\n    commands: [x]\n", []wantErr{{"phases.install.runtime_versions", 4, 5, `(did you mean "runtime-versions"?)`}}},
		{"unknown env key", head + "env:\n  vars:\n    A: b\n", []wantErr{{"env.vars", 6, 3, `unknown key "vars"; allowed here: shell, variables, parameter-store, secrets-manager, exported-variables, git-credential-helper`}}},
		{"exported_variables", head + "env:\n  exported_variables: [A]\n", []wantErr{{"env.exported_variables", 6, 3, `(did you mean "exported-variables"?)`}}},
		{"unknown artifacts key", head + "artifacts:\n  files: [a]\n  discard_paths: yes\n", []wantErr{{"artifacts.discard_paths", 7, 3, `(did you mean "discard-paths"?)`}}},
		{"unknown cache key", head + "cache:\n  paths: [a]\n  path: [b]\n", []wantErr{{"cache.path", 7, 3, `unknown key "path" (did you mean "paths"?); allowed here: paths, key, fallback-keys, action`}}},
		{"unknown report key", head + "reports:\n  r:\n    files: [a]\n    format: JUNITXML\n", []wantErr{{"reports.r.format", 8, 5, `unknown key "format"; allowed here: files, base-directory, discard-paths, file-format`}}},
		{"unknown proxy key", head + "proxy:\n  upload: yes\n", []wantErr{{"proxy.upload", 6, 3, `unknown key "upload"; allowed here: upload-artifacts, logs`}}},
		{"phases is a list", "version: 0.2\nphases:\n  - build\n", []wantErr{{"phases", 3, 3, "must be a mapping of install, pre_build, build, post_build, found a list"}}},

		// --- phases and commands ---
		{"phases missing", "version: 0.2\nartifacts:\n  files: [a]\n", []wantErr{{"phases", 1, 1, "phases is required"}}},
		{"phases empty", "version: 0.2\nphases:\n", []wantErr{{"phases", 2, 1, "phases must have at least one of install, pre_build, build, post_build"}}},
		{"phase without anything", "version: 0.2\nphases:\n  build:\n", []wantErr{{"phases.build.commands", 3, 3, "commands is required when a phase is present: list the phase's commands, or remove the phase"}}},
		{"install without commands", "version: 0.2\nphases:\n  install:\n    run-as: root\n", []wantErr{{"phases.install.commands", 3, 3, "commands (or runtime-versions) is required when the install phase is present"}}},
		{"commands empty list", "version: 0.2\nphases:\n  build:\n    commands: []\n", []wantErr{{"phases.build.commands", 4, 15, "must list at least one command"}}},
		{"commands null", "version: 0.2\nphases:\n  build:\n    commands:\n", []wantErr{{"phases.build.commands", 4, 5, "must list at least one command"}}},
		{"commands a string", "version: 0.2\nphases:\n  build:\n    commands: make\n", []wantErr{{"phases.build.commands", 4, 15, `must be a list of commands (one per line, starting with "- "), found a string`}}},
		{"colon-space command", "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n      - echo Build started: now\n", []wantErr{
			{"phases.build.commands[1]", 6, 9, `must be a string, found a mapping: quote the command, it contains ": ": - 'echo Build started: now'`}}},
		{"colon-space command with quotes inside", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo it's: done\n", []wantErr{
			{"phases.build.commands[0]", 5, 9, `quote the command, it contains ": ": - 'echo it''s: done'`}}},
		{"colon-space command with a comment", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b # note\n", []wantErr{
			{"phases.build.commands[0]", 5, 9, `must be a string, found a mapping: quote the command, it contains ": "`}}},
		{"colon at end of command", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo done:\n", []wantErr{
			{"phases.build.commands[0]", 5, 9, `quote the command, it contains ": ": - 'echo done:'`}}},
		{"flow mapping command", "version: 0.2\nphases:\n  build:\n    commands:\n      - {echo hi}\n", []wantErr{
			{"phases.build.commands[0]", 5, 9, "YAML reads {…} as a mapping; quote the command"}}},
		{"list command", "version: 0.2\nphases:\n  build:\n    commands:\n      - [a, b]\n", []wantErr{
			{"phases.build.commands[0]", 5, 9, "must be a string, found a list: quote the command"}}},
		{"empty command", "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n      -\n      - test\n", []wantErr{
			{"phases.build.commands[1]", 6, 8, "empty command: write a command after the dash or remove the line"}}},
		{"finally without commands", "version: 0.2\nphases:\n  build:\n    finally:\n      - echo done\n", []wantErr{
			{"phases.build.commands", 3, 3, "commands is required"},
			{"phases.build.finally", 4, 5, "finally needs commands: it runs after the phase's commands"},
		}},
		{"install runtimes and finally", "version: 0.2\nphases:\n  install:\n    runtime-versions: {golang: 1.22}\n    finally: [x]\n", []wantErr{
			{"phases.install.finally", 5, 5, "finally needs commands"}}},
		{"finally empty", "version: 0.2\nphases:\n  build:\n    commands: [a]\n    finally: []\n", []wantErr{{"phases.build.finally", 5, 14, "must list at least one command"}}},
		{"phase is a list", "version: 0.2\nphases:\n  build:\n    - make\n", []wantErr{{"phases.build", 4, 5, "must be a mapping of run-as, on-failure, runtime-versions, commands, finally, found a list"}}},

		// --- runtime-versions ---
		{"runtime-versions outside install", "version: 0.2\nphases:\n  build:\n    runtime-versions:\n      golang: 1.22\n    commands: [make]\n", []wantErr{
			{"phases.build.runtime-versions", 4, 5, "runtime-versions is only allowed in the install phase"}}},
		{"runtime-versions empty", "version: 0.2\nphases:\n  install:\n    runtime-versions:\n    commands: [x]\n", []wantErr{
			{"phases.install.runtime-versions", 4, 5, "must name at least one runtime"}}},
		{"runtime version null", "version: 0.2\nphases:\n  install:\n    runtime-versions:\n      golang:\n", []wantErr{
			{"phases.install.runtime-versions.golang", 5, 7, "golang needs a version (e.g. latest)"}}},
		{"runtime version a list", "version: 0.2\nphases:\n  install:\n    runtime-versions:\n      golang: [1.21, 1.22]\n", []wantErr{
			{"phases.install.runtime-versions.golang", 5, 15, "the version must be a value (e.g. 1.22 or latest), found a list"}}},
		{"runtime-versions a list", "version: 0.2\nphases:\n  install:\n    runtime-versions: [golang]\n", []wantErr{
			{"phases.install.runtime-versions", 4, 23, "must be a mapping of runtime: version"}}},

		// --- on-failure and run-as ---
		{"on-failure invalid", "version: 0.2\nphases:\n  build:\n    on-failure: IGNORE\n    commands: [make]\n", []wantErr{
			{"phases.build.on-failure", 4, 17, `unknown on-failure "IGNORE": use ABORT, CONTINUE, RETRY, RETRY-<count>, RETRY-<regex> or RETRY-<count>-<regex>`}}},
		{"on-failure count out of range", "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-500\n    commands: [make]\n", []wantErr{
			{"phases.build.on-failure", 4, 17, "retry count 500 is out of range: use 0 to 100"}}},
		{"on-failure bad regex", "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2-[a-\n    commands: [make]\n", []wantErr{
			{"phases.build.on-failure", 4, 17, `invalid regex "[a-" after RETRY-`}}},
		{"on-failure empty", "version: 0.2\nphases:\n  build:\n    on-failure:\n    commands: [make]\n", []wantErr{
			{"phases.build.on-failure", 4, 5, "on-failure must not be empty"}}},
		{"run-as empty", "version: 0.2\nrun-as: ''\nphases:\n  build:\n    commands: [make]\n", []wantErr{{"run-as", 2, 1, "run-as must not be empty"}}},
		{"run-as with spaces", "version: 0.2\nphases:\n  build:\n    run-as: code build\n    commands: [make]\n", []wantErr{
			{"phases.build.run-as", 4, 13, `"code build" is not a Linux user name`}}},

		// --- env ---
		{"CODEBUILD_ variable", head + "env:\n  variables:\n    CODEBUILD_BUILD_ID: x\n", []wantErr{
			{"env.variables.CODEBUILD_BUILD_ID", 7, 5, "names starting with CODEBUILD_ are reserved"}}},
		{"CODEBUILD_ parameter", head + "env:\n  parameter-store:\n    CODEBUILD_X: /p\n", []wantErr{
			{"env.parameter-store.CODEBUILD_X", 7, 5, "reserved"}}},
		{"invalid variable names", head + "env:\n  variables:\n    my-var: x\n    1ST: y\n    \"A B\": z\n", []wantErr{
			{"env.variables.my-var", 7, 5, `"my-var" is not a valid environment variable name (letters, digits and _, not starting with a digit)`},
			{"env.variables.1ST", 8, 5, `"1ST" is not a valid environment variable name`},
			{"env.variables.A B", 9, 5, `"A B" is not a valid environment variable name`},
		}},
		{"variable value a mapping", head + "env:\n  variables:\n    A:\n      b: c\n", []wantErr{
			{"env.variables.A", 8, 7, "must be a value (a string), found a mapping"}}},
		{"variables a list", head + "env:\n  variables:\n    - A=b\n", []wantErr{
			{"env.variables", 7, 5, "must be a mapping of NAME: value, found a list"}}},
		{"parameter without name", head + "env:\n  parameter-store:\n    TOKEN:\n", []wantErr{
			{"env.parameter-store.TOKEN", 7, 5, "TOKEN needs a value"}}},
		{"parameter name with spaces", head + "env:\n  parameter-store:\n    TOKEN: my param\n", []wantErr{
			{"env.parameter-store.TOKEN", 7, 12, `"my param" is not a parameter name`}}},
		{"secret with too many parts", head + "env:\n  secrets-manager:\n    S: a:b:c:d:e\n", []wantErr{
			{"env.secrets-manager.S", 7, 8, `"a:b:c:d:e" has too many ':'-separated parts; the form is secret-id[:json-key[:version-stage[:version-id]]]`}}},
		{"secret with a bad ARN", head + "env:\n  secrets-manager:\n    S: arn:aws:ssm:eu-west-1:1:parameter/x\n", []wantErr{
			{"env.secrets-manager.S", 7, 8, "is not a Secrets Manager secret ARN"}}},
		{"secret with empty id", head + "env:\n  secrets-manager:\n    S: ':key'\n", []wantErr{
			{"env.secrets-manager.S", 7, 8, "the secret id is empty"}}},
		{"variable defined twice", head + "env:\n  variables:\n    TOKEN: x\n  parameter-store:\n    TOKEN: /t\n", []wantErr{
			{"env.parameter-store.TOKEN", 9, 5, "TOKEN is also defined in env.variables; define each variable once"}}},
		{"export AWS_", head + "env:\n  exported-variables:\n    - AWS_REGION\n", []wantErr{
			{"env.exported-variables[0]", 7, 7, "AWS_REGION cannot be exported: CodeBuild does not export variables whose names start with AWS_"}}},
		{"export a parameter", head + "env:\n  parameter-store:\n    PASS: /p\n  exported-variables:\n    - PASS\n", []wantErr{
			{"env.exported-variables[0]", 9, 7, "PASS comes from env.parameter-store; CodeBuild does not export parameter-store or secrets-manager variables"}}},
		{"export a secret", head + "env:\n  exported-variables: [X, TOKEN]\n  secrets-manager:\n    TOKEN: s:k\n", []wantErr{
			{"env.exported-variables[1]", 6, 27, "TOKEN comes from env.secrets-manager"}}},
		{"export an invalid name", head + "env:\n  exported-variables:\n    - app-version\n    - A\n    - A\n", []wantErr{
			{"env.exported-variables[0]", 7, 7, `"app-version" is not a valid environment variable name`},
			{"env.exported-variables[2]", 9, 7, "A is listed twice"},
		}},
		{"export after a bad item", head + "env:\n  exported-variables:\n    -\n    - [x]\n    - B\n    - B\n", []wantErr{
			{"env.exported-variables[0]", 7, 6, "empty list item"},
			{"env.exported-variables[1]", 8, 7, "must be a variable name (a string), found a list"},
			{"env.exported-variables[3]", 10, 7, "B is listed twice"},
		}},
		{"exported-variables a mapping", head + "env:\n  exported-variables:\n    A: b\n", []wantErr{
			{"env.exported-variables", 7, 5, "must be a list of variable names"}}},
		{"powershell", head + "env:\n  shell: powershell.exe\n", []wantErr{
			{"env.shell", 6, 10, "Windows shells are not supported: Conveyor runs builds in Linux containers; use bash or /bin/sh"}}},
		{"cmd.exe", head + "env:\n  shell: cmd.exe\n", []wantErr{{"env.shell", 6, 10, "Windows shells are not supported"}}},
		{"zsh", head + "env:\n  shell: zsh\n", []wantErr{{"env.shell", 6, 10, `unsupported shell "zsh": use bash or /bin/sh`}}},
		{"git-credential-helper maybe", head + "env:\n  git-credential-helper: maybe\n", []wantErr{
			{"env.git-credential-helper", 6, 26, `must be yes or no (true and false work too), found "maybe"`}}},
		{"env a list", head + "env:\n  - A\n", []wantErr{{"env", 6, 3, "must be a mapping of shell, variables"}}},

		// --- batch and proxy ---
		{"batch", head + "batch:\n  fast-fail: true\n  build-list:\n    - identifier: a\n", []wantErr{
			{"batch", 5, 1, "batch builds are not supported by Conveyor"}}},
		{"proxy bad value", head + "proxy:\n  logs: sometimes\n", []wantErr{{"proxy.logs", 6, 9, "must be yes or no"}}},

		// --- reports ---
		{"report without files", head + "reports:\n  unit:\n    base-directory: out\n", []wantErr{
			{"reports.unit.files", 6, 3, "files is required: list the report files"}}},
		{"report files empty", head + "reports:\n  unit:\n    files: []\n", []wantErr{{"reports.unit.files", 7, 12, "must list at least one file path"}}},
		{"report file-format unknown", head + "reports:\n  unit:\n    files: [a]\n    file-format: xunit\n", []wantErr{
			{"reports.unit.file-format", 8, 18, `unknown report file format "xunit": use one of CUCUMBERJSON, JUNITXML, NUNITXML, NUNIT3XML, TESTNGXML, VISUALSTUDIOTRX, CLOVERXML, COBERTURAXML, JACOCOXML, SIMPLECOV`}}},
		{"six report groups", head + "reports:\n  a: {files: [x]}\n  b: {files: [x]}\n  c: {files: [x]}\n  d: {files: [x]}\n  e: {files: [x]}\n  f: {files: [x]}\n  g: {files: [x]}\n", []wantErr{
			{"reports.f", 11, 3, "a buildspec may send reports to at most 5 report groups, found 7"}}},
		{"report group ARN malformed", head + "reports:\n  arn:aws:codebuild:eu-west-1:1:project/x:\n    files: [a]\n", []wantErr{
			{"reports.arn:aws:codebuild:eu-west-1:1:project/x", 6, 3, "is not a report group ARN"}}},
		{"report null", head + "reports:\n  unit:\n", []wantErr{{"reports.unit.files", 6, 3, "files is required"}}},
		{"reports a list", head + "reports:\n  - unit\n", []wantErr{{"reports", 6, 3, "must be a mapping of report group name (or ARN) to report, found a list"}}},

		// --- artifacts ---
		{"artifacts without files", head + "artifacts:\n  name: out\n", []wantErr{
			{"artifacts.files", 5, 1, "files is required whenever artifacts is present, even with only secondary artifacts"}}},
		{"artifacts null", head + "artifacts:\n", []wantErr{{"artifacts.files", 5, 1, "files is required"}}},
		{"only secondary artifacts", head + "artifacts:\n  secondary-artifacts:\n    out1:\n      files: [a]\n", []wantErr{
			{"artifacts.files", 5, 1, "files is required whenever artifacts is present, even with only secondary artifacts"}}},
		{"secondary without files", head + "artifacts:\n  files: [a]\n  secondary-artifacts:\n    out1:\n      name: x\n", []wantErr{
			{"artifacts.secondary-artifacts.out1.files", 8, 5, "files is required: list the files to upload"}}},
		{"secondary nested", head + "artifacts:\n  files: [a]\n  secondary-artifacts:\n    out1:\n      files: [b]\n      secondary-artifacts: {}\n", []wantErr{
			{"artifacts.secondary-artifacts.out1.secondary-artifacts", 10, 7, `unknown key "secondary-artifacts"`}}},
		{"secondary empty identifier", head + "artifacts:\n  files: [a]\n  secondary-artifacts:\n    '':\n      files: [b]\n", []wantErr{
			{"artifacts.secondary-artifacts.", 8, 5, "the artifact identifier is empty"}}},
		{"secondary-artifacts empty", head + "artifacts:\n  files: [a]\n  secondary-artifacts:\n", []wantErr{
			{"artifacts.secondary-artifacts", 7, 3, "must name at least one artifact identifier"}}},
		{"files a string", head + "artifacts:\n  files: '**/*'\n", []wantErr{
			{"artifacts.files", 6, 10, `must be a list of file paths (one per line, starting with "- "), found a string`}}},
		{"files with an empty item", head + "artifacts:\n  files:\n    - a\n    -\n    - ''\n", []wantErr{
			{"artifacts.files[1]", 8, 6, "empty list item: write a file path after the dash or remove the line"},
			{"artifacts.files[2]", 9, 7, "empty file path"},
		}},
		{"files with a mapping", head + "artifacts:\n  files:\n    - a: b\n", []wantErr{
			{"artifacts.files[0]", 7, 7, "must be a file path (a string), found a mapping"}}},
		{"artifact name empty", head + "artifacts:\n  files: [a]\n  name: ''\n", []wantErr{{"artifacts.name", 7, 3, "name must not be empty"}}},
		{"enable-symlinks bad", head + "artifacts:\n  files: [a]\n  enable-symlinks: 1\n", []wantErr{{"artifacts.enable-symlinks", 7, 20, `found "1"`}}},
		{"exclude-paths a string", head + "artifacts:\n  files: [a]\n  exclude-paths: tmp\n", []wantErr{{"artifacts.exclude-paths", 7, 18, "must be a list of paths"}}},

		// --- cache ---
		{"cache without paths", head + "cache:\n  key: k\n", []wantErr{{"cache.paths", 5, 1, "paths is required when cache is present"}}},
		{"cache null", head + "cache:\n", []wantErr{{"cache.paths", 5, 1, "paths is required"}}},
		{"cache action", head + "cache:\n  paths: [a]\n  action: both\n", []wantErr{{"cache.action", 7, 11, `unknown cache action "both": use restore or save (leave it out to do both)`}}},
		{"six fallback keys", head + "cache:\n  paths: [a]\n  key: k\n  fallback-keys: [a, b, c, d, e, f]\n", []wantErr{
			{"cache.fallback-keys", 8, 18, "at most 5 fallback keys are allowed, found 6"}}},

		// --- several at once, sorted by position ---
		{"several problems", "version: 0.3\nenv:\n  variables:\n    CODEBUILD_X: 1\nphases:\n  pre-build:\n    commands: [a]\n  build:\n    commands:\n      - echo a: b\nartifacts:\n  name: x\n", []wantErr{
			{"version", 1, 10, "unsupported buildspec version"},
			{"env.variables.CODEBUILD_X", 4, 5, "reserved"},
			{"phases.pre-build", 6, 3, "did you mean"},
			{"phases.build.commands[0]", 10, 9, "quote the command"},
			{"artifacts.files", 11, 1, "files is required"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Parse("buildspec.yml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error; parsed %+v", b)
			}
			if b != nil {
				t.Error("a buildspec came back with the error")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors", err)
			}
			if len(es) != len(tc.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(es), len(tc.want), err)
			}
			for i, w := range tc.want {
				if i >= len(es) {
					break
				}
				e := es[i]
				if e.File != "buildspec.yml" || e.Field != w.field || e.Line != w.line || e.Column != w.col || !strings.Contains(e.Message, w.fragment) {
					t.Errorf("error %d:\n got %d:%d %q: %s\nwant %d:%d %q: …%s…", i, e.Line, e.Column, e.Field, e.Message, w.line, w.col, w.field, w.fragment)
				}
			}
		})
	}
}

// The complete report for a broken buildspec, as `conveyor` prints it. Run with -update to rewrite.
func TestErrorsGolden(t *testing.T) {
	data := readTestdata(t, "errors/broken.yml")
	_, err := Parse("broken.yml", data)
	if err == nil {
		t.Fatal("no error")
	}
	got := err.Error() + "\n\ncontext: " + err.(Errors).ContextMessage() + "\n"
	golden := "testdata/errors/broken.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func ExampleParse() {
	src := `version: 0.2
phases:
  pre-build:
    commands:
      - echo Logging in: now
  build:
    on-failure: RETRY-2
    commands:
      - make
`
	_, err := Parse("buildspec.yml", []byte(src))
	fmt.Println(err)
	// Output:
	// buildspec.yml:3:3: phases.pre-build: unknown key "pre-build" (did you mean "pre_build"?); allowed here: install, pre_build, build, post_build
}
