package main

// The `notifications:` section of a conveyor.yaml: notification targets and the rules that send
// events to them, applied through /api/v1/notifications (admin).
//
//	notifications:
//	  targets:
//	    - name: team-hook
//	      type: webhook                 # or slack
//	      url: https://hooks.example.com/conveyor
//	      signingSecret: team-hook-key  # a secret (conveyor secrets put) that signs deliveries
//	  rules:
//	    - name: releases
//	      events: [execution.failed, approval.needed]
//	      pipelines: [quickstart]        # all pipelines when left out
//	      targets: [team-hook]

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/pipeline"
)

// loadNotifications reads `notifications:`: targets first (rules name them), then rules.
func loadNotifications(cf *configFile, _, value *yaml.Node, _ pipeline.Providers) []*configResource {
	value = resolveAlias(value)
	if value.Kind == yaml.ScalarNode && value.ShortTag() == "!!null" {
		return nil
	}
	bad := func(n *yaml.Node, path, msg string) []*configResource {
		return []*configResource{{kind: "notifications", name: "notifications", problems: []problem{{File: cf.name, Line: n.Line,
			Column: n.Column, Path: path, Message: msg}}}}
	}
	if value.Kind != yaml.MappingNode {
		return bad(value, "notifications", "must be a mapping with targets: and rules:")
	}
	pairs, dups := mappingPairs(value)
	if len(dups) > 0 {
		return bad(dups[0].key, "notifications."+dups[0].key.Value, fmt.Sprintf("duplicate key %q", dups[0].key.Value))
	}
	var targets, rules *yaml.Node
	for _, p := range pairs {
		switch p.key.Value {
		case "targets":
			targets = resolveAlias(p.value)
		case "rules":
			rules = resolveAlias(p.value)
		default:
			return bad(p.key, "notifications."+p.key.Value, fmt.Sprintf("unknown key %q; allowed here: targets, rules", p.key.Value))
		}
	}
	var out []*configResource
	out = append(out, loadNotificationItems(cf, targets, "target", reflect.TypeFor[notify.Target]())...)
	out = append(out, loadNotificationItems(cf, rules, "rule", reflect.TypeFor[notify.Rule]())...)
	return out
}

// loadNotificationItems reads the list of targets or of rules.
func loadNotificationItems(cf *configFile, list *yaml.Node, kind string, t reflect.Type) []*configResource {
	section := "notifications." + kind + "s"
	items, bad := sectionList(cf, section, list, "notification "+kind, kind+"s (- name: …)")
	if bad != nil {
		return []*configResource{bad}
	}
	names := declaredNames{}
	var out []*configResource
	for i, item := range items {
		label := fmt.Sprintf("%s[%d]", section, i)
		r := &configResource{kind: "notification " + kind, name: label}
		out = append(out, r)
		pr := &projectReader{file: cf.name, prefix: label}
		if n := mappingValue(resolveAlias(item), "name"); n != nil && n.Kind == yaml.ScalarNode && n.Value != "" {
			r.name = n.Value
		}
		before := len(pr.problems)
		v, ok := pr.convert(item, t, "")
		if !ok && len(pr.problems) == before {
			pr.at(item, "", "must be a %s (a mapping with name: …)", kind)
		}
		if len(pr.problems) > 0 {
			r.problems = pr.problems
			continue
		}
		raw, _ := json.Marshal(v)
		var validate func() error
		var apply func(ctx context.Context, env *applyEnv) (applyResult, error)
		switch kind {
		case "target":
			var tg notify.Target
			if err := strictJSON(raw, &tg); err != nil {
				pr.at(item, "", "%v", err)
				break
			}
			validate = tg.Validate
			apply = func(ctx context.Context, env *applyEnv) (applyResult, error) {
				return applyNotification(ctx, env, "targets", tg.Name, tg)
			}
		case "rule":
			var rl notify.Rule
			if err := strictJSON(raw, &rl); err != nil {
				pr.at(item, "", "%v", err)
				break
			}
			validate = rl.Validate
			apply = func(ctx context.Context, env *applyEnv) (applyResult, error) {
				return applyNotification(ctx, env, "rules", rl.Name, rl)
			}
		}
		if validate != nil {
			var ve *notify.ValidationError
			if err := validate(); errors.As(err, &ve) {
				for _, msg := range ve.Problems {
					field, text, _ := strings.Cut(msg, ": ")
					pr.at(locateField(item, field), field, "%s", text)
				}
			}
		}
		if len(pr.problems) > 0 {
			r.problems = pr.problems
			continue
		}
		where := locateField(item, "name")
		if msg, dup := names.again(kind, r.name, where.Line); dup {
			pr.at(where, "name", "%s", msg)
			r.problems = pr.problems
			continue
		}
		r.apply = apply
	}
	return out
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// applyNotification creates or updates a target or rule unless the server's equals it.
func applyNotification(ctx context.Context, env *applyEnv, kind, name string, want any) (applyResult, error) {
	var list map[string][]json.RawMessage
	if err := env.cfg.rest(ctx, http.MethodGet, "/api/v1/notifications/"+kind, nil, &list); err != nil {
		return applyResult{}, err
	}
	wantJSON, _ := json.Marshal(want)
	found := false
	for _, raw := range list[kind] {
		var cur struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &cur) != nil || cur.Name != name {
			continue
		}
		found = true
		var a, b any
		_ = json.Unmarshal(wantJSON, &a)
		_ = json.Unmarshal(raw, &b)
		var paths []string
		diffPaths(a, b, "", &paths)
		if len(paths) == 0 {
			return applyResult{Status: "unchanged"}, nil
		}
		if env.dryRun {
			return applyResult{Status: "would update", Changed: paths}, nil
		}
		if err := env.cfg.restJSON(ctx, http.MethodPut, "/api/v1/notifications/"+kind+"/"+url.PathEscape(name), want, nil); err != nil {
			return applyResult{}, err
		}
		return applyResult{Status: "updated", Changed: paths}, nil
	}
	if !found && env.dryRun {
		return applyResult{Status: "would create"}, nil
	}
	if err := env.cfg.restJSON(ctx, http.MethodPut, "/api/v1/notifications/"+kind+"/"+url.PathEscape(name), want, nil); err != nil {
		return applyResult{}, err
	}
	return applyResult{Status: "created"}, nil
}
