package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/store/logs"
)

// LogKind is the log store kind of deployment logs: one log per deployment and host, id
// "<deployment id>:<instance>", in the layout of the agent's scripts.log:
//
//	LifecycleEvent - ApplicationStart
//	Script - scripts/start_server.sh
//	2026-11-22 10:04:05 [stdout]Starting sample-app
const LogKind = "deployments"

// LogID is the log id of a host's part of a deployment.
func LogID(deploymentID, instance string) string { return deploymentID + ":" + instance }

// logSink keeps the open log writers of hosts in flight.
type logSink struct {
	store *logs.Store
	mu    sync.Mutex
	open  map[string]*hostLog
}

type hostLog struct {
	w             *logs.Writer
	event, script string
}

func newLogSink(s *logs.Store) *logSink {
	return &logSink{store: s, open: map[string]*hostLog{}}
}

// append writes lines to a host's log, opening it on first use. A log a previous server process
// wrote (or one closed when the host ended, for late lines) is continued by rewriting it: the log
// store's files are append-once.
func (k *logSink) append(deploymentID, instance string, lines []protocol.LogLine) error {
	if k.store == nil || len(lines) == 0 {
		return nil
	}
	id := LogID(deploymentID, instance)
	k.mu.Lock()
	defer k.mu.Unlock()
	h := k.open[id]
	if h == nil {
		w, err := k.store.Create(LogKind, id, logs.Options{})
		if errors.Is(err, logs.ErrExists) {
			w, err = k.reopen(id)
		}
		if err != nil {
			return fmt.Errorf("open the log of %s on %s: %w", deploymentID, instance, err)
		}
		h = &hostLog{w: w}
		k.open[id] = h
	}
	var b strings.Builder
	for _, l := range lines {
		if l.Event != "" && l.Event != h.event {
			h.event, h.script = l.Event, ""
			fmt.Fprintf(&b, "LifecycleEvent - %s\n", l.Event)
		}
		if l.Script != "" && l.Script != h.script {
			h.script = l.Script
			fmt.Fprintf(&b, "Script - %s\n", l.Script)
		}
		stream := l.Stream
		if stream == "" {
			stream = "stdout"
		}
		text := strings.TrimRight(strings.ReplaceAll(l.Text, "\r\n", "\n"), "\n")
		for _, line := range strings.Split(text, "\n") {
			fmt.Fprintf(&b, "%s [%s]%s\n", l.Time.UTC().Format("2006-01-02 15:04:05"), stream, line)
		}
	}
	if _, err := io.WriteString(h.w, b.String()); err != nil {
		return err
	}
	return h.w.Flush()
}

func (k *logSink) reopen(id string) (*logs.Writer, error) {
	rc, err := k.store.Open(LogKind, id)
	if err != nil {
		return nil, err
	}
	old, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	if err := k.store.Remove(LogKind, id); err != nil {
		return nil, err
	}
	w, err := k.store.Create(LogKind, id, logs.Options{})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(old); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

func (k *logSink) close(deploymentID, instance string) {
	id := LogID(deploymentID, instance)
	k.mu.Lock()
	h := k.open[id]
	delete(k.open, id)
	k.mu.Unlock()
	if h != nil {
		_ = h.w.Close()
	}
}

func (k *logSink) closeAll() {
	k.mu.Lock()
	open := k.open
	k.open = map[string]*hostLog{}
	k.mu.Unlock()
	for _, h := range open {
		_ = h.w.Close()
	}
}

// HostLog is one host's log of a deployment.
type HostLog struct {
	Instance string   `json:"instance"`
	First    int      `json:"first"` // line number of Lines[0]
	Total    int      `json:"total"`
	Lines    []string `json:"lines"`
}

// Logs returns the last tail lines of each host's log of a deployment (of one host when instance
// is set).
func (s *Service) Logs(ctx context.Context, deploymentID, instance string, tail int) ([]HostLog, error) {
	targets, err := s.Targets(ctx, deploymentID)
	if err != nil {
		return nil, err
	}
	if tail <= 0 || tail > 10000 {
		tail = 1000
	}
	out := []HostLog{}
	for _, t := range targets {
		if instance != "" && t.TargetID != instance {
			continue
		}
		h := HostLog{Instance: t.TargetID, Lines: []string{}}
		if s.sink.store != nil {
			lines, total, err := s.sink.store.Tail(LogKind, LogID(deploymentID, t.TargetID), tail)
			if err != nil && !errors.Is(err, logs.ErrNotFound) {
				return nil, err
			}
			if lines != nil {
				h.Lines = lines
			}
			h.Total, h.First = total, total-len(lines)+1
		}
		out = append(out, h)
	}
	if instance != "" && len(out) == 0 {
		return nil, errorf(CodeTargetDoesNotExist, "deployment %s has no host %s", deploymentID, instance)
	}
	return out, nil
}
