package executor

import (
	"fmt"
	"sort"
	"time"
)

// Spec describes what a provider accepts, for validation of declarations and for the engine's
// default timeouts.
type Spec struct {
	Type ActionType
	// RequiredConfig and OptionalConfig list the configuration keys; any other key is an error.
	RequiredConfig []string
	OptionalConfig []string
	MinInputs      int
	MaxInputs      int
	MinOutputs     int
	MaxOutputs     int
	// DefaultTimeout is how long an action may run before it fails with reason "timeout"; the
	// action's timeoutInMinutes overrides it where CodePipeline allows (Manual approval).
	DefaultTimeout time.Duration
	// HonoursActionTimeout says whether the action-level timeoutInMinutes applies.
	HonoursActionTimeout bool
	// ValidateConfig checks configuration values beyond presence (nil: no extra checks). It
	// returns one message per problem, keyed by configuration key.
	ValidateConfig func(config map[string]string) map[string]string
}

// Provider is a registered provider: its spec and the executor that runs it.
type Provider struct {
	Spec     Spec
	Executor Executor
}

// Registry maps action types to providers. It is filled in cmd/ at wiring time and read-only after.
type Registry struct {
	providers map[ActionType]Provider
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{providers: map[ActionType]Provider{}} }

// Register adds a provider; registering a type twice is a wiring bug and panics.
func (r *Registry) Register(spec Spec, e Executor) {
	if _, dup := r.providers[spec.Type]; dup {
		panic(fmt.Sprintf("executor: provider %s registered twice", spec.Type))
	}
	if spec.DefaultTimeout == 0 {
		spec.DefaultTimeout = time.Hour
	}
	r.providers[spec.Type] = Provider{Spec: spec, Executor: e}
}

// Lookup finds the provider of a type.
func (r *Registry) Lookup(t ActionType) (Provider, bool) {
	p, ok := r.providers[t]
	return p, ok
}

// Types lists the registered types, sorted, for error messages ("supported: …").
func (r *Registry) Types() []ActionType {
	out := make([]ActionType, 0, len(r.providers))
	for t := range r.providers {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
