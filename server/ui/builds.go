package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/store/logs"
)

type buildsData struct {
	Builds []build.Build
	Next   string
}

func (u *UI) buildsPage(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	ids, next, err := u.d.Builds.ListBuilds(ctx, r.URL.Query().Get("project"), "DESCENDING", r.URL.Query().Get("next"))
	if err != nil {
		return err
	}
	if len(ids) > 50 {
		ids = ids[:50] // one page of the table; ListBuilds pages by 100
	}
	list, _, err := u.d.Builds.BatchGetBuilds(ctx, ids)
	if err != nil {
		return err
	}
	p.Title, p.Template, p.Active = "Builds", "builds", "/builds"
	p.Data = buildsData{Builds: list, Next: next}
	p.Topics = []string{"build:*"}
	return nil
}

type phaseView struct {
	build.BuildPhase
	Start, End time.Time
}

type testSummary struct {
	Total        int            `json:"total"`
	StatusCounts map[string]int `json:"statusCounts"`
	DurationNs   int64          `json:"durationInNanoSeconds"`
}

type reportView struct {
	Report  build.ReportView
	Summary testSummary
	Cases   []build.TestCaseView
	More    bool
}

type artifactView struct {
	Name  string
	SHA   string
	Size  int64
	Files int
}

type buildData struct {
	Build     build.Build
	Phases    []phaseView
	Reports   []reportView
	Artifacts []artifactView
	Tail      []string
	TailFirst int
	Total     int
	Pipeline  string
	Finished  bool
	Started   time.Time
	Ended     time.Time
}

// tailLines is how much of the log the page carries: enough to read without JavaScript, small
// enough that a 100 MB log costs the same as a short one.
const tailLines = 200

func (u *UI) buildPage(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	b, err := u.d.Builds.GetBuild(ctx, id)
	if err != nil {
		return err
	}
	d := buildData{Build: b, Finished: build.Finished(b.BuildStatus), Started: b.StartTime.Time(), Ended: b.EndTime.Time()}
	d.Pipeline, _ = strings.CutPrefix(b.Initiator, "codepipeline/")
	if d.Pipeline == b.Initiator {
		d.Pipeline = ""
	}
	for _, ph := range b.Phases {
		d.Phases = append(d.Phases, phaseView{BuildPhase: ph, Start: ph.StartTime.Time(), End: ph.EndTime.Time()})
	}
	if b.Artifacts != nil && b.Artifacts.Sha256sum != "" {
		d.Artifacts = append(d.Artifacts, artifactView{Name: "primary", SHA: b.Artifacts.Sha256sum, Size: b.Artifacts.Size, Files: b.Artifacts.Files})
	}
	for _, a := range b.SecondaryArtifacts {
		if a.Sha256sum != "" {
			d.Artifacts = append(d.Artifacts, artifactView{Name: a.ArtifactIdentifier, SHA: a.Sha256sum, Size: a.Size, Files: a.Files})
		}
	}
	if d.Reports, err = u.reports(ctx, b.ReportArns); err != nil {
		return err
	}
	if u.d.Logs != nil {
		lines, total, err := u.d.Logs.Tail(build.LogKind, id, tailLines)
		if err != nil && !errors.Is(err, logs.ErrNotFound) {
			return err
		}
		d.Tail, d.Total, d.TailFirst = lines, total, total-len(lines)+1
	}
	p.Title, p.Template, p.Data, p.Active = "Build "+b.ProjectName+" #"+strconv.Itoa(b.BuildNumber), "build", d, "/builds"
	p.Topics = []string{"build:" + id}
	return nil
}

// reports reads each test report with its first test cases, failures first.
func (u *UI) reports(ctx context.Context, arns []string) ([]reportView, error) {
	if len(arns) == 0 {
		return nil, nil
	}
	list, _, err := u.d.Builds.BatchGetReports(ctx, arns)
	if err != nil {
		return nil, err
	}
	var out []reportView
	for _, rep := range list {
		rv := reportView{Report: rep}
		if rep.Type == "TEST" {
			_ = json.Unmarshal(rep.TestSummary, &rv.Summary)
			cases, next, err := u.d.Builds.DescribeTestCases(ctx, rep.Arn, "", "", 50)
			if err != nil {
				return nil, err
			}
			rv.Cases, rv.More = cases, next != ""
		}
		out = append(out, rv)
	}
	return out, nil
}

type searchMatch struct {
	Line int    `json:"line"`
	Text string `json:"text"`
}

// logSearch finds lines of a build log containing a text (case-insensitive), from line `from`
// on, streaming the file: a 100 MB log is read, never held. It stops at 200 matches or after a few
// seconds and says where to continue.
func (u *UI) logSearch(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	q := strings.ToLower(r.URL.Query().Get("q"))
	from, _ := strconv.Atoi(r.URL.Query().Get("from"))
	if q == "" || len(q) > 200 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "q: 1 to 200 characters to look for"})
		return
	}
	if _, err := u.d.Builds.GetBuild(r.Context(), id); err != nil {
		status, msg, ok := classify(err)
		if !ok {
			u.fail(w, r, err)
			return
		}
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	rc, err := u.d.Logs.Open(build.LogKind, id)
	if errors.Is(err, logs.ErrNotFound) {
		writeJSON(w, http.StatusOK, map[string]any{"matches": []searchMatch{}, "next": 0})
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	defer rc.Close()
	deadline := time.Now().Add(5 * time.Second)
	br := bufio.NewReaderSize(rc, 64<<10)
	matches := []searchMatch{}
	n, next := 0, 0
	needle := []byte(q)
	continued, matched := false, false // a long line comes in fragments
	for {
		frag, isPrefix, err := br.ReadLine()
		if err != nil {
			break
		}
		if !continued {
			n++
			matched = false
			if len(matches) >= 200 || (n%4096 == 0 && time.Now().After(deadline)) {
				next = n
				break
			}
		}
		continued = isPrefix
		if n < from || matched || !containsFold(frag, needle) {
			continue
		}
		matched = true
		text := strings.TrimRight(string(frag), "\r")
		if len(text) > 2000 {
			text = text[:2000] + "…"
		}
		matches = append(matches, searchMatch{Line: n, Text: text})
	}
	writeJSON(w, http.StatusOK, map[string]any{"matches": matches, "next": next})
}

// containsFold reports whether line contains the lower-case ASCII needle, ignoring ASCII case
// (no allocation per line: logs are large).
func containsFold(line, needle []byte) bool {
	if len(needle) == 0 {
		return true
	}
	first := needle[0]
	for i := 0; i+len(needle) <= len(line); i++ {
		if lower(line[i]) != first {
			continue
		}
		j := 1
		for ; j < len(needle) && lower(line[i+j]) == needle[j]; j++ {
		}
		if j == len(needle) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
