package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/conveyorci/conveyor/audit"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/session"
)

type sessionKey struct{}

func sessionFrom(r *http.Request) (session.Session, bool) {
	s, ok := r.Context().Value(sessionKey{}).(session.Session)
	return s, ok
}

// withSession requires a session. Without one, a page read answers 401 with the login form (no
// redirect: the form returns to the page asked for); anything else gets a plain 401. A request
// that changes state must carry the session's CSRF token (form field or X-CSRF-Token), else 403.
func (u *UI) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok, err := u.d.Sessions.Lookup(r)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		if !ok {
			if r.Method == http.MethodGet && !fetched(r) && !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
				u.loginForm(w, r, http.StatusUnauthorized, r.URL.RequestURI(), "")
				return
			}
			w.Header().Set("WWW-Authenticate", `Session realm="conveyor", login="/login"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "log in first: this needs a session (POST /login)"})
			return
		}
		ctx := context.WithValue(r.Context(), sessionKey{}, s)
		ctx = auth.WithIdentity(ctx, s.Identity())
		r = r.WithContext(ctx)
		if !session.Safe(r.Method) && !s.CheckCSRF(r, true) {
			u.record(r, audit.Entry{Action: "csrf", Target: r.URL.Path, Outcome: "denied"})
			u.refuse(w, r, http.StatusForbidden, "This form is stale or forged: its CSRF token does not match your session. Reload the page and try again.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// needRole refuses callers below role (403); refused changes are recorded in the audit log.
func (u *UI) needRole(role auth.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := auth.FromContext(r.Context())
			if !id.Role.Allows(role) {
				if !session.Safe(r.Method) {
					u.record(r, audit.Entry{Action: r.Method + " " + r.URL.Path, Target: r.URL.Path, Outcome: "denied"})
				}
				u.refuse(w, r, http.StatusForbidden, "Your role ("+id.Role.String()+") may not do this: it needs "+role.String()+".")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// refuse answers a refused request in the shape the caller reads: JSON for the script and the
// REST extras, an error page for the browser.
func (u *UI) refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") { // the REST extras answer in AWS's error shape
		writeJSON(w, status, map[string]string{"__type": "AccessDeniedException", "message": msg})
		return
	}
	if fetched(r) {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	u.render(w, r, &page{Title: http.StatusText(status), Template: "error", Status: status, Data: msg})
}

// securityHeaders keeps pages out of frames and scripts to Conveyor's own.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
			"connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// record writes an audit entry for the caller of r (source ui, or rest under /api/).
func (u *UI) record(r *http.Request, e audit.Entry) {
	if u.d.Audit == nil {
		return
	}
	id, _ := auth.FromContext(r.Context())
	if e.Actor == "" {
		e.Actor = id.Name
	}
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	if e.Role == "" && id.Role != auth.RoleNone {
		e.Role = id.Role.String()
	}
	if e.Source == "" {
		e.Source = audit.SourceUI
		if strings.HasPrefix(r.URL.Path, "/api/") {
			e.Source = audit.SourceREST
		}
	}
	e.RequestID = middleware.GetReqID(r.Context())
	e.RemoteAddr = r.RemoteAddr
	u.d.Audit.Record(r.Context(), e)
}

// outcome renders an error for the audit log.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	if _, msg, ok := classify(err); ok {
		return "failed: " + msg
	}
	return "failed: internal error"
}

// events is the live stream for pages (server/live).
func (u *UI) events(w http.ResponseWriter, r *http.Request) {
	u.d.Hub.ServeHTTP(w, r)
}

func identity(r *http.Request) (string, auth.Role) {
	id, _ := auth.FromContext(r.Context())
	return id.Name, id.Role
}

// recordOp records an operation on a resource with its outcome.
func (u *UI) recordOp(r *http.Request, action, target, detail string, err error) {
	u.record(r, audit.Entry{Action: action, Target: target, Detail: detail, Outcome: outcome(err)})
}
