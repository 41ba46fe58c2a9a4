package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/conveyorci/conveyor/internal/netguard"
	"github.com/conveyorci/conveyor/store"
)

// UserAgent identifies Conveyor's deliveries.
const UserAgent = "Conveyor-Notifications/1"

// permanent marks a failure that retrying cannot fix (a missing target, a 4xx answer).
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// deliverLoop sends due deliveries, a batch at a time, until ctx ends.
func (s *Service) deliverLoop(ctx context.Context) {
	for {
		n, err := s.deliverDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("notifications: delivering", "err", err)
		}
		if n > 0 {
			continue
		}
		wait := time.Minute
		if next, err := s.cfg.DB.Read().NextDeliveryDue(ctx); err == nil && !next.IsZero() {
			wait = min(wait, max(next.Sub(s.cfg.Now()), 5*time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliverDue sends the deliveries due now and records each outcome. Targets are served four at a
// time, but one target's deliveries go one after another in the order they were recorded, so a
// receiver sees "failed" before "rolled back".
func (s *Service) deliverDue(ctx context.Context) (int, error) {
	due, err := s.cfg.DB.Read().DueDeliveries(ctx, 16)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var targets []string
	byTarget := map[string][]store.Delivery{}
	for _, d := range due {
		if _, ok := byTarget[d.Target]; !ok {
			targets = append(targets, d.Target)
		}
		byTarget[d.Target] = append(byTarget[d.Target], d)
	}
	for _, list := range byTarget {
		sort.SliceStable(list, func(i, j int) bool { return list[i].Seq < list[j].Seq })
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for _, target := range targets {
		sem <- struct{}{}
		wg.Add(1)
		go func(list []store.Delivery) {
			defer func() { <-sem; wg.Done() }()
			for _, d := range list {
				s.deliver(ctx, d)
			}
		}(byTarget[target])
	}
	wg.Wait()
	return len(due), ctx.Err()
}

func (s *Service) deliver(ctx context.Context, d store.Delivery) {
	status, err := s.attempt(ctx, d)
	if ctx.Err() != nil {
		return // shutting down: the delivery stays pending and is sent after the restart
	}
	next, outcome, msg := time.Time{}, store.DeliveryDelivered, ""
	if err != nil {
		msg = err.Error()
		var p *permanent
		switch {
		case errors.As(err, &p):
			outcome = store.DeliveryFailed
		case d.Attempts < len(s.cfg.Backoff):
			outcome, next = store.DeliveryPending, s.cfg.Now().Add(s.cfg.Backoff[d.Attempts])
		default:
			outcome = store.DeliveryFailed
			msg = fmt.Sprintf("gave up after %d attempts: %s", d.Attempts+1, msg)
		}
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.cfg.DB.Write(wctx, func(tx *store.Tx) error {
		return tx.RecordDeliveryAttempt(wctx, d.ID, outcome, status, msg, next)
	}); err != nil {
		s.log.Error("notifications: recording a delivery attempt", "delivery_id", d.ID, "err", err)
	}
	if s.cfg.OnAttempt != nil {
		s.cfg.OnAttempt(d.ID, d.Target, outcome)
	}
	switch outcome {
	case store.DeliveryFailed:
		s.log.Warn("notification failed", "delivery_id", d.ID, "target", d.Target, "event", d.Event, "err", msg)
	case store.DeliveryPending:
		s.log.Info("notification attempt failed; will retry", "delivery_id", d.ID, "target", d.Target, "attempt", d.Attempts+1,
			"retry_at", next, "err", msg)
	}
}

// attempt sends one delivery once: the HTTP status (0 when none came back) and nil when the
// receiver accepted it.
func (s *Service) attempt(ctx context.Context, d store.Delivery) (int, error) {
	def, err := s.cfg.DB.Read().GetNotificationDefinition(ctx, store.NotificationTargets, d.Target)
	if errors.Is(err, store.ErrNotFound) {
		return 0, &permanent{fmt.Errorf("target %s does not exist", d.Target)}
	}
	if err != nil {
		return 0, err
	}
	var t Target
	if err := json.Unmarshal(def.Definition, &t); err != nil {
		return 0, &permanent{fmt.Errorf("stored target %s: %w", t.Name, err)}
	}
	target := t.URL
	if t.URLSecret != "" {
		if target, err = s.cfg.Secrets.SecretValue(ctx, t.URLSecret); err != nil {
			return 0, fmt.Errorf("read the URL from secret %s: %w", t.URLSecret, err)
		}
		if err := netguard.CheckURL(target, t.AllowPrivateAddresses); err != nil {
			return 0, &permanent{fmt.Errorf("the URL in secret %s: %w", t.URLSecret, err)}
		}
	}
	var m Message
	if err := json.Unmarshal(d.Payload, &m); err != nil {
		return 0, &permanent{fmt.Errorf("stored message: %w", err)}
	}
	body := d.Payload
	if t.Type == TypeSlack {
		if body, err = m.SlackBody(); err != nil {
			return 0, &permanent{err}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, &permanent{fmt.Errorf("build the request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	if t.Type == TypeWebhook {
		secret, err := s.cfg.Secrets.SecretValue(ctx, t.SigningSecret)
		if err != nil {
			return 0, fmt.Errorf("read signing secret %s: %w", t.SigningSecret, err)
		}
		req.Header.Set(HeaderEvent, d.Event)
		req.Header.Set(HeaderDelivery, d.ID)
		req.Header.Set(HeaderSignature, Sign([]byte(secret), s.cfg.Now(), body))
	}
	resp, err := netguard.Client(t.AllowPrivateAddresses, s.cfg.Timeout).Do(req)
	if err != nil {
		if errors.Is(err, netguard.ErrForbidden) {
			return 0, &permanent{err}
		}
		return 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return resp.StatusCode, fmt.Errorf("the receiver answered %s: %s", resp.Status, oneLine(snippet))
	}
	return resp.StatusCode, &permanent{fmt.Errorf("the receiver answered %s: %s", resp.Status, oneLine(snippet))}
}

func oneLine(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
