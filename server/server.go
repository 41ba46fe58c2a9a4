// Package server is Conveyor's HTTP front: the chi route tree, authentication and authorization
// middleware, the AWS-compatible JSON API (server/awsapi), REST extras under /api/v1, health and
// metrics. It translates HTTP into calls on the engine, the executors and the stores.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/conveyorci/conveyor/audit"
	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/awsapi"
	"github.com/conveyorci/conveyor/server/rest"
	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

// Deps are what the server needs; cmd/conveyor wires them.
type Deps struct {
	Engine  *pipeline.Engine
	DB      *store.DB
	Blobs   *store.Blobs
	Keys    *auth.Keys
	Uploads *source.Uploads
	Builds  *build.Service
	Logs    *logs.Store
	Secrets *Secrets
	Metrics *Metrics
	API     *awsapi.API
	Logger  *slog.Logger
	Now     func() time.Time
	Version string
	// Mount adds routes of later subsystems (webhooks, agents, UI) to the router.
	Mount []func(r chi.Router)
	// APIMount adds routes under /api/v1, behind the same authentication (users, notifications,
	// audit); they check roles themselves.
	APIMount []func(r chi.Router)
	// Sessions authenticates browser requests by their session cookie (the dashboard), so the
	// browser can use the REST extras (build logs, artifacts); nil accepts access keys only.
	Sessions SessionAuthenticator
	// Audit records the REST extras' changes (keys, secrets, uploads); nil records nothing.
	Audit audit.Recorder
}

// SessionAuthenticator authenticates a request by its session cookie. ok is false when the request
// carries no session; err (an *auth.Error) refuses it, e.g. a request that changes state without
// the session's CSRF token.
type SessionAuthenticator interface {
	AuthenticateSession(r *http.Request) (id auth.Identity, ok bool, err error)
}

// New builds the HTTP handler.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Audit == nil {
		d.Audit = audit.Discard{}
	}
	verifier := &auth.Verifier{Lookup: d.Keys.Lookup, Now: d.Now}
	r := chi.NewRouter()
	r.Use(middleware.RequestID, middleware.RealIP, recoverer(d.Logger), instrument(d.Metrics))
	r.Get("/healthz", health(d.DB, d.Version))

	r.Group(func(r chi.Router) {
		r.Use(authenticate(verifier, d.Logger, true, nil))
		r.Post("/", d.API.ServeHTTP)
	})
	r.Group(func(r chi.Router) {
		r.Use(authenticate(verifier, d.Logger, false, d.Sessions))
		r.With(rest.Require(auth.RoleViewer)).Handle("/metrics", promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{}))
		r.Route("/api/v1", func(r chi.Router) {
			r.With(rest.Require(auth.RoleViewer)).Get("/whoami", rest.Handle(d.Logger, whoami))
			r.With(rest.Require(auth.RoleAdmin)).Get("/keys", rest.Handle(d.Logger, listKeys(d.Keys)))
			r.With(audited(d.Audit), rest.Require(auth.RoleAdmin)).Post("/keys", rest.Handle(d.Logger, createKey(d.Keys, d.Logger)))
			r.With(audited(d.Audit), rest.Require(auth.RoleAdmin)).Delete("/keys/{id}", rest.Handle(d.Logger, deleteKey(d.Keys)))
			r.With(audited(d.Audit), rest.Require(auth.RoleOperator)).Put("/buckets/{bucket}/objects/*", rest.Handle(d.Logger, uploadObject(d.Uploads)))
			r.With(rest.Require(auth.RoleViewer)).Get("/buckets/{bucket}/versions/*", rest.Handle(d.Logger, listObjectVersions(d.DB)))
			r.With(rest.Require(auth.RoleViewer)).Get("/artifacts/{sha256}", rest.Handle(d.Logger, downloadArtifact(d.Blobs)))
			if d.Builds != nil {
				r.With(rest.Require(auth.RoleViewer)).Get("/builds/{id}/logs", rest.Handle(d.Logger, buildLogs(d.Builds, d.Logs)))
			}
			if d.Secrets != nil {
				r.Group(func(r chi.Router) {
					r.Use(audited(d.Audit), rest.Require(auth.RoleAdmin))
					d.Secrets.routes(r, d.Logger)
				})
			}
			for _, m := range d.APIMount {
				m(r)
			}
		})
	})
	for _, m := range d.Mount {
		m(r)
	}
	return r
}

func health(db *store.DB, version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := db.Read().ListPipelines(ctx, "", 1); err != nil {
			http.Error(w, `{"status":"unavailable","reason":"database"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok","version":` + strconv.Quote(version) + `}`))
	}
}

// authenticate accepts SigV4 (always) and, where basic is allowed, HTTP Basic with an access key.
// Deny by default: a request without valid credentials never reaches a handler.
func authenticate(v *auth.Verifier, log *slog.Logger, sigv4Only bool, sessions SessionAuthenticator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if sessions != nil && r.Header.Get("Authorization") == "" {
				id, ok, err := sessions.AuthenticateSession(r)
				if ae, refused := err.(*auth.Error); refused {
					awsapi.WriteError(w, &awsapi.Error{Type: ae.Type, Message: ae.Message, Status: ae.Status})
					return
				}
				if err != nil {
					writeAuthError(w, r, log, err)
					return
				}
				if ok {
					next.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
					return
				}
			}
			var id auth.Identity
			var err error
			if _, _, basic := r.BasicAuth(); basic && !sigv4Only {
				id, err = v.VerifyBasic(r)
			} else {
				id, err = v.Verify(r)
			}
			if err != nil {
				writeAuthError(w, r, log, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
		})
	}
}

func writeAuthError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if ae, ok := err.(*auth.Error); ok {
		status := ae.Status
		if r.URL.Path != "/" {
			// REST routes speak plain HTTP auth: no or bad credentials is 401 with a challenge.
			if status == http.StatusForbidden || ae.Type == "UnrecognizedClientException" || ae.Type == "InvalidSignatureException" {
				status = http.StatusUnauthorized
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="conveyor"`)
		}
		awsapi.WriteError(w, &awsapi.Error{Type: ae.Type, Message: ae.Message, Status: status})
		return
	}
	log.Error("authentication failed", "err", err, "request_id", middleware.GetReqID(r.Context()))
	awsapi.WriteError(w, &awsapi.Error{Type: "InternalFailure", Message: "authentication failed: internal error", Status: http.StatusInternalServerError})
}

// require denies callers whose role is below need.
func require(need auth.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, _ := auth.FromContext(r.Context())
			if !id.Role.Allows(need) {
				awsapi.WriteError(w, &awsapi.Error{Type: "AccessDeniedException",
					Message: id.Name + " (role " + id.Role.String() + ") may not do this: it needs role " + need.String(), Status: http.StatusForbidden})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// audited records requests that change something (any method but GET, HEAD, OPTIONS) with their
// route, the caller and the outcome.
func audited(rec audit.Recorder) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
				next.ServeHTTP(w, r)
				return
			}
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			id, _ := auth.FromContext(r.Context())
			route := r.URL.Path
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			e := audit.Entry{Actor: id.Name, Role: id.Role.String(), Source: audit.SourceREST, Action: r.Method + " " + route,
				Target: r.URL.Path, RequestID: middleware.GetReqID(r.Context()), RemoteAddr: r.RemoteAddr}
			switch st := ww.Status(); {
			case st == http.StatusForbidden:
				e.Outcome = "denied"
			case st >= 300:
				e.Outcome = "failed: HTTP " + strconv.Itoa(st)
			}
			rec.Record(r.Context(), e)
		})
	}
}

func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					reqID := middleware.GetReqID(r.Context())
					log.Error("handler panicked", "panic", v, "path", r.URL.Path, "request_id", reqID)
					awsapi.WriteError(w, &awsapi.Error{Type: "InternalFailure", Message: "internal error (request id " + reqID + ")", Status: http.StatusInternalServerError})
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

func instrument(m *Metrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			m.httpDuration.WithLabelValues(route, r.Method, strconv.Itoa(ww.Status())).Observe(time.Since(start).Seconds())
		})
	}
}
