// Package ui is the web dashboard: server-rendered pages (html/template, assets embedded from
// package web) over the engine's and the build service's read models, forms that call the same
// operations as the API (with the same roles, a CSRF token and an audit record), live updates
// through one server-sent-events stream (server/live), and the REST extras for users,
// notifications and the audit log.
//
// Every page works without JavaScript (reload-based); the small scripts in web/static add live
// updates, forms sent in the background, and a log viewer that never loads a whole log.
package ui

import (
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/audit"
	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/live"
	"github.com/conveyorci/conveyor/server/session"
	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
	"github.com/conveyorci/conveyor/web"
)

// Deps are what the dashboard needs; cmd/conveyor wires them. Builds and Logs may be nil (no
// build pages then).
type Deps struct {
	DB       *store.DB
	Engine   *pipeline.Engine
	Builds   *build.Service
	Logs     *logs.Store
	Keys     *auth.Keys
	Users    *session.Users
	Sessions *session.Manager
	// Limiter limits failed logins per client address and per user name.
	Limiter *session.Limiter
	Audit   *audit.Log
	Notify  *notify.Service
	Hub     *live.Hub
	Log     *slog.Logger
	Version string
	Now     func() time.Time
	// Deploy, when set, adds the deployment and agent pages.
	Deploy *deploy.Service
	// Connections adds the pages of git connections and their webhook deliveries.
	Connections bool
}

// UI serves the dashboard.
type UI struct {
	d     Deps
	pages map[string]*template.Template
	asset string // cache-busting version of the static assets
}

// New parses the templates.
func New(d Deps) (*UI, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Limiter == nil {
		d.Limiter = &session.Limiter{Burst: 10, Every: 30 * time.Second}
	}
	u := &UI{d: d, asset: assetVersion()}
	if err := u.parse(web.Templates()); err != nil {
		return nil, err
	}
	return u, nil
}

// Mount adds the dashboard's routes to the root router. Pages need a session (else the login
// page answers 401); forms need the session's CSRF token and the role of the operation.
func (u *UI) Mount(r chi.Router) {
	static := http.StripPrefix("/static/", http.FileServer(http.FS(web.Static())))
	r.Get("/static/*", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		static.ServeHTTP(w, req)
	})
	r.Get("/login", u.loginPage)
	r.Post("/login", u.login)
	r.Group(func(r chi.Router) {
		r.Use(u.withSession, securityHeaders)
		r.Post("/logout", u.logout)
		r.Get("/", u.page(u.overview))
		r.Get("/events", u.events)
		r.Get("/pipelines/{name}", u.page(u.pipelinePage))
		r.Get("/pipelines/{name}/history", u.page(u.historyPage))
		r.Get("/pipelines/{name}/executions/{id}", u.page(u.executionPage))
		r.Get("/pipelines/{name}/executions/{id}/approvals/{stage}/{action}", u.page(u.approvalPage))
		r.With(u.needRole(auth.RoleOperator)).Post("/pipelines/{name}/start", u.action(u.start))
		r.With(u.needRole(auth.RoleOperator)).Post("/pipelines/{name}/executions/{id}/stop", u.action(u.stop))
		r.With(u.needRole(auth.RoleOperator)).Post("/pipelines/{name}/executions/{id}/retry", u.action(u.retry))
		r.With(u.needRole(auth.RoleOperator)).Post("/pipelines/{name}/stages/{stage}/transition", u.action(u.transition))
		r.With(u.needRole(auth.RoleOperator)).Post("/pipelines/{name}/stages/{stage}/rollback", u.action(u.rollback))
		r.With(u.needRole(auth.RoleOperator)).Post("/pipelines/{name}/stages/{stage}/override", u.action(u.overrideCondition))
		r.With(u.needRole(auth.RoleApprover)).Post("/pipelines/{name}/executions/{id}/approvals/{stage}/{action}", u.action(u.approve))
		if u.d.Builds != nil {
			r.Get("/builds", u.page(u.buildsPage))
			r.Get("/builds/{id}", u.page(u.buildPage))
			r.Get("/builds/{id}/log/search", u.logSearch)
		}
		if u.d.Deploy != nil {
			r.Get("/deployments", u.page(u.deploymentsPage))
			r.Get("/deployments/{id}", u.page(u.deploymentPage))
			r.With(u.needRole(auth.RoleOperator)).Post("/deployments/{id}/stop", u.action(u.stopDeployment))
			r.Get("/agents", u.page(u.agentsPage))
			r.With(u.needRole(auth.RoleAdmin)).Post("/agents/{name}/revoke", u.action(u.revokeAgent))
		}
		if u.d.Connections {
			r.Get("/connections", u.page(u.connectionsPage))
			r.Get("/connections/{name}/deliveries", u.page(u.deliveriesPage))
		}
		r.Route("/admin", func(r chi.Router) {
			r.Use(u.needRole(auth.RoleAdmin))
			r.Get("/keys", u.page(u.keysPage))
			r.Post("/keys", u.action(u.createKey))
			r.Post("/keys/{id}/delete", u.action(u.deleteKey))
			r.Get("/users", u.page(u.usersPage))
			r.Post("/users", u.action(u.createUser))
			r.Post("/users/{user}/role", u.action(u.setUserRole))
			r.Post("/users/{user}/password", u.action(u.setUserPassword))
			r.Post("/users/{user}/delete", u.action(u.deleteUser))
			r.Get("/audit", u.page(u.auditPage))
			r.Get("/notifications", u.page(u.notificationsPage))
			r.Post("/notifications/deliveries/{id}/retry", u.action(u.retryDelivery))
			r.Post("/notifications/targets/{target}/test", u.action(u.testTarget))
		})
	})
}

// MountAPI adds the REST extras of the dashboard's resources under /api/v1 (the caller is
// authenticated there already; roles are checked here).
func (u *UI) MountAPI(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(u.needRole(auth.RoleAdmin))
		r.Get("/users", u.api(u.apiListUsers))
		r.Post("/users", u.api(u.apiCreateUser))
		r.Delete("/users/{user}", u.api(u.apiDeleteUser))
		r.Put("/users/{user}/role", u.api(u.apiSetRole))
		r.Put("/users/{user}/password", u.api(u.apiSetPassword))
		r.Get("/audit", u.api(u.apiAudit))
		r.Get("/notifications/targets", u.api(u.apiListTargets))
		r.Put("/notifications/targets/{target}", u.api(u.apiPutTarget))
		r.Delete("/notifications/targets/{target}", u.api(u.apiDeleteTarget))
		r.Get("/notifications/rules", u.api(u.apiListRules))
		r.Put("/notifications/rules/{rule}", u.api(u.apiPutRule))
		r.Delete("/notifications/rules/{rule}", u.api(u.apiDeleteRule))
		r.Get("/notifications/deliveries", u.api(u.apiDeliveries))
		r.Post("/notifications/deliveries/{id}/retry", u.api(u.apiRetryDelivery))
	})
}

// Maintain prunes expired sessions and old deliveries until ctx ends.
func (u *UI) Maintain(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := u.d.Sessions.Prune(ctx); err != nil && ctx.Err() == nil {
			u.d.Log.Warn("pruning sessions", "err", err)
		} else if n > 0 {
			u.d.Log.Debug("pruned expired sessions", "count", n)
		}
		_ = u.d.DB.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.PruneDeliveries(ctx, u.d.Now().Add(-30*24*time.Hour))
			return err
		})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func assetVersion() string {
	h := uint32(2166136261)
	_ = fs.WalkDir(web.Static(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(web.Static(), path)
		for _, c := range append([]byte(path), b...) {
			h = (h ^ uint32(c)) * 16777619
		}
		return nil
	})
	return fmt.Sprintf("%08x", h)
}
