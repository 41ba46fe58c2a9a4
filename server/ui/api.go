package ui

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/session"
	"github.com/conveyorci/conveyor/store"
)

// The REST extras of the dashboard's resources (admin only): users, notification targets, rules
// and deliveries, the audit log. `conveyor users` and `conveyor apply` (notifications:) use them.

// api adapts a REST handler that returns (status, body, error).
func (u *UI) api(fn func(r *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		status, body, err := fn(r)
		if err != nil {
			st, msg, ok := classify(err)
			if !ok {
				u.fail(w, r, err)
				return
			}
			writeJSON(w, st, map[string]string{"__type": errorType(st), "message": msg})
			return
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, body)
	}
}

func errorType(status int) string {
	switch status {
	case http.StatusNotFound:
		return "ResourceNotFoundException"
	case http.StatusConflict:
		return "ConflictException"
	}
	return "ValidationException"
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badInput("the body must be JSON: %v", err)
	}
	return nil
}

// UserView is a user as the REST API shows it (never the hash).
type UserView struct {
	Name      string `json:"name"`
	Role      string `json:"role"`
	Created   int64  `json:"created"`
	LastLogin int64  `json:"lastLogin,omitempty"`
	// Password is set only when the server generated it, in the answer to create.
	Password string `json:"password,omitempty"`
}

func userView(rec store.User) UserView {
	v := UserView{Name: rec.Name, Role: rec.Role, Created: rec.Created.Unix()}
	if !rec.LastLogin.IsZero() {
		v.LastLogin = rec.LastLogin.Unix()
	}
	return v
}

func (u *UI) apiListUsers(r *http.Request) (int, any, error) {
	list, err := u.d.Users.List(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := make([]UserView, 0, len(list))
	for _, rec := range list {
		out = append(out, userView(rec))
	}
	return http.StatusOK, map[string]any{"users": out}, nil
}

// apiCreateUser creates a user; without a password one is generated and returned once.
func (u *UI) apiCreateUser(r *http.Request) (int, any, error) {
	var in struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		Password string `json:"password"`
	}
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	role, err := auth.ParseRole(in.Role)
	if err != nil {
		return 0, nil, badInput("%v", err)
	}
	generated := ""
	if in.Password == "" {
		in.Password = session.RandomPassword()
		generated = in.Password
	}
	rec, err := u.d.Users.Create(r.Context(), in.Name, in.Password, role)
	u.recordOp(r, "user.create", in.Name, "role="+role.String(), err)
	if err != nil {
		return 0, nil, err
	}
	v := userView(rec)
	v.Password = generated
	return http.StatusCreated, v, nil
}

func (u *UI) apiDeleteUser(r *http.Request) (int, any, error) {
	name := chi.URLParam(r, "user")
	err := u.d.Users.Delete(r.Context(), name)
	u.recordOp(r, "user.delete", name, "", err)
	return http.StatusNoContent, nil, err
}

func (u *UI) apiSetRole(r *http.Request) (int, any, error) {
	name := chi.URLParam(r, "user")
	var in struct {
		Role string `json:"role"`
	}
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	role, err := auth.ParseRole(in.Role)
	if err != nil {
		return 0, nil, badInput("%v", err)
	}
	err = u.d.Users.SetRole(r.Context(), name, role)
	u.recordOp(r, "user.set-role", name, "role="+role.String(), err)
	if err != nil {
		return 0, nil, err
	}
	rec, err := u.d.Users.Get(r.Context(), name)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, userView(rec), nil
}

func (u *UI) apiSetPassword(r *http.Request) (int, any, error) {
	name := chi.URLParam(r, "user")
	var in struct {
		Password string `json:"password"`
	}
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	generated := ""
	if in.Password == "" {
		in.Password = session.RandomPassword()
		generated = in.Password
	}
	err := u.d.Users.SetPassword(r.Context(), name, in.Password)
	u.recordOp(r, "user.set-password", name, "", err)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"name": name, "password": generated}, nil
}

// AuditView is an audit entry as the REST API shows it.
type AuditView struct {
	Seq     int64  `json:"seq"`
	Time    string `json:"time"`
	Actor   string `json:"actor"`
	Role    string `json:"role,omitempty"`
	Source  string `json:"source"`
	Action  string `json:"action"`
	Target  string `json:"target,omitempty"`
	Detail  string `json:"detail,omitempty"`
	Outcome string `json:"outcome"`
}

func (u *UI) apiAudit(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	list, err := u.d.Audit.List(r.Context(), store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), BeforeSeq: before, Limit: limit})
	if err != nil {
		return 0, nil, err
	}
	out := make([]AuditView, 0, len(list))
	for _, e := range list {
		out = append(out, AuditView{Seq: e.Seq, Time: e.At.Format(time.RFC3339Nano), Actor: e.Actor, Role: e.Role, Source: e.Source,
			Action: e.Action, Target: e.Target, Detail: e.Detail, Outcome: e.Outcome})
	}
	return http.StatusOK, map[string]any{"entries": out}, nil
}

func (u *UI) apiListTargets(r *http.Request) (int, any, error) {
	list, err := u.d.Notify.Targets(r.Context())
	return http.StatusOK, map[string]any{"targets": list}, err
}

func (u *UI) apiPutTarget(r *http.Request) (int, any, error) {
	var t notify.Target
	if err := decodeBody(r, &t); err != nil {
		return 0, nil, err
	}
	name := chi.URLParam(r, "target")
	if t.Name == "" {
		t.Name = name
	}
	if t.Name != name {
		return 0, nil, badInput("the body names target %q, the path %q", t.Name, name)
	}
	created, err := u.d.Notify.PutTarget(r.Context(), t)
	u.recordOp(r, "notification.target.put", name, "type="+t.Type, err)
	if err != nil {
		return 0, nil, err
	}
	if created {
		return http.StatusCreated, t, nil
	}
	return http.StatusOK, t, nil
}

func (u *UI) apiDeleteTarget(r *http.Request) (int, any, error) {
	name := chi.URLParam(r, "target")
	err := u.d.Notify.DeleteTarget(r.Context(), name)
	u.recordOp(r, "notification.target.delete", name, "", err)
	return http.StatusNoContent, nil, err
}

func (u *UI) apiListRules(r *http.Request) (int, any, error) {
	list, err := u.d.Notify.Rules(r.Context())
	return http.StatusOK, map[string]any{"rules": list}, err
}

func (u *UI) apiPutRule(r *http.Request) (int, any, error) {
	var rule notify.Rule
	if err := decodeBody(r, &rule); err != nil {
		return 0, nil, err
	}
	name := chi.URLParam(r, "rule")
	if rule.Name == "" {
		rule.Name = name
	}
	if rule.Name != name {
		return 0, nil, badInput("the body names rule %q, the path %q", rule.Name, name)
	}
	created, err := u.d.Notify.PutRule(r.Context(), rule)
	u.recordOp(r, "notification.rule.put", name, "", err)
	if err != nil {
		return 0, nil, err
	}
	if created {
		return http.StatusCreated, rule, nil
	}
	return http.StatusOK, rule, nil
}

func (u *UI) apiDeleteRule(r *http.Request) (int, any, error) {
	name := chi.URLParam(r, "rule")
	err := u.d.Notify.DeleteRule(r.Context(), name)
	u.recordOp(r, "notification.rule.delete", name, "", err)
	return http.StatusNoContent, nil, err
}

// DeliveryView is a delivery as the REST API shows it.
type DeliveryView struct {
	ID          string          `json:"id"`
	Target      string          `json:"target"`
	Event       string          `json:"event"`
	Status      string          `json:"status"`
	Attempts    int             `json:"attempts"`
	LastStatus  int             `json:"lastHttpStatus,omitempty"`
	LastError   string          `json:"lastError,omitempty"`
	NextAttempt string          `json:"nextAttempt,omitempty"`
	Created     string          `json:"created"`
	Message     json.RawMessage `json:"message"`
}

func (u *UI) apiDeliveries(r *http.Request) (int, any, error) {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	list, err := u.d.Notify.Deliveries(r.Context(), store.DeliveryFilter{Status: q.Get("status"), Target: q.Get("target"), BeforeSeq: before})
	if err != nil {
		return 0, nil, err
	}
	out := make([]DeliveryView, 0, len(list))
	for _, d := range list {
		v := DeliveryView{ID: d.ID, Target: d.Target, Event: d.Event, Status: d.Status, Attempts: d.Attempts, LastStatus: d.LastStatus,
			LastError: d.LastError, Created: d.Created.Format(time.RFC3339), Message: d.Payload}
		if d.Status == store.DeliveryPending {
			v.NextAttempt = d.NextAttempt.Format(time.RFC3339)
		}
		out = append(out, v)
	}
	return http.StatusOK, map[string]any{"deliveries": out}, nil
}

func (u *UI) apiRetryDelivery(r *http.Request) (int, any, error) {
	id := chi.URLParam(r, "id")
	err := u.d.Notify.RetryDelivery(r.Context(), id)
	u.recordOp(r, "notification.retry", id, "", err)
	return http.StatusAccepted, nil, err
}
