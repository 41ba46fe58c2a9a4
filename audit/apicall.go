package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/conveyorci/conveyor/server/awsapi"
)

// targetMembers name the resource an AWS JSON API call acts on, in the order they are joined.
var targetMembers = []string{"name", "pipelineName", "stageName", "actionName", "pipelineExecutionId", "projectName",
	"id", "ids", "resourceArn", "applicationName", "deploymentGroupName", "deploymentId"}

// detailMembers say how; tokens and definitions are left out on purpose (a token is a credential,
// a definition is stored elsewhere).
var detailMembers = []string{"transitionType", "reason", "abandon", "retryMode", "result", "variables", "sourceRevisions",
	"tags", "tagKeys"}

// APIHook returns the hook for awsapi.API.OnChange: it records every call of an operation above
// viewer with the resource it names and how.
func APIHook(rec Recorder) func(ctx context.Context, c awsapi.Call) {
	return func(ctx context.Context, c awsapi.Call) {
		svc, op, _ := strings.Cut(c.Target, ".")
		svc, _, _ = strings.Cut(svc, "_")
		e := Entry{Actor: c.Identity.Name, Role: c.Identity.Role.String(), Source: SourceAPI, Action: svc + "." + op,
			RequestID: middleware.GetReqID(ctx)}
		var in map[string]json.RawMessage
		if len(c.Input) > 0 && json.Unmarshal(c.Input, &in) == nil {
			e.Target = members(in, targetMembers, "/")
			if p, ok := in["pipeline"]; ok && e.Target == "" { // CreatePipeline, UpdatePipeline
				var d struct {
					Name string `json:"name"`
				}
				if json.Unmarshal(p, &d) == nil {
					e.Target = d.Name
				}
			}
			e.Detail = members(in, detailMembers, " ")
		}
		switch {
		case c.Denied:
			e.Outcome = "denied"
		case c.Err != nil:
			e.Outcome = "failed: " + c.Err.Error()
		}
		rec.Record(ctx, e)
	}
}

// members renders the named members present in a JSON object: plain strings as they are, other
// values (numbers, lists, objects) as compact JSON, each detail prefixed by its name.
func members(in map[string]json.RawMessage, names []string, sep string) string {
	var parts []string
	for _, n := range names {
		raw, ok := in[n]
		if !ok || string(raw) == "null" {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = compact(raw)
		}
		if sep == " " {
			s = n + "=" + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, sep)
}

func compact(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	if m, ok := v.(map[string]any); ok { // deterministic order for the record
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%s:%v", k, m[k])
		}
		b.WriteString("}")
		return b.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}
