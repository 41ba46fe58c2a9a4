package ui

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/store"
)

// Webhook deliveries per connection (the git sources' delivery log), read-only.

type connectionsData struct {
	Connections []store.Connection
	Connection  *store.Connection
	Deliveries  []store.WebhookDelivery
	Next        int64
}

func (u *UI) connectionsPage(w http.ResponseWriter, r *http.Request, p *page) error {
	list, err := u.d.DB.Read().ListConnections(r.Context())
	if err != nil {
		return err
	}
	p.Title, p.Template, p.Active, p.Data = "Connections", "connections", "/connections", connectionsData{Connections: list}
	p.Topics = []string{"webhook:*"}
	return nil
}

func (u *UI) deliveriesPage(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	name := chi.URLParam(r, "name")
	c, err := u.d.DB.Read().GetConnection(ctx, name)
	if err != nil {
		return err
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	list, err := u.d.DB.Read().ListWebhookDeliveries(ctx, name, before, 100)
	if err != nil {
		return err
	}
	d := connectionsData{Connection: &c, Deliveries: list}
	if len(list) == 100 {
		d.Next = list[len(list)-1].Seq
	}
	p.Title, p.Template, p.Active, p.Data = "Deliveries of "+name, "deliveries", "/connections", d
	p.Topics = []string{"webhook:" + name}
	return nil
}
