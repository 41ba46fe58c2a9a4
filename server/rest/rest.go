// Package rest holds what every REST endpoint of the server shares: handlers that return their
// error and one adapter that writes it (in the AWS JSON error shape, never with internal causes),
// the role check, and JSON answers. server, server/agentapi and server/sourceapi all use it.
package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/awsapi"
	"github.com/conveyorci/conveyor/store"
)

// HandlerFunc is a REST endpoint that returns its error; Handle writes it once, in one shape.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Error is a client error with its HTTP status and exception name.
type Error struct {
	Status int
	Type   string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Errorf builds a client error.
func Errorf(status int, typ, format string, args ...any) error {
	return &Error{Status: status, Type: typ, Msg: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 ValidationException.
func BadRequest(format string, args ...any) error {
	return Errorf(http.StatusBadRequest, "ValidationException", format, args...)
}

// StatusFor maps an exception name to an HTTP status for REST answers: not-found kinds → 404,
// conflicts → 409, the rest of the client errors → 400.
func StatusFor(code string) int {
	switch {
	case code == "ConflictException":
		return http.StatusConflict
	case strings.HasSuffix(code, "NotFoundException"), strings.HasSuffix(code, "DoesNotExistException"),
		strings.HasSuffix(code, "NotRegisteredException"):
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// Handle adapts a HandlerFunc. Client errors (Error, the domains' coded errors, store not-found and
// conflict) are answered as such; anything else is a 500 whose message names a request id that
// appears in the log next to the cause — the cause itself never reaches the caller.
func Handle(log *slog.Logger, h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var re *Error
		var coded awsapi.CodedError
		switch {
		case errors.As(err, &re):
			awsapi.WriteError(w, &awsapi.Error{Type: re.Type, Message: re.Msg, Status: re.Status})
		case errors.As(err, &coded):
			msg := coded.Error()
			if rest, ok := strings.CutPrefix(msg, coded.ErrorCode()+": "); ok {
				msg = rest
			}
			awsapi.WriteError(w, &awsapi.Error{Type: coded.ErrorCode(), Message: msg, Status: StatusFor(coded.ErrorCode())})
		case errors.Is(err, store.ErrNotFound):
			awsapi.WriteError(w, &awsapi.Error{Type: "ResourceNotFoundException", Message: err.Error(), Status: http.StatusNotFound})
		case errors.Is(err, store.ErrConflict):
			awsapi.WriteError(w, &awsapi.Error{Type: "ConflictException", Message: err.Error(), Status: http.StatusConflict})
		case errors.Is(err, auth.ErrPayloadMismatch):
			awsapi.WriteError(w, &awsapi.Error{Type: "InvalidSignatureException", Message: err.Error(), Status: http.StatusBadRequest})
		default:
			reqID := middleware.GetReqID(r.Context())
			log.Error("request failed", "path", r.URL.Path, "request_id", reqID, "err", err)
			awsapi.WriteError(w, &awsapi.Error{Type: "InternalFailure",
				Message: "internal error (request id " + reqID + "); the server log has the details", Status: http.StatusInternalServerError})
		}
	}
}

// Require denies callers whose role is below need (403 AccessDeniedException, naming both roles).
func Require(need auth.Role) func(http.Handler) http.Handler {
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

// JSON writes v as a JSON answer.
func JSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}
