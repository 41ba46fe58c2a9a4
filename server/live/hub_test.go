package live

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct{ id, event, data string }

// stream opens the hub's stream and delivers its events (comments skipped) on a channel.
func stream(t testing.TB, ctx context.Context, url, lastID string) <-chan sseEvent {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan sseEvent, 1024)
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var e sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if e.event != "" {
					out <- e
				}
				e = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				e.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				e.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				e.data = line[6:]
			case strings.HasPrefix(line, ": "):
				if strings.HasPrefix(line, ": open") || strings.HasPrefix(line, ": keep-alive") {
					out <- sseEvent{event: line[2:]}
				}
			}
		}
	}()
	return out
}

func next(t testing.TB, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("stream closed")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sseEvent{}
}

// opened waits for the stream's opening comment: from then on it is subscribed.
func opened(t testing.TB, ch <-chan sseEvent) {
	t.Helper()
	for e := next(t, ch); !strings.HasPrefix(e.event, "open"); e = next(t, ch) {
	}
}

func TestHubFiltersAndResumes(t *testing.T) {
	h := NewHub()
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	all := stream(t, ctx, srv.URL, "")
	one := stream(t, ctx, srv.URL+"?topic=pipeline:alpha&topic=build:*", "")
	opened(t, all)
	opened(t, one)
	h.Publish(KindPipeline, "beta")
	h.Publish(KindPipeline, "alpha")
	h.BuildChanged("proj:1")
	Observer{Hub: h}.Changed("gamma")

	for _, want := range []string{"pipeline/beta", "pipeline/alpha", "build/proj:1", "pipeline/gamma"} {
		e := next(t, all)
		if got := e.event + "/" + strings.Split(strings.Split(e.data, `"key":"`)[1], `"`)[0]; got != want {
			t.Fatalf("all: got %s, want %s", got, want)
		}
	}
	first := next(t, one)
	second := next(t, one)
	if !strings.Contains(first.data, `"alpha"`) || second.event != KindBuild {
		t.Fatalf("filtered stream got %+v then %+v", first, second)
	}

	// A browser that reconnects with Last-Event-ID gets what it missed, and only that.
	resumed := stream(t, ctx, srv.URL+"?topic=pipeline:alpha", first.id)
	h.Publish(KindPipeline, "alpha")
	opened(t, resumed)
	if e := next(t, resumed); e.event != KindPipeline || e.id == first.id {
		t.Fatalf("resumed stream: %+v", e)
	}
	// An id from another process (a restart) cannot be resumed: the page is told to reload.
	stale := stream(t, ctx, srv.URL, "0badc0de-17")
	if e := next(t, stale); e.event != "reset" {
		t.Fatalf("stale id: got %+v, want reset", e)
	}
}

func TestHubTellsSlowSubscribersToReset(t *testing.T) {
	h := NewHub()
	s, _, _ := h.subscribe(topics{}, 0, false)
	for i := 0; i < cap(s.ch)+10; i++ {
		h.Publish(KindPipeline, "p") // never blocks, however slow the reader
	}
	if !s.overflow.Load() {
		t.Fatal("a full subscriber must be marked for a reset")
	}
	// Through HTTP: the overflow turns into one reset event.
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := stream(t, ctx, srv.URL, "")
	opened(t, ch)
	h.mu.Lock()
	for sub := range h.subs {
		if sub != s {
			sub.overflow.Store(true)
		}
	}
	h.mu.Unlock()
	h.Publish(KindPipeline, "p")
	if e := next(t, ch); e.event != "reset" {
		t.Fatalf("got %+v, want reset", e)
	}
}

func TestHubKeepAliveAndLimit(t *testing.T) {
	h := NewHub()
	h.KeepAlive = 20 * time.Millisecond
	h.MaxSubscribers = 1
	srv := httptest.NewServer(h)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := stream(t, ctx, srv.URL, "")
	opened(t, ch)
	if e := next(t, ch); e.event != "keep-alive" {
		t.Fatalf("got %+v, want a keep-alive comment", e)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("over the limit: %d, want 503", resp.StatusCode)
	}
}

// BenchmarkFanOut measures one event reaching every open stream over HTTP: 100 browsers, and one
// as the same-run baseline.
func BenchmarkFanOut(b *testing.B) {
	b.Run("1-stream-baseline", func(b *testing.B) { fanOut(b, 1) })
	b.Run("100-streams", func(b *testing.B) { fanOut(b, 100) })
}

func fanOut(b *testing.B, clients int) {
	h := NewHub()
	srv := httptest.NewServer(h)
	defer srv.Close()
	http.DefaultTransport.(*http.Transport).MaxIdleConnsPerHost = clients
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chans := make([]<-chan sseEvent, clients)
	for i := range chans {
		chans[i] = stream(b, ctx, srv.URL+"?topic=pipeline:*", "")
		opened(b, chans[i])
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Publish(KindPipeline, fmt.Sprint("p", i))
		var wg sync.WaitGroup
		for _, ch := range chans {
			wg.Add(1)
			go func() { defer wg.Done(); next(b, ch) }()
		}
		wg.Wait()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/event-to-all")
}
