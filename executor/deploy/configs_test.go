package deploy

import (
	"errors"
	"testing"
)

// rollout runs a plan over hosts whose outcomes are given in rollout order (true: succeeds),
// finishing hosts in the order they started. It returns the most hosts in flight at once, how
// many hosts were started, and the verdict.
func rollout(t *testing.T, p Plan, outcomes []bool) (maxInFlight, started int, v Verdict) {
	t.Helper()
	if len(outcomes) != p.Fleet {
		t.Fatalf("%d outcomes for a fleet of %d", len(outcomes), p.Fleet)
	}
	var c Counts
	c.Pending = p.Fleet
	var inFlight []int
	for {
		n, v := p.Next(c)
		if v != Continue {
			return maxInFlight, started, v
		}
		for range n {
			inFlight = append(inFlight, started)
			started++
			c.Pending--
			c.InFlight++
		}
		maxInFlight = max(maxInFlight, c.InFlight)
		if len(inFlight) == 0 {
			t.Fatalf("plan %+v: Continue with nothing in flight at %+v", p, c)
		}
		host := inFlight[0]
		inFlight = inFlight[1:]
		c.InFlight--
		if outcomes[host] {
			c.Succeeded++
		} else {
			c.Failed++
		}
	}
}

// outcomes returns n hosts that succeed except those at the given positions.
func outcomes(n int, failing ...int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	for _, f := range failing {
		out[f] = false
	}
	return out
}

func TestPlanMath(t *testing.T) {
	oneAtATime := MinimumHealthyHosts{Type: MostConcurrency, Value: 1}
	half := MinimumHealthyHosts{Type: FleetPercent, Value: 50}
	all := MinimumHealthyHosts{Type: HostCount, Value: 0}
	cases := []struct {
		name        string
		min         MinimumHealthyHosts
		fleet       int
		hosts       []bool
		minHealthy  int
		maxInFlight int
		started     int
		want        Verdict
	}{
		// The 9-host examples of the CodeDeploy docs.
		{"HalfAtATime 9: 4 at a time, all succeed", half, 9, outcomes(9), 5, 4, 9, Succeed},
		{"HalfAtATime 9: needs 5, the last 4 fail", half, 9, outcomes(9, 5, 6, 7, 8), 5, 4, 9, Succeed},
		{"HalfAtATime 9: 5 failures fail before the last host starts", half, 9, outcomes(9, 4, 5, 6, 7, 8), 5, 4, 8, Fail},
		{"HalfAtATime 9: the first batch of 4 fails, the minimum blocks the rest", half, 9, outcomes(9, 0, 1, 2, 3), 5, 4, 4, Fail},
		{"HOST_COUNT 6 of 9: 3 at a time, 3 failures at the end", MinimumHealthyHosts{HostCount, 6}, 9, outcomes(9, 6, 7, 8), 6, 3, 9, Succeed},
		{"HOST_COUNT 6 of 9: 4 failures fail", MinimumHealthyHosts{HostCount, 6}, 9, outcomes(9, 5, 6, 7, 8), 6, 3, 8, Fail},
		{"FLEET_PERCENT 40 of 9: 5 at a time, need 4", MinimumHealthyHosts{FleetPercent, 40}, 9, outcomes(9, 4, 5, 6, 7, 8), 4, 5, 9, Succeed},
		{"FLEET_PERCENT 40 of 9: the first 5 fail, the minimum blocks the rest", MinimumHealthyHosts{FleetPercent, 40}, 9, outcomes(9, 0, 1, 2, 3, 4), 4, 5, 5, Fail},
		// The 10-host examples.
		{"HOST_COUNT 9 of 10: one at a time", MinimumHealthyHosts{HostCount, 9}, 10, outcomes(10), 9, 1, 10, Succeed},
		{"HOST_COUNT 9 of 10: the first failure fails", MinimumHealthyHosts{HostCount, 9}, 10, outcomes(10, 0), 9, 1, 1, Fail},
		{"HOST_COUNT 9 of 10: except on the last host", MinimumHealthyHosts{HostCount, 9}, 10, outcomes(10, 9), 9, 1, 10, Succeed},
		{"HOST_COUNT 8 of 10: two at a time", MinimumHealthyHosts{HostCount, 8}, 10, outcomes(10), 8, 2, 10, Succeed},
		{"HOST_COUNT 8 of 10: a failure leaves one at a time", MinimumHealthyHosts{HostCount, 8}, 10, outcomes(10, 0), 8, 2, 10, Succeed},
		{"HOST_COUNT 8 of 10: two failures stop it", MinimumHealthyHosts{HostCount, 8}, 10, outcomes(10, 0, 1), 8, 2, 2, Fail},
		// OneAtATime: all but one healthy.
		{"OneAtATime 3: all succeed", oneAtATime, 3, outcomes(3), 2, 1, 3, Succeed},
		{"OneAtATime 3: the first host fails, the others never start", oneAtATime, 3, outcomes(3, 0), 2, 1, 1, Fail},
		{"OneAtATime 3: the middle host fails", oneAtATime, 3, outcomes(3, 1), 2, 1, 2, Fail},
		{"OneAtATime 3: the last host may fail", oneAtATime, 3, outcomes(3, 2), 2, 1, 3, Succeed},
		{"OneAtATime 1: the only host must succeed", oneAtATime, 1, outcomes(1, 0), 0, 1, 1, Fail},
		{"OneAtATime 1: succeeds", oneAtATime, 1, outcomes(1), 0, 1, 1, Succeed},
		// AllAtOnce: at least one success.
		{"AllAtOnce 5: all at once", all, 5, outcomes(5), 0, 5, 5, Succeed},
		{"AllAtOnce 5: one success is enough", all, 5, outcomes(5, 0, 1, 2, 3), 0, 5, 5, Succeed},
		{"AllAtOnce 5: none succeeds", all, 5, outcomes(5, 0, 1, 2, 3, 4), 0, 5, 5, Fail},
		{"HalfAtATime 2: one at a time", half, 2, outcomes(2), 1, 1, 2, Succeed},
		{"HalfAtATime 3: rounds the minimum up to 2", half, 3, outcomes(3), 2, 1, 3, Succeed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPlan(tc.min, tc.fleet)
			if err != nil {
				t.Fatal(err)
			}
			if p.MinHealthy != tc.minHealthy {
				t.Errorf("minimum healthy = %d, want %d", p.MinHealthy, tc.minHealthy)
			}
			maxInFlight, started, v := rollout(t, p, tc.hosts)
			if maxInFlight != tc.maxInFlight || started != tc.started || v != tc.want {
				t.Errorf("got %d at a time, %d started, verdict %d; want %d, %d, %d", maxInFlight, started, v, tc.maxInFlight, tc.started, tc.want)
			}
		})
	}
}

func TestPlanImpossible(t *testing.T) {
	cases := []struct {
		name  string
		min   MinimumHealthyHosts
		fleet int
		code  string
	}{
		{"95% of 10 rounds up to 10", MinimumHealthyHosts{FleetPercent, 95}, 10, ErrCodeHealthConstraintsInvalid},
		{"HalfAtATime on one host", MinimumHealthyHosts{FleetPercent, 50}, 1, ErrCodeHealthConstraintsInvalid},
		{"HOST_COUNT equal to the fleet", MinimumHealthyHosts{HostCount, 3}, 3, ErrCodeHealthConstraintsInvalid},
		{"no hosts", MinimumHealthyHosts{HostCount, 0}, 0, ErrCodeNoInstances},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPlan(tc.min, tc.fleet)
			var pe *PlanError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("NewPlan = %v, want %s", err, tc.code)
			}
		})
	}
	// 94% of 10 rounds up to 10 too; 90% leaves one host at a time.
	if p, err := NewPlan(MinimumHealthyHosts{FleetPercent, 90}, 10); err != nil || p.MinHealthy != 9 {
		t.Fatalf("90%% of 10 = %+v, %v", p, err)
	}
}
