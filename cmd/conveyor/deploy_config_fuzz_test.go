package main

import (
	"strings"
	"testing"
)

// FuzzDeploySections feeds the applications: and deploymentConfigs: readers arbitrary documents:
// they must not panic, every problem must name the file, and a resource is either applicable or
// has problems.
func FuzzDeploySections(f *testing.F) {
	f.Add([]byte(deployConfigYAML))
	f.Add([]byte("applications:\n  - applicationName: a\n    deploymentGroups:\n      - deploymentGroupName: g\n        onPremisesTagSet: {onPremisesTagSetList: [[{Key: k}], []]}\n"))
	f.Add([]byte("deploymentConfigs:\n  - {deploymentConfigName: x, minimumHealthyHosts: {type: FLEET_PERCENT, value: 1e9}}\n"))
	f.Add([]byte("applications: &a\n  - applicationName: *a\n"))
	f.Add([]byte("applications:\n  - applicationName: a\n    deploymentGroups: [{deploymentGroupName: g, autoRollbackConfiguration: {enabled: yes, events: [~]}}]\n"))
	providers := registerProviders(providerDeps{})
	f.Fuzz(func(t *testing.T, data []byte) {
		resources, fileProblems := loadConfig("conveyor.yaml", data, providers)
		for _, p := range fileProblems {
			if p.File != "conveyor.yaml" || p.Message == "" {
				t.Fatalf("file problem %+v", p)
			}
		}
		for _, r := range resources {
			if (len(r.problems) == 0) == (r.apply == nil) {
				t.Fatalf("resource %s %s: %d problems, apply set %v", r.kind, r.name, len(r.problems), r.apply != nil)
			}
			for _, p := range r.problems {
				if p.File != "conveyor.yaml" || strings.TrimSpace(p.Message) == "" {
					t.Fatalf("problem %+v", p)
				}
			}
		}
	})
}
