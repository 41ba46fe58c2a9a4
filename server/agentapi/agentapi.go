// Package agentapi serves the server side of the agent protocol (agent/protocol) under /agent/v1,
// and the REST extras that manage agents and read deployment logs under /api/v1. It translates
// HTTP to calls on executor/deploy; the rules live there.
package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/store"
)

// Deps are what the routes need.
type Deps struct {
	Deploy *deploy.Service
	Logger *slog.Logger
}

// Routes mounts the agent protocol on the root router.
func Routes(d Deps) func(chi.Router) {
	return func(r chi.Router) {
		r.Route(protocol.PathPrefix, func(r chi.Router) {
			r.Post("/register", agentHandler(d.Logger, register(d.Deploy)))
			r.Group(func(r chi.Router) {
				r.Use(agentAuth(d.Deploy, d.Logger))
				r.Get("/commands/next", agentHandler(d.Logger, nextCommand(d.Deploy)))
				r.Post("/commands/{id}/events", agentHandler(d.Logger, reportEvent(d.Deploy)))
				r.Post("/commands/{id}/logs", agentHandler(d.Logger, appendLogs(d.Deploy)))
				r.Post("/commands/{id}/heartbeat", agentHandler(d.Logger, heartbeat(d.Deploy)))
				r.Post("/commands/{id}/complete", agentHandler(d.Logger, complete(d.Deploy)))
				r.Get("/bundles/{id}", agentHandler(d.Logger, bundle(d.Deploy)))
			})
		})
	}
}

// agentFunc is an agent endpoint that returns its error; agentHandler writes it once.
type agentFunc func(w http.ResponseWriter, r *http.Request) error

// statusOf maps the domain's errors to the protocol's statuses.
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, deploy.ErrBadReport):
		return http.StatusBadRequest, "BadRequest"
	case errors.Is(err, deploy.ErrUnauthenticated):
		return http.StatusUnauthorized, "Unauthenticated"
	case errors.Is(err, deploy.ErrNotYours):
		return http.StatusForbidden, "NotYourCommand"
	case errors.Is(err, deploy.ErrUnknownCommand):
		return http.StatusNotFound, "UnknownCommand"
	case errors.Is(err, deploy.ErrLeaseLost):
		return http.StatusConflict, "LeaseLost"
	case errors.Is(err, deploy.ErrCommandEnded):
		return http.StatusConflict, "CommandEnded"
	case errors.Is(err, deploy.ErrNameTaken):
		return http.StatusConflict, "NameTaken"
	case errors.Is(err, deploy.ErrTokenGone):
		return http.StatusGone, "TokenGone"
	}
	return http.StatusInternalServerError, "InternalError"
}

func agentHandler(log *slog.Logger, h agentFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		status, code := statusOf(err)
		msg := err.Error()
		if status == http.StatusInternalServerError {
			reqID := middleware.GetReqID(r.Context())
			log.Error("agent request failed", "path", r.URL.Path, "request_id", reqID, "err", err)
			msg = "internal error (request id " + reqID + "); the server log has the details"
		}
		writeJSON(w, status, protocol.Error{Code: code, Message: msg})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body of at most limit bytes.
func decode(r *http.Request, limit int64, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return fmt.Errorf("%w: reading the body: %v", deploy.ErrBadReport, err)
	}
	if int64(len(body)) > limit {
		return fmt.Errorf("%w: the body is larger than %d bytes", deploy.ErrBadReport, limit)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %v", deploy.ErrBadReport, err)
	}
	return nil
}

type instanceKey struct{}

// agentAuth checks "Authorization: Bearer <agentId>:<credential>" on every call but register.
func agentAuth(svc *deploy.Service, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			id, cred, _ := strings.Cut(bearer, ":")
			if !ok {
				id, cred = "", ""
			}
			inst, err := svc.Authenticate(r.Context(), id, cred)
			if err != nil {
				if !errors.Is(err, deploy.ErrUnauthenticated) {
					agentHandler(log, func(http.ResponseWriter, *http.Request) error { return err })(w, r)
					return
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="conveyor-agent"`)
				writeJSON(w, http.StatusUnauthorized, protocol.Error{Code: "Unauthenticated", Message: err.Error()})
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), instanceKey{}, inst)))
		})
	}
}

func instanceOf(r *http.Request) store.Instance {
	inst, _ := r.Context().Value(instanceKey{}).(store.Instance)
	return inst
}

func register(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req protocol.RegisterRequest
		if err := decode(r, 64<<10, &req); err != nil {
			return err
		}
		if req.Token == "" {
			return fmt.Errorf("%w: token is required", deploy.ErrUnauthenticated)
		}
		resp, err := svc.RegisterAgent(r.Context(), req)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
}

func nextCommand(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		wait := 30 * time.Second
		if v := r.URL.Query().Get("wait"); v != "" {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: wait=%q is not a number of seconds", deploy.ErrBadReport, v)
			}
			wait = time.Duration(n * float64(time.Second))
		}
		cmd, err := svc.NextCommand(r.Context(), instanceOf(r), wait)
		if err != nil {
			return err
		}
		if cmd == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		writeJSON(w, http.StatusOK, cmd)
		return nil
	}
}

func reportEvent(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var rep protocol.EventReport
		if err := decode(r, 64<<10, &rep); err != nil {
			return err
		}
		resp, err := svc.ReportEvent(r.Context(), instanceOf(r), chi.URLParam(r, "id"), rep)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
}

func appendLogs(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var batch protocol.LogBatch
		if err := decode(r, 8<<20, &batch); err != nil {
			return err
		}
		if err := svc.AppendLogs(r.Context(), instanceOf(r), chi.URLParam(r, "id"), batch); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func heartbeat(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		resp, err := svc.Heartbeat(r.Context(), instanceOf(r), chi.URLParam(r, "id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, resp)
		return nil
	}
}

func complete(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var c protocol.Completion
		if err := decode(r, 64<<10, &c); err != nil {
			return err
		}
		if err := svc.Complete(r.Context(), instanceOf(r), chi.URLParam(r, "id"), c); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func bundle(svc *deploy.Service) agentFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := chi.URLParam(r, "id")
		f, err := svc.Bundle(r.Context(), instanceOf(r), id)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		// ServeContent answers Range requests, so an interrupted download can resume.
		http.ServeContent(w, r, id, st.ModTime(), f)
		return nil
	}
}
