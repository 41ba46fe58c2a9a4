package main

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/audit"
	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/awsapi"
	"github.com/conveyorci/conveyor/server/live"
	"github.com/conveyorci/conveyor/server/session"
	"github.com/conveyorci/conveyor/server/ui"
	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

// webApp is the dashboard's wiring: users and sessions, the audit log, notifications and the live
// event hub. openWeb builds it before the build service and the engine (they report to it);
// attach builds the pages once they exist.
type webApp struct {
	log         *slog.Logger
	publicURL   string
	credentials string // <data>/admin-credentials
	users       *session.Users
	sessions    *session.Manager
	audit       *audit.Log
	notify      *notify.Service
	hub         *live.Hub
	ui          *ui.UI
	api         *awsapi.API
	cancel      context.CancelFunc
	done        chan struct{}
}

func openWeb(ctx context.Context, cfg serverConfig, log *slog.Logger, db *store.DB, sealer *store.Sealer) (*webApp, error) {
	w := &webApp{log: log, publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		users:    &session.Users{DB: db, Cost: cfg.BcryptCost},
		sessions: &session.Manager{DB: db, Log: log},
		audit:    &audit.Log{DB: db, Log: log},
		hub:      live.NewHub(),
	}
	file := filepath.Join(cfg.Data, "admin-credentials")
	w.credentials = file
	res, err := w.users.EnsureAdmin(ctx, cfg.AdminPassword, file)
	if err != nil {
		return nil, err
	}
	switch {
	case res.File != "":
		log.Info("created the dashboard user admin with a generated password", "file", res.File, "key", "admin_password")
	case res.Created:
		log.Info("created the dashboard user admin with the password from CONVEYOR_ADMIN_PASSWORD")
	}
	w.notify = notify.New(notify.Config{DB: db, Secrets: build.StoreSecrets{DB: db, Sealer: sealer}, Log: log, BaseURL: w.publicURL,
		OnAttempt: func(_, target, _ string) { w.hub.Publish(live.KindNotice, target) }})
	return w, nil
}

// loginHint tells a newcomer how to log in to the dashboard.
func (w *webApp) loginHint() string {
	if vals, err := auth.ReadCredentialsFile(w.credentials); err == nil && vals["admin_password"] != "" {
		return "Log in to the dashboard as admin with the admin_password in " + w.credentials
	}
	return "Log in to the dashboard as a user (conveyor users create NAME --role ROLE); the first admin is admin"
}

// observers are the engine observers of the dashboard: live updates and notifications.
func (w *webApp) observers() []pipeline.Observer {
	return []pipeline.Observer{live.Observer{Hub: w.hub}, w.notify}
}

// auditAPI records the JSON API's changes in the audit log.
func (w *webApp) auditAPI(api *awsapi.API) {
	w.api = api
	api.OnChange(audit.APIHook(w.audit))
}

// attach builds the pages over the wired engine and build service.
func (w *webApp) attach(a *app, logStore *logs.Store) error {
	var err error
	w.ui, err = ui.New(ui.Deps{DB: a.db, Engine: a.engine, Builds: a.builds, Logs: logStore, Keys: a.keys, Users: w.users,
		Sessions: w.sessions, Limiter: &session.Limiter{Burst: 10, Every: 30 * time.Second}, Audit: w.audit, Notify: w.notify,
		Hub: w.hub, Log: w.log, Version: version, Deploy: deployService(a), Connections: true})
	return err
}

// deployService is the deploy service when it is wired (the deployment and agent pages).
func deployService(a *app) *deploy.Service {
	if a.deploy == nil {
		return nil
	}
	return a.deploy.svc
}

func (w *webApp) mount(r chi.Router)    { w.ui.Mount(r) }
func (w *webApp) mountAPI(r chi.Router) { w.ui.MountAPI(r) }

// start runs the background work: notification delivery and session pruning. Links in
// notifications use --public-url, else the address the server listens on.
func (w *webApp) start(ctx context.Context, ln net.Listener) {
	if w.publicURL == "" {
		w.notify.SetBaseURL("http://" + ln.Addr().String())
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	w.notify.Start(ctx)
	go func() { defer close(w.done); w.ui.Maintain(ctx) }()
}

func (w *webApp) close() {
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
	w.notify.Close()
}
