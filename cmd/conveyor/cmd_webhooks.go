package main

// `conveyor webhooks deliveries CONNECTION`: the delivery log of a connection — every webhook
// (and every change polling saw) with its verdict and why, so a user can see why a push did or
// did not start a pipeline.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/server/sourceapi"
)

func webhooksCommands() []subcommand {
	return []subcommand{
		{"deliveries", "CONNECTION [--limit N] [--before DELIVERY]", "list a connection's deliveries, newest first, with what each started or why it started nothing", webhooksDeliveries},
	}
}

func runWebhooks(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runGroup(ctx, "webhooks", webhooksCommands(), args, out, errOut)
}

func webhooksDeliveries(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("webhooks deliveries CONNECTION [--limit N] [--before DELIVERY]")
	limit := c.Int("limit", 20, "how many deliveries (1-1000)")
	before := c.Int64("before", 0, "list deliveries older than this one (paging)")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return c.usageError("--limit must be 1 to 1000")
	}
	path := fmt.Sprintf("%s/deliveries?limit=%d", connectionPath(pos[0]), *limit)
	if *before > 0 {
		path += fmt.Sprintf("&before=%d", *before)
	}
	var res struct {
		Connection string               `json:"connection"`
		Deliveries []sourceapi.Delivery `json:"deliveries"`
	}
	if err := c.cfg.rest(ctx, http.MethodGet, path, nil, &res); err != nil {
		return err
	}
	if res.Deliveries == nil {
		res.Deliveries = []sourceapi.Delivery{}
	}
	if c.cfg.json() {
		return printJSON(out, res)
	}
	if len(res.Deliveries) == 0 {
		fmt.Fprintf(out, "no deliveries to connection %s yet\n", pos[0])
		return nil
	}
	g := &grid{}
	g.row("#", "RECEIVED", "EVENT", "REF", "COMMIT", "SENDER", "VERDICT")
	for _, d := range res.Deliveries {
		event := d.Event
		if d.Action != "" {
			event += " " + d.Action
		}
		if d.Origin == "poll" {
			event = "poll"
		}
		received := time.UnixMilli(int64(d.Received * 1000))
		g.row(fmt.Sprint(d.Delivery), clock(received), dash(oneLine(event, 24)), dash(oneLine(strings.TrimPrefix(d.Ref, "refs/heads/"), 40)),
			dash(shortSHA(d.After)), dash(oneLine(d.Sender, 20)), d.Status)
		if d.Reason != "" {
			g.note(oneLine(d.Reason, 300))
		}
	}
	return g.write(out)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortSHA(s string) string {
	if s != "" && strings.Trim(s, "0") == "" {
		return "(none)" // a deleted or created ref's zero id
	}
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
