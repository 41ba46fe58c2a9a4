// Package buildspec parses and validates AWS CodeBuild buildspec files (versions 0.2 and 0.1) so
// that Conveyor can run them unchanged. It only reads the file: running it is the build runner's job.
//
// The API is one function and plain data:
//
//	func Parse(filename string, data []byte) (*Buildspec, error)
//
// Parse returns either a validated *Buildspec or an Errors value listing every problem at once,
// sorted by position, each with the file, line, column, the path of the key
// (phases.build.commands[2]) and a message that says how to fix it:
//
//	buildspec.yml:14:9: phases.build.commands[1]: must be a string, found a mapping: quote the command, it contains ": ": - 'echo "Hello: world"'
//	buildspec.yml:9:3: phases.pre-build: unknown key "pre-build" (did you mean "pre_build"?); allowed here: install, pre_build, build, post_build
//
// Errors.ContextMessage gives the one-line form for the DOWNLOAD_SOURCE phase context, whose status
// code is ContextStatusCode (YAML_FILE_ERROR), as in CodeBuild.
//
// # What is checked
//
//   - version is required, 0.1 or 0.2 (the YAML number or a string).
//   - Every mapping accepts only its documented keys; an unknown key is an error that names the
//     allowed ones and suggests the closest (CodeBuild itself only logs a warning for unknown keys and
//     skips them, which hides typos such as pre-build). Duplicate keys are errors.
//   - phases is required and holds at least one phase. A phase that is present needs commands (the
//     install phase may have only runtime-versions); finally needs commands; runtime-versions is only
//     allowed in install. Commands are strings; numbers and booleans keep their literal text; an
//     unquoted command containing ": " (which YAML reads as a mapping) is reported with the quoted form.
//   - on-failure is ABORT, CONTINUE, RETRY, RETRY-<count> (0-100), RETRY-<regex> or
//     RETRY-<count>-<regex>; see OnFailure.
//   - yes/no switches (discard-paths, enable-symlinks, git-credential-helper, proxy keys) take yes, no,
//     true or false in any case.
//   - env: variable names are valid shell names and do not start with CODEBUILD_; each name is defined
//     once across variables, parameter-store and secrets-manager; exported-variables may not start
//     with AWS_ nor name a parameter-store or secrets-manager variable; secrets-manager references are
//     split into their parts (SecretRef); shell is bash or /bin/sh (Windows shells are refused).
//   - artifacts needs files, even when it only has secondary artifacts; so does every secondary
//     artifact. reports need files, file-format is one of CodeBuild's ten formats, at most 5 report
//     groups. cache needs paths, at most 5 fallback-keys, action restore or save.
//   - batch is refused: Conveyor does not run batch builds.
//
// Hostile input is cheap to refuse: files over MaxSize (1 MiB) are rejected before parsing; YAML
// aliases count as what they expand to against a budget of 300,000 values, and nesting is limited
// to 32 levels, so alias bombs and deep nesting fail fast; Parse never panics.
//
// # Representation
//
// Phases are listed in execution order whatever order the file uses. Values not written are zero:
// Env.Shell "" (runner's default shell), Phase.OnFailure.Mode "" (CodeBuild's default phase
// transitions), Buildspec.Artifacts and Cache nil. Phase.RunAs already resolves the global run-as.
// Report.FileFormat defaults to JUNITXML. Environment values are literal text: nothing is expanded.
package buildspec
