package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Message is what a webhook target receives as its JSON body.
type Message struct {
	// DeliveryID identifies this delivery (also in X-Conveyor-Delivery); retries keep it.
	DeliveryID string    `json:"deliveryId"`
	Event      string    `json:"event"`
	Time       time.Time `json:"time"`
	Pipeline   string    `json:"pipeline,omitempty"`
	// PipelineExecutionID, Status and Summary describe the execution the event is about.
	PipelineExecutionID string      `json:"pipelineExecutionId,omitempty"`
	Status              string      `json:"status,omitempty"`
	Summary             string      `json:"summary,omitempty"`
	Trigger             *Trigger    `json:"trigger,omitempty"`
	URL                 string      `json:"url,omitempty"` // the dashboard page to open
	Approval            *Approval   `json:"approval,omitempty"`
	Deployment          *Deployment `json:"deployment,omitempty"`
}

// Trigger says what started an execution.
type Trigger struct {
	Type   string `json:"triggerType"`
	Detail string `json:"triggerDetail,omitempty"`
}

// Approval is a Manual approval that waits for a reviewer.
type Approval struct {
	Stage              string    `json:"stageName"`
	Action             string    `json:"actionName"`
	ActionExecutionID  string    `json:"actionExecutionId"`
	CustomData         string    `json:"customData,omitempty"`
	ExternalEntityLink string    `json:"externalEntityLink,omitempty"`
	Expires            time.Time `json:"expires"`
	URL                string    `json:"approvalUrl"`
}

// Deployment is a deployment's state change.
type Deployment struct {
	ID              string `json:"deploymentId"`
	Application     string `json:"applicationName,omitempty"`
	DeploymentGroup string `json:"deploymentGroupName,omitempty"`
	Status          string `json:"status"`
	Message         string `json:"message,omitempty"`
}

// Signature headers of webhook deliveries.
const (
	HeaderSignature = "X-Conveyor-Signature"
	HeaderEvent     = "X-Conveyor-Event"
	HeaderDelivery  = "X-Conveyor-Delivery"
)

// Sign returns the X-Conveyor-Signature value for a body sent at t: "t=<unix seconds>,v1=<hex>"
// where v1 is HMAC-SHA256(secret, "<unix seconds>." + body). The timestamp is signed with the
// body, so a receiver can refuse old (replayed) deliveries.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against a body, in constant time, refusing timestamps further
// than tolerance from now. Receivers written in Go can use it as it is.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("signature timestamp is %s away from now", d.Round(time.Second))
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return fmt.Errorf("signature does not match")
}

// Title is a one-line description of the event.
func (m *Message) Title() string {
	short := m.PipelineExecutionID
	if len(short) > 8 {
		short = short[:8]
	}
	switch m.Event {
	case ExecutionStarted:
		return fmt.Sprintf("%s: execution %s started", m.Pipeline, short)
	case ExecutionSucceeded:
		return fmt.Sprintf("%s: execution %s succeeded", m.Pipeline, short)
	case ExecutionFailed:
		return fmt.Sprintf("%s: execution %s failed", m.Pipeline, short)
	case ExecutionSuperseded:
		return fmt.Sprintf("%s: execution %s was superseded", m.Pipeline, short)
	case ExecutionStopped:
		return fmt.Sprintf("%s: execution %s stopped", m.Pipeline, short)
	case ApprovalNeeded:
		if m.Approval != nil {
			return fmt.Sprintf("%s: approval needed at %s/%s", m.Pipeline, m.Approval.Stage, m.Approval.Action)
		}
	}
	if m.Deployment != nil {
		d := m.Deployment
		return fmt.Sprintf("deployment %s (%s/%s): %s", d.ID, d.Application, d.DeploymentGroup, strings.ToLower(d.Status))
	}
	return m.Event
}

// slackEscape escapes text for Slack's mrkdwn: &, < and > are control characters there.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// slackLink renders <url|text>; a URL with characters that would end the link is shown as text.
func slackLink(url, text string) string {
	if url == "" || strings.ContainsAny(url, "|<> \n") {
		return slackEscape(text)
	}
	return "<" + slackEscape(url) + "|" + slackEscape(text) + ">"
}

// SlackBody renders the message for a Slack-compatible incoming webhook.
func (m *Message) SlackBody() ([]byte, error) {
	var b strings.Builder
	b.WriteString("*" + slackLink(m.URL, m.Title()) + "*")
	if m.Summary != "" {
		b.WriteString("\n" + slackEscape(m.Summary))
	}
	if m.Trigger != nil && m.Trigger.Type != "" {
		b.WriteString("\nTrigger: " + slackEscape(strings.TrimSpace(m.Trigger.Type+" "+m.Trigger.Detail)))
	}
	if a := m.Approval; a != nil {
		if a.CustomData != "" {
			b.WriteString("\n>" + slackEscape(strings.ReplaceAll(a.CustomData, "\n", "\n>")))
		}
		if a.ExternalEntityLink != "" {
			b.WriteString("\nReview: " + slackLink(a.ExternalEntityLink, a.ExternalEntityLink))
		}
		b.WriteString("\n" + slackLink(a.URL, "Approve or reject") + " before " + a.Expires.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if d := m.Deployment; d != nil && d.Message != "" {
		b.WriteString("\n" + slackEscape(d.Message))
	}
	text := b.String()
	return json.Marshal(map[string]any{
		"text":   slackEscape(m.Title()),
		"blocks": []any{map[string]any{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": text}}},
	})
}
