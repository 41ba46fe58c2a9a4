package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/internal/durable"
)

// staleMarker is the age after which a crash marker is dropped unreported (AWS: 24 hours): the
// server failed that host long ago.
const staleMarker = 24 * time.Hour

// Marker is the crash-tracking record of a command this agent was running: written durably
// before each event starts and after it ends, removed when the server has the command's
// completion. One left behind at start means the agent died during that command.
type Marker struct {
	CommandID         string    `json:"commandId"`
	DeploymentID      string    `json:"deploymentId"`
	DeploymentGroupID string    `json:"deploymentGroupId"`
	DeployDir         string    `json:"deployDir"`
	Received          time.Time `json:"received"`
	// Event is the lifecycle event running ("" between events); EventStart when it started.
	Event      string    `json:"event,omitempty"`
	EventStart time.Time `json:"eventStart,omitzero"`
	// PGID is the process group of the hook script running, with its start time in clock ticks
	// since boot (so a reused pid is never mistaken for it).
	PGID      int    `json:"pgid,omitempty"`
	PGIDStart uint64 `json:"pgidStart,omitempty"`
	// Done are the events that ended, in order.
	Done []string `json:"done,omitempty"`
	// Completion is set once the command ended; only its delivery to the server was pending.
	Completion *protocol.Completion `json:"completion,omitempty"`
	// Pending is the FailedAfterRestart report of the event a restart interrupted, until the
	// server has it.
	Pending *protocol.EventReport `json:"pending,omitempty"`
}

type markers struct{ dir string }

func (m markers) file(id string) string { return filepath.Join(m.dir, id) }

func (m markers) save(mk *Marker) error {
	data, err := json.Marshal(mk)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(m.file(mk.CommandID), data, 0o600); err != nil {
		return fmt.Errorf("record the ongoing deployment: %w", err)
	}
	return nil
}

func (m markers) remove(id string) error {
	err := os.Remove(m.file(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (m markers) read(id string) (*Marker, error) {
	b, err := os.ReadFile(m.file(id))
	if err != nil {
		return nil, err
	}
	var mk Marker
	if err := json.Unmarshal(b, &mk); err != nil {
		return nil, err
	}
	if mk.CommandID != id {
		return nil, fmt.Errorf("marker %s names command %s", id, mk.CommandID)
	}
	return &mk, nil
}

// list reads every marker; unreadable or stale ones are removed and returned as dropped.
func (m markers) list(now time.Time) (found []*Marker, dropped []string, err error) {
	entries, err := os.ReadDir(m.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		mk, err := m.read(e.Name())
		if err != nil || now.Sub(mk.Received) > staleMarker {
			dropped = append(dropped, e.Name())
			_ = os.Remove(m.file(e.Name()))
			continue
		}
		found = append(found, mk)
	}
	return found, dropped, nil
}

// processStart reads a process's start time (clock ticks since boot) from /proc; 0 when gone.
func processStart(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64) // field 22, starttime
	return v
}

// killOrphan ends the process group of a hook an earlier agent process left running, if that
// group's leader is still the same process.
func killOrphan(mk *Marker) bool {
	if mk.PGID <= 0 || mk.PGIDStart == 0 || processStart(mk.PGID) != mk.PGIDStart {
		return false
	}
	return syscall.Kill(-mk.PGID, syscall.SIGKILL) == nil
}
