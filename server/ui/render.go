package ui

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/internal/size"
	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/session"
	"github.com/conveyorci/conveyor/store"
)

// page is what every template gets: the caller, the CSRF token for its forms, the navigation,
// and the page's own Data.
type page struct {
	Title    string
	Template string
	Data     any
	Status   int
	User     string
	Role     auth.Role
	CSRF     string
	// Topics are the live events the page listens to ("pipeline:NAME", "build:ID").
	Topics  []string
	EventID string // the live stream resumes from here
	Flash   *flash
	Version string
	Asset   string
	Nav     []navItem
	Active  string
	Now     time.Time
}

type navItem struct {
	Title, Path string
}

type flash struct {
	Kind string // ok | error
	Text string
}

// Can reports whether the caller's role allows what needs role name.
func (p *page) Can(name string) bool {
	need, err := auth.ParseRole(name)
	return err == nil && p.Role.Allows(need)
}

// TopicList joins the topics for the body's data attribute.
func (p *page) TopicList() string { return strings.Join(p.Topics, " ") }

func (u *UI) parse(fsys fs.FS) error {
	funcs := template.FuncMap{
		"status":       statusClass,
		"statusLabel":  statusLabel,
		"ago":          u.ago,
		"clock":        clock,
		"iso":          func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"dur":          anyDuration,
		"kv":           kv,
		"list":         func(v ...string) []string { return v },
		"between":      func(a, b time.Time) string { return between(a, b) },
		"short":        short,
		"pathEscape":   url.PathEscape,
		"queryEscape":  url.QueryEscape,
		"approvalPath": notify.ApprovalPath,
		"bytes":        size.Bytes,
		"ms":           func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) },
		"join":         strings.Join,
		"add":          func(a, b int) int { return a + b },
		"epoch":        func(e *build.Epoch) time.Time { return e.Time() },
		"timestamp":    func(t pipeline.Timestamp) time.Time { return t.Time() },
		"tsPtr":        tsTime,
	}
	layouts, err := fs.Glob(fsys, "base/*.html")
	if err != nil {
		return err
	}
	pages, err := fs.Glob(fsys, "*.html")
	if err != nil {
		return err
	}
	u.pages = map[string]*template.Template{}
	for _, p := range pages {
		t := template.New(p).Funcs(funcs)
		files := append(append([]string{}, layouts...), p)
		if t, err = t.ParseFS(fsys, files...); err != nil {
			return fmt.Errorf("template %s: %w", p, err)
		}
		u.pages[strings.TrimSuffix(path.Base(p), ".html")] = t
	}
	return nil
}

// render writes a page; a template error becomes a 500 (nothing half-written goes out).
func (u *UI) render(w http.ResponseWriter, r *http.Request, p *page) {
	t, ok := u.pages[p.Template]
	if !ok {
		u.fail(w, r, fmt.Errorf("no template %q", p.Template))
		return
	}
	u.fill(w, r, p)
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		u.fail(w, r, fmt.Errorf("render %s: %w", p.Template, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if p.Status == 0 {
		p.Status = http.StatusOK
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(buf.Bytes())
}

// fill sets the fields every page has.
func (u *UI) fill(w http.ResponseWriter, r *http.Request, p *page) {
	p.Version, p.Asset, p.Now = u.d.Version, u.asset, u.d.Now()
	if len(p.Topics) > 0 && u.d.Hub != nil {
		p.EventID = u.d.Hub.LastID()
	}
	if s, ok := sessionFrom(r); ok {
		p.User, p.Role, p.CSRF = s.User, s.Role, s.CSRF
	}
	p.Nav = []navItem{{"Pipelines", "/"}}
	if u.d.Builds != nil {
		p.Nav = append(p.Nav, navItem{"Builds", "/builds"})
	}
	if u.d.Deploy != nil {
		p.Nav = append(p.Nav, navItem{"Deployments", "/deployments"}, navItem{"Agents", "/agents"})
	}
	if u.d.Connections {
		p.Nav = append(p.Nav, navItem{"Connections", "/connections"})
	}
	if p.Flash == nil {
		p.Flash = takeFlash(w, r)
	}
}

// fail answers an unexpected error: 500 with a request id that appears in the log with the cause.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	reqID := middleware.GetReqID(r.Context())
	u.d.Log.Error("dashboard request failed", "path", r.URL.Path, "request_id", reqID, "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, "Internal error (request id %s); the server log has the details.\n", reqID)
}

// clientError is an error the caller can act on, with its HTTP status.
type clientError struct {
	status int
	msg    string
}

func (e *clientError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &clientError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func badInput(format string, args ...any) error {
	return &clientError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// classify maps an error to a status and a message fit to show, or ok=false for internal errors.
func classify(err error) (int, string, bool) {
	var ce *clientError
	var coded interface {
		error
		ErrorCode() string
	}
	var ie *session.InputError
	var ve *notify.ValidationError
	var nf *notify.NotFoundError
	var cf *notify.ConflictError
	switch {
	case errors.As(err, &ce):
		return ce.status, ce.msg, true
	case errors.As(err, &ie):
		if ie.Conflict {
			return http.StatusConflict, ie.Msg, true
		}
		return http.StatusBadRequest, ie.Msg, true
	case errors.As(err, &ve):
		return http.StatusBadRequest, ve.Error(), true
	case errors.As(err, &nf):
		return http.StatusNotFound, nf.Error(), true
	case errors.As(err, &cf):
		return http.StatusConflict, cf.Error(), true
	case errors.As(err, &coded):
		code := coded.ErrorCode()
		msg := coded.Error()
		if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, code) {
			msg = rest
		}
		switch {
		case strings.HasSuffix(code, "NotFoundException"):
			return http.StatusNotFound, msg, true
		case code == string(pipeline.CodeConflict):
			return http.StatusConflict, msg, true
		}
		return http.StatusBadRequest, msg, true
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not found", true
	}
	return 0, "", false
}

// page adapts a page handler: it fills p (or returns an error shown as an error page).
func (u *UI) page(fn func(w http.ResponseWriter, r *http.Request, p *page) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := &page{}
		if err := fn(w, r, p); err != nil {
			status, msg, ok := classify(err)
			if !ok {
				u.fail(w, r, err)
				return
			}
			u.render(w, r, &page{Title: http.StatusText(status), Template: "error", Status: status, Data: msg})
			return
		}
		if p.Template == "" { // the handler wrote the response itself
			return
		}
		u.render(w, r, p)
	}
}

// errWritten tells action that the handler wrote its answer itself.
var errWritten = errors.New("response written")

// fetched reports whether the request came from the dashboard's script (it wants JSON back).
func fetched(r *http.Request) bool { return r.Header.Get("X-Requested-With") == "conveyor" }

// action adapts a form handler: it returns what to tell the user and where to go next. A plain
// form gets a redirect (303) with a flash message; the script gets JSON.
func (u *UI) action(fn func(w http.ResponseWriter, r *http.Request) (msg, next string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		msg, next, err := fn(w, r)
		if errors.Is(err, errWritten) {
			return
		}
		if next == "" {
			next = backTo(r)
		}
		if err != nil {
			status, text, ok := classify(err)
			if !ok {
				u.fail(w, r, err)
				return
			}
			if fetched(r) {
				writeJSON(w, status, map[string]string{"error": text})
				return
			}
			setFlash(w, r, "error", text)
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		if fetched(r) {
			writeJSON(w, http.StatusOK, map[string]string{"message": msg, "location": next})
			return
		}
		if msg != "" {
			setFlash(w, r, "ok", msg)
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// backTo is where a form returns: the page it was sent from (same origin only), else the overview.
func backTo(r *http.Request) string {
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Path != "" && (ref.Host == "" || ref.Host == r.Host) &&
		strings.HasPrefix(ref.Path, "/") && !strings.HasPrefix(ref.Path, "//") {
		if ref.RawQuery != "" {
			return ref.Path + "?" + ref.RawQuery
		}
		return ref.Path
	}
	return "/"
}

const flashCookie = "conveyor_flash"

func setFlash(w http.ResponseWriter, r *http.Request, kind, text string) {
	if len(text) > 1000 {
		text = text[:1000] + "…"
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(kind + "|" + text)),
		Path: "/", HttpOnly: true, Secure: session.Secure(r), SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", HttpOnly: true, Secure: session.Secure(r),
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	kind, text, ok := strings.Cut(string(b), "|")
	if !ok || (kind != "ok" && kind != "error") {
		return nil
	}
	return &flash{Kind: kind, Text: text}
}

// --- formatting ---

func statusClass(s string) string {
	switch s {
	case "InProgress", "IN_PROGRESS", "Stopping", "pending":
		return "st-progress"
	case "Succeeded", "SUCCEEDED", "delivered", "ok":
		return "st-ok"
	case "Failed", "FAILED", "FAULT", "TIMED_OUT", "failed", "ERROR":
		return "st-failed"
	case "Stopped", "STOPPED", "Abandoned", "Cancelled":
		return "st-stopped"
	case "Superseded", "Skipped", "Overridden":
		return "st-superseded"
	case "Approval":
		return "st-approval"
	case "Queued", "Waiting", "QUEUED":
		return "st-waiting"
	case "SKIPPED", "UNKNOWN":
		return "st-none"
	}
	return "st-none"
}

func statusLabel(s string) string {
	switch s {
	case "InProgress", "IN_PROGRESS":
		return "In progress"
	case "Approval":
		return "Waiting for approval"
	case "":
		return "Not run"
	case "SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED", "QUEUED":
		return strings.ReplaceAll(strings.ToUpper(s[:1])+strings.ToLower(s[1:]), "_", " ")
	}
	return s
}

func (u *UI) ago(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := u.d.Now().Sub(t)
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func clock(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

func tsTime(t *pipeline.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time()
}

func anyDuration(v any) string {
	switch d := v.(type) {
	case time.Duration:
		return duration(d)
	case int64:
		return duration(time.Duration(d))
	case int:
		return duration(time.Duration(d))
	}
	return ""
}

// kv builds a map from key-value pairs, for templates that pass several values to a partial.
func kv(pairs ...any) (map[string]any, error) {
	if len(pairs)%2 != 0 {
		return nil, errors.New("kv needs pairs")
	}
	m := make(map[string]any, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		k, ok := pairs[i].(string)
		if !ok {
			return nil, errors.New("kv keys are strings")
		}
		m[k] = pairs[i+1]
	}
	return m, nil
}

func between(a, b time.Time) string {
	if a.IsZero() || b.IsZero() {
		return ""
	}
	return duration(b.Sub(a))
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
