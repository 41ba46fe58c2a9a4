package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/server/rest"
	"github.com/conveyorci/conveyor/store/logs"
)

// logLines is a range of a build log.
type logLines struct {
	BuildID  string   `json:"buildId"`
	First    int      `json:"first"` // line number of Lines[0] (1-based)
	Lines    []string `json:"lines"`
	Total    int      `json:"total"`
	Complete bool     `json:"complete"`
	Status   string   `json:"status"`
}

// buildLogs serves GET /api/v1/builds/{id}/logs:
//
//	?tail=N            the last N lines (JSON)
//	?from=L&limit=N    N lines from line L (JSON)
//	?download=1        the whole log as text
//	Accept: text/event-stream (or ?follow=1)
//	                   every line as an SSE event (id = line number) from Last-Event-ID+1 or ?from,
//	                   then live lines until the build ends (event "end" carries its status)
//
// Large logs are never loaded whole: ranges come from the log store's index.
func buildLogs(builds *build.Service, store *logs.Store) rest.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := chi.URLParam(r, "id")
		b, err := builds.GetBuild(r.Context(), id)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		if r.Header.Get("Accept") == "text/event-stream" || q.Get("follow") != "" {
			return followLog(w, r, builds, store, b)
		}
		if q.Get("download") != "" {
			rc, err := store.Open(build.LogKind, id)
			if errors.Is(err, logs.ErrNotFound) {
				return rest.Errorf(http.StatusNotFound, "ResourceNotFoundException", "%s", "build "+id+" has no log yet")
			}
			if err != nil {
				return err
			}
			defer rc.Close()
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.log"`, sanitizeFilename(id)))
			_, err = io.Copy(w, rc)
			return err
		}
		out := logLines{BuildID: id, Complete: build.Finished(b.BuildStatus), Status: b.BuildStatus, Lines: []string{}}
		var lines []string
		if t := q.Get("tail"); t != "" || q.Get("from") == "" {
			n, _ := strconv.Atoi(t)
			if n <= 0 || n > 10000 {
				n = 200
			}
			lines, out.Total, err = store.Tail(build.LogKind, id, n)
			out.First = out.Total - len(lines) + 1
		} else {
			from, _ := strconv.Atoi(q.Get("from"))
			n, _ := strconv.Atoi(q.Get("limit"))
			if from < 1 {
				from = 1
			}
			if n <= 0 || n > 10000 {
				n = 1000
			}
			lines, out.Total, err = store.Lines(build.LogKind, id, from, n)
			out.First = from
		}
		if errors.Is(err, logs.ErrNotFound) {
			return rest.JSON(w, http.StatusOK, out) // not started writing yet
		}
		if err != nil {
			return err
		}
		if lines != nil {
			out.Lines = lines
		}
		if out.First < 1 {
			out.First = 1
		}
		return rest.JSON(w, http.StatusOK, out)
	}
}

func sanitizeFilename(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return string(b)
}

// followLog streams a build log as server-sent events, resuming after Last-Event-ID.
func followLog(w http.ResponseWriter, r *http.Request, builds *build.Service, store *logs.Store, b build.Build) error {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return errors.New("streaming is not supported by this connection")
	}
	from := 1
	if v, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil {
		from = v + 1
	} else if v, err := strconv.Atoi(r.URL.Query().Get("from")); err == nil && v > 0 {
		from = v
	}
	ctx := r.Context()
	// The log appears when the build leaves PROVISIONING; wait for it while the build runs.
	var lines <-chan logs.Line
	for {
		ch, err := store.Follow(ctx, build.LogKind, b.ID, from)
		if err == nil {
			lines = ch
			break
		}
		if !errors.Is(err, logs.ErrNotFound) {
			return err
		}
		if build.Finished(b.BuildStatus) {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
		if b, err = builds.GetBuild(ctx, b.ID); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for lines != nil {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case l, open := <-lines:
			if !open {
				lines = nil
				break
			}
			data, _ := json.Marshal(l.Text)
			fmt.Fprintf(w, "id: %d\nevent: line\ndata: %s\n\n", l.N, data)
			if len(lines) == 0 {
				flusher.Flush()
			}
		}
	}
	final, err := builds.Wait(context.WithoutCancel(ctx), b.ID)
	if err != nil {
		return nil
	}
	end, _ := json.Marshal(map[string]string{"status": final.BuildStatus})
	fmt.Fprintf(w, "event: end\ndata: %s\n\n", end)
	flusher.Flush()
	return nil
}
