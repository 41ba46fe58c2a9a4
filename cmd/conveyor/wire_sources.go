package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/audit"
	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/executor/source/git"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/sourceapi"
	"github.com/conveyorci/conveyor/server/webhook"
	"github.com/conveyorci/conveyor/store"
)

// sourcesWiring is the source side: connections to git repositories (their caches under
// <data>/git), the CodeStarSourceConnection and CodeCommit providers, the webhook endpoint, the
// dispatcher that turns deliveries into executions, and polling.
type sourcesWiring struct {
	connections *source.Connections
	provider    *source.GitSource
	dispatcher  *source.Dispatcher
	poller      *source.Poller
	webhook     *webhook.Handler
	api         *sourceapi.API
}

// openSources builds what the providers need; attach finishes the wiring once the engine exists.
func openSources(cfg serverConfig, db *store.DB, sealer *store.Sealer, blobs *store.Blobs, log *slog.Logger) (*sourcesWiring, error) {
	gitClient, err := git.NewClient(filepath.Join(cfg.Data, "git"), nil, log)
	if err != nil {
		return nil, err
	}
	conns := &source.Connections{DB: db, Sealer: sealer, Git: gitClient, Region: cfg.Region}
	return &sourcesWiring{connections: conns, provider: &source.GitSource{Connections: conns, Blobs: blobs, Log: log}}, nil
}

// providerDeps' git source fields, for registerProviders.
func (s *sourcesWiring) lookup() source.ConnectionLookup { return s.connections.Lookup() }

func (s *sourcesWiring) attach(engine *pipeline.Engine, db *store.DB, rec audit.Recorder, log *slog.Logger) {
	s.connections.Pipelines = engine.Declarations
	s.dispatcher = source.NewDispatcher(db, s.connections, engine, log)
	s.poller = source.NewPoller(db, s.connections, s.dispatcher, engine, log)
	s.connections.Changed = s.poller.Reload
	s.webhook = &webhook.Handler{Connections: s.connections, Dispatcher: s.dispatcher, Log: log}
	s.api = &sourceapi.API{Connections: s.connections, DB: db, Log: log, Audit: rec}
}

// routes are the webhook endpoint (authenticated by signatures, outside /api/v1).
func (s *sourcesWiring) routes(r chi.Router) { s.webhook.Routes(r) }

// apiRoutes are /api/v1/connections….
func (s *sourcesWiring) apiRoutes(r chi.Router) { s.api.Routes(r) }

// start processes deliveries a previous run left pending and starts polling; after the engine
// started, since both start executions.
func (s *sourcesWiring) start(ctx context.Context) error {
	if err := s.dispatcher.Start(ctx); err != nil {
		return err
	}
	s.poller.Start()
	return nil
}

// close stops polling and the dispatcher; deliveries not processed yet stay pending.
func (s *sourcesWiring) close() {
	s.poller.Close()
	s.dispatcher.Close()
}
