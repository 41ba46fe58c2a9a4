package deploy

import (
	"fmt"
	"time"
)

// DeploymentConfig is a deployment configuration: one of CodeDeploy's predefined ones or a custom one.
type DeploymentConfig struct {
	Name            string
	ID              string
	ComputePlatform string
	MinHealthy      MinimumHealthyHosts
	Created         time.Time
}

// Predefined configuration names.
const (
	ConfigOneAtATime  = "CodeDeployDefault.OneAtATime"
	ConfigHalfAtATime = "CodeDeployDefault.HalfAtATime"
	ConfigAllAtOnce   = "CodeDeployDefault.AllAtOnce"
)

// DefaultConfig is used when neither the deployment nor its group names one.
const DefaultConfig = ConfigOneAtATime

// predefinedConfigs are the Server platform's built-in configurations, as GetDeploymentConfig
// reports them (OneAtATime as MOST_CONCURRENCY 1).
var predefinedConfigs = []DeploymentConfig{
	{Name: ConfigAllAtOnce, ID: "a6ef7f58-0bd9-4f1a-9a57-2a6d1c1e0001", ComputePlatform: "Server", MinHealthy: MinimumHealthyHosts{Type: HostCount, Value: 0}},
	{Name: ConfigHalfAtATime, ID: "a6ef7f58-0bd9-4f1a-9a57-2a6d1c1e0002", ComputePlatform: "Server", MinHealthy: MinimumHealthyHosts{Type: FleetPercent, Value: 50}},
	{Name: ConfigOneAtATime, ID: "a6ef7f58-0bd9-4f1a-9a57-2a6d1c1e0003", ComputePlatform: "Server", MinHealthy: MinimumHealthyHosts{Type: MostConcurrency, Value: 1}},
}

func predefinedConfig(name string) (DeploymentConfig, bool) {
	for _, c := range predefinedConfigs {
		if c.Name == name {
			return c, true
		}
	}
	return DeploymentConfig{}, false
}

// Plan is a configuration applied to a fleet: how many hosts must stay healthy. It is fixed when
// the deployment starts (a FLEET_PERCENT becomes a host count then, rounding up).
type Plan struct {
	Fleet      int `json:"fleet"`
	MinHealthy int `json:"minHealthy"`
}

// PlanError says why a configuration cannot run on a fleet; Code is the deployment's error code.
type PlanError struct {
	Code, Message string
}

func (e *PlanError) Error() string { return e.Code + ": " + e.Message }

// NewPlan applies the minimum-healthy rule to a fleet of n hosts:
//
//   - HOST_COUNT v: v hosts must stay healthy;
//   - FLEET_PERCENT p: ceil(n·p/100) hosts;
//   - MOST_CONCURRENCY (OneAtATime): all but one, n-1.
//
// A fleet without hosts fails with NO_INSTANCES; a minimum of the whole fleet or more can never
// let a host be taken out of service, so it fails at once with HEALTH_CONSTRAINTS_INVALID.
func NewPlan(m MinimumHealthyHosts, n int) (Plan, error) {
	if n == 0 {
		return Plan{}, &PlanError{ErrCodeNoInstances, "no instance matches the deployment group's tag filters (or every match is revoked or deregistered)"}
	}
	p := Plan{Fleet: n}
	switch m.Type {
	case HostCount:
		p.MinHealthy = m.Value
	case FleetPercent:
		p.MinHealthy = (n*m.Value + 99) / 100
	case MostConcurrency:
		p.MinHealthy = n - 1
	default:
		return Plan{}, &PlanError{ErrCodeHealthConstraintsInvalid, fmt.Sprintf("unknown minimum healthy hosts type %q", m.Type)}
	}
	if p.MinHealthy >= n {
		return Plan{}, &PlanError{ErrCodeHealthConstraintsInvalid, fmt.Sprintf(
			"the deployment configuration needs %d healthy %s at all times, but the deployment has only %d %s: no host could ever be deployed to",
			p.MinHealthy, plural(p.MinHealthy, "host", "hosts"), n, plural(n, "host", "hosts"))}
	}
	return p, nil
}

// Counts are a deployment's hosts by state.
type Counts struct {
	Pending, InFlight, Succeeded, Failed int
}

// Verdict is what the rules say about a deployment now.
type Verdict int

// Verdicts.
const (
	Continue Verdict = iota
	Succeed
	Fail
)

// Next applies the rules to the current counts: how many more hosts to start now, and whether the
// deployment goes on, succeeded or failed.
//
// A host being deployed to or failed is unhealthy; every other host (not yet reached, or
// succeeded) is healthy. Hosts are started while the healthy count stays at or above the minimum.
// The deployment fails as soon as the minimum can no longer be met by hosts not failed, or when
// hosts remain but none may be started and none is running (so the minimum blocks the rollout). It
// succeeds when every host was attempted, at least the minimum succeeded, and at least one
// succeeded (even with a minimum of 0). With OneAtATime's minimum of n-1 this gives its rule: the
// first failure fails the deployment, except a failure on the last host.
func (p Plan) Next(c Counts) (start int, v Verdict) {
	if p.Fleet-c.Failed < p.MinHealthy {
		return 0, Fail
	}
	allowed := p.Fleet - p.MinHealthy - c.Failed - c.InFlight
	start = min(max(allowed, 0), c.Pending)
	switch {
	case c.Pending > 0 && c.InFlight == 0 && start == 0:
		return 0, Fail
	case c.Pending == 0 && c.InFlight == 0:
		if c.Succeeded >= p.MinHealthy && c.Succeeded >= 1 {
			return 0, Succeed
		}
		return 0, Fail
	}
	return start, Continue
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
