package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/store"
)

// ComputePlatformServer is the only compute platform so far (hosts running the agent).
const ComputePlatformServer = "Server"

var groupNamePattern = regexp.MustCompile(`^[A-Za-z0-9._+=,@-]{1,100}$`)

// pageSize is how many names a List* operation returns at most.
const pageSize = 100

// page returns the names after the one a nextToken names, and the token of the next page.
func page(names []string, token string) ([]string, string, error) {
	start := 0
	if token != "" {
		last, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", errorf(CodeInvalidNextToken, "the nextToken is not one this server returned")
		}
		start = sort.SearchStrings(names, string(last))
		if start < len(names) && names[start] == string(last) {
			start++
		}
	}
	end := min(start+pageSize, len(names))
	out := append([]string{}, names[start:end]...)
	if end < len(names) {
		return out, base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1])), nil
	}
	return out, "", nil
}

func checkPlatform(p string) (string, error) {
	switch p {
	case "", ComputePlatformServer:
		return ComputePlatformServer, nil
	case "Lambda", "ECS":
		return "", errorf(CodeInvalidComputePlatform, "compute platform %s is not supported: Conveyor deploys to hosts running `conveyor agent` (Server)", p)
	}
	return "", errorf(CodeInvalidComputePlatform, "compute platform %q is not one of Server, Lambda, ECS", p)
}

func checkApplicationName(name string) error {
	if name == "" {
		return errorf("ApplicationNameRequiredException", "the application name is required")
	}
	if utf8.RuneCountInString(name) > 100 {
		return errorf(CodeInvalidApplicationName, "the application name %q is longer than 100 characters", name)
	}
	return nil
}

func (s *Service) applicationArn(name string) string {
	return fmt.Sprintf("arn:aws:codedeploy:%s:000000000000:application:%s", s.region, name)
}

func (s *Service) groupArn(app, name string) string {
	return fmt.Sprintf("arn:aws:codedeploy:%s:000000000000:deploymentgroup:%s/%s", s.region, app, name)
}

func toStoreTags(tags []Tag) []store.Tag {
	out := make([]store.Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, store.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

// --- applications ---

// CreateApplication creates an application and returns its id.
func (s *Service) CreateApplication(ctx context.Context, name, platform string, tags []Tag) (string, error) {
	if err := checkApplicationName(name); err != nil {
		return "", err
	}
	platform, err := checkPlatform(platform)
	if err != nil {
		return "", err
	}
	a := store.DeployApplication{Name: name, ID: uuid.NewString(), ComputePlatform: platform}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateDeployApplication(ctx, a); err != nil {
			return err
		}
		if len(tags) > 0 {
			return tx.SetTags(ctx, s.applicationArn(name), toStoreTags(tags))
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return "", errorf(CodeApplicationAlreadyExists, "application %s already exists", name)
	}
	return a.ID, err
}

func applicationInfo(a store.DeployApplication) ApplicationInfo {
	return ApplicationInfo{ApplicationID: a.ID, ApplicationName: a.Name, CreateTime: ts(a.Created), ComputePlatform: a.ComputePlatform}
}

func (s *Service) application(ctx context.Context, tx *store.Tx, name string) (store.DeployApplication, error) {
	if err := checkApplicationName(name); err != nil {
		return store.DeployApplication{}, err
	}
	a, err := tx.GetDeployApplication(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return a, errorf(CodeApplicationDoesNotExist, "application %s does not exist", name)
	}
	return a, err
}

// GetApplication reads an application.
func (s *Service) GetApplication(ctx context.Context, name string) (ApplicationInfo, error) {
	a, err := s.application(ctx, s.db.Read(), name)
	if err != nil {
		return ApplicationInfo{}, err
	}
	return applicationInfo(a), nil
}

// BatchGetApplications reads applications; missing ones are an error, as in CodeDeploy.
func (s *Service) BatchGetApplications(ctx context.Context, names []string) ([]ApplicationInfo, error) {
	if len(names) > 100 {
		return nil, errorf(CodeBatchLimitExceeded, "at most 100 applications at once")
	}
	out := []ApplicationInfo{}
	for _, n := range names {
		a, err := s.GetApplication(ctx, n)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// ListApplications lists application names, a page at a time.
func (s *Service) ListApplications(ctx context.Context, token string) ([]string, string, error) {
	apps, err := s.db.Read().ListDeployApplications(ctx)
	if err != nil {
		return nil, "", err
	}
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	return page(names, token)
}

// DeleteApplication deletes an application with its groups and their deployment history. It is
// refused while one of its deployments is queued or running.
func (s *Service) DeleteApplication(ctx context.Context, name string) error {
	return s.change(ctx, func(tx *store.Tx, _ *effects) error {
		if _, err := s.application(ctx, tx, name); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Code == CodeApplicationDoesNotExist {
				return nil // DeleteApplication of a missing application succeeds, as in CodeDeploy
			}
			return err
		}
		groups, err := tx.ListDeployGroups(ctx, name)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if err := refuseActive(ctx, tx, g); err != nil {
				return err
			}
			if err := tx.DeleteTags(ctx, s.groupArn(name, g.Name)); err != nil {
				return err
			}
		}
		if err := tx.DeleteTags(ctx, s.applicationArn(name)); err != nil {
			return err
		}
		return tx.DeleteDeployApplication(ctx, name)
	})
}

func refuseActive(ctx context.Context, tx *store.Tx, g store.DeployGroup) error {
	active, err := tx.ActiveDeployments(ctx, g.ID)
	if err != nil {
		return err
	}
	if len(active) > 0 {
		return errorf(CodeInvalidOperation, "deployment %s of group %s is %s; stop it first (conveyor deploy stop %s)",
			active[0].ID, g.Name, active[0].Status, active[0].ID)
	}
	return nil
}

// --- deployment groups ---

// CreateDeploymentGroupInput is CreateDeploymentGroup's request. Members of the model that
// Conveyor has no use for yet (EC2 and Auto Scaling targets, load balancers, blue/green, ECS,
// triggers) are refused when set rather than silently ignored.
type CreateDeploymentGroupInput struct {
	ApplicationName     string `json:"applicationName"`
	DeploymentGroupName string `json:"deploymentGroupName"`
	GroupSettings
	Tags []Tag `json:"tags,omitempty"`

	EC2TagFilters                    json.RawMessage `json:"ec2TagFilters,omitempty"`
	EC2TagSet                        json.RawMessage `json:"ec2TagSet,omitempty"`
	AutoScalingGroups                json.RawMessage `json:"autoScalingGroups,omitempty"`
	LoadBalancerInfo                 json.RawMessage `json:"loadBalancerInfo,omitempty"`
	BlueGreenDeploymentConfiguration json.RawMessage `json:"blueGreenDeploymentConfiguration,omitempty"`
	ECSServices                      json.RawMessage `json:"ecsServices,omitempty"`
	TriggerConfigurations            json.RawMessage `json:"triggerConfigurations,omitempty"`
	TerminationHookEnabled           bool            `json:"terminationHookEnabled,omitempty"`
}

// setRaw says whether a raw member holds something (not absent, null, [] or {}).
func setRaw(r json.RawMessage) bool {
	t := string(bytes.TrimSpace(r))
	return t != "" && t != "null" && t != "[]" && t != "{}"
}

func (in *CreateDeploymentGroupInput) refuseUnsupported() error {
	switch {
	case setRaw(in.EC2TagFilters) || setRaw(in.EC2TagSet):
		return errorf(CodeInvalidEC2Tag, "Conveyor has no EC2 instances: select hosts with onPremisesInstanceTagFilters or onPremisesTagSet (the tags agents register with)")
	case setRaw(in.AutoScalingGroups) || in.TerminationHookEnabled:
		return errorf("InvalidAutoScalingGroupException", "Conveyor has no Auto Scaling groups: hosts are the agents selected by onPremisesInstanceTagFilters")
	case setRaw(in.LoadBalancerInfo):
		return errorf("InvalidLoadBalancerInfoException", "load balancers are not supported yet")
	case setRaw(in.BlueGreenDeploymentConfiguration):
		return errorf("InvalidBlueGreenDeploymentConfigurationException", "blue/green deployments are not supported yet")
	case setRaw(in.ECSServices):
		return errorf("InvalidECSServiceException", "ECS services are not supported: Conveyor deploys to hosts running `conveyor agent`")
	case setRaw(in.TriggerConfigurations):
		return errorf("InvalidTriggerConfigException", "trigger configurations (SNS notifications) are not supported")
	}
	return nil
}

func validateFilters(filters []TagFilter, where string) error {
	for i, f := range filters {
		switch f.Type {
		case "", FilterKeyAndValue:
			if f.Key == "" && f.Value == "" {
				return errorf(CodeInvalidTag, "%s[%d]: a tag filter needs a Key, a Value or both", where, i)
			}
		case FilterKeyOnly:
			if f.Key == "" {
				return errorf(CodeInvalidTag, "%s[%d]: a KEY_ONLY filter needs a Key", where, i)
			}
		case FilterValueOnly:
			if f.Value == "" {
				return errorf(CodeInvalidTag, "%s[%d]: a VALUE_ONLY filter needs a Value", where, i)
			}
		default:
			return errorf(CodeInvalidTag, "%s[%d]: Type %q is not KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE", where, i, f.Type)
		}
	}
	return nil
}

// validate checks a group's settings (the configuration name is checked against the store).
func (g *GroupSettings) validate() error {
	if len(g.OnPremisesInstanceTagFilters) > 0 && g.OnPremisesTagSet != nil && len(g.OnPremisesTagSet.OnPremisesTagSetList) > 0 {
		return errorf(CodeInvalidOnPremTagCombo, "use onPremisesInstanceTagFilters or onPremisesTagSet, not both")
	}
	if err := validateFilters(g.OnPremisesInstanceTagFilters, "onPremisesInstanceTagFilters"); err != nil {
		return err
	}
	if g.OnPremisesTagSet != nil {
		if len(g.OnPremisesTagSet.OnPremisesTagSetList) > 3 {
			return errorf("TagSetListLimitExceededException", "onPremisesTagSet holds at most 3 lists of filters")
		}
		for i, list := range g.OnPremisesTagSet.OnPremisesTagSetList {
			if err := validateFilters(list, fmt.Sprintf("onPremisesTagSet.onPremisesTagSetList[%d]", i)); err != nil {
				return err
			}
		}
	}
	if r := g.AutoRollbackConfiguration; r != nil {
		if r.Enabled && len(r.Events) == 0 {
			return errorf(CodeInvalidAutoRollbackConfig, "automatic rollback is enabled but names no events (DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_REQUEST, DEPLOYMENT_STOP_ON_ALARM)")
		}
		for _, e := range r.Events {
			if e != RollbackOnFailure && e != RollbackOnRequest && e != RollbackOnAlarm {
				return errorf(CodeInvalidAutoRollbackConfig, "rollback event %q is not DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_REQUEST or DEPLOYMENT_STOP_ON_ALARM", e)
			}
		}
	}
	if st := g.DeploymentStyle; st != nil {
		if st.DeploymentType != "" && st.DeploymentType != "IN_PLACE" && st.DeploymentType != "BLUE_GREEN" {
			return errorf(CodeInvalidDeploymentStyle, "deploymentType %q is not IN_PLACE or BLUE_GREEN", st.DeploymentType)
		}
		if st.DeploymentOption != "" && st.DeploymentOption != "WITHOUT_TRAFFIC_CONTROL" && st.DeploymentOption != "WITH_TRAFFIC_CONTROL" {
			return errorf(CodeInvalidDeploymentStyle, "deploymentOption %q is not WITH_TRAFFIC_CONTROL or WITHOUT_TRAFFIC_CONTROL", st.DeploymentOption)
		}
		if st.DeploymentType == "BLUE_GREEN" || st.DeploymentOption == "WITH_TRAFFIC_CONTROL" {
			return errorf(CodeInvalidDeploymentStyle, "only IN_PLACE deployments WITHOUT_TRAFFIC_CONTROL are supported so far")
		}
	}
	switch g.OutdatedInstancesStrategy {
	case "", "UPDATE", "IGNORE":
	default:
		return errorf(CodeInvalidInput, "outdatedInstancesStrategy %q is not UPDATE or IGNORE", g.OutdatedInstancesStrategy)
	}
	return nil
}

// matches says whether an instance with these tags belongs to the group: it matches any of the
// filters, or (tag set) some filter of every list.
func (g *GroupSettings) matches(tags map[string]string) bool {
	if len(g.OnPremisesInstanceTagFilters) > 0 {
		return anyFilter(g.OnPremisesInstanceTagFilters, tags)
	}
	if g.OnPremisesTagSet == nil || len(g.OnPremisesTagSet.OnPremisesTagSetList) == 0 {
		return false
	}
	for _, list := range g.OnPremisesTagSet.OnPremisesTagSetList {
		if len(list) > 0 && !anyFilter(list, tags) {
			return false
		}
	}
	return true
}

func anyFilter(filters []TagFilter, tags map[string]string) bool {
	for _, f := range filters {
		if f.matches(tags) {
			return true
		}
	}
	return false
}

func (f TagFilter) matches(tags map[string]string) bool {
	typ := f.Type
	if typ == "" {
		switch {
		case f.Value == "":
			typ = FilterKeyOnly
		case f.Key == "":
			typ = FilterValueOnly
		default:
			typ = FilterKeyAndValue
		}
	}
	switch typ {
	case FilterKeyOnly:
		_, ok := tags[f.Key]
		return ok
	case FilterValueOnly:
		for _, v := range tags {
			if v == f.Value {
				return true
			}
		}
		return false
	}
	v, ok := tags[f.Key]
	return ok && v == f.Value
}

// Validate checks a group's settings as CreateDeploymentGroup does (whether the configuration it
// names exists is checked by the server).
func (g *GroupSettings) Validate() error { return g.validate() }

// CheckGroupName checks a deployment group name.
func CheckGroupName(name string) error { return checkGroupName(name) }

// CheckApplicationName checks an application name.
func CheckApplicationName(name string) error { return checkApplicationName(name) }

func checkGroupName(name string) error {
	if name == "" {
		return errorf(CodeGroupNameRequired, "the deployment group name is required")
	}
	if !groupNamePattern.MatchString(name) {
		return errorf(CodeInvalidGroupName, "deployment group name %q: 1-100 letters, digits and . _ + = , @ -", name)
	}
	return nil
}

// config resolves a configuration name (predefined or custom).
func (s *Service) config(ctx context.Context, tx *store.Tx, name string) (DeploymentConfig, error) {
	if c, ok := predefinedConfig(name); ok {
		return c, nil
	}
	c, err := tx.GetDeployConfig(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return DeploymentConfig{}, errorf(CodeConfigDoesNotExist, "deployment config %s does not exist; the predefined ones are %s, %s and %s",
			name, ConfigOneAtATime, ConfigHalfAtATime, ConfigAllAtOnce)
	}
	if err != nil {
		return DeploymentConfig{}, err
	}
	return DeploymentConfig{Name: c.Name, ID: c.ID, ComputePlatform: c.ComputePlatform, Created: c.Created,
		MinHealthy: MinimumHealthyHosts{Type: c.MinHealthyType, Value: c.MinHealthyValue}}, nil
}

// CreateDeploymentGroup creates a group and returns its id.
func (s *Service) CreateDeploymentGroup(ctx context.Context, in CreateDeploymentGroupInput) (string, error) {
	if err := checkGroupName(in.DeploymentGroupName); err != nil {
		return "", err
	}
	if err := in.refuseUnsupported(); err != nil {
		return "", err
	}
	if err := in.GroupSettings.validate(); err != nil {
		return "", err
	}
	id := uuid.NewString()
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		if _, err := s.application(ctx, tx, in.ApplicationName); err != nil {
			return err
		}
		if in.DeploymentConfigName != "" {
			if _, err := s.config(ctx, tx, in.DeploymentConfigName); err != nil {
				return err
			}
		}
		def, err := json.Marshal(in.GroupSettings)
		if err != nil {
			return err
		}
		if _, err := tx.CreateDeployGroup(ctx, store.DeployGroup{ID: id, Application: in.ApplicationName, Name: in.DeploymentGroupName, Definition: def}); err != nil {
			return err
		}
		if len(in.Tags) > 0 {
			return tx.SetTags(ctx, s.groupArn(in.ApplicationName, in.DeploymentGroupName), toStoreTags(in.Tags))
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return "", errorf(CodeGroupAlreadyExists, "deployment group %s already exists in application %s", in.DeploymentGroupName, in.ApplicationName)
	}
	return id, err
}

// group reads a group by application and name.
func (s *Service) group(ctx context.Context, tx *store.Tx, app, name string) (store.DeployGroup, GroupSettings, error) {
	if _, err := s.application(ctx, tx, app); err != nil {
		return store.DeployGroup{}, GroupSettings{}, err
	}
	if err := checkGroupName(name); err != nil {
		return store.DeployGroup{}, GroupSettings{}, err
	}
	g, err := tx.GetDeployGroup(ctx, app, name)
	if errors.Is(err, store.ErrNotFound) {
		return g, GroupSettings{}, errorf(CodeGroupDoesNotExist, "deployment group %s does not exist in application %s", name, app)
	}
	if err != nil {
		return g, GroupSettings{}, err
	}
	var set GroupSettings
	if err := json.Unmarshal(g.Definition, &set); err != nil {
		return g, set, fmt.Errorf("stored deployment group %s/%s: %w", app, name, err)
	}
	return g, set, nil
}

// UpdateDeploymentGroup changes the members of a group that the request carries (CodeDeploy's
// semantics: members not given keep their values; an empty list clears one) and renames it when
// newDeploymentGroupName is set.
func (s *Service) UpdateDeploymentGroup(ctx context.Context, raw []byte) error {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(raw, &req); err != nil {
		return errorf(CodeInvalidInput, "malformed request: %v", err)
	}
	str := func(k string) string {
		var v string
		_ = json.Unmarshal(req[k], &v)
		return v
	}
	app, cur, newName := str("applicationName"), str("currentDeploymentGroupName"), str("newDeploymentGroupName")
	if err := checkApplicationName(app); err != nil {
		return err
	}
	if newName != "" {
		if err := checkGroupName(newName); err != nil {
			return err
		}
	}
	return s.change(ctx, func(tx *store.Tx, _ *effects) error {
		g, set, err := s.group(ctx, tx, app, cur)
		if err != nil {
			return err
		}
		merged := map[string]json.RawMessage{}
		b, _ := json.Marshal(set)
		_ = json.Unmarshal(b, &merged)
		for k, v := range req {
			switch k {
			case "applicationName", "currentDeploymentGroupName", "newDeploymentGroupName":
				continue
			}
			merged[k] = v
		}
		mb, _ := json.Marshal(merged)
		var in CreateDeploymentGroupInput
		dec := json.NewDecoder(bytes.NewReader(mb))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			return errorf(CodeInvalidInput, "%v", err)
		}
		if err := in.refuseUnsupported(); err != nil {
			return err
		}
		if err := in.GroupSettings.validate(); err != nil {
			return err
		}
		if in.DeploymentConfigName != "" {
			if _, err := s.config(ctx, tx, in.DeploymentConfigName); err != nil {
				return err
			}
		}
		name := g.Name
		if newName != "" {
			name = newName
		}
		def, err := json.Marshal(in.GroupSettings)
		if err != nil {
			return err
		}
		err = tx.UpdateDeployGroup(ctx, g.ID, name, def)
		if errors.Is(err, store.ErrConflict) {
			return errorf(CodeGroupAlreadyExists, "deployment group %s already exists in application %s", name, app)
		}
		return err
	})
}

// GetDeploymentGroup reads a group with its last deployments.
func (s *Service) GetDeploymentGroup(ctx context.Context, app, name string) (DeploymentGroupInfo, error) {
	tx := s.db.Read()
	g, set, err := s.group(ctx, tx, app, name)
	if err != nil {
		return DeploymentGroupInfo{}, err
	}
	info := DeploymentGroupInfo{ApplicationName: app, DeploymentGroupID: g.ID, DeploymentGroupName: g.Name, GroupSettings: set,
		ComputePlatform: ComputePlatformServer}
	if info.DeploymentConfigName == "" {
		info.DeploymentConfigName = DefaultConfig
	}
	last := func(statuses ...string) (*LastDeploymentInfo, *store.Deployment, error) {
		d, err := tx.LastDeployment(ctx, g.ID, 0, statuses...)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		return &LastDeploymentInfo{DeploymentID: d.ID, Status: d.Status, EndTime: ts(d.Completed), CreateTime: ts(d.Created)}, &d, nil
	}
	if info.LastSuccessfulDeployment, _, err = last(StatusSucceeded); err != nil {
		return DeploymentGroupInfo{}, err
	}
	var attempted *store.Deployment
	if info.LastAttemptedDeployment, attempted, err = last(); err != nil {
		return DeploymentGroupInfo{}, err
	}
	if attempted != nil {
		if rev, err := decodeRevision(attempted.Revision); err == nil {
			info.TargetRevision = &rev.Location
		}
	}
	return info, nil
}

// BatchGetDeploymentGroups reads groups of one application; missing names are returned apart.
func (s *Service) BatchGetDeploymentGroups(ctx context.Context, app string, names []string) ([]DeploymentGroupInfo, error) {
	if len(names) > 100 {
		return nil, errorf(CodeBatchLimitExceeded, "at most 100 deployment groups at once")
	}
	out := []DeploymentGroupInfo{}
	for _, n := range names {
		g, err := s.GetDeploymentGroup(ctx, app, n)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// ListDeploymentGroups lists an application's group names.
func (s *Service) ListDeploymentGroups(ctx context.Context, app, token string) ([]string, string, error) {
	tx := s.db.Read()
	if _, err := s.application(ctx, tx, app); err != nil {
		return nil, "", err
	}
	groups, err := tx.ListDeployGroups(ctx, app)
	if err != nil {
		return nil, "", err
	}
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
	}
	return page(names, token)
}

// DeleteDeploymentGroup deletes a group and its deployment history; refused while one of its
// deployments is queued or running. A missing group is not an error (as in CodeDeploy).
func (s *Service) DeleteDeploymentGroup(ctx context.Context, app, name string) error {
	return s.change(ctx, func(tx *store.Tx, _ *effects) error {
		g, _, err := s.group(ctx, tx, app, name)
		var e *Error
		if errors.As(err, &e) && e.Code == CodeGroupDoesNotExist {
			return nil
		}
		if err != nil {
			return err
		}
		if err := refuseActive(ctx, tx, g); err != nil {
			return err
		}
		if err := tx.DeleteTags(ctx, s.groupArn(app, name)); err != nil {
			return err
		}
		return tx.DeleteDeployGroup(ctx, g.ID)
	})
}

// --- deployment configurations ---

// CheckDeploymentConfig checks a custom configuration's name and minimum as
// CreateDeploymentConfig does.
func CheckDeploymentConfig(name string, m *MinimumHealthyHosts) error {
	switch {
	case name == "":
		return errorf("DeploymentConfigNameRequiredException", "the deployment config name is required")
	case utf8.RuneCountInString(name) > 100:
		return errorf(CodeInvalidConfigName, "deployment config name %q is longer than 100 characters", name)
	case strings.HasPrefix(name, "CodeDeployDefault."):
		return errorf(CodeInvalidConfigName, "names starting with CodeDeployDefault. are reserved for the predefined configs")
	}
	if m == nil {
		return errorf(CodeInvalidMinimumHealthy, "minimumHealthyHosts is required for the Server compute platform")
	}
	switch m.Type {
	case HostCount:
		if m.Value < 0 {
			return errorf(CodeInvalidMinimumHealthy, "minimumHealthyHosts.value: a HOST_COUNT must be 0 or more, not %d", m.Value)
		}
	case FleetPercent:
		if m.Value < 0 || m.Value > 100 {
			return errorf(CodeInvalidMinimumHealthy, "minimumHealthyHosts.value: a FLEET_PERCENT must be between 0 and 100, not %d", m.Value)
		}
	default:
		return errorf(CodeInvalidMinimumHealthy, "minimumHealthyHosts.type: %q is not HOST_COUNT or FLEET_PERCENT", m.Type)
	}
	return nil
}

// CreateDeploymentConfig creates a custom configuration and returns its id.
func (s *Service) CreateDeploymentConfig(ctx context.Context, name string, m *MinimumHealthyHosts, platform string) (string, error) {
	if err := CheckDeploymentConfig(name, m); err != nil {
		return "", err
	}
	platform, err := checkPlatform(platform)
	if err != nil {
		return "", err
	}
	c := store.DeployConfig{Name: name, ID: uuid.NewString(), ComputePlatform: platform, MinHealthyType: m.Type, MinHealthyValue: m.Value}
	err = s.db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.CreateDeployConfig(ctx, c)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return "", errorf(CodeConfigAlreadyExists, "deployment config %s already exists", name)
	}
	return c.ID, err
}

// GetDeploymentConfig reads a configuration, predefined or custom.
func (s *Service) GetDeploymentConfig(ctx context.Context, name string) (DeploymentConfigInfo, error) {
	if name == "" {
		return DeploymentConfigInfo{}, errorf("DeploymentConfigNameRequiredException", "the deployment config name is required")
	}
	c, err := s.config(ctx, s.db.Read(), name)
	if err != nil {
		return DeploymentConfigInfo{}, err
	}
	return DeploymentConfigInfo{DeploymentConfigID: c.ID, DeploymentConfigName: c.Name, MinimumHealthyHosts: c.MinHealthy,
		CreateTime: ts(c.Created), ComputePlatform: c.ComputePlatform}, nil
}

// ListDeploymentConfigs lists the predefined and custom configuration names.
func (s *Service) ListDeploymentConfigs(ctx context.Context, token string) ([]string, string, error) {
	custom, err := s.db.Read().ListDeployConfigs(ctx)
	if err != nil {
		return nil, "", err
	}
	var names []string
	for _, c := range predefinedConfigs {
		names = append(names, c.Name)
	}
	for _, c := range custom {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return page(names, token)
}
