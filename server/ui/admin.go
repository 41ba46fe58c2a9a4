package ui

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

// --- access keys ---

type keysData struct {
	Keys []store.AccessKey
	// New is the key just created: its secret is shown this once.
	New *store.AccessKey
}

func (u *UI) keysPage(w http.ResponseWriter, r *http.Request, p *page) error {
	keys, err := u.d.Keys.List(r.Context())
	if err != nil {
		return err
	}
	p.Title, p.Template, p.Data, p.Active = "Access keys", "keys", keysData{Keys: keys}, "/admin/keys"
	return nil
}

// createKey issues a key and shows its secret once, on the answer page itself (never in a
// redirect, a cookie or the log).
func (u *UI) createKey(w http.ResponseWriter, r *http.Request) (string, string, error) {
	role, err := auth.ParseRole(r.PostFormValue("role"))
	desc := strings.TrimSpace(r.PostFormValue("description"))
	if err == nil && len(desc) > 256 {
		err = badInput("the description has at most 256 characters")
	} else if err != nil {
		err = badInput("%v", err)
	}
	var k store.AccessKey
	if err == nil {
		k, err = u.d.Keys.Create(r.Context(), role, desc)
	}
	u.recordOp(r, "key.create", k.ID, "role="+role.String()+" "+desc, err)
	if err != nil {
		return "", "", err
	}
	keys, err := u.d.Keys.List(r.Context())
	if err != nil {
		return "", "", err
	}
	if fetched(r) {
		writeJSON(w, http.StatusCreated, map[string]string{"accessKeyId": k.ID, "secretAccessKey": k.Secret, "role": k.Role})
	} else {
		u.render(w, r, &page{Title: "Access keys", Template: "keys", Active: "/admin/keys", Status: http.StatusCreated,
			Data: keysData{Keys: keys, New: &k}})
	}
	return "", "", errWritten
}

func (u *UI) deleteKey(w http.ResponseWriter, r *http.Request) (string, string, error) {
	id := chi.URLParam(r, "id")
	err := u.d.Keys.Delete(r.Context(), id)
	u.recordOp(r, "key.delete", id, "", err)
	if err != nil {
		return "", "", err
	}
	return "Revoked access key " + id, "/admin/keys", nil
}

// --- users ---

type usersData struct {
	Users []store.User
	Roles []string
	Self  string
}

var roleNames = []string{"viewer", "operator", "approver", "admin"}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, p *page) error {
	users, err := u.d.Users.List(r.Context())
	if err != nil {
		return err
	}
	s, _ := sessionFrom(r)
	p.Title, p.Template, p.Active = "Users", "users", "/admin/users"
	p.Data = usersData{Users: users, Roles: roleNames, Self: s.User}
	return nil
}

func (u *UI) createUser(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name := strings.TrimSpace(r.PostFormValue("username"))
	role, err := auth.ParseRole(r.PostFormValue("role"))
	if err != nil {
		err = badInput("%v", err)
	} else {
		_, err = u.d.Users.Create(r.Context(), name, r.PostFormValue("password"), role)
	}
	u.recordOp(r, "user.create", name, "role="+role.String(), err)
	if err != nil {
		return "", "", err
	}
	return "Created user " + name + " (" + role.String() + ")", "/admin/users", nil
}

func (u *UI) setUserRole(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name := chi.URLParam(r, "user")
	role, err := auth.ParseRole(r.PostFormValue("role"))
	if err != nil {
		err = badInput("%v", err)
	} else {
		err = u.d.Users.SetRole(r.Context(), name, role)
	}
	u.recordOp(r, "user.set-role", name, "role="+role.String(), err)
	if err != nil {
		return "", "", err
	}
	return "User " + name + " is now " + role.String(), "/admin/users", nil
}

func (u *UI) setUserPassword(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name := chi.URLParam(r, "user")
	err := u.d.Users.SetPassword(r.Context(), name, r.PostFormValue("password"))
	u.recordOp(r, "user.set-password", name, "", err)
	if err != nil {
		return "", "", err
	}
	return "Changed the password of " + name + "; their sessions ended", "/admin/users", nil
}

func (u *UI) deleteUser(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name := chi.URLParam(r, "user")
	if s, _ := sessionFrom(r); s.User == name {
		return "", "", badInput("you cannot delete yourself; log in as another admin")
	}
	err := u.d.Users.Delete(r.Context(), name)
	u.recordOp(r, "user.delete", name, "", err)
	if err != nil {
		return "", "", err
	}
	return "Deleted user " + name, "/admin/users", nil
}

// --- audit ---

type auditData struct {
	Entries []store.AuditEntry
	Actor   string
	Action  string
	Next    int64
}

func (u *UI) auditPage(w http.ResponseWriter, r *http.Request, p *page) error {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	f := store.AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), BeforeSeq: before, Limit: 100}
	list, err := u.d.Audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	d := auditData{Entries: list, Actor: f.Actor, Action: f.Action}
	if len(list) == f.Limit {
		d.Next = list[len(list)-1].Seq
	}
	p.Title, p.Template, p.Data, p.Active = "Audit log", "audit", d, "/admin/audit"
	return nil
}

// --- notifications ---

type notificationsData struct {
	Targets    []notify.Target
	Rules      []notify.Rule
	Deliveries []store.Delivery
	Failed     []store.Delivery
	Events     []string
}

func (u *UI) notificationsPage(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	targets, err := u.d.Notify.Targets(ctx)
	if err != nil {
		return err
	}
	rules, err := u.d.Notify.Rules(ctx)
	if err != nil {
		return err
	}
	failed, err := u.d.Notify.Deliveries(ctx, store.DeliveryFilter{Status: store.DeliveryFailed, Limit: 50})
	if err != nil {
		return err
	}
	recent, err := u.d.Notify.Deliveries(ctx, store.DeliveryFilter{Target: r.URL.Query().Get("target"), Limit: 100})
	if err != nil {
		return err
	}
	p.Title, p.Template, p.Active = "Notifications", "notifications", "/admin/notifications"
	p.Topics = []string{"notification:*"}
	p.Data = notificationsData{Targets: targets, Rules: rules, Deliveries: recent, Failed: failed, Events: notify.Events}
	return nil
}

func (u *UI) retryDelivery(w http.ResponseWriter, r *http.Request) (string, string, error) {
	id := chi.URLParam(r, "id")
	err := u.d.Notify.RetryDelivery(r.Context(), id)
	u.recordOp(r, "notification.retry", id, "", err)
	if err != nil {
		return "", "", err
	}
	return "Delivery " + short(id) + " will be sent again", "/admin/notifications", nil
}

func (u *UI) testTarget(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name := chi.URLParam(r, "target")
	err := u.d.Notify.Test(r.Context(), name)
	u.recordOp(r, "notification.test", name, "", err)
	if err != nil {
		return "", "", badInput("the test message to %s failed: %v", name, err)
	}
	return "The test message reached " + name, "/admin/notifications", nil
}
