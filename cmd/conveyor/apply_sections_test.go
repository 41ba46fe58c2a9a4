package main

import (
	"strings"
	"testing"
)

// TestEverySectionRefusesANameDeclaredTwice: in each section of a conveyor.yaml, the second
// declaration of a name is refused at its own line, pointing at the first; the first is applied.
func TestEverySectionRefusesANameDeclaredTwice(t *testing.T) {
	doc := `connections:
  - {name: app, provider: gitea, url: "https://git.example.com/a.git", webhookSecret: s}
  - {name: app, provider: gitea, url: "https://git.example.com/b.git", webhookSecret: s}
projects:
  - {name: web, source: {type: CODEPIPELINE}, artifacts: {type: CODEPIPELINE}, environment: {type: LINUX_CONTAINER, image: conveyor/busybox, computeType: BUILD_GENERAL1_SMALL}}
  - {name: web, source: {type: CODEPIPELINE}, artifacts: {type: CODEPIPELINE}, environment: {type: LINUX_CONTAINER, image: conveyor/busybox, computeType: BUILD_GENERAL1_SMALL}}
deploymentConfigs:
  - {deploymentConfigName: Two, minimumHealthyHosts: {type: HOST_COUNT, value: 2}}
  - {deploymentConfigName: Two, minimumHealthyHosts: {type: HOST_COUNT, value: 1}}
applications:
  - applicationName: shop
    deploymentGroups:
      - {deploymentGroupName: web, onPremisesInstanceTagFilters: [{Key: role, Value: web, Type: KEY_AND_VALUE}]}
      - {deploymentGroupName: web, onPremisesInstanceTagFilters: [{Key: role, Value: api, Type: KEY_AND_VALUE}]}
  - applicationName: shop
notifications:
  targets:
    - {name: hook, type: webhook, url: "https://hooks.example.com/x", signingSecret: k}
    - {name: hook, type: webhook, url: "https://hooks.example.com/y", signingSecret: k}
  rules:
    - {name: fails, events: [execution.failed], targets: [hook]}
    - {name: fails, events: [execution.failed], targets: [hook]}
`
	resources, fileProblems := loadConfig("conveyor.yaml", []byte(doc), registerProviders(providerDeps{}))
	if len(fileProblems) > 0 {
		t.Fatalf("file problems: %v", fileProblems)
	}
	// kind → the problem each declaration gets ("" for none: applied).
	want := map[string][2]string{
		"connection":        {"", `conveyor.yaml:3:6: connections[1].name: connection "app" is declared twice (first at line 2)`},
		"project":           {"", `conveyor.yaml:6:6: projects[1].name: project "web" is declared twice (first at line 5)`},
		"deployment config": {"", `conveyor.yaml:9:6: deploymentConfigs[1].deploymentConfigName: deployment config "Two" is declared twice (first at line 8)`},
		"application": {`conveyor.yaml:14:10: applications[0].deploymentGroups[1].deploymentGroupName: deployment group "web" is declared twice (first at line 13)`,
			`conveyor.yaml:15:5: applications[1].applicationName: application "shop" is declared twice (first at line 11)`},
		"notification target": {"", `conveyor.yaml:19:8: notifications.targets[1].name: target "hook" is declared twice (first at line 18)`},
		"notification rule":   {"", `conveyor.yaml:22:8: notifications.rules[1].name: rule "fails" is declared twice (first at line 21)`},
	}
	seen := map[string]int{}
	for _, r := range resources {
		i := seen[r.kind]
		seen[r.kind]++
		w, ok := want[r.kind]
		if !ok || i > 1 {
			t.Errorf("unexpected resource %s %s", r.kind, r.name)
			continue
		}
		var got []string
		for _, p := range r.problems {
			got = append(got, p.String())
		}
		switch {
		case w[i] == "" && (r.apply == nil || len(got) > 0):
			t.Errorf("%s %s is not applied: %v", r.kind, r.name, got)
		case w[i] != "" && (r.apply != nil || len(got) != 1 || got[0] != w[i]):
			t.Errorf("%s #%d %s: problems\n%s\nwant %s", r.kind, i+1, r.name, strings.Join(got, "\n"), w[i])
		}
	}
	for kind := range want {
		if seen[kind] != 2 {
			t.Errorf("%d resources of kind %s, want 2", seen[kind], kind)
		}
	}
}
