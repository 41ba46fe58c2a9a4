// Package install carries out the Install lifecycle event of an in-place deployment, as
// CodeDeploy's agent does:
//
//  1. Remove what the previous Install of this deployment group put on the host: every path in
//     the group's cleanup file, in reverse order; files and links are deleted, directories only
//     when empty (a directory that holds files nobody installed is kept).
//  2. Plan the copies from the appspec's files section: a file source goes into its destination
//     directory under its own name; a directory source has its contents copied into the
//     destination; missing parent directories are made. A destination file that already exists
//     (so the previous Install did not put it there) is handled by file_exists_behavior: DISALLOW
//     fails, OVERWRITE replaces it, RETAIN keeps it and copies nothing. Two sources for one
//     destination fail.
//  3. Plan the permissions: an object that is a file this Install copies gets them itself (pattern
//     must then be "**" and except empty); an object that is a directory gives them to the files
//     (type file) and directories (type directory) this Install creates below it that match
//     pattern and not except. A path may receive permissions only once.
//  4. Write the plan to the group's install.json, then carry it out, appending every created path
//     to a new cleanup file before creating it, so a crash mid-Install still leaves a cleanup list
//     that covers what was written.
//
// Ownership needs the agent to run as root; ACLs need setfacl (without it they are skipped with a
// warning); SELinux contexts are not applied.
package install

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/conveyorci/conveyor/agent/appspec"
)

// Options say what to install and where the group's instruction files are.
type Options struct {
	// ArchiveDir is the unpacked revision (deployment-archive).
	ArchiveDir string
	Spec       *appspec.AppSpec
	// FileExistsBehavior is DISALLOW, OVERWRITE or RETAIN (the appspec's, else the deployment's).
	FileExistsBehavior string
	// CleanupFile and InstallFile are the group's <dg-id>-cleanup and <dg-id>-install.json.
	CleanupFile string
	InstallFile string
	// Note receives lines for the deployment's log (what was removed, warnings).
	Note func(format string, args ...any)
}

// Summary says what an Install did.
type Summary struct {
	Removed, KeptDirs  int
	Copied, Made, Kept int
	Permissions        int
}

// Instruction is one step of the plan, in the shape of AWS's install.json.
type Instruction struct {
	Type        string   `json:"type"` // copy | mkdir | chmod | chown | setfacl
	Source      string   `json:"source,omitempty"`
	Destination string   `json:"destination,omitempty"`
	Directory   string   `json:"directory,omitempty"`
	File        string   `json:"file,omitempty"`
	Mode        string   `json:"mode,omitempty"`
	Owner       string   `json:"owner,omitempty"`
	Group       string   `json:"group,omitempty"`
	ACL         []string `json:"acl,omitempty"`

	mode fs.FileMode
}

// Run removes the previous install, then installs the revision.
func Run(ctx context.Context, o Options) (Summary, error) {
	var sum Summary
	note := o.Note
	if note == nil {
		note = func(string, ...any) {}
	}
	o.Note = note
	var err error
	if sum.Removed, sum.KeptDirs, err = removePrevious(o.CleanupFile, note); err != nil {
		return sum, err
	}
	p := &planner{o: o, copies: map[string]string{}, dirs: map[string]bool{}, perms: map[string]int{}}
	if err := p.plan(); err != nil {
		return sum, err
	}
	sum.Kept = p.kept
	if err := writeJSON(o.InstallFile, p.steps); err != nil {
		return sum, err
	}
	if err := execute(ctx, o, p.steps, &sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// removePrevious deletes what the cleanup file lists, last first, then the file itself.
func removePrevious(cleanupFile string, note func(string, ...any)) (removed, kept int, err error) {
	data, err := os.ReadFile(cleanupFile)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read the cleanup list: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	// The last element is "" after a final newline, or a path whose write was cut short by a crash
	// (its file was then never created): either way not a complete entry.
	lines = lines[:len(lines)-1]
	for i := len(lines) - 1; i >= 0; i-- {
		p := lines[i]
		if p == "" || !filepath.IsAbs(p) {
			continue
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, kept, fmt.Errorf("remove %s installed by the previous deployment: %w", p, err)
		}
		if fi.IsDir() {
			if err := syscall.Rmdir(p); err != nil {
				if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
					kept++
					note("kept directory %s installed by the previous deployment: it holds other files", p)
					continue
				}
				return removed, kept, fmt.Errorf("remove directory %s installed by the previous deployment: %w", p, err)
			}
		} else if err := os.Remove(p); err != nil {
			return removed, kept, fmt.Errorf("remove %s installed by the previous deployment: %w", p, err)
		}
		removed++
	}
	if err := os.Remove(cleanupFile); err != nil {
		return removed, kept, fmt.Errorf("remove the cleanup list: %w", err)
	}
	return removed, kept, nil
}

// planner turns the appspec into instructions, checking everything before anything is written.
type planner struct {
	o      Options
	steps  []Instruction
	copies map[string]string // destination → source
	order  []string          // copy destinations in plan order
	dirs   map[string]bool   // directories this Install makes
	dorder []string
	perms  map[string]int // path → index of the permissions entry that set it
	kept   int
}

func (p *planner) plan() error {
	for i, f := range p.o.Spec.Files {
		src := filepath.Join(p.o.ArchiveDir, filepath.FromSlash(f.Source))
		fi, err := os.Lstat(src)
		if err != nil {
			return fmt.Errorf("files[%d]: source %q is not in the revision", i, displaySource(f.Source))
		}
		if fi.IsDir() {
			if err := p.ancestors(f.Destination); err != nil {
				return err
			}
			if err := p.copyDir(src, f.Destination); err != nil {
				return err
			}
			continue
		}
		dest := path.Join(f.Destination, path.Base(filepath.ToSlash(src)))
		if err := p.ancestors(dest); err != nil {
			return err
		}
		if err := p.copyFile(src, dest); err != nil {
			return err
		}
	}
	for i, perm := range p.o.Spec.Permissions {
		if err := p.permission(i, perm); err != nil {
			return err
		}
	}
	return nil
}

func displaySource(s string) string {
	if s == "" {
		return "/"
	}
	return s
}

// ancestors plans the missing parent directories of dest, outermost first.
func (p *planner) ancestors(dest string) error {
	var missing []string
	for dir := path.Dir(dest); dir != "/" && dir != "."; dir = path.Dir(dir) {
		if p.dirs[dir] {
			break
		}
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("cannot install below %s: it exists and is not a directory", dir)
			}
			break
		}
		missing = append(missing, dir)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := p.mkdir(missing[i]); err != nil {
			return err
		}
	}
	return nil
}

func (p *planner) mkdir(dir string) error {
	if src, ok := p.copies[dir]; ok {
		return fmt.Errorf("the appspec installs the file %s at %s and also needs a directory there", src, dir)
	}
	if p.dirs[dir] {
		return nil
	}
	p.dirs[dir] = true
	p.dorder = append(p.dorder, dir)
	p.steps = append(p.steps, Instruction{Type: "mkdir", Directory: dir})
	return nil
}

func (p *planner) copyDir(src, dest string) error {
	fi, err := os.Lstat(dest)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("cannot copy directory %s to %s: a file exists there", p.rel(src), dest)
	case err != nil && !p.dirs[dest]:
		if err := p.mkdir(dest); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", p.rel(src), err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		s, d := filepath.Join(src, e.Name()), path.Join(dest, e.Name())
		if e.IsDir() { // DirEntry.IsDir is false for a link to a directory: links are copied as links
			if err := p.copyDir(s, d); err != nil {
				return err
			}
			continue
		}
		if err := p.copyFile(s, d); err != nil {
			return err
		}
	}
	return nil
}

func (p *planner) copyFile(src, dest string) error {
	if prev, ok := p.copies[dest]; ok {
		return fmt.Errorf("the appspec installs two files at %s: %s and %s; remove one of them from files", dest, p.rel(prev), p.rel(src))
	}
	if p.dirs[dest] {
		return fmt.Errorf("the appspec installs the file %s at %s, where it also makes a directory", p.rel(src), dest)
	}
	if fi, err := os.Lstat(dest); err == nil {
		switch p.o.FileExistsBehavior {
		case appspec.Overwrite:
			if fi.IsDir() {
				return fmt.Errorf("cannot overwrite %s with the file %s: it is a directory", dest, p.rel(src))
			}
		case appspec.Retain:
			p.kept++
			return nil
		default:
			return fmt.Errorf("the file %s already exists and was not installed by the previous deployment of this group; "+
				"file_exists_behavior is DISALLOW (use OVERWRITE or RETAIN in the appspec or the deployment to allow it)", dest)
		}
	}
	p.copies[dest] = src
	p.order = append(p.order, dest)
	p.steps = append(p.steps, Instruction{Type: "copy", Source: src, Destination: dest})
	return nil
}

func (p *planner) rel(src string) string {
	if r, err := filepath.Rel(p.o.ArchiveDir, src); err == nil {
		return filepath.ToSlash(r)
	}
	return src
}

func (p *planner) permission(i int, perm appspec.Permission) error {
	obj := perm.Object
	if _, ok := p.copies[obj]; ok {
		if !perm.Files {
			return nil
		}
		if perm.Pattern != "**" || len(perm.Except) > 0 {
			return fmt.Errorf("permissions[%d]: %s is a file, so pattern and except cannot select anything below it", i, obj)
		}
		for _, a := range perm.ACLs {
			if strings.HasPrefix(a, "default:") {
				return fmt.Errorf("permissions[%d]: default ACL %q applies to directories only, and %s is a file", i, a, obj)
			}
		}
		return p.set(i, obj, perm)
	}
	if !p.dirs[obj] {
		if fi, err := os.Stat(obj); err != nil || !fi.IsDir() {
			return nil // nothing this deployment installs
		}
	}
	if perm.Files {
		for _, f := range p.order {
			if matches(perm, f) {
				if err := p.set(i, f, perm); err != nil {
					return err
				}
			}
		}
	}
	if perm.Dirs {
		for _, d := range p.dorder {
			if matches(perm, d) {
				if err := p.set(i, d, perm); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// matches says whether name, below perm.Object, is selected by pattern and not by except: "**"
// selects everything at any depth, other patterns names directly in the object.
func matches(perm appspec.Permission, name string) bool {
	base := strings.TrimSuffix(perm.Object, "/") + "/"
	rel, ok := strings.CutPrefix(name, base)
	if !ok || rel == "" {
		return false
	}
	direct := !strings.Contains(rel, "/")
	if perm.Pattern != "**" {
		if ok, _ := path.Match(perm.Pattern, rel); !direct || !ok {
			return false
		}
	}
	if direct {
		for _, e := range perm.Except {
			if ok, _ := path.Match(e, rel); ok {
				return false
			}
		}
	}
	return true
}

func (p *planner) set(i int, obj string, perm appspec.Permission) error {
	if prev, ok := p.perms[obj]; ok {
		return fmt.Errorf("permissions[%d] and permissions[%d] both apply to %s; a path may receive permissions only once", prev, i, obj)
	}
	p.perms[obj] = i
	if perm.HasMode {
		p.steps = append(p.steps, Instruction{Type: "chmod", File: obj, Mode: fmt.Sprintf("%04o", unixMode(perm.Mode)), mode: perm.Mode})
	}
	if len(perm.ACLs) > 0 {
		p.steps = append(p.steps, Instruction{Type: "setfacl", File: obj, ACL: perm.ACLs})
	}
	if perm.Owner != "" || perm.Group != "" {
		p.steps = append(p.steps, Instruction{Type: "chown", File: obj, Owner: perm.Owner, Group: perm.Group})
	}
	return nil
}

func unixMode(m fs.FileMode) uint32 {
	v := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

func writeJSON(file string, steps []Instruction) error {
	if steps == nil {
		steps = []Instruction{}
	}
	data, err := json.MarshalIndent(map[string][]Instruction{"instructions": steps}, "", "  ")
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the install instructions: %w", err)
	}
	return os.Rename(tmp, file)
}

// execute carries out the plan, recording each created path in the cleanup file before it is
// created.
func execute(ctx context.Context, o Options, steps []Instruction, sum *Summary) (err error) {
	f, err := os.OpenFile(o.CleanupFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open the cleanup list: %w", err)
	}
	w := bufio.NewWriter(f)
	defer func() {
		ferr := w.Flush()
		if serr := f.Sync(); ferr == nil {
			ferr = serr
		}
		if cerr := f.Close(); ferr == nil {
			ferr = cerr
		}
		if err == nil && ferr != nil {
			err = fmt.Errorf("write the cleanup list: %w", ferr)
		}
	}()
	record := func(p string) error {
		if _, err := w.WriteString(p + "\n"); err != nil {
			return err
		}
		return w.Flush() // in the file before the path exists
	}
	setfacl, lookErr := exec.LookPath("setfacl")
	warnedACL := false
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch s.Type {
		case "mkdir":
			if err := record(s.Directory); err != nil {
				return err
			}
			if err := os.Mkdir(s.Directory, 0o755); err != nil {
				return fmt.Errorf("make directory %s: %w", s.Directory, err)
			}
			sum.Made++
		case "copy":
			if err := record(s.Destination); err != nil {
				return err
			}
			if err := copyOne(s.Source, s.Destination); err != nil {
				return err
			}
			sum.Copied++
		case "chmod":
			if err := os.Chmod(s.File, s.mode); err != nil {
				return fmt.Errorf("chmod %s %s: %w", s.Mode, s.File, err)
			}
			sum.Permissions++
		case "chown":
			if err := chown(s); err != nil {
				return err
			}
		case "setfacl":
			if lookErr != nil {
				if !warnedACL {
					o.Note("warning: setfacl is not installed on this host, so the appspec's acls were not applied (install the acl package)")
					warnedACL = true
				}
				continue
			}
			acl, err := fullACL(s)
			if err != nil {
				return err
			}
			if out, err := exec.CommandContext(ctx, setfacl, "--set", acl, "--", s.File).CombinedOutput(); err != nil {
				return fmt.Errorf("setfacl --set %s %s: %v: %s", acl, s.File, err, strings.TrimSpace(string(out)))
			}
		}
	}
	return nil
}

// copyOne copies a file (or a link, as a link) to dest. A regular file is written beside dest and
// renamed over it, so a replaced file is never seen half-written.
func copyOne(src, dest string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("copy link %s: %w", src, err)
		}
		if err := removeIfNotDir(dest); err != nil {
			return err
		}
		if err := os.Symlink(target, dest); err != nil {
			return fmt.Errorf("install link %s: %w", dest, err)
		}
		return nil
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("copy %s: not a regular file", src)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".conveyor-install-*")
	if err != nil {
		return fmt.Errorf("install %s: %w", dest, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return fmt.Errorf("install %s: %w", dest, err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		return fmt.Errorf("install %s: %w", dest, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install %s: %w", dest, err)
	}
	if err := os.Chtimes(tmp.Name(), fi.ModTime(), fi.ModTime()); err != nil {
		return fmt.Errorf("install %s: %w", dest, err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("install %s: %w", dest, err)
	}
	ok = true
	return nil
}

func removeIfNotDir(p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("cannot replace directory %s", p)
	}
	return os.Remove(p)
}

func chown(s Instruction) error {
	uid, gid := -1, -1
	if s.Owner != "" {
		u, err := user.Lookup(s.Owner)
		if err != nil {
			if _, nerr := strconv.Atoi(s.Owner); nerr != nil {
				return fmt.Errorf("chown %s: no user %q on this host", s.File, s.Owner)
			}
			u, err = user.LookupId(s.Owner)
			if err != nil {
				return fmt.Errorf("chown %s: no user %q on this host", s.File, s.Owner)
			}
		}
		uid, _ = strconv.Atoi(u.Uid)
	}
	if s.Group != "" {
		g, err := user.LookupGroup(s.Group)
		if err != nil {
			if _, nerr := strconv.Atoi(s.Group); nerr != nil {
				return fmt.Errorf("chown %s: no group %q on this host", s.File, s.Group)
			}
			g, err = user.LookupGroupId(s.Group)
			if err != nil {
				return fmt.Errorf("chown %s: no group %q on this host", s.File, s.Group)
			}
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	if err := os.Chown(s.File, uid, gid); err != nil {
		return fmt.Errorf("chown %s:%s %s: %w", s.Owner, s.Group, s.File, err)
	}
	return nil
}

// fullACL completes the appspec's entries with the base entries setfacl --set needs, taken from
// the file's mode, as AWS's agent does: user::, group::, other::, a mask when named entries have
// none, and the default base entries when default entries are given.
func fullACL(s Instruction) (string, error) {
	fi, err := os.Stat(s.File)
	if err != nil {
		return "", fmt.Errorf("setfacl %s: %w", s.File, err)
	}
	perm := fi.Mode().Perm()
	bits := func(shift uint) string {
		v := (perm >> shift) & 7
		b := []byte("---")
		if v&4 != 0 {
			b[0] = 'r'
		}
		if v&2 != 0 {
			b[1] = 'w'
		}
		if v&1 != 0 {
			b[2] = 'x'
		}
		return string(b)
	}
	acl := append([]string(nil), s.ACL...)
	has := func(prefix string) bool {
		for _, a := range s.ACL {
			if strings.HasPrefix(a, prefix) {
				return true
			}
		}
		return false
	}
	named, defNamed := false, false
	for _, a := range s.ACL {
		parts := strings.Split(strings.TrimPrefix(a, "default:"), ":")
		if len(parts) == 3 && parts[1] != "" {
			if strings.HasPrefix(a, "default:") {
				defNamed = true
			} else {
				named = true
			}
		}
	}
	acl = append(acl, "user::"+bits(6), "group::"+bits(3), "other::"+bits(0))
	if named && !has("mask:") {
		acl = append(acl, "mask::"+bits(3))
	}
	if has("default:") {
		if !has("default:user::") {
			acl = append(acl, "default:user::"+bits(6))
		}
		if !has("default:group::") {
			acl = append(acl, "default:group::"+bits(3))
		}
		if !has("default:other::") {
			acl = append(acl, "default:other::"+bits(0))
		}
		if defNamed && !has("default:mask:") {
			acl = append(acl, "default:mask::"+bits(3))
		}
	}
	return strings.Join(acl, ","), nil
}
