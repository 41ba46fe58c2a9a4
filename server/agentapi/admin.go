package agentapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/awsapi"
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
		r.With(require(auth.RoleAdmin)).Post("/agents/tokens", restHandler(d.Logger, createToken(d.Deploy)))
		r.With(require(auth.RoleViewer)).Get("/agents", restHandler(d.Logger, listAgents(d.Deploy)))
		r.With(require(auth.RoleAdmin)).Post("/agents/{name}/revoke", restHandler(d.Logger, revokeAgent(d.Deploy)))
		r.With(require(auth.RoleViewer)).Get("/deployments/{id}/logs", restHandler(d.Logger, deploymentLogs(d.Deploy)))
	}
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

// restHandler writes a REST endpoint's error in the AWS JSON error shape.
func restHandler(log *slog.Logger, h agentFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var de *deploy.Error
		switch {
		case errors.As(err, &de):
			status := http.StatusBadRequest
			if strings.HasSuffix(de.Code, "DoesNotExistException") || de.Code == deploy.CodeInstanceNotRegistered {
				status = http.StatusNotFound
			}
			awsapi.WriteError(w, &awsapi.Error{Type: de.Code, Message: de.Msg, Status: status})
		case errors.Is(err, deploy.ErrBadReport):
			awsapi.WriteError(w, &awsapi.Error{Type: "ValidationException", Message: err.Error(), Status: http.StatusBadRequest})
		default:
			reqID := middleware.GetReqID(r.Context())
			log.Error("request failed", "path", r.URL.Path, "request_id", reqID, "err", err)
			awsapi.WriteError(w, &awsapi.Error{Type: "InternalFailure",
				Message: "internal error (request id " + reqID + "); the server log has the details", Status: http.StatusInternalServerError})
		}
	}
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
