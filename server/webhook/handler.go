package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/store"
)

// MaxBody is the largest delivery read: GitHub does not send payloads over 25 MB.
const MaxBody = 25 << 20

// Handler serves POST /webhooks/{connection}. It authenticates deliveries by their signature, not
// by Conveyor's access keys: the forges cannot sign with SigV4.
type Handler struct {
	Connections *source.Connections
	Dispatcher  *source.Dispatcher
	Log         *slog.Logger
	// MaxBody overrides the size cap (tests).
	MaxBody int64
}

// Routes mounts the handler.
func (h *Handler) Routes(r chi.Router) { r.Post("/webhooks/{connection}", h.ServeHTTP) }

// Answer is the JSON answer to a delivery.
type Answer struct {
	Delivery int64  `json:"delivery,omitempty"`
	Status   string `json:"status"`
	Message  string `json:"message,omitempty"`
}

func answer(w http.ResponseWriter, status int, a Answer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

// ServeHTTP reads, verifies, parses and records one delivery, answering as soon as it is recorded;
// the dispatcher does the rest afterwards.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "connection")
	// Recording must not be cut short by a sender that hangs up: the verdict belongs in the log.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	conn, err := h.Connections.Get(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		answer(w, http.StatusNotFound, Answer{Status: "unknown", Message: fmt.Sprintf("no connection named %q", name)})
		return
	}
	if err != nil {
		h.internal(w, r, name, err)
		return
	}
	limit := h.MaxBody
	if limit <= 0 {
		limit = MaxBody
	}
	meta := source.Meta{Origin: source.OriginWebhook, DeliveryID: DeliveryID(r.Header), RemoteAddr: r.RemoteAddr, Event: EventName(r.Header)}
	refuse := func(httpStatus int, status, reason string) {
		meta.HTTPStatus = httpStatus
		del, err := h.Dispatcher.Refuse(ctx, name, meta, status, reason)
		if err != nil {
			h.internal(w, r, name, err)
			return
		}
		h.Log.Warn("webhook refused", "connection", name, "delivery", del.Seq, "status", status, "reason", reason, "remote", r.RemoteAddr)
		answer(w, httpStatus, Answer{Delivery: del.Seq, Status: status, Message: reason})
	}
	if r.ContentLength > limit {
		refuse(http.StatusRequestEntityTooLarge, store.WebhookRejected, fmt.Sprintf("the body is %d bytes; deliveries are at most %d MiB", r.ContentLength, limit>>20))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		refuse(http.StatusRequestEntityTooLarge, store.WebhookRejected, fmt.Sprintf("the body is larger than %d MiB", limit>>20))
		return
	case err != nil:
		refuse(http.StatusBadRequest, store.WebhookInvalid, "the body could not be read: "+err.Error())
		return
	}
	secrets, err := h.Connections.Secrets(ctx, name)
	if err != nil {
		h.internal(w, r, name, err)
		return
	}
	if err := Verify(conn.Provider, []byte(secrets.WebhookSecret), r.Header, body); err != nil {
		refuse(http.StatusUnauthorized, store.WebhookRejected, err.Error())
		return
	}
	ev, err := Parse(conn.Provider, r.Header, body)
	if err != nil {
		refuse(http.StatusBadRequest, store.WebhookInvalid, err.Error())
		return
	}
	status := http.StatusAccepted
	if ev.Kind == source.KindPing {
		status = http.StatusOK
	}
	meta.HTTPStatus = status
	del, err := h.Dispatcher.Accept(ctx, name, ev, meta)
	if err != nil {
		h.internal(w, r, name, err)
		return
	}
	answer(w, status, Answer{Delivery: del.Seq, Status: del.Status, Message: del.Reason})
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, connection string, err error) {
	reqID := middleware.GetReqID(r.Context())
	h.Log.Error("webhook failed", "connection", connection, "request_id", reqID, "err", err)
	answer(w, http.StatusInternalServerError, Answer{Status: "error", Message: "internal error (request id " + reqID + ")"})
}
