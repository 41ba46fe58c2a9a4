package appspec

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// MaxSize is the largest appspec Parse accepts, in bytes.
const MaxSize = 1 << 20

var (
	topKeys        = []string{"version", "os", "files", "file_exists_behavior", "permissions", "hooks"}
	fileKeys       = []string{"source", "destination"}
	permissionKeys = []string{"object", "pattern", "except", "owner", "group", "mode", "acls", "context", "type"}
	scriptKeys     = []string{"location", "timeout", "runas", "sudo"}
	behaviors      = []string{Disallow, Overwrite, Retain}
)

// Parse decodes and checks an appspec. filename labels the errors only. It returns the appspec,
// or nil and an Errors value listing every problem found (a YAML syntax error stops at the first).
func Parse(filename string, data []byte) (*AppSpec, error) {
	if len(data) > MaxSize {
		return nil, finish(Errors{{Message: fmt.Sprintf("the appspec is %d bytes; at most %d bytes (1 MiB) are accepted", len(data), MaxSize)}}, filename)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, finish(Errors{{Message: "the file is not UTF-8 text"}}, filename)
	}
	root, perr := parseYAML(data)
	if perr != nil {
		return nil, finish(Errors{*perr}, filename)
	}
	d := &decoder{w: &walker{active: map[*yaml.Node]bool{}}}
	spec := d.appspec(root)
	if d.w.stop != nil {
		d.errs = append(d.errs, *d.w.stop)
	}
	if len(d.errs) > 0 {
		return nil, finish(d.errs, filename)
	}
	spec.Warnings = finish(d.warnings, filename)
	return spec, nil
}

type decoder struct {
	w        *walker
	errs     Errors
	warnings Errors
}

func (d *decoder) errorf(line, col int, field, format string, args ...any) {
	d.errs = append(d.errs, Error{Line: line, Column: col, Field: field, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) at(n *yaml.Node, field, format string, args ...any) {
	d.errorf(n.Line, n.Column, field, format, args...)
}

// fields reads a mapping whose keys must be in allowed; unknown keys are reported with a hint.
// hint, when set, explains keys that are valid elsewhere. ok is false when n is not a mapping.
func (d *decoder) fields(n *yaml.Node, depth int, field string, allowed []string, hint func(string) string) (map[string]entry, bool) {
	entries, dup, ok := d.w.mapping(n, depth)
	if !ok {
		if d.w.stop == nil {
			d.at(n, field, "must be a mapping with keys %s, found %s", strings.Join(allowed, ", "), describe(n))
		}
		return nil, false
	}
	if dup != nil {
		d.errorf(dup.kline, dup.kcol, join(field, dup.key), "duplicate key %q", clip(dup.key))
	}
	out := make(map[string]entry, len(entries))
	for _, e := range entries {
		if !contains(allowed, e.key) {
			msg := unknownMessage("key", e.key, allowed)
			if hint != nil {
				if h := hint(e.key); h != "" {
					msg += " (" + h + ")"
				}
			}
			d.errorf(e.kline, e.kcol, join(field, e.key), "%s", msg)
			continue
		}
		out[e.key] = e
	}
	return out, true
}

// list reads a sequence; null is an empty list. ok is false when n is something else (reported).
func (d *decoder) list(n *yaml.Node, field, what string) ([]*yaml.Node, bool) {
	switch {
	case n.Kind == yaml.SequenceNode:
		return n.Content, true
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil, true
	}
	d.at(n, field, "must be a list of %s, found %s", what, describe(n))
	return nil, false
}

// scalar reads a plain value as written. ok is false for null (not set) and for lists and
// mappings (reported).
func (d *decoder) scalar(e entry, depth int, field string) (*yaml.Node, bool) {
	n := d.w.node(e.value, depth)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode {
		d.at(n, field, "must be a single value, found %s", describe(n))
		return nil, false
	}
	if n.Tag == "!!null" {
		return n, false
	}
	return n, true
}

// str reads a non-empty string value; absent or empty values are reported as required.
func (d *decoder) requiredStr(e entry, depth int, field string) (string, *yaml.Node, bool) {
	n, ok := d.scalar(e, depth, field)
	if n == nil {
		return "", nil, false
	}
	if !ok || strings.TrimSpace(n.Value) == "" {
		d.errorf(e.kline, e.kcol, field, "must not be empty")
		return "", n, false
	}
	if strings.ContainsRune(n.Value, 0) {
		d.at(n, field, "must not contain a NUL character")
		return "", n, false
	}
	return strings.TrimSpace(n.Value), n, true
}

func (d *decoder) appspec(root *yaml.Node) *AppSpec {
	spec := &AppSpec{Hooks: map[string][]Script{}}
	root = d.w.node(root, 0)
	if root == nil {
		return spec
	}
	if root.Kind == yaml.MappingNode {
		// An ECS or Lambda appspec is a different format; say so rather than list unknown keys.
		entries, _, _ := d.w.mapping(root, 0)
		for _, e := range entries {
			if e.key == "Resources" || e.key == "resources" {
				d.errorf(e.kline, e.kcol, e.key, "this is an ECS or Lambda appspec; deployments to hosts (compute platform Server) need an appspec with version, os, files and hooks")
				return spec
			}
		}
	}
	keys, ok := d.fields(root, 0, "", topKeys, nil)
	if !ok {
		return spec
	}
	if e, ok := keys["version"]; ok {
		d.version(e)
	} else {
		d.at(root, "version", "missing: an appspec starts with version: 0.0")
	}
	if e, ok := keys["os"]; ok {
		spec.OS = d.os(e)
	} else {
		d.at(root, "os", "missing: add os: linux")
	}
	if e, ok := keys["files"]; ok {
		spec.Files = d.files(e)
	}
	if e, ok := keys["file_exists_behavior"]; ok {
		if s, n, ok := d.requiredStr(e, 1, "file_exists_behavior"); ok {
			if !contains(behaviors, s) {
				d.at(n, "file_exists_behavior", "%s", unknownMessage("value", s, behaviors))
			} else {
				spec.FileExistsBehavior = s
			}
		}
	}
	if e, ok := keys["permissions"]; ok {
		spec.Permissions = d.permissions(e)
	}
	if e, ok := keys["hooks"]; ok {
		spec.Hooks = d.hooks(e)
	}
	return spec
}

func (d *decoder) version(e entry) {
	n, ok := d.scalar(e, 1, "version")
	if n == nil {
		return
	}
	if ok && (n.Tag == "!!int" || n.Tag == "!!float" || n.Tag == "!!str") {
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f == 0 {
			return
		}
	}
	d.at(n, "version", "must be 0.0 (the only appspec version for deployments to hosts), found %q", clip(n.Value))
}

func (d *decoder) os(e entry) string {
	s, n, ok := d.requiredStr(e, 1, "os")
	if !ok {
		return ""
	}
	switch s {
	case "linux":
		return s
	case "windows":
		d.at(n, "os", "windows is not supported: the Conveyor agent deploys to Linux hosts")
	default:
		d.at(n, "os", "%s", unknownMessage("operating system", s, []string{"linux"}))
	}
	return ""
}

func (d *decoder) files(e entry) []File {
	n := d.w.node(e.value, 1)
	if n == nil {
		return nil
	}
	items, ok := d.list(n, "files", "source/destination mappings")
	if !ok {
		return nil
	}
	var out []File
	for i, it := range items {
		field := index("files", i)
		it = d.w.node(it, 2)
		if it == nil {
			return out
		}
		keys, ok := d.fields(it, 2, field, fileKeys, func(k string) string {
			if k == "file_exists_behavior" {
				return "file_exists_behavior is a top-level key, not part of a files entry: check the indentation"
			}
			return ""
		})
		if !ok {
			continue
		}
		f := File{Line: it.Line}
		src, srcOK := keys["source"]
		dst, dstOK := keys["destination"]
		if !srcOK {
			d.at(it, join(field, "source"), "missing: the file or directory of the revision to copy (/ for all of it)")
		} else if s, n, ok := d.requiredStr(src, 3, join(field, "source")); ok {
			if clean, ok := relPath(s); ok {
				f.Source = clean
			} else {
				d.at(n, join(field, "source"), "%q leaves the revision; use a path inside it (/ for all of it)", clip(s))
				srcOK = false
			}
		} else {
			srcOK = false
		}
		if !dstOK {
			d.at(it, join(field, "destination"), "missing: the absolute directory to copy into, e.g. /opt/app")
		} else if s, n, ok := d.requiredStr(dst, 3, join(field, "destination")); ok {
			if !strings.HasPrefix(s, "/") {
				d.at(n, join(field, "destination"), "%q is not an absolute path; write e.g. /opt/app", clip(s))
				dstOK = false
			} else {
				f.Destination = path.Clean(s)
			}
		} else {
			dstOK = false
		}
		if srcOK && dstOK {
			out = append(out, f)
		}
	}
	return out
}

// relPath cleans a path relative to the revision root: a leading "/" is the root itself, as in
// AWS's agent. ok is false when the path leaves the root.
func relPath(s string) (string, bool) {
	s = strings.TrimLeft(s, "/")
	if s == "" {
		return "", true
	}
	c := path.Clean(s)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	if c == "." {
		return "", true
	}
	return c, true
}

func (d *decoder) permissions(e entry) []Permission {
	n := d.w.node(e.value, 1)
	if n == nil {
		return nil
	}
	items, ok := d.list(n, "permissions", "permission mappings (object, pattern, mode, …)")
	if !ok {
		return nil
	}
	var out []Permission
	for i, it := range items {
		field := index("permissions", i)
		if it = d.w.node(it, 2); it == nil {
			return out
		}
		keys, ok := d.fields(it, 2, field, permissionKeys, nil)
		if !ok {
			continue
		}
		p, ok := d.permission(it, keys, field)
		if ok {
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) permission(it *yaml.Node, keys map[string]entry, field string) (Permission, bool) {
	p := Permission{Pattern: "**", Files: true, Dirs: true, Line: it.Line}
	before := len(d.errs)
	if e, ok := keys["object"]; !ok {
		d.at(it, join(field, "object"), "missing: the absolute path the permissions apply to")
	} else if s, n, ok := d.requiredStr(e, 3, join(field, "object")); ok {
		if !strings.HasPrefix(s, "/") {
			d.at(n, join(field, "object"), "%q is not an absolute path", clip(s))
		} else {
			p.Object = path.Clean(s)
		}
	}
	if e, ok := keys["pattern"]; ok {
		if s, n, ok := d.requiredStr(e, 3, join(field, "pattern")); ok {
			if s != "**" && !d.pattern(n, join(field, "pattern"), s) {
				s = ""
			}
			p.Pattern = s
		}
	}
	if e, ok := keys["except"]; ok {
		p.Except = d.stringList(e, join(field, "except"), "patterns", func(n *yaml.Node, f, s string) bool { return d.pattern(n, f, s) })
	}
	if e, ok := keys["owner"]; ok {
		p.Owner, _, _ = d.requiredStr(e, 3, join(field, "owner"))
	}
	if e, ok := keys["group"]; ok {
		p.Group, _, _ = d.requiredStr(e, 3, join(field, "group"))
	}
	if e, ok := keys["mode"]; ok {
		if s, n, ok := d.requiredStr(e, 3, join(field, "mode")); ok {
			p.Mode, p.HasMode = d.mode(n, join(field, "mode"), s)
		}
	}
	if e, ok := keys["acls"]; ok {
		p.ACLs = d.stringList(e, join(field, "acls"), "setfacl entries such as u:bob:rw", func(n *yaml.Node, f, s string) bool {
			ace, err := parseACE(s)
			if err != "" {
				d.at(n, f, "%q: %s", clip(s), err)
				return false
			}
			return ace != ""
		})
		for i, s := range p.ACLs {
			p.ACLs[i], _ = parseACE(s)
		}
	}
	if e, ok := keys["context"]; ok {
		if n := d.w.node(e.value, 3); n != nil {
			if n.Kind != yaml.MappingNode {
				d.at(n, join(field, "context"), "must be a mapping (user, type, range), found %s", describe(n))
			} else {
				d.warnings = append(d.warnings, Error{Line: e.kline, Column: e.kcol, Field: join(field, "context"),
					Message: "SELinux context is not applied by the Conveyor agent; ignored"})
			}
		}
	}
	if e, ok := keys["type"]; ok {
		types := d.stringList(e, join(field, "type"), "file and/or directory", func(n *yaml.Node, f, s string) bool {
			if s != "file" && s != "directory" {
				d.at(n, f, "%s", unknownMessage("type", s, []string{"file", "directory"}))
				return false
			}
			return true
		})
		if len(types) > 0 {
			p.Files, p.Dirs = contains(types, "file"), contains(types, "directory")
		}
	}
	return p, len(d.errs) == before
}

// pattern checks a path.Match pattern on names directly below an object.
func (d *decoder) pattern(n *yaml.Node, field, s string) bool {
	if strings.Contains(s, "/") {
		d.at(n, field, "%q: a pattern matches names directly in object, so it cannot contain /; use \"**\" for everything below object", clip(s))
		return false
	}
	if _, err := path.Match(s, ""); err != nil {
		d.at(n, field, "%q is not a valid pattern (unclosed [ or a trailing \\)", clip(s))
		return false
	}
	return true
}

// mode reads 1 to 4 octal digits as written (an unquoted 0644 is 0644, not YAML 1.1's 420).
func (d *decoder) mode(n *yaml.Node, field, s string) (fs.FileMode, bool) {
	if len(s) > 4 || strings.Trim(s, "01234567") != "" {
		d.at(n, field, "%q is not a mode: write 1 to 4 octal digits such as 644 or \"0755\"", clip(s))
		return 0, false
	}
	v, _ := strconv.ParseUint(s, 8, 32)
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, true
}

// stringList reads a list of non-empty plain values; check reports and refuses a bad one.
func (d *decoder) stringList(e entry, field, what string, check func(n *yaml.Node, field, s string) bool) []string {
	n := d.w.node(e.value, 3)
	if n == nil {
		return nil
	}
	items, ok := d.list(n, field, what)
	if !ok {
		return nil
	}
	var out []string
	for i, it := range items {
		f := index(field, i)
		it = d.w.node(it, 4)
		if it == nil {
			return out
		}
		if it.Kind != yaml.ScalarNode || it.Tag == "!!null" || strings.TrimSpace(it.Value) == "" {
			d.at(it, f, "must be a non-empty value, found %s", describe(it))
			continue
		}
		s := strings.TrimSpace(it.Value)
		if check(it, f, s) {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) hooks(e entry) map[string][]Script {
	out := map[string][]Script{}
	n := d.w.node(e.value, 1)
	if n == nil {
		return out
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return out
	}
	entries, dup, ok := d.w.mapping(n, 1)
	if !ok {
		if d.w.stop == nil {
			d.at(n, "hooks", "must be a mapping of lifecycle events (BeforeInstall, ApplicationStart, …) to lists of scripts, found %s", describe(n))
		}
		return out
	}
	if dup != nil {
		d.errorf(dup.kline, dup.kcol, join("hooks", dup.key), "duplicate lifecycle event %q", clip(dup.key))
	}
	for _, ev := range entries {
		field := join("hooks", ev.key)
		switch {
		case contains(builtinEvents, ev.key):
			d.errorf(ev.kline, ev.kcol, field, "%s is run by CodeDeploy or the agent itself and takes no scripts; events that do: %s", ev.key, strings.Join(ScriptEvents, ", "))
			continue
		case !contains(ScriptEvents, ev.key):
			d.errorf(ev.kline, ev.kcol, field, "%s", unknownMessage("lifecycle event", ev.key, ScriptEvents))
			continue
		}
		list := d.w.node(ev.value, 2)
		if list == nil {
			return out
		}
		items, ok := d.list(list, field, "scripts (mappings with location, timeout, runas)")
		if !ok {
			continue
		}
		scripts := []Script{}
		for i, it := range items {
			if it = d.w.node(it, 3); it == nil {
				return out
			}
			if s, ok := d.script(it, index(field, i)); ok {
				scripts = append(scripts, s)
			}
		}
		out[ev.key] = scripts
	}
	return out
}

func (d *decoder) script(it *yaml.Node, field string) (Script, bool) {
	keys, ok := d.fields(it, 3, field, scriptKeys, nil)
	if !ok {
		return Script{}, false
	}
	before := len(d.errs)
	s := Script{Timeout: DefaultTimeout, Line: it.Line}
	if e, ok := keys["location"]; !ok {
		d.at(it, join(field, "location"), "missing: the script's path in the revision, e.g. scripts/start.sh")
	} else if loc, n, ok := d.requiredStr(e, 4, join(field, "location")); ok {
		clean, ok := relPath(loc)
		switch {
		case !ok:
			d.at(n, join(field, "location"), "%q leaves the revision; scripts must be inside it", clip(loc))
		case clean == "":
			d.at(n, join(field, "location"), "%q names the revision root, not a script", clip(loc))
		default:
			s.Location = clean
		}
	}
	if e, ok := keys["timeout"]; ok {
		if n, ok := d.scalar(e, 4, join(field, "timeout")); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(n.Value), 10, 64)
			switch {
			case err != nil || n.Tag == "!!float" || n.Tag == "!!bool":
				d.at(n, join(field, "timeout"), "must be a whole number of seconds (1 to 3600), found %q", clip(n.Value))
			case secs <= 0:
				d.at(n, join(field, "timeout"), "must be more than 0 seconds, found %d", secs)
			case secs > int64(DefaultTimeout/time.Second):
				d.warnings = append(d.warnings, Error{Line: n.Line, Column: n.Column, Field: join(field, "timeout"),
					Message: fmt.Sprintf("%d seconds is above the maximum; using 3600", secs)})
			default:
				s.Timeout = time.Duration(secs) * time.Second
			}
		}
	}
	if e, ok := keys["runas"]; ok {
		if u, n, ok := d.requiredStr(e, 4, join(field, "runas")); ok {
			if strings.ContainsAny(u, " \t\n:/") || strings.HasPrefix(u, "-") {
				d.at(n, join(field, "runas"), "%q is not a user name", clip(u))
			} else {
				s.RunAs = u
			}
		}
	}
	if e, ok := keys["sudo"]; ok {
		if n, ok := d.scalar(e, 4, join(field, "sudo")); ok {
			switch strings.ToLower(n.Value) {
			case "true", "yes":
				s.Sudo = true
			case "false", "no":
			default:
				d.at(n, join(field, "sudo"), "must be true or false, found %q", clip(n.Value))
			}
		}
	}
	return s, len(d.errs) == before
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func index(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
