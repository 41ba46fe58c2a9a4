package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"
)

// tailBytes is how much output an event's diagnostics carry (CodeDeploy's logTail).
const tailBytes = 2048

// scriptLog is a deployment's logs/scripts.log, in AWS's agent's format:
//
//	2024-05-01 12:00:00 LifecycleEvent - BeforeInstall
//	2024-05-01 12:00:00 Script - scripts/before_install.sh
//	2024-05-01 12:00:00 [stdout]installing
//	2024-05-01 12:00:01 [stderr]warning: …
//
// plus "[agent]" lines for what the agent itself has to say (warnings, output left open).
type scriptLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	tail []byte // the current event's last tailBytes of output
}

func openScriptLog(deployDir string) (*scriptLog, error) {
	p := filepath.Join(deployDir, scriptsLog)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &scriptLog{path: p, f: f}, nil
}

func (l *scriptLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

func stamp(t time.Time) string { return t.Format("2006-01-02 15:04:05") }

// header writes a line that is not output ("LifecycleEvent - X", "Script - y").
func (l *scriptLog) header(t time.Time, text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.f, "%s %s\n", stamp(t), text)
}

// line writes one line of output (stream stdout, stderr or agent) and keeps it for the tail.
func (l *scriptLog) line(t time.Time, stream, text string) {
	entry := "[" + stream + "]" + text + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.f, "%s %s", stamp(t), entry)
	l.tail = append(l.tail, entry...)
	if over := len(l.tail) - tailBytes; over > 0 {
		l.tail = append(l.tail[:0], l.tail[over:]...)
	}
}

// takeTail returns the event's tail (starting on a whole character) and starts a new one.
func (l *scriptLog) takeTail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.tail
	for len(b) > 0 && !utf8.RuneStart(b[0]) {
		b = b[1:]
	}
	s := string(b)
	l.tail = l.tail[:0]
	return s
}

// late writes output that arrives after its event ended (a background process still holding
// the script's stdout). The deployment may be over, so the file is opened for each line.
func (l *scriptLog) late(stream, text string) {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s [%s]%s\n", stamp(time.Now()), stream, text)
}
