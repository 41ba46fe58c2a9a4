package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

type coded struct{ code string }

func (c coded) Error() string     { return c.code + ": it went wrong" }
func (c coded) ErrorCode() string { return c.code }

func TestHandleAnswersEachKindOfError(t *testing.T) {
	cases := []struct {
		err    error
		status int
		typ    string
		msg    string
	}{
		{BadRequest("name %q is bad", "x"), 400, "ValidationException", `name "x" is bad`},
		{Errorf(409, "ConflictException", "busy"), 409, "ConflictException", "busy"},
		{coded{"PipelineNotFoundException"}, 404, "PipelineNotFoundException", "it went wrong"},
		{coded{"DeploymentGroupDoesNotExistException"}, 404, "DeploymentGroupDoesNotExistException", "it went wrong"},
		{coded{"InvalidInputException"}, 400, "InvalidInputException", "it went wrong"},
		{fmt.Errorf("secret x: %w", store.ErrNotFound), 404, "ResourceNotFoundException", "secret x: not found"},
		{fmt.Errorf("key: %w", store.ErrConflict), 409, "ConflictException", "key: conflict"},
		{errors.New("sql: connection refused at 10.0.0.7"), 500, "InternalFailure", "internal error (request id "},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		Handle(slog.New(slog.DiscardHandler), func(http.ResponseWriter, *http.Request) error { return c.err })(w, httptest.NewRequest("GET", "/x", nil))
		var body struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != c.status || body.Type != c.typ || !strings.HasPrefix(body.Message, c.msg) || w.Header().Get("X-Amzn-ErrorType") != c.typ {
			t.Errorf("%v: got %d %s %q, want %d %s %q…", c.err, w.Code, body.Type, body.Message, c.status, c.typ, c.msg)
		}
		if strings.Contains(body.Message, "10.0.0.7") {
			t.Errorf("an internal cause leaked to the caller: %q", body.Message)
		}
	}
}

func TestRequireRefusesLowerRoles(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })
	for _, c := range []struct {
		role auth.Role
		want int
	}{{auth.RoleViewer, 403}, {auth.RoleOperator, 403}, {auth.RoleApprover, 204}, {auth.RoleAdmin, 204}, {auth.RoleNone, 403}} {
		r := httptest.NewRequest("POST", "/x", nil)
		r = r.WithContext(auth.WithIdentity(r.Context(), auth.Identity{Name: "user/x", Role: c.role}))
		w := httptest.NewRecorder()
		Require(auth.RoleApprover)(ok).ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("role %s: %d, want %d", c.role, w.Code, c.want)
		}
	}
}
