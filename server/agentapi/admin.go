package agentapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/rest"
)

// The REST extras for what CodeDeploy has no operation for, mounted under /api/v1 behind the
// server's authentication (access keys, dashboard sessions):
//
//	POST /api/v1/agents/tokens              admin   create a registration token
//	GET  /api/v1/agents                     viewer  instances with their agents' state and work
//	POST /api/v1/agents/{name}/revoke       admin   refuse an agent from now on
//	GET  /api/v1/deployments/{id}/logs      viewer  hosts' script output (?host=NAME&tail=N)

// APIRoutes mounts the REST extras; r is the /api/v1 router.
func APIRoutes(d Deps) func(chi.Router) {
	return func(r chi.Router) {
		r.With(rest.Require(auth.RoleAdmin)).Post("/agents/tokens", restHandler(d.Logger, createToken(d.Deploy)))
		r.With(rest.Require(auth.RoleViewer)).Get("/agents", restHandler(d.Logger, listAgents(d.Deploy)))
		r.With(rest.Require(auth.RoleAdmin)).Post("/agents/{name}/revoke", restHandler(d.Logger, revokeAgent(d.Deploy)))
		r.With(rest.Require(auth.RoleViewer)).Get("/deployments/{id}/logs", restHandler(d.Logger, deploymentLogs(d.Deploy)))
	}
}

// restHandler adapts an admin endpoint: a malformed body (deploy.ErrBadReport) is a client error,
// the rest is rest.Handle's to answer.
func restHandler(log *slog.Logger, h agentFunc) http.HandlerFunc {
	return rest.Handle(log, func(w http.ResponseWriter, r *http.Request) error {
		err := h(w, r)
		if errors.Is(err, deploy.ErrBadReport) {
			return rest.BadRequest("%v", err)
		}
		return err
	})
}

// TokenRequest creates a registration token.
type TokenRequest struct {
	ExpiresInSeconds int               `json:"expiresInSeconds"`
	Tags             map[string]string `json:"tags,omitempty"`
}

// TokenResponse is a new registration token; it is shown once.
type TokenResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func createToken(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req TokenRequest
		if err := decode(r, 64<<10, &req); err != nil {
			return err
		}
		if req.ExpiresInSeconds == 0 {
			req.ExpiresInSeconds = 3600
		}
		id, _ := auth.FromContext(r.Context())
		token, expires, err := svc.CreateToken(r.Context(), time.Duration(req.ExpiresInSeconds)*time.Second, req.Tags, id.Name)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, TokenResponse{Token: token, ExpiresAt: expires})
		return nil
	}
}

func listAgents(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		agents, err := svc.ListAgents(r.Context())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"agents": agents})
		return nil
	}
}

func revokeAgent(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := chi.URLParam(r, "name")
		if err := svc.RevokeAgent(r.Context(), name, false); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "revoked": true})
		return nil
	}
}

func deploymentLogs(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := chi.URLParam(r, "id")
		tail, _ := strconv.Atoi(r.URL.Query().Get("tail"))
		hosts, err := svc.Logs(r.Context(), id, r.URL.Query().Get("host"), tail)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"deploymentId": id, "hosts": hosts})
		return nil
	}
}
