package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/approval"
	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/executor/build/docker"
	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/awsapi"
	"github.com/conveyorci/conveyor/server/live"
	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

// serverConfig is everything `conveyor server` is configured with.
type serverConfig struct {
	Listen      string
	Data        string
	Region      string
	LogLevel    string
	LogFormat   string
	Example     bool
	AdminKeyID  string
	AdminSecret string
	SecretKey   string
	// AdminPassword is the first dashboard admin's password (CONVEYOR_ADMIN_PASSWORD); empty
	// generates one into admin-credentials. PublicURL is the dashboard's external URL (links in
	// notifications). BcryptCost lets tests hash faster.
	AdminPassword string
	PublicURL     string
	BcryptCost    int
	// MaxConcurrentBuilds caps builds running at once (0: the CPU count, at least 2).
	MaxConcurrentBuilds int
	// AgentLease is how long a deploy host may go without a heartbeat during its command before it
	// is failed with AGENT_ISSUE (0: 60 s).
	AgentLease time.Duration
	// Providers lets tests register extra action providers (the scriptable fake).
	Providers func(*executor.Registry)
}

// app is a wired server: every dependency built explicitly, nothing global.
type app struct {
	cfg     serverConfig
	log     *slog.Logger
	db      *store.DB
	blobs   *store.Blobs
	engine  *pipeline.Engine
	keys    *auth.Keys
	uploads *source.Uploads
	builds  *build.Service
	deploy  *deployWiring
	// deployEvents turns deployment changes into live updates and notifications.
	deployEvents *deploymentEvents
	sources      *sourcesWiring
	// dockerErr says why builds cannot run, when Docker was not reachable at start.
	dockerErr error
	handler   http.Handler
	admin     auth.AdminCredentials
	web       *webApp
}

func newLogger(level, format string, w *os.File) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

// providerDeps are what the providers run with; all nil when the registry only validates
// (`conveyor validate` works offline).
type providerDeps struct {
	s3        *source.S3
	builds    *build.Service
	approvals approval.Notifier
	deploy    *deploy.Service
	git       *source.GitSource
	// connections says whether a connection exists (validation of ConnectionArn); nil offline.
	connections source.ConnectionLookup
}

// registerProviders lists every action provider of this build, in one place for the server and
// for offline validation.
func registerProviders(d providerDeps) *executor.Registry {
	r := executor.NewRegistry()
	r.Register(source.S3Spec(), d.s3)
	r.Register(source.CodeStarSpec(d.connections), d.git)
	r.Register(source.CodeCommitSpec(d.connections), d.git)
	r.Register(approval.Spec(), &approval.Executor{Notifier: d.approvals})
	for _, spec := range build.ActionSpecs() {
		r.Register(spec, &build.Action{Builds: d.builds})
	}
	r.Register(deploy.ActionSpec(), &deploy.Action{Deploy: d.deploy})
	return r
}

// dockerInstance names this server's containers and volumes (the conveyor.instance label): stable
// for a data directory, so a restarted server reaps what its previous run left.
func dockerInstance(data string) string {
	abs, _ := filepath.Abs(data)
	sum := sha256.Sum256([]byte(abs))
	return "conveyor-" + hex.EncodeToString(sum[:6])
}

// openApp opens the data directory and wires the server. The caller must call close.
func openApp(ctx context.Context, cfg serverConfig, log *slog.Logger) (*app, error) {
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.Data, err)
	}
	key, created, err := store.LoadOrCreateKey(cfg.SecretKey, filepath.Join(cfg.Data, "secret.key"))
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created the secret key that encrypts secrets at rest; back it up with the database",
			"file", filepath.Join(cfg.Data, "secret.key"))
	}
	sealer, err := store.NewSealer(key)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, filepath.Join(cfg.Data, "conveyor.db"), store.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, db: db}
	if a.blobs, err = store.OpenBlobs(filepath.Join(cfg.Data, "blobs"), db); err != nil {
		db.Close()
		return nil, err
	}
	a.keys = &auth.Keys{DB: db, Sealer: sealer}
	if a.admin, err = a.keys.EnsureAdmin(ctx, cfg.AdminKeyID, cfg.AdminSecret, filepath.Join(cfg.Data, "admin-credentials")); err != nil {
		db.Close()
		return nil, err
	}
	if a.admin.File != "" {
		log.Info("generated the admin access key; the client commands read it from the data directory",
			"access_key_id", a.admin.ID, "file", a.admin.File)
	}

	if a.web, err = openWeb(ctx, cfg, log, db, sealer); err != nil {
		db.Close()
		return nil, err
	}

	logStore, err := logs.Open(filepath.Join(cfg.Data, "logs"))
	if err != nil {
		db.Close()
		return nil, err
	}
	runner := &build.Runner{Blobs: a.blobs, Secrets: build.StoreSecrets{DB: db, Sealer: sealer}, Log: log,
		TempDir: filepath.Join(cfg.Data, "blobs", "tmp")}
	dctx, cancelDocker := context.WithTimeout(ctx, 10*time.Second)
	runner.Docker, runner.DockerErr = docker.New(dctx, log, docker.Options{Instance: dockerInstance(cfg.Data)})
	cancelDocker()
	a.dockerErr = runner.DockerErr
	if runner.DockerErr != nil {
		log.Warn("Docker is not reachable: builds will fail until it is (set DOCKER_HOST, then restart)", "err", runner.DockerErr)
	}
	metrics := server.NewMetrics(db)
	a.builds = build.NewService(build.Config{DB: db, Blobs: a.blobs, Logs: logStore, Runner: runner, Region: cfg.Region,
		Logger: log, MaxConcurrentBuilds: cfg.MaxConcurrentBuilds, OnEvent: a.web.hub.BuildChanged})
	if err := a.builds.Start(ctx); err != nil {
		db.Close()
		return nil, err
	}
	s3 := &source.S3{DB: db, Blobs: a.blobs}
	a.deployEvents = newDeploymentEvents(a.web.hub, a.web.notify, log)
	a.deploy = openDeploy(cfg, db, a.blobs, logStore, a.deployEvents, log)
	if a.sources, err = openSources(cfg, db, sealer, a.blobs, log); err != nil {
		db.Close()
		return nil, err
	}
	providers := registerProviders(providerDeps{s3: s3, builds: a.builds, approvals: a.web.notify, deploy: a.deploy.svc,
		git: a.sources.provider, connections: a.sources.lookup()})
	if cfg.Providers != nil {
		cfg.Providers(providers)
	}
	// Subsystems add their observers, build event listeners and HTTP routes here.
	observers := &pipeline.ObserverSet{}
	observers.Add(metrics)
	for _, o := range a.web.observers() {
		observers.Add(o)
	}
	var mounts []func(chi.Router)
	a.engine = pipeline.New(pipeline.Config{DB: db, Providers: providers, Region: cfg.Region, Logger: log, Observer: observers})
	a.uploads = &source.Uploads{S3: s3, Engine: a.engine, Log: log}

	api := awsapi.New(log)
	api.Register(awsapi.CodePipelineTarget, awsapi.CodePipeline(a.engine))
	api.Register(awsapi.CodeBuildTarget, awsapi.CodeBuild(a.builds))
	a.deploy.register(api)
	a.web.auditAPI(api)
	if err := a.web.attach(a, logStore); err != nil {
		db.Close()
		return nil, err
	}
	a.sources.attach(a.engine, db, a.web.audit, log)
	a.sources.dispatcher.OnRecorded = func(connection string) { a.web.hub.Publish(live.KindWebhook, connection) }
	mounts = append(mounts, a.web.mount, a.deploy.agentRoutes(), a.sources.routes)
	a.handler = server.New(server.Deps{
		Engine: a.engine, DB: db, Blobs: a.blobs, Keys: a.keys, Uploads: a.uploads, Builds: a.builds, Logs: logStore,
		Secrets: &server.Secrets{DB: db, Sealer: sealer, Log: log}, Metrics: metrics, API: api, Logger: log, Version: version,
		Mount: mounts, APIMount: []func(chi.Router){a.web.mountAPI, a.deploy.apiRoutes(), a.sources.apiRoutes}, Sessions: a.web.sessions, Audit: a.web.audit,
	})
	// Deployments recover before the engine resumes the actions that wait for them.
	if err := a.deploy.svc.Start(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.engine.Start(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := a.sources.start(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// serve answers HTTP on ln until ctx ends, then shuts down gracefully: stop accepting, finish
// requests in flight, let the engine release running actions (they resume or fail with reason
// "server restart" on the next start), close the database.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	go a.maintain(ctx)
	a.web.start(ctx, ln)
	go a.deployEvents.run(ctx)
	select {
	case err := <-errc:
		a.close()
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	a.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Builds first: they end FAULT ("Conveyor shut down") and their containers are removed; then
	// the engine releases its actions, which find those builds again after the restart.
	if err := a.builds.Close(ctx); err != nil {
		a.log.Warn("builds close", "err", err)
	}
	// Deployments before the engine: a CodeDeploy action cancelled by the engine's close must see
	// a shutdown (and leave its deployment running), not an abandon.
	if a.deploy != nil {
		if err := a.deploy.svc.Close(ctx); err != nil {
			a.log.Warn("deployments close", "err", err)
		}
	}
	// Sources before the engine: no delivery or poll starts an execution while it closes.
	a.sources.close()
	if err := a.engine.Close(ctx); err != nil {
		a.log.Warn("engine close", "err", err)
	}
	a.web.close()
	if err := a.db.Close(); err != nil {
		a.log.Warn("database close", "err", err)
	}
}

// maintain checkpoints the WAL periodically so it cannot grow without bound.
func (a *app) maintain(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.db.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("wal checkpoint", "err", err)
			}
		}
	}
}
