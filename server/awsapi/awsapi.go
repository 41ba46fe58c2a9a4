// Package awsapi is the AWS-compatible JSON 1.1 front of Conveyor: POST / with
// X-Amz-Target: <Service>.<Operation>, JSON bodies with the AWS model's member names, epoch-second
// timestamps, and errors as {"__type", "message"} plus X-Amzn-ErrorType, so the aws CLI and the
// official SDKs work against Conveyor unchanged. It translates HTTP to calls on the engine and the
// executors; the rules live there.
package awsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
)

// ContentType is the AWS JSON 1.1 media type.
const ContentType = "application/x-amz-json-1.1"

// Handler runs one operation: body is the raw JSON input; the result is marshalled as the output.
type Handler func(ctx context.Context, id auth.Identity, body []byte) (any, error)

// Operation is an operation with the role it needs.
type Operation struct {
	Role   auth.Role
	Handle Handler
}

// Error is an API error with the AWS exception name.
type Error struct {
	Type    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Errorf builds a client error (400).
func Errorf(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...), Status: http.StatusBadRequest}
}

// API dispatches on X-Amz-Target across registered services.
type API struct {
	services map[string]map[string]Operation
	log      *slog.Logger
	onChange func(ctx context.Context, c Call)
}

// Call is one call of an operation that changes something (its role is above viewer), as an
// audit hook hears it after it ran: Err is nil when it succeeded; Denied when the caller's role was
// too low (the operation did not run).
type Call struct {
	Identity auth.Identity
	Target   string // "CodePipeline_20150709.StopPipelineExecution"
	Input    []byte // the request body (nil when denied)
	Err      error
	Denied   bool
}

// OnChange sets the hook that hears every call of an operation above viewer (the audit log).
func (a *API) OnChange(fn func(ctx context.Context, c Call)) { a.onChange = fn }

func (a *API) changed(ctx context.Context, op Operation, c Call) {
	if a.onChange != nil && op.Role > auth.RoleViewer {
		a.onChange(ctx, c)
	}
}

// New returns an empty API.
func New(log *slog.Logger) *API {
	return &API{services: map[string]map[string]Operation{}, log: log}
}

// Register adds a service's operations, e.g. Register("CodePipeline_20150709", ops).
func (a *API) Register(target string, ops map[string]Operation) {
	a.services[target] = ops
}

// Operations lists "Service.Operation" targets (documentation and tests).
func (a *API) Operations() map[string]Operation {
	out := map[string]Operation{}
	for svc, ops := range a.services {
		for name, op := range ops {
			out[svc+"."+name] = op
		}
	}
	return out
}

// RoleFor returns the role an X-Amz-Target needs, and whether the target exists.
func (a *API) RoleFor(target string) (auth.Role, bool) {
	svc, op, _ := strings.Cut(target, ".")
	o, ok := a.services[svc][op]
	return o.Role, ok
}

// ServeHTTP handles POST / for an authenticated caller (the identity is in the context).
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	target := r.Header.Get("X-Amz-Target")
	svc, opName, _ := strings.Cut(target, ".")
	ops, ok := a.services[svc]
	if !ok {
		a.writeError(w, reqID, target, &Error{"UnknownOperationException", fmt.Sprintf("Unknown service target %q", target), http.StatusBadRequest})
		return
	}
	op, ok := ops[opName]
	if !ok {
		a.writeError(w, reqID, target, &Error{"UnknownOperationException", fmt.Sprintf("Unknown operation %q", target), http.StatusBadRequest})
		return
	}
	id, _ := auth.FromContext(r.Context())
	if !id.Role.Allows(op.Role) {
		a.changed(r.Context(), op, Call{Identity: id, Target: target, Denied: true})
		a.writeError(w, reqID, target, &Error{"AccessDeniedException",
			fmt.Sprintf("%s (role %s) is not authorized to perform %s: it needs role %s", id.Name, id.Role, opName, op.Role), http.StatusBadRequest})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, auth.MaxSignedBody+1))
	if err != nil {
		a.writeError(w, reqID, target, &Error{"SerializationException", "could not read the request body", http.StatusBadRequest})
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	out, err := op.Handle(r.Context(), id, body)
	a.changed(r.Context(), op, Call{Identity: id, Target: target, Input: body, Err: err})
	if err != nil {
		a.writeError(w, reqID, target, err)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		a.writeError(w, reqID, target, fmt.Errorf("encode %s output: %w", opName, err))
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = w.Write(b)
}

// CodedError is a domain error a caller can act on (the engine's, the executors'): its code is
// the AWS exception name.
type CodedError interface {
	error
	ErrorCode() string
}

// statusFor maps error codes to HTTP statuses; AWS JSON services answer client errors with 400
// except ConflictException (409).
func statusFor(code string) int {
	if code == string(pipeline.CodeConflict) {
		return http.StatusConflict
	}
	return http.StatusBadRequest
}

// WriteError writes err in the AWS JSON error shape. Errors the caller cannot act on become a 500
// InternalFailure whose message names an error id that appears in the server log with the cause.
func (a *API) writeError(w http.ResponseWriter, reqID, target string, err error) {
	var apiErr *Error
	var coded CodedError
	var authErr *auth.Error
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &coded):
		msg := coded.Error()
		if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, coded.ErrorCode()) {
			msg = rest
		}
		apiErr = &Error{Type: coded.ErrorCode(), Message: msg, Status: statusFor(coded.ErrorCode())}
	case errors.As(err, &authErr):
		apiErr = &Error{Type: authErr.Type, Message: authErr.Message, Status: authErr.Status}
	default:
		a.log.Error("internal error", "request_id", reqID, "target", target, "err", err)
		apiErr = &Error{Type: "InternalFailure", Message: "Conveyor hit an internal error (request id " + reqID + "); the server log has the details",
			Status: http.StatusInternalServerError}
	}
	WriteError(w, apiErr)
}

// WriteError writes an API error response.
func WriteError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Type, "message": e.Message})
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	s := hex.EncodeToString(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// Decode unmarshals an operation's input; a malformed body is a SerializationException.
func Decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{"SerializationException", "Malformed request: " + err.Error(), http.StatusBadRequest}
	}
	return nil
}

// Op adapts a typed handler: In is decoded from the body, the result returned as output.
func Op[In any](role auth.Role, fn func(ctx context.Context, id auth.Identity, in In) (any, error)) Operation {
	return Operation{Role: role, Handle: func(ctx context.Context, id auth.Identity, body []byte) (any, error) {
		var in In
		if err := Decode(body, &in); err != nil {
			return nil, err
		}
		return fn(ctx, id, in)
	}}
}

// Required checks required string members, naming the first missing one as AWS does.
func Required(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return Errorf("ValidationException", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", pairs[i])
		}
	}
	return nil
}
