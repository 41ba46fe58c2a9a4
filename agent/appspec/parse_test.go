package appspec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/internal/fixtures"
)

// The sample app of the end-to-end fixtures, as it is shipped, in every version.
func TestParseSampleApp(t *testing.T) {
	for _, v := range []string{"v1", "v2-broken-port", "v3"} {
		data, err := os.ReadFile(filepath.Join(fixtures.Dir(t, "sample-app/"+v), "appspec.yml"))
		if err != nil {
			t.Fatal(err)
		}
		spec, err := Parse("appspec.yml", data)
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		want := &AppSpec{
			OS:                 "linux",
			Files:              []File{{Source: "", Destination: "/opt/sample-app", Line: 4}},
			FileExistsBehavior: Overwrite,
			Permissions: []Permission{{Object: "/opt/sample-app/scripts", Pattern: "*.sh", Mode: 0o755, HasMode: true,
				Files: true, Line: 8}},
			Hooks: map[string][]Script{
				"ApplicationStop":  {{Location: "scripts/stop_server.sh", Timeout: 60 * time.Second, Line: 15}},
				"BeforeInstall":    {{Location: "scripts/before_install.sh", Timeout: 60 * time.Second, Line: 18}},
				"ApplicationStart": {{Location: "scripts/start_server.sh", Timeout: 60 * time.Second, Line: 21}},
				"ValidateService":  {{Location: "scripts/validate_service.sh", Timeout: 60 * time.Second, Line: 24}},
			},
		}
		if !reflect.DeepEqual(spec, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", v, spec, want)
		}
	}
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   string
		check func(t *testing.T, s *AppSpec)
	}{
		{"minimal", "version: 0.0\nos: linux\n", func(t *testing.T, s *AppSpec) {
			if s.OS != "linux" || len(s.Files) != 0 || len(s.Hooks) != 0 || s.FileExistsBehavior != "" {
				t.Errorf("%+v", s)
			}
		}},
		{"version written 0 and quoted", "version: \"0.0\"\nos: linux\n", nil},
		{"version 0", "version: 0\nos: linux\n", nil},
		{"files and paths cleaned", `version: 0.0
os: linux
files:
  - source: /app/bin/
    destination: /opt/app//bin/
  - source: config/app.conf
    destination: /etc/app
  - source: ./
    destination: /srv
`, func(t *testing.T, s *AppSpec) {
			want := []File{{"app/bin", "/opt/app/bin", 4}, {"config/app.conf", "/etc/app", 6}, {"", "/srv", 8}}
			if !reflect.DeepEqual(s.Files, want) {
				t.Errorf("files %+v", s.Files)
			}
		}},
		{"permissions in full", `version: 0.0
os: linux
permissions:
  - object: /opt/app
    pattern: "**"
    except: [secret.key, "*.tmp"]
    owner: www-data
    group: www-data
    mode: 0640
    acls:
      - u:bob:rw
      - d:g:ops:5
      - "m::rx"
    type:
      - directory
  - object: /opt/app/run.sh
    mode: 4755
    owner: 0
`, func(t *testing.T, s *AppSpec) {
			p := s.Permissions[0]
			if p.Object != "/opt/app" || p.Pattern != "**" || !reflect.DeepEqual(p.Except, []string{"secret.key", "*.tmp"}) ||
				p.Owner != "www-data" || p.Group != "www-data" || p.Mode != 0o640 || !p.HasMode || p.Files || !p.Dirs {
				t.Errorf("permission %+v", p)
			}
			if want := []string{"user:bob:rw-", "default:group:ops:r-x", "mask::r-x"}; !reflect.DeepEqual(p.ACLs, want) {
				t.Errorf("acls %q", p.ACLs)
			}
			q := s.Permissions[1]
			if q.Mode != 0o755|fs.ModeSetuid || q.Owner != "0" || !q.Files || !q.Dirs || q.Pattern != "**" {
				t.Errorf("permission %+v", q)
			}
		}},
		{"hooks with runas, sudo, default and clamped timeouts, context warning", `version: 0.0
os: linux
permissions:
  - object: /opt/app
    context: {type: httpd_sys_content_t}
hooks:
  BeforeInstall:
    - location: /scripts/a.sh
    - location: scripts/b.sh
      timeout: "30"
      runas: deploy
      sudo: true
  AfterInstall:
  ValidateService:
    - location: scripts/v.sh
      timeout: 7200
`, func(t *testing.T, s *AppSpec) {
			want := map[string][]Script{
				"BeforeInstall": {
					{Location: "scripts/a.sh", Timeout: time.Hour, Line: 8},
					{Location: "scripts/b.sh", Timeout: 30 * time.Second, RunAs: "deploy", Sudo: true, Line: 9},
				},
				"AfterInstall":    {},
				"ValidateService": {{Location: "scripts/v.sh", Timeout: time.Hour, Line: 15}},
			}
			if !reflect.DeepEqual(s.Hooks, want) {
				t.Errorf("hooks %+v", s.Hooks)
			}
			if len(s.Warnings) != 2 || !strings.Contains(s.Warnings[0].Error(), "appspec.yml:5:5: permissions[0].context: SELinux context is not applied") ||
				!strings.Contains(s.Warnings[1].Error(), "appspec.yml:16:16: hooks.ValidateService[0].timeout: 7200 seconds is above the maximum; using 3600") {
				t.Errorf("warnings %v", s.Warnings)
			}
		}},
		{"anchors and merge keys", `version: 0.0
os: linux
x-defaults: &d {timeout: 10, runas: app}
hooks:
  ApplicationStart:
    - <<: *d
      location: start.sh
`, nil},
		{"byte order mark and CRLF", "\xef\xbb\xbfversion: 0.0\r\nos: linux\r\nfile_exists_behavior: RETAIN\r\n", func(t *testing.T, s *AppSpec) {
			if s.FileExistsBehavior != Retain {
				t.Errorf("behaviour %q", s.FileExistsBehavior)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			if tc.name == "anchors and merge keys" {
				// x-defaults is an unknown key: the anchor has to live somewhere the parser allows.
				src = strings.Replace(src, "x-defaults: &d {timeout: 10, runas: app}\nhooks:\n  ApplicationStart:\n    - <<: *d\n",
					"hooks:\n  BeforeInstall:\n    - &d {location: pre.sh, timeout: 10, runas: app}\n  ApplicationStart:\n    - <<: *d\n", 1)
			}
			s, err := Parse("appspec.yml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "anchors and merge keys" {
				got := s.Hooks["ApplicationStart"]
				if len(got) != 1 || got[0].Location != "start.sh" || got[0].RunAs != "app" || got[0].Timeout != 10*time.Second {
					t.Errorf("merged script %+v", got)
				}
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// Each broken appspec names the file, line, column and field, and says what to do.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string // every line of the error, in order
	}{
		{"empty", "", []string{"appspec.yml: the file is empty; an appspec needs at least version: 0.0 and os: linux"}},
		{"not a mapping", "- a\n", []string{"appspec.yml:1:1: must be a mapping with keys version, os, files, file_exists_behavior, permissions, hooks, found a list"}},
		{"missing version and os", "files: []\n", []string{ // same position: ordered by field
			"appspec.yml:1:1: os: missing: add os: linux",
			"appspec.yml:1:1: version: missing: an appspec starts with version: 0.0"}},
		{"wrong version, windows", "version: 0.2\nos: windows\n", []string{
			`appspec.yml:1:10: version: must be 0.0 (the only appspec version for deployments to hosts), found "0.2"`,
			"appspec.yml:2:5: os: windows is not supported: the Conveyor agent deploys to Linux hosts"}},
		{"typo in a top-level key", "version: 0.0\nos: linux\nhook:\n  BeforeInstall: []\n", []string{
			`appspec.yml:3:1: hook: unknown key "hook" (did you mean "hooks"?); allowed: version, os, files, file_exists_behavior, permissions, hooks`}},
		{"ECS appspec", "version: 0.0\nResources:\n  - TargetService: {}\n", []string{
			"appspec.yml:2:1: Resources: this is an ECS or Lambda appspec; deployments to hosts (compute platform Server) need an appspec with version, os, files and hooks"}},
		{"files problems", `version: 0.0
os: linux
files:
  - source: ../etc/passwd
    destination: opt/app
  - destination: /opt/app
    file_exists_behavior: OVERWRITE
  - source: a
    destination:
file_exists_behavior: overwrite
`, []string{
			`appspec.yml:4:13: files[0].source: "../etc/passwd" leaves the revision; use a path inside it (/ for all of it)`,
			`appspec.yml:5:18: files[0].destination: "opt/app" is not an absolute path; write e.g. /opt/app`,
			"appspec.yml:6:5: files[1].source: missing: the file or directory of the revision to copy (/ for all of it)",
			`appspec.yml:7:5: files[1].file_exists_behavior: unknown key "file_exists_behavior"; allowed: source, destination (file_exists_behavior is a top-level key, not part of a files entry: check the indentation)`,
			"appspec.yml:9:5: files[2].destination: must not be empty",
			`appspec.yml:10:23: file_exists_behavior: unknown value "overwrite" (did you mean "OVERWRITE"?); allowed: DISALLOW, OVERWRITE, RETAIN`}},
		{"permission problems", `version: 0.0
os: linux
permissions:
  - pattern: "a/*"
    mode: 0999
    except: [ "[x" ]
    acls: [ "u::rw", "q:bob:rw", "u:bob:rwz" ]
    type: [ files ]
    owner:
`, []string{
			"appspec.yml:4:5: permissions[0].object: missing: the absolute path the permissions apply to",
			`appspec.yml:4:14: permissions[0].pattern: "a/*": a pattern matches names directly in object, so it cannot contain /; use "**" for everything below object`,
			`appspec.yml:5:11: permissions[0].mode: "0999" is not a mode: write 1 to 4 octal digits such as 644 or "0755"`,
			`appspec.yml:6:15: permissions[0].except[0]: "[x" is not a valid pattern (unclosed [ or a trailing \)`,
			`appspec.yml:7:13: permissions[0].acls[0]: "u::rw": a base entry (no name) is set with mode, not acls`,
			`appspec.yml:7:22: permissions[0].acls[1]: "q:bob:rw": the entry type must be u, g, m or o (user, group, mask, other)`,
			`appspec.yml:7:34: permissions[0].acls[2]: "u:bob:rwz": permissions must be r, w, x and - (or one octal digit)`,
			`appspec.yml:8:13: permissions[0].type[0]: unknown type "files" (did you mean "file"?); allowed: file, directory`,
			"appspec.yml:9:5: permissions[0].owner: must not be empty"}},
		{"hook problems", `version: 0.0
os: linux
hooks:
  BeforeInstal:
    - location: a.sh
  Install:
    - location: b.sh
  AfterInstall:
    - timeout: 0
      runas: "bad user"
      colour: red
  ApplicationStart:
    - location: ../../bin/sh
      timeout: 1.5
      sudo: maybe
  ValidateService: scripts/validate.sh
`, []string{
			`appspec.yml:4:3: hooks.BeforeInstal: unknown lifecycle event "BeforeInstal" (did you mean "BeforeInstall"?); allowed: BeforeBlockTraffic, AfterBlockTraffic, ApplicationStop, BeforeInstall, AfterInstall, ApplicationStart, ValidateService, BeforeAllowTraffic, AfterAllowTraffic`,
			"appspec.yml:6:3: hooks.Install: Install is run by CodeDeploy or the agent itself and takes no scripts; events that do: BeforeBlockTraffic, AfterBlockTraffic, ApplicationStop, BeforeInstall, AfterInstall, ApplicationStart, ValidateService, BeforeAllowTraffic, AfterAllowTraffic",
			"appspec.yml:9:7: hooks.AfterInstall[0].location: missing: the script's path in the revision, e.g. scripts/start.sh",
			"appspec.yml:9:16: hooks.AfterInstall[0].timeout: must be more than 0 seconds, found 0",
			`appspec.yml:10:14: hooks.AfterInstall[0].runas: "bad user" is not a user name`,
			`appspec.yml:11:7: hooks.AfterInstall[0].colour: unknown key "colour"; allowed: location, timeout, runas, sudo`,
			`appspec.yml:13:17: hooks.ApplicationStart[0].location: "../../bin/sh" leaves the revision; scripts must be inside it`,
			`appspec.yml:14:16: hooks.ApplicationStart[0].timeout: must be a whole number of seconds (1 to 3600), found "1.5"`,
			`appspec.yml:15:13: hooks.ApplicationStart[0].sudo: must be true or false, found "maybe"`,
			"appspec.yml:16:20: hooks.ValidateService: must be a list of scripts (mappings with location, timeout, runas), found a string"}},
		{"duplicate keys", "version: 0.0\nos: linux\nos: linux\nhooks:\n  BeforeInstall: []\n  BeforeInstall: []\n", []string{
			`appspec.yml:3:1: os: duplicate key "os"`,
			`appspec.yml:6:3: hooks.BeforeInstall: duplicate lifecycle event "BeforeInstall"`}},
		{"tabs", "version: 0.0\nos: linux\nhooks:\n\tBeforeInstall: []\n", []string{
			"appspec.yml:4: invalid YAML: found character that cannot start any token (YAML indentation must use spaces, not tabs)"}},
		{"two documents", "version: 0.0\nos: linux\n---\nversion: 0.0\n", []string{
			"appspec.yml:3: invalid YAML: the file holds more than one YAML document (---); an appspec is one document"}},
		{"undefined anchor", "version: 0.0\nos: linux\nhooks:\n  BeforeInstall: *install\n", []string{
			"appspec.yml:4:18: invalid YAML: alias *install refers to an anchor &install that is not defined before it"}},
		{"unquoted at-sign", "version: 0.0\nos: linux\nfiles:\n  - source: @app\n    destination: /srv\n", []string{
			"appspec.yml:4: invalid YAML: found character that cannot start any token (a value starting with `, @ or % must be quoted)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("appspec.yml", []byte(tc.src))
			var es Errors
			if s != nil || !errors.As(err, &es) {
				t.Fatalf("got %+v, %v; want Errors", s, err)
			}
			got := strings.Split(err.Error(), "\n")
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseACE(t *testing.T) {
	for in, want := range map[string]string{
		"u:bob:rw": "user:bob:rw-", "bob:7": "user:bob:rwx", "g:ops:r": "group:ops:r--", "group:ops:---": "group:ops:---",
		"m::rx": "mask::r-x", "mask:rwx": "mask::rwx", "d:u::rwx": "default:user::rwx", "default:o::r": "default:other::r--",
		"d:g:ops:5": "default:group:ops:r-x", "other:bob:r": "", "o:r": "", "d:d:u:bob:r": "", "a:b:c:d:e": "", "x": "",
	} {
		got, msg := parseACE(in)
		if got != want || (want == "") != (msg != "") {
			t.Errorf("parseACE(%q) = %q, %q; want %q", in, got, msg, want)
		}
	}
}
