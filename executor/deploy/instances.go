package deploy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/store"
)

// Instance names are used in log file names and ARNs: letters, digits, dot, underscore, hyphen.
var instanceNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$`)

// TokenPrefix starts every registration token, so a leaked one is recognisable.
const TokenPrefix = "cvt_"

func (s *Service) instanceArn(name string) string {
	return fmt.Sprintf("arn:aws:codedeploy:%s:000000000000:instance/%s", s.region, name)
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func checkInstanceName(name string) error {
	if name == "" {
		return errorf("InstanceNameRequiredException", "the instance name is required")
	}
	if !instanceNamePattern.MatchString(name) {
		return errorf(CodeInvalidInstanceName, "instance name %q: 1-100 letters, digits and . _ - (not starting with a dot)", name)
	}
	return nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > 50 {
		return errorf(CodeInvalidTag, "at most 50 tags per instance")
	}
	for k, v := range tags {
		if k == "" || utf8.RuneCountInString(k) > 128 {
			return errorf(CodeInvalidTag, "tag key %q: 1-128 characters", k)
		}
		if utf8.RuneCountInString(v) > 256 {
			return errorf(CodeInvalidTag, "tag %s: the value is longer than 256 characters", k)
		}
	}
	return nil
}

// CreateToken creates a single-use registration token valid for ttl. Tags are given to the
// instance that registers with it (they override tags the agent asks for).
func (s *Service) CreateToken(ctx context.Context, ttl time.Duration, tags map[string]string, by string) (string, time.Time, error) {
	if ttl <= 0 {
		return "", time.Time{}, errorf(CodeInvalidInput, "the token's lifetime must be positive")
	}
	if err := checkTags(tags); err != nil {
		return "", time.Time{}, err
	}
	token := TokenPrefix + randomSecret()
	expires := time.Now().Add(ttl).UTC().Truncate(time.Millisecond)
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		return tx.CreateAgentToken(ctx, store.AgentToken{Hash: hashSecret(token), Tags: tags, CreatedBy: by, Expires: expires})
	})
	if err != nil {
		return "", time.Time{}, err
	}
	s.log.Info("agent registration token created", "by", by, "expires", expires)
	return token, expires, nil
}

// RegisterAgent exchanges a registration token for an agent identity. The token is used up even
// when the instance name existed as an instance without an agent (RegisterOnPremisesInstance):
// the agent takes it over. A name an active agent holds is refused, and the token is kept.
func (s *Service) RegisterAgent(ctx context.Context, req protocol.RegisterRequest) (protocol.RegisterResponse, error) {
	if err := checkInstanceName(req.Name); err != nil {
		return protocol.RegisterResponse{}, fmt.Errorf("%w: %v", ErrBadReport, err.(*Error).Msg)
	}
	if err := checkTags(req.Tags); err != nil {
		return protocol.RegisterResponse{}, fmt.Errorf("%w: %v", ErrBadReport, err.(*Error).Msg)
	}
	credential := randomSecret()
	resp := protocol.RegisterResponse{AgentID: "agent-" + uuid.NewString(), Credential: credential, InstanceArn: s.instanceArn(req.Name)}
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		hash := hashSecret(req.Token)
		tok, err := tx.GetAgentToken(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: unknown registration token", ErrUnauthenticated)
		}
		if err != nil {
			return err
		}
		if !tok.Used.IsZero() {
			return fmt.Errorf("%w: the registration token was used already (by %s)", ErrTokenGone, tok.UsedBy)
		}
		if tx.Now().After(tok.Expires) {
			return fmt.Errorf("%w: the registration token expired at %s", ErrTokenGone, tok.Expires.Format(time.RFC3339))
		}
		inst, err := tx.GetInstance(ctx, req.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			inst = store.Instance{Name: req.Name, ID: uuid.NewString(), Tags: map[string]string{}}
		case err != nil:
			return err
		case inst.Active() && inst.AgentID != "":
			return fmt.Errorf("%w: an agent is registered as %s already; revoke it first (conveyor agents revoke %s)", ErrNameTaken, req.Name, req.Name)
		case !inst.Active():
			inst.Tags = map[string]string{} // a revoked or deregistered instance starts afresh
		}
		if err := tx.UseAgentToken(ctx, hash, req.Name); err != nil {
			return fmt.Errorf("%w: the registration token was used already", ErrTokenGone)
		}
		if inst.Tags == nil {
			inst.Tags = map[string]string{}
		}
		for k, v := range req.Tags {
			inst.Tags[k] = v
		}
		for k, v := range tok.Tags {
			inst.Tags[k] = v
		}
		inst.AgentID, inst.CredentialHash = resp.AgentID, hashSecret(credential)
		inst.Hostname, inst.AgentVersion, inst.OS, inst.Arch = req.Hostname, req.Version, req.OS, req.Arch
		inst.Registered, inst.Deregistered, inst.Revoked = tx.Now(), time.Time{}, false
		return tx.PutInstance(ctx, inst)
	})
	if err != nil {
		return protocol.RegisterResponse{}, err
	}
	s.heard(req.Name)
	s.log.Info("agent registered", "instance", req.Name, "agent_id", resp.AgentID, "version", req.Version, "hostname", req.Hostname)
	return resp, nil
}

// Authenticate checks an agent's credential; the instance must be active (not revoked or
// deregistered).
func (s *Service) Authenticate(ctx context.Context, agentID, credential string) (store.Instance, error) {
	if agentID == "" || credential == "" {
		return store.Instance{}, fmt.Errorf("%w: missing agent credentials", ErrUnauthenticated)
	}
	inst, err := s.db.Read().InstanceByAgent(ctx, agentID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Instance{}, fmt.Errorf("%w: unknown agent", ErrUnauthenticated)
	}
	if err != nil {
		return store.Instance{}, err
	}
	if subtle.ConstantTimeCompare([]byte(hashSecret(credential)), []byte(inst.CredentialHash)) != 1 {
		return store.Instance{}, fmt.Errorf("%w: wrong agent credential", ErrUnauthenticated)
	}
	if !inst.Active() {
		return store.Instance{}, fmt.Errorf("%w: instance %s was revoked; register the agent again with a new token", ErrUnauthenticated, inst.Name)
	}
	s.heard(inst.Name)
	return inst, nil
}

// --- the on-premises instance API ---

// RegisterOnPremisesInstance registers an instance without an agent; an agent registering with a
// token under the same name takes it over. CodeDeploy wants exactly one IAM ARN; Conveyor keeps
// it but does not use it.
func (s *Service) RegisterOnPremisesInstance(ctx context.Context, name, userArn, sessionArn string) error {
	if err := checkInstanceName(name); err != nil {
		return err
	}
	switch {
	case userArn == "" && sessionArn == "":
		return errorf(CodeIamArnRequired, "give iamUserArn or iamSessionArn (Conveyor does not use it; agents register with `conveyor agent --token`)")
	case userArn != "" && sessionArn != "":
		return errorf(CodeMultipleIamArns, "give iamUserArn or iamSessionArn, not both")
	}
	return s.db.Write(ctx, func(tx *store.Tx) error {
		cur, err := tx.GetInstance(ctx, name)
		if err == nil && cur.Deregistered.IsZero() {
			return errorf(CodeInstanceNameAlreadyExists, "instance %s is registered already", name)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.PutInstance(ctx, store.Instance{Name: name, ID: uuid.NewString(), IAMUserArn: userArn, IAMSessionArn: sessionArn,
			Tags: map[string]string{}, Registered: tx.Now()})
	})
}

func (s *Service) instanceInfo(i store.Instance) InstanceInfo {
	info := InstanceInfo{InstanceName: i.Name, IAMSessionArn: i.IAMSessionArn, IAMUserArn: i.IAMUserArn, InstanceArn: s.instanceArn(i.Name),
		RegisterTime: ts(i.Registered), DeregisterTime: ts(i.Deregistered), Tags: sortedTags(i.Tags)}
	return info
}

func sortedTags(m map[string]string) []Tag {
	out := []Tag{}
	for k, v := range m {
		out = append(out, Tag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (s *Service) instance(ctx context.Context, tx *store.Tx, name string) (store.Instance, error) {
	if name == "" {
		return store.Instance{}, errorf("InstanceNameRequiredException", "the instance name is required")
	}
	i, err := tx.GetInstance(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return i, errorf(CodeInstanceNotRegistered, "instance %s is not registered", name)
	}
	return i, err
}

// GetOnPremisesInstance reads an instance.
func (s *Service) GetOnPremisesInstance(ctx context.Context, name string) (InstanceInfo, error) {
	i, err := s.instance(ctx, s.db.Read(), name)
	if err != nil {
		return InstanceInfo{}, err
	}
	return s.instanceInfo(i), nil
}

// BatchGetOnPremisesInstances reads instances; unknown names are left out.
func (s *Service) BatchGetOnPremisesInstances(ctx context.Context, names []string) ([]InstanceInfo, error) {
	if len(names) > 100 {
		return nil, errorf(CodeBatchLimitExceeded, "at most 100 instances at once")
	}
	out := []InstanceInfo{}
	for _, n := range names {
		i, err := s.db.Read().GetInstance(ctx, n)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s.instanceInfo(i))
	}
	return out, nil
}

// ListOnPremisesInstances lists instance names, by registration status (Registered, Deregistered)
// and tag filters (an instance matches when it matches any filter).
func (s *Service) ListOnPremisesInstances(ctx context.Context, status string, filters []TagFilter, token string) ([]string, string, error) {
	switch status {
	case "", "Registered", "Deregistered":
	default:
		return nil, "", errorf(CodeInvalidRegistrationStatus, "registrationStatus %q is not Registered or Deregistered", status)
	}
	if err := validateFilters(filters, "tagFilters"); err != nil {
		return nil, "", err
	}
	all, err := s.db.Read().ListInstances(ctx)
	if err != nil {
		return nil, "", err
	}
	var names []string
	for _, i := range all {
		dereg := !i.Deregistered.IsZero()
		if (status == "Registered" && dereg) || (status == "Deregistered" && !dereg) {
			continue
		}
		if len(filters) > 0 && !anyFilter(filters, i.Tags) {
			continue
		}
		names = append(names, i.Name)
	}
	return page(names, token)
}

// TagInstances adds (or, with remove, removes) tags on instances; every instance must exist.
func (s *Service) TagInstances(ctx context.Context, names []string, tags []Tag, remove bool) error {
	if len(tags) == 0 {
		return errorf(CodeTagRequired, "no tags given")
	}
	if len(names) == 0 {
		return errorf("InstanceNameRequiredException", "no instance names given")
	}
	for _, t := range tags {
		if t.Key == "" {
			return errorf(CodeInvalidTag, "a tag needs a Key")
		}
	}
	return s.db.Write(ctx, func(tx *store.Tx) error {
		for _, n := range names {
			i, err := s.instance(ctx, tx, n)
			if err != nil {
				return err
			}
			for _, t := range tags {
				if remove {
					if v, ok := i.Tags[t.Key]; ok && (t.Value == "" || t.Value == v) {
						delete(i.Tags, t.Key)
					}
				} else {
					i.Tags[t.Key] = t.Value
				}
			}
			if err := checkTags(i.Tags); err != nil {
				return err
			}
			if err := tx.SetInstanceTags(ctx, n, i.Tags); err != nil {
				return err
			}
		}
		return nil
	})
}

// RevokeAgent refuses an instance's agent from now on (deregister: also marks the instance
// deregistered, as DeregisterOnPremisesInstance does). Commands it holds are failed when their
// lease runs out.
func (s *Service) RevokeAgent(ctx context.Context, name string, deregister bool) error {
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := s.instance(ctx, tx, name); err != nil {
			return err
		}
		return tx.RevokeInstance(ctx, name, deregister)
	})
	if err == nil {
		s.log.Info("agent revoked", "instance", name, "deregistered", deregister)
	}
	return err
}

// Agent is an instance as `conveyor agents list` shows it.
type Agent struct {
	Name          string            `json:"name"`
	Tags          map[string]string `json:"tags"`
	Version       string            `json:"version,omitempty"`
	Hostname      string            `json:"hostname,omitempty"`
	OS            string            `json:"os,omitempty"`
	Arch          string            `json:"arch,omitempty"`
	Registered    time.Time         `json:"registered"`
	LastHeartbeat *time.Time        `json:"lastHeartbeat,omitempty"`
	Revoked       bool              `json:"revoked,omitempty"`
	Deregistered  bool              `json:"deregistered,omitempty"`
	HasAgent      bool              `json:"hasAgent"`
	Work          []Work            `json:"work"`
}

// Work is a command an agent runs now.
type Work struct {
	DeploymentID string `json:"deploymentId"`
	Event        string `json:"event,omitempty"` // the lifecycle event running, if any
}

// ListAgents lists instances with their agents' state and current work.
func (s *Service) ListAgents(ctx context.Context) ([]Agent, error) {
	tx := s.db.Read()
	all, err := tx.ListInstances(ctx)
	if err != nil {
		return nil, err
	}
	open, err := tx.OpenTargets(ctx, "")
	if err != nil {
		return nil, err
	}
	work := map[string][]Work{}
	for _, t := range open {
		w := Work{DeploymentID: t.DeploymentID}
		if ev, err := decodeEvents(t); err == nil {
			for _, e := range ev {
				if e.Status == TargetInProgress {
					w.Event = e.LifecycleEventName
				}
			}
		}
		work[t.Instance] = append(work[t.Instance], w)
	}
	out := []Agent{}
	for _, i := range all {
		a := Agent{Name: i.Name, Tags: i.Tags, Version: i.AgentVersion, Hostname: i.Hostname, OS: i.OS, Arch: i.Arch,
			Registered: i.Registered, Revoked: i.Revoked, Deregistered: !i.Deregistered.IsZero(), HasAgent: i.AgentID != "",
			Work: work[i.Name]}
		if a.Work == nil {
			a.Work = []Work{}
		}
		if seen := s.lastSeen(i); !seen.IsZero() {
			a.LastHeartbeat = &seen
		}
		out = append(out, a)
	}
	return out, nil
}
