// Package live fans state changes out to browsers as server-sent events: one endpoint carries the
// engine's pipeline changes and the build service's build changes (and, as they land, deployments,
// agents and webhook deliveries). Events are small notices ("pipeline quickstart changed"); pages
// fetch what they show again. Publishing never blocks: a browser that cannot keep up is told to
// reload its view (event reset) instead of holding up the engine.
package live

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conveyorci/conveyor/executor"
)

// Kinds of events.
const (
	KindPipeline   = "pipeline"
	KindBuild      = "build"
	KindDeployment = "deployment"
	KindAgent      = "agent"
	KindWebhook    = "webhook"
	KindNotice     = "notification"
)

// Event is one change: which kind of thing changed, and which one.
type Event struct {
	Seq  uint64 `json:"-"`
	Kind string `json:"kind"`
	Key  string `json:"key"`
}

// Hub keeps recent events (so a reconnecting browser resumes with Last-Event-ID) and the
// subscribers.
type Hub struct {
	// KeepAlive is how often an idle stream gets a comment line (proxies close silent streams).
	KeepAlive time.Duration
	// MaxSubscribers bounds open streams; more are answered 503.
	MaxSubscribers int

	epoch string // tells this process's event ids from a previous one's

	mu   sync.Mutex
	seq  uint64
	ring []Event // the last len(ring) events, ring[seq % len]
	subs map[*subscriber]struct{}
	open atomic.Int64
}

const ringSize = 4096

// NewHub returns a hub.
func NewHub() *Hub {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &Hub{KeepAlive: 15 * time.Second, MaxSubscribers: 1000, epoch: hex.EncodeToString(b),
		ring: make([]Event, ringSize), subs: map[*subscriber]struct{}{}}
}

type subscriber struct {
	ch       chan Event
	topics   topics
	overflow atomic.Bool
}

// topics filters events: empty accepts everything; "pipeline:*" a whole kind; "build:ID" one thing.
type topics map[string]bool

func (t topics) match(e Event) bool {
	return len(t) == 0 || t[e.Kind+":*"] || t[e.Kind+":"+e.Key]
}

// Publish records an event and hands it to every interested subscriber without waiting.
func (h *Hub) Publish(kind, key string) {
	h.mu.Lock()
	h.seq++
	e := Event{Seq: h.seq, Kind: kind, Key: key}
	h.ring[e.Seq%ringSize] = e
	for s := range h.subs {
		if !s.topics.match(e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.overflow.Store(true)
		}
	}
	h.mu.Unlock()
}

// Subscribers is the number of open streams.
func (h *Hub) Subscribers() int { return int(h.open.Load()) }

func (h *Hub) subscribe(t topics, after uint64, resume bool) (*subscriber, []Event, bool) {
	s := &subscriber{ch: make(chan Event, 256), topics: t}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = struct{}{}
	var replay []Event
	complete := true
	if resume {
		oldest := uint64(1)
		if h.seq > ringSize {
			oldest = h.seq - ringSize + 1
		}
		if after+1 < oldest || after > h.seq {
			complete = false
		} else {
			for seq := after + 1; seq <= h.seq; seq++ {
				if e := h.ring[seq%ringSize]; t.match(e) {
					replay = append(replay, e)
				}
			}
		}
	}
	return s, replay, complete
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// eventID renders an id; parseID reads one of this process (ok=false for another epoch).
func (h *Hub) eventID(seq uint64) string { return h.epoch + "-" + strconv.FormatUint(seq, 10) }

func (h *Hub) parseID(id string) (uint64, bool) {
	epoch, n, ok := strings.Cut(id, "-")
	if !ok || epoch != h.epoch {
		return 0, false
	}
	v, err := strconv.ParseUint(n, 10, 64)
	return v, err == nil
}

// ServeHTTP streams events. Query: topic=KIND:KEY (repeatable; KIND:* for a whole kind; none for
// everything). A reconnecting browser sends Last-Event-ID and gets what it missed, or an event
// "reset" when that is no longer known (it then reloads its view).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported by this connection", http.StatusInternalServerError)
		return
	}
	if int(h.open.Add(1)) > h.MaxSubscribers {
		h.open.Add(-1)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many open event streams", http.StatusServiceUnavailable)
		return
	}
	defer h.open.Add(-1)
	t := topics{}
	for _, v := range r.URL.Query()["topic"] {
		if len(t) < 64 && len(v) < 300 {
			t[v] = true
		}
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("lastEventId")
	}
	after, known := h.parseID(lastID)
	s, replay, complete := h.subscribe(t, after, known)
	defer h.unsubscribe(s)

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 3000\n")
	if lastID != "" && (!known || !complete) {
		writeReset(w, h.eventID(h.currentSeq()))
	}
	for _, e := range replay {
		h.write(w, e)
	}
	// A first comment flushes the headers, so the browser's EventSource opens now.
	fmt.Fprintf(w, ": open %s\n\n", h.eventID(h.currentSeq()))
	flusher.Flush()
	ping := time.NewTicker(h.KeepAlive)
	defer ping.Stop()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case e := <-s.ch:
			if s.overflow.Swap(false) {
				// Events were dropped: drain what is queued and tell the page to reload its view.
				for len(s.ch) > 0 {
					<-s.ch
				}
				writeReset(w, h.eventID(h.currentSeq()))
			} else {
				h.write(w, e)
				for n := len(s.ch); n > 0; n-- { // batch what is already queued into one flush
					h.write(w, <-s.ch)
				}
			}
			flusher.Flush()
		}
	}
}

// LastID is the id of the newest event: a page rendered now carries it, and its stream starts
// from there (?lastEventId=), so no change between the render and the connection is missed.
func (h *Hub) LastID() string { return h.eventID(h.currentSeq()) }

func (h *Hub) currentSeq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
}

func (h *Hub) write(w http.ResponseWriter, e Event) {
	data, _ := json.Marshal(e)
	fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", h.eventID(e.Seq), e.Kind, data)
}

func writeReset(w http.ResponseWriter, id string) {
	fmt.Fprintf(w, "id: %s\nevent: reset\ndata: {}\n\n", id)
}

// Observer publishes the engine's changes (pipeline.Observer).
type Observer struct{ Hub *Hub }

// ExecutionStarted implements pipeline.Observer.
func (Observer) ExecutionStarted(string) {}

// ExecutionFinished implements pipeline.Observer.
func (Observer) ExecutionFinished(string, string) {}

// StageEntered implements pipeline.Observer.
func (Observer) StageEntered(string, string) {}

// ActionFinished implements pipeline.Observer.
func (Observer) ActionFinished(executor.ActionType, string, time.Duration) {}

// Changed implements pipeline.Observer: every committed change of a pipeline.
func (o Observer) Changed(pipeline string) { o.Hub.Publish(KindPipeline, pipeline) }

// BuildChanged is build.Config.OnEvent.
func (h *Hub) BuildChanged(buildID string) { h.Publish(KindBuild, buildID) }

// DeploymentChanged is deploy.Config.OnEvent.
func (h *Hub) DeploymentChanged(deploymentID string) { h.Publish(KindDeployment, deploymentID) }
