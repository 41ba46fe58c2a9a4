package build

import (
	"archive/tar"
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Paths inside the build container.
const (
	containerRoot   = "/codebuild"
	conveyorDir     = "/codebuild/conveyor" // scripts and shell state
	stateEnv        = conveyorDir + "/state/env"
	initialEnv      = conveyorDir + "/state/initial"
	statePwd        = conveyorDir + "/state/pwd"
	cacheMount      = "/codebuild/local-cache" // the project's cache volume
	outputRoot      = "/codebuild/output"
	succeedingParam = "__CV_SUCCEEDING"
)

// runScript runs one buildspec 0.2 command. CodeBuild runs a phase's commands in one shell, so
// variables and the working directory carry over between commands and phases; with one exec per
// command, the script restores what the previous command left, runs the command, and saves the
// state again when the shell exits (normally, or through `exit`). `set -a` exports every variable
// the command assigns, so plain assignments (`VERSION=$(…)`) survive too — the one visible
// difference from a single shell is that such variables are also in child processes' environment.
// CODEBUILD_BUILD_SUCCEEDING is owned by the runner: it is passed fresh on every exec.
const runScript = `__cv_dir=` + conveyorDir + `
__cv_cmd=$1
. "$__cv_dir/state/env" || exit 126
cd "$(cat "$__cv_dir/state/pwd" 2>/dev/null)" 2>/dev/null || cd "$CODEBUILD_SRC_DIR"
if [ -n "${` + succeedingParam + `-}" ]; then
	CODEBUILD_BUILD_SUCCEEDING=$` + succeedingParam + `
	export CODEBUILD_BUILD_SUCCEEDING
	unset ` + succeedingParam + `
fi
__cv_save() {
	set +a
	export -p >"$__cv_dir/state/env.$$" && mv -f "$__cv_dir/state/env.$$" "$__cv_dir/state/env"
	pwd >"$__cv_dir/state/pwd.$$" && mv -f "$__cv_dir/state/pwd.$$" "$__cv_dir/state/pwd"
	exit "$1"
}
trap '__cv_save $?' EXIT
set -a
eval "$__cv_cmd"
`

// runScript01 runs one buildspec 0.1 command: every command in a fresh shell with the build's
// initial variables, in CODEBUILD_SRC_DIR.
const runScript01 = `__cv_cmd=$1
. ` + initialEnv + ` || exit 126
if [ -n "${` + succeedingParam + `-}" ]; then
	CODEBUILD_BUILD_SUCCEEDING=$` + succeedingParam + `
	export CODEBUILD_BUILD_SUCCEEDING
	unset ` + succeedingParam + `
fi
cd "$CODEBUILD_SRC_DIR" || exit 126
eval "$__cv_cmd"
`

// exportScript prints the named variables that are set, as NAME NUL VALUE NUL pairs, from the
// shell state the last command left (or the initial state for 0.1 buildspecs).
const exportScript = `__cv_state=$1
shift
. "$__cv_state" 2>/dev/null
for __cv_n in "$@"; do
	eval "__cv_set=\${$__cv_n+set}"
	[ "$__cv_set" = set ] || continue
	eval "printf '%s\0%s\0' \"\$__cv_n\" \"\${$__cv_n}\""
done
`

// cacheScript restores or saves cache roots between the build and the project's cache volume.
// Usage: cache.sh restore|save ROOT... ; a root may use $VARIABLES (expanded in the build's shell
// state) and is relative to CODEBUILD_SRC_DIR unless absolute. Saves go to a temporary name in the
// volume and are renamed into place, so a concurrent build of the same project never restores
// half a cache.
const cacheScript = `__cv_mode=$1
shift
. ` + stateEnv + ` 2>/dev/null || . ` + initialEnv + `
cd "$CODEBUILD_SRC_DIR" || exit 1
for __cv_root in "$@"; do
	eval "__cv_path=\"$__cv_root\""
	__cv_key=$(printf '%s' "$__cv_root" | tr -c 'A-Za-z0-9._-' '_')
	__cv_dst="` + cacheMount + `/$__cv_key"
	if [ "$__cv_mode" = restore ]; then
		if [ -d "$__cv_dst" ]; then
			mkdir -p "$__cv_path" && cp -a "$__cv_dst/." "$__cv_path/" &&
				echo "restored $__cv_path from the cache ($(find "$__cv_dst" -type f | wc -l | tr -d ' ') files)"
		else
			echo "nothing cached for $__cv_path yet"
		fi
	elif [ -d "$__cv_path" ]; then
		__cv_tmp="$__cv_dst.tmp.$$"
		rm -rf "$__cv_tmp" && mkdir -p "$__cv_tmp" && cp -a "$__cv_path/." "$__cv_tmp/" &&
			rm -rf "$__cv_dst" && mv "$__cv_tmp" "$__cv_dst" &&
			echo "saved $__cv_path to the cache ($(find "$__cv_dst" -type f | wc -l | tr -d ' ') files)"
	else
		echo "$__cv_path does not exist: nothing to cache"
	fi
done
`

// shellQuote quotes a value for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// conveyorTar is the tar stream put into the container before the first command: the scripts and
// the initial shell state (the build's variables, sealed away from `docker inspect`, and the
// source directory as working directory). Everything is world-writable so that run-as users can
// carry the state too.
func conveyorTar(env *environment, srcDir string) []byte {
	var initial strings.Builder
	for _, n := range env.names {
		fmt.Fprintf(&initial, "export %s=%s\n", n, shellQuote(env.values[n]))
	}
	files := []struct {
		name string
		body string
		mode int64
	}{
		{"run.sh", runScript, 0o755},
		{"run01.sh", runScript01, 0o755},
		{"export.sh", exportScript, 0o755},
		{"cache.sh", cacheScript, 0o755},
		{"state/initial", initial.String(), 0o666},
		{"state/env", initial.String(), 0o666},
		{"state/pwd", srcDir + "\n", 0o666},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	_ = tw.WriteHeader(&tar.Header{Name: "state/", Typeflag: tar.TypeDir, Mode: 0o777, ModTime: now})
	for _, f := range files {
		_ = tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: now, Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(f.body))
	}
	_ = tw.Close()
	return buf.Bytes()
}

// cacheRoot is the directory a cache path pattern saves: the part before its first glob
// character ("node_modules/**/*" → "node_modules", "/root/.m2/**/*" → "/root/.m2").
func cacheRoot(pattern string) string {
	root := pattern
	if i := strings.IndexAny(pattern, "*?["); i >= 0 {
		root = pattern[:i]
	}
	root = strings.TrimSuffix(strings.TrimPrefix(root, "./"), "/")
	return root
}
