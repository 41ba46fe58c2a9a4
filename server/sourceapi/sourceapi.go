// Package sourceapi is the REST extra for connections and their delivery log, under /api/v1 (the
// server authenticates; each route here checks the caller's role): admins create, change and
// delete connections; viewers list them and read the deliveries. Secrets go in and never come out.
package sourceapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/conveyorci/conveyor/audit"
	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/rest"
	"github.com/conveyorci/conveyor/store"
)

// API serves the routes.
type API struct {
	Connections *source.Connections
	DB          *store.DB
	Log         *slog.Logger
	// Audit records connection changes; nil records nothing.
	Audit audit.Recorder
}

// Routes mounts the routes on the /api/v1 router.
func (a *API) Routes(r chi.Router) {
	r.With(rest.Require(auth.RoleViewer)).Get("/connections", rest.Handle(a.Log, a.list))
	r.With(rest.Require(auth.RoleAdmin)).Post("/connections", rest.Handle(a.Log, a.create))
	r.With(rest.Require(auth.RoleViewer)).Get("/connections/{name}", rest.Handle(a.Log, a.get))
	r.With(rest.Require(auth.RoleAdmin)).Put("/connections/{name}", rest.Handle(a.Log, a.put))
	r.With(rest.Require(auth.RoleAdmin)).Delete("/connections/{name}", rest.Handle(a.Log, a.delete))
	r.With(rest.Require(auth.RoleViewer)).Get("/connections/{name}/deliveries", rest.Handle(a.Log, a.deliveries))
}

// Connection is a connection as the API shows it (never its secrets).
type Connection struct {
	ConnectionName      string `json:"connectionName"`
	ConnectionArn       string `json:"connectionArn"`
	ProviderType        string `json:"providerType"`
	URL                 string `json:"url"`
	ConnectionStatus    string `json:"connectionStatus"`
	WebhookPath         string `json:"webhookPath"`
	HasWebhookSecret    bool   `json:"hasWebhookSecret"`
	HasToken            bool   `json:"hasToken"`
	HasSSHKey           bool   `json:"hasSshKey"`
	AllowPrivateNetwork bool   `json:"allowPrivateNetwork"`
	PollIntervalSeconds int    `json:"pollIntervalSeconds,omitempty"`
	Created             int64  `json:"created,omitempty"`
	Updated             int64  `json:"updated,omitempty"`
}

func (a *API) view(c store.Connection) Connection {
	v := Connection{ConnectionName: c.Name, ConnectionArn: a.Connections.Arn(c.Name), ProviderType: c.Provider, URL: c.URL,
		ConnectionStatus: "AVAILABLE", WebhookPath: "/webhooks/" + c.Name, HasWebhookSecret: c.HasWebhookSecret, HasToken: c.HasToken,
		HasSSHKey: c.HasSSHKey, AllowPrivateNetwork: c.AllowPrivateNetwork, PollIntervalSeconds: int(c.PollInterval / time.Second)}
	if !c.Created.IsZero() {
		v.Created, v.Updated = c.Created.Unix(), c.Updated.Unix()
	}
	return v
}

// Request creates or changes a connection. Secrets left out keep their values on a change; an
// empty one removes it.
type Request struct {
	ConnectionName      string  `json:"connectionName"`
	ProviderType        string  `json:"providerType"`
	URL                 string  `json:"url"`
	WebhookSecret       *string `json:"webhookSecret,omitempty"`
	Token               *string `json:"token,omitempty"`
	SSHKey              *string `json:"sshKey,omitempty"`
	AllowPrivateNetwork bool    `json:"allowPrivateNetwork,omitempty"`
	PollIntervalSeconds int     `json:"pollIntervalSeconds,omitempty"`
}

func readRequest(r *http.Request) (source.ConnectionInput, error) {
	var in Request
	dec := json.NewDecoder(io.LimitReader(r.Body, 256<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return source.ConnectionInput{}, rest.BadRequest("the body must be a JSON connection request: %v", err)
	}
	if in.PollIntervalSeconds < 0 || in.PollIntervalSeconds > 7*24*3600 {
		return source.ConnectionInput{}, rest.BadRequest("pollIntervalSeconds must be 0 (off) to %d", 7*24*3600)
	}
	return source.ConnectionInput{Name: in.ConnectionName, Provider: in.ProviderType, URL: in.URL, WebhookSecret: in.WebhookSecret,
		Token: in.Token, SSHKey: in.SSHKey, AllowPrivateNetwork: in.AllowPrivateNetwork,
		PollInterval: time.Duration(in.PollIntervalSeconds) * time.Second}, nil
}

func (a *API) record(r *http.Request, action, target, detail string, err error) {
	if a.Audit == nil {
		return
	}
	id, _ := auth.FromContext(r.Context())
	e := audit.Entry{Actor: id.Name, Role: id.Role.String(), Source: audit.SourceREST, Action: action, Target: target, Detail: detail,
		RequestID: middleware.GetReqID(r.Context()), RemoteAddr: r.RemoteAddr}
	if err != nil {
		e.Outcome = "failed: " + err.Error()
	}
	a.Audit.Record(r.Context(), e)
}

func (a *API) list(w http.ResponseWriter, r *http.Request) error {
	list, err := a.Connections.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]Connection, 0, len(list))
	for _, c := range list {
		out = append(out, a.view(c))
	}
	return rest.JSON(w, http.StatusOK, map[string]any{"connections": out})
}

func (a *API) create(w http.ResponseWriter, r *http.Request) error {
	in, err := readRequest(r)
	if err != nil {
		return err
	}
	c, err := a.Connections.Create(r.Context(), in)
	a.record(r, "connection.create", "connection/"+in.Name, in.Provider+" "+in.URL, err)
	if errors.Is(err, store.ErrConflict) {
		return rest.Errorf(http.StatusConflict, "ResourceAlreadyExistsException", "connection %s already exists", in.Name)
	}
	if err != nil {
		return err
	}
	a.Log.Info("connection created", "connection", c.Name, "provider", c.Provider, "url", c.URL)
	return rest.JSON(w, http.StatusCreated, a.view(c))
}

func (a *API) get(w http.ResponseWriter, r *http.Request) error {
	c, err := a.Connections.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		return err
	}
	return rest.JSON(w, http.StatusOK, a.view(c))
}

// put creates or changes a connection (conveyor apply); ?dryRun=true only says what would change.
func (a *API) put(w http.ResponseWriter, r *http.Request) error {
	in, err := readRequest(r)
	if err != nil {
		return err
	}
	name := chi.URLParam(r, "name")
	if in.Name == "" {
		in.Name = name
	}
	if in.Name != name {
		return rest.BadRequest("connectionName %q differs from the path's %q", in.Name, name)
	}
	dryRun, _ := strconv.ParseBool(r.URL.Query().Get("dryRun"))
	res, err := a.Connections.Put(r.Context(), in, dryRun)
	if !dryRun && (err != nil || res.Created || len(res.Changed) > 0) {
		a.record(r, "connection.put", "connection/"+name, fmt.Sprint(res.Changed), err)
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Created && !dryRun {
		status = http.StatusCreated
	}
	return rest.JSON(w, status, map[string]any{"connection": a.view(res.Connection), "created": res.Created, "changed": orEmpty(res.Changed), "dryRun": dryRun})
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "name")
	err := a.Connections.Delete(r.Context(), name)
	a.record(r, "connection.delete", "connection/"+name, "", err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Delivery is one entry of the delivery log.
type Delivery struct {
	Delivery   int64                    `json:"delivery"`
	DeliveryID string                   `json:"deliveryId,omitempty"`
	Origin     string                   `json:"origin"`
	Received   float64                  `json:"received"` // epoch seconds, as AWS's timestamps
	RemoteAddr string                   `json:"remoteAddr,omitempty"`
	Event      string                   `json:"event,omitempty"`
	Action     string                   `json:"action,omitempty"`
	Sender     string                   `json:"sender,omitempty"`
	Repository string                   `json:"repository,omitempty"`
	Ref        string                   `json:"ref,omitempty"`
	Before     string                   `json:"before,omitempty"`
	After      string                   `json:"after,omitempty"`
	Status     string                   `json:"status"`
	Reason     string                   `json:"reason,omitempty"`
	HTTPStatus int                      `json:"httpStatus,omitempty"`
	Executions []store.WebhookExecution `json:"executions"`
	Processed  float64                  `json:"processed,omitempty"`
}

func epoch(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1000
}

// deliveries lists a connection's delivery log, newest first: ?limit=N (1-1000, default 100),
// ?before=DELIVERY for the page after.
func (a *API) deliveries(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "name")
	if _, err := a.Connections.Get(r.Context(), name); err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return rest.BadRequest("limit must be 1 to 1000")
		}
		limit = n
	}
	var before int64
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return rest.BadRequest("before must be a delivery number")
		}
		before = n
	}
	list, err := a.DB.Read().ListWebhookDeliveries(r.Context(), name, before, limit)
	if err != nil {
		return err
	}
	out := make([]Delivery, 0, len(list))
	for _, d := range list {
		execs := d.Executions
		if execs == nil {
			execs = []store.WebhookExecution{}
		}
		out = append(out, Delivery{Delivery: d.Seq, DeliveryID: d.DeliveryID, Origin: d.Origin, Received: epoch(d.Received),
			RemoteAddr: d.RemoteAddr, Event: d.Event, Action: d.Action, Sender: d.Sender, Repository: d.Repository, Ref: d.Ref,
			Before: d.Before, After: d.After, Status: d.Status, Reason: d.Reason, HTTPStatus: d.HTTPStatus, Executions: execs,
			Processed: epoch(d.Processed)})
	}
	return rest.JSON(w, http.StatusOK, map[string]any{"connection": name, "deliveries": out})
}
