// Package appspec parses the appspec.yml of an EC2/on-premises (CodeDeploy "Server" platform)
// revision: version 0.0, os linux, files, file_exists_behavior, permissions and hooks.
//
// Parse returns every problem it finds with the file, line, column and field it concerns
// ("appspec.yml:12:7: hooks.BeforeInstall[0].timeout: must be a whole number of seconds, found
// a string"). Input is treated as hostile: the file size, YAML nesting and alias expansion are
// bounded and the YAML library's panics are recovered.
//
// Where this parser and AWS's agent differ, on purpose:
//
//   - An unknown key, or an unknown lifecycle event under hooks, is an error with a suggestion
//     (AWS ignores unknown keys, so a typo such as "hook:" silently skips every script).
//   - mode is read as written: `mode: 0644` is 0644. AWS's agent reads YAML 1.1, where an
//     unquoted 0644 is the octal number 420, and so sets mode 0420.
//   - A hook timeout above 3600 seconds is lowered to 3600 with a warning (CodeDeploy fails an
//     event after an hour anyway); SELinux context is ignored with a warning.
//   - version may be written 0.0, 0 or "0.0".
//   - pattern and except are path.Match patterns (AWS supports only '*'): '?' and [...] work too.
package appspec
