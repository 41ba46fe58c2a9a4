package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/internal/durable"
)

// The deployment root, laid out like AWS's agent's (docs/agent.md shows it):
//
//	<root>/<deployment-group-id>/<deployment-id>/bundle.tar            the downloaded revision
//	                                            /deployment-archive/   the revision unpacked
//	                                            /logs/scripts.log      every hook's output
//	                                            /deployment.json       the command, for people
//	<root>/deployment-instructions/<dg-id>-cleanup                     what the last Install created
//	                              /<dg-id>-install.json                the last Install's plan
//	                              /<dg-id>_last_successful_install     dir of the last successful Install
//	                              /<dg-id>_most_recent_install         dir of the last DownloadBundle
//	<root>/ongoing-deployment/<command-id>                             the crash marker
//	<root>/agent.json                                                  identity (0600)
const (
	instructionsDir = "deployment-instructions"
	ongoingDir      = "ongoing-deployment"
	archiveDir      = "deployment-archive"
	bundleFile      = "bundle.tar"
	scriptsLog      = "logs/scripts.log"
	metaFile        = "deployment.json"
)

// DefaultMaxRevisions is how many deployment directories are kept per group (AWS's
// :max_revisions:), besides the last successful one, which is always kept.
const DefaultMaxRevisions = 5

// layout names the paths of one deployment root.
type layout struct{ root string }

func (l layout) groupDir(dg string) string     { return filepath.Join(l.root, dg) }
func (l layout) deployDir(dg, d string) string { return filepath.Join(l.root, dg, d) }
func (l layout) instructions() string          { return filepath.Join(l.root, instructionsDir) }
func (l layout) cleanupFile(dg string) string  { return filepath.Join(l.instructions(), dg+"-cleanup") }
func (l layout) installFile(dg string) string {
	return filepath.Join(l.instructions(), dg+"-install.json")
}
func (l layout) lastSuccessfulFile(dg string) string {
	return filepath.Join(l.instructions(), dg+"_last_successful_install")
}
func (l layout) mostRecentFile(dg string) string {
	return filepath.Join(l.instructions(), dg+"_most_recent_install")
}
func (l layout) ongoing() string { return filepath.Join(l.root, ongoingDir) }

// safeName checks an id the server sent before it becomes a directory name.
func safeName(what, s string) error {
	if s == "" || s == "." || s == ".." || len(s) > 200 || strings.ContainsAny(s, "/\\\x00") || s == instructionsDir || s == ongoingDir {
		return fmt.Errorf("%s %q cannot name a directory", what, s)
	}
	return nil
}

// pointer reads a pointer file (a deployment directory); "" when there is none.
func readPointer(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func writePointer(file, dir string) error {
	return durable.WriteFile(file, []byte(dir+"\n"), 0o644)
}

// meta is deployment.json: what a deployment directory holds, for people and for retention.
type meta struct {
	CommandID           string    `json:"commandId"`
	DeploymentID        string    `json:"deploymentId"`
	ApplicationName     string    `json:"applicationName"`
	DeploymentGroupName string    `json:"deploymentGroupName"`
	DeploymentGroupID   string    `json:"deploymentGroupId"`
	Creator             string    `json:"creator,omitempty"`
	Revision            any       `json:"revision"`
	Created             time.Time `json:"created"`
}

func readCreated(dir string) time.Time {
	var m meta
	if b, err := os.ReadFile(filepath.Join(dir, metaFile)); err == nil && json.Unmarshal(b, &m) == nil && !m.Created.IsZero() {
		return m.Created
	}
	if fi, err := os.Stat(dir); err == nil {
		return fi.ModTime()
	}
	return time.Time{}
}

// prune keeps the newest max deployment directories of a group, and the ones in keep (the current
// one, the last successful one) whatever their age. It returns the directories removed.
func prune(groupDir string, max int, keep ...string) ([]string, error) {
	entries, err := os.ReadDir(groupDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type dirAge struct {
		path    string
		created time.Time
	}
	var dirs []dirAge
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(groupDir, e.Name())
		dirs = append(dirs, dirAge{p, readCreated(p)})
	}
	sort.Slice(dirs, func(i, j int) bool {
		if !dirs[i].created.Equal(dirs[j].created) {
			return dirs[i].created.After(dirs[j].created)
		}
		return dirs[i].path > dirs[j].path
	})
	kept := map[string]bool{}
	for _, k := range keep {
		if k != "" {
			kept[filepath.Clean(k)] = true
		}
	}
	var removed []string
	for i, d := range dirs {
		if i < max || kept[d.path] {
			continue
		}
		if err := os.RemoveAll(d.path); err != nil {
			return removed, fmt.Errorf("remove old revision %s: %w", d.path, err)
		}
		removed = append(removed, d.path)
	}
	return removed, nil
}
