package main

import (
	"log/slog"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/server/agentapi"
	"github.com/conveyorci/conveyor/server/awsapi"
	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

// deployWiring is CodeDeploy's part of the server: the deploy service (applications, groups,
// instances, deployments and their leases), its pipeline action, the CodeDeploy API, the agent
// protocol under /agent/v1 and the agents' REST extras under /api/v1.
type deployWiring struct {
	svc *deploy.Service
	log *slog.Logger
}

// openDeploy builds the deploy service; openApp starts it (recovery, the lease reaper) with Start
// and app.close closes it.
func openDeploy(cfg serverConfig, db *store.DB, blobs *store.Blobs, logStore *logs.Store, events *deploymentEvents, log *slog.Logger) *deployWiring {
	w := &deployWiring{log: log, svc: deploy.NewService(deploy.Config{DB: db, Blobs: blobs, Logs: logStore, Region: cfg.Region,
		Logger: log, Lease: cfg.AgentLease, OnEvent: events.changed})}
	events.svc = w.svc
	return w
}

// register adds the CodeDeploy operations to the AWS JSON API.
func (w *deployWiring) register(api *awsapi.API) {
	api.Register(awsapi.CodeDeployTarget, awsapi.CodeDeploy(w.svc))
}

// agentRoutes is the agent protocol, mounted on the root router (agents authenticate with their
// own credential, not access keys).
func (w *deployWiring) agentRoutes() func(chi.Router) {
	return agentapi.Routes(agentapi.Deps{Deploy: w.svc, Logger: w.log})
}

// apiRoutes are the REST extras under /api/v1 (agents, registration tokens, deployment logs).
func (w *deployWiring) apiRoutes() func(chi.Router) {
	return agentapi.APIRoutes(agentapi.Deps{Deploy: w.svc, Logger: w.log})
}
