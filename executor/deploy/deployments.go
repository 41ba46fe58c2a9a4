package deploy

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/store"
)

// storedRevision is a deployment's revision: where it was named and the blob it resolved to when
// the deployment was created (a later upload to the same key does not change a deployment).
type storedRevision struct {
	Location   RevisionLocation `json:"location"`
	SHA256     string           `json:"sha256"`
	Size       int64            `json:"size"`
	BundleType string           `json:"bundleType"`
	Version    string           `json:"version,omitempty"`
	ETag       string           `json:"eTag,omitempty"`
}

func decodeRevision(b []byte) (storedRevision, error) {
	var r storedRevision
	err := json.Unmarshal(b, &r)
	return r, err
}

// detail is what a deployment stores beside its columns.
type detail struct {
	Description                   string                     `json:"description,omitempty"`
	IgnoreApplicationStopFailures bool                       `json:"ignoreApplicationStopFailures,omitempty"`
	AutoRollback                  *AutoRollbackConfiguration `json:"autoRollback,omitempty"`
	FileExistsBehavior            string                     `json:"fileExistsBehavior,omitempty"`
	DeploymentStyle               *DeploymentStyle           `json:"deploymentStyle,omitempty"`
	UpdateOutdatedInstancesOnly   bool                       `json:"updateOutdatedInstancesOnly,omitempty"`
	OverrideAlarmConfiguration    *AlarmConfiguration        `json:"overrideAlarmConfiguration,omitempty"`
	PreviousRevision              *RevisionLocation          `json:"previousRevision,omitempty"`
	ErrorInformation              *ErrorInformation          `json:"errorInformation,omitempty"`
	RollbackInfo                  *RollbackInfo              `json:"rollbackInfo,omitempty"`
	StatusMessages                []string                   `json:"statusMessages,omitempty"`
	// Plan is the configuration applied to the fleet, fixed when the deployment starts.
	Plan *Plan `json:"plan,omitempty"`
	// Hosts are a rollback's hosts: those that received the failed revision.
	Hosts []string `json:"hosts,omitempty"`
	// StopRollback is StopDeployment's autoRollbackEnabled, when given.
	StopRollback *bool  `json:"stopRollback,omitempty"`
	StoppedBy    string `json:"stoppedBy,omitempty"`
	// Failing: the rules failed the deployment; hosts in flight are being stopped.
	Failing bool `json:"failing,omitempty"`
}

func decodeDetail(d *store.Deployment) (detail, error) {
	var det detail
	if err := json.Unmarshal(d.Detail, &det); err != nil {
		return det, fmt.Errorf("stored deployment %s: %w", d.ID, err)
	}
	return det, nil
}

func (det *detail) encode(d *store.Deployment) {
	d.Detail, _ = json.Marshal(det)
}

// CreateDeploymentInput is CreateDeployment's request, plus what a pipeline action sets.
type CreateDeploymentInput struct {
	ApplicationName               string                     `json:"applicationName"`
	DeploymentGroupName           string                     `json:"deploymentGroupName"`
	Revision                      *RevisionLocation          `json:"revision"`
	DeploymentConfigName          string                     `json:"deploymentConfigName"`
	Description                   string                     `json:"description"`
	IgnoreApplicationStopFailures bool                       `json:"ignoreApplicationStopFailures"`
	AutoRollbackConfiguration     *AutoRollbackConfiguration `json:"autoRollbackConfiguration"`
	UpdateOutdatedInstancesOnly   bool                       `json:"updateOutdatedInstancesOnly"`
	FileExistsBehavior            string                     `json:"fileExistsBehavior"`
	TargetInstances               json.RawMessage            `json:"targetInstances"`
	OverrideAlarmConfiguration    *AlarmConfiguration        `json:"overrideAlarmConfiguration"`

	// Creator is user (the API) or CodePipeline (the pipeline action).
	Creator string `json:"-"`
	// ExternalID makes creation idempotent: a second call with the same id returns the first
	// deployment (the pipeline action passes its action execution id).
	ExternalID string `json:"-"`
}

const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newDeploymentID returns d- and 9 random letters and digits, as CodeDeploy's ids are.
func newDeploymentID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return "d-" + string(b)
}

func bundleTypeOf(loc *S3Location) (string, error) {
	switch strings.ToLower(loc.BundleType) {
	case "zip", "tar", "tgz":
		return strings.ToLower(loc.BundleType), nil
	case "":
	default:
		return "", errorf(CodeInvalidRevision, "bundleType %q: use zip, tar or tgz (YAML and JSON revisions are for Lambda and ECS)", loc.BundleType)
	}
	k := strings.ToLower(loc.Key)
	switch {
	case strings.HasSuffix(k, ".tar"):
		return "tar", nil
	case strings.HasSuffix(k, ".tgz"), strings.HasSuffix(k, ".tar.gz"):
		return "tgz", nil
	}
	return "zip", nil
}

// resolveRevision finds the blob a revision location names.
func (s *Service) resolveRevision(ctx context.Context, tx *store.Tx, rev *RevisionLocation) (storedRevision, error) {
	if rev == nil {
		return storedRevision{}, errorf(CodeRevisionRequired, "a revision is required: {revisionType: S3, s3Location: {bucket, key}}")
	}
	switch rev.RevisionType {
	case "S3":
	case "GitHub":
		return storedRevision{}, errorf(CodeInvalidRevision, "GitHub revisions are not supported: upload the bundle (conveyor upload BUCKET/KEY FILE.zip) and name it with revisionType S3")
	default:
		return storedRevision{}, errorf(CodeInvalidRevision, "revisionType %q is not supported: use S3 (a bucket and key of Conveyor's object store)", rev.RevisionType)
	}
	loc := rev.S3Location
	if loc == nil || loc.Bucket == "" || loc.Key == "" {
		return storedRevision{}, errorf(CodeInvalidRevision, "an S3 revision needs s3Location.bucket and s3Location.key")
	}
	bt, err := bundleTypeOf(loc)
	if err != nil {
		return storedRevision{}, err
	}
	out := storedRevision{Location: *rev, BundleType: bt}
	out.Location.S3Location = &S3Location{Bucket: loc.Bucket, Key: loc.Key, BundleType: bt, Version: loc.Version, ETag: loc.ETag}
	if loc.Bucket == ArtifactBucket {
		p, err := s.blobs.Path(loc.Key)
		if err == nil {
			var size int64
			size, err = fileSize(p)
			out.SHA256, out.Size = loc.Key, size
		}
		if err != nil {
			return storedRevision{}, errorf(CodeRevisionDoesNotExist, "there is no artifact with SHA-256 %s", loc.Key)
		}
		return out, nil
	}
	obj, err := tx.GetObject(ctx, loc.Bucket, loc.Key, loc.Version)
	if errors.Is(err, store.ErrNotFound) {
		what := "s3://" + loc.Bucket + "/" + loc.Key
		if loc.Version != "" {
			what += " version " + loc.Version
		}
		return storedRevision{}, errorf(CodeRevisionDoesNotExist, "the revision %s does not exist; upload it with: conveyor upload %s/%s FILE.zip", what, loc.Bucket, loc.Key)
	}
	if err != nil {
		return storedRevision{}, err
	}
	if loc.ETag != "" && strings.Trim(loc.ETag, `"`) != obj.ETag {
		return storedRevision{}, errorf(CodeRevisionDoesNotExist, "s3://%s/%s has eTag %s, not %s", loc.Bucket, loc.Key, obj.ETag, loc.ETag)
	}
	out.SHA256, out.Size, out.Version, out.ETag = obj.SHA256, obj.Size, obj.VersionID, obj.ETag
	out.Location.S3Location.Version, out.Location.S3Location.ETag = obj.VersionID, obj.ETag
	return out, nil
}

func checkFileExistsBehavior(b string) error {
	switch b {
	case "", "DISALLOW", "OVERWRITE", "RETAIN":
		return nil
	}
	return errorf(CodeInvalidFileExistsBehavior, "fileExistsBehavior %q is not DISALLOW, OVERWRITE or RETAIN", b)
}

// CreateDeployment queues a deployment of a revision to a group and starts it at once when no
// other deployment of the group is running. It returns the deployment id.
func (s *Service) CreateDeployment(ctx context.Context, in CreateDeploymentInput) (string, error) {
	if in.DeploymentGroupName == "" {
		return "", errorf(CodeGroupNameRequired, "deploymentGroupName is required")
	}
	if setRaw(in.TargetInstances) {
		return "", errorf("InvalidTargetInstancesException", "targetInstances is for blue/green deployments, which are not supported yet")
	}
	if err := checkFileExistsBehavior(in.FileExistsBehavior); err != nil {
		return "", err
	}
	if in.AutoRollbackConfiguration != nil {
		if err := (&GroupSettings{AutoRollbackConfiguration: in.AutoRollbackConfiguration}).validate(); err != nil {
			return "", err
		}
	}
	if in.Creator == "" {
		in.Creator = CreatorUser
	}
	var id string
	err := s.change(ctx, func(tx *store.Tx, fx *effects) error {
		if in.ExternalID != "" {
			if d, err := tx.DeploymentByExternalID(ctx, in.ExternalID); err == nil {
				id = d.ID
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		g, set, err := s.group(ctx, tx, in.ApplicationName, in.DeploymentGroupName)
		if err != nil {
			return err
		}
		rev, err := s.resolveRevision(ctx, tx, in.Revision)
		if err != nil {
			return err
		}
		cfgName := in.DeploymentConfigName
		if cfgName == "" {
			cfgName = set.DeploymentConfigName
		}
		if cfgName == "" {
			cfgName = DefaultConfig
		}
		if _, err := s.config(ctx, tx, cfgName); err != nil {
			return err
		}
		det := detail{Description: in.Description, IgnoreApplicationStopFailures: in.IgnoreApplicationStopFailures,
			AutoRollback: set.AutoRollbackConfiguration, FileExistsBehavior: in.FileExistsBehavior, DeploymentStyle: set.DeploymentStyle,
			UpdateOutdatedInstancesOnly: in.UpdateOutdatedInstancesOnly, OverrideAlarmConfiguration: in.OverrideAlarmConfiguration}
		if in.AutoRollbackConfiguration != nil {
			det.AutoRollback = in.AutoRollbackConfiguration
		}
		if det.DeploymentStyle == nil {
			det.DeploymentStyle = &DeploymentStyle{DeploymentType: "IN_PLACE", DeploymentOption: "WITHOUT_TRAFFIC_CONTROL"}
		}
		if last, err := tx.LastDeployment(ctx, g.ID, 0, StatusSucceeded); err == nil {
			if prev, err := decodeRevision(last.Revision); err == nil {
				det.PreviousRevision = &prev.Location
			}
		}
		d, err := s.insertDeployment(ctx, tx, store.Deployment{Application: g.Application, GroupID: g.ID, GroupName: g.Name,
			ConfigName: cfgName, Creator: in.Creator, ExternalID: in.ExternalID}, rev, det)
		if err != nil {
			return err
		}
		id = d.ID
		fx.changed = append(fx.changed, id)
		return s.startNext(ctx, tx, fx, g.ID)
	})
	if err != nil {
		return "", err
	}
	s.log.Info("deployment created", "deployment_id", id, "application", in.ApplicationName, "deployment_group", in.DeploymentGroupName)
	return id, nil
}

// insertDeployment records a Queued deployment under a fresh id.
func (s *Service) insertDeployment(ctx context.Context, tx *store.Tx, d store.Deployment, rev storedRevision, det detail) (store.Deployment, error) {
	d.Status = StatusQueued
	d.Revision, _ = json.Marshal(rev)
	det.encode(&d)
	for attempt := 0; ; attempt++ {
		d.ID = newDeploymentID()
		err := tx.InsertDeployment(ctx, &d)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt > 5 {
			return d, err
		}
	}
}

// StopDeployment stops a deployment: hosts not started are skipped, hosts in flight stop after
// their current lifecycle event. rollback (when not nil) overrides the group's
// DEPLOYMENT_STOP_ON_REQUEST setting. The answer is Succeeded when the deployment stopped at once,
// Pending while hosts finish their event.
func (s *Service) StopDeployment(ctx context.Context, id string, rollback *bool, by string) (status, message string, err error) {
	err = s.change(ctx, func(tx *store.Tx, fx *effects) error {
		d, err := s.deployment(ctx, tx, id)
		if err != nil {
			return err
		}
		if Finished(d.Status) {
			return errorf(CodeDeploymentAlreadyCompleted, "deployment %s has already ended (%s)", id, d.Status)
		}
		if d.StopRequested {
			return nil
		}
		det, err := decodeDetail(&d)
		if err != nil {
			return err
		}
		d.StopRequested, det.StopRollback, det.StoppedBy = true, rollback, by
		det.encode(&d)
		if err := tx.UpdateDeployment(ctx, &d, d.Status); err != nil {
			return err
		}
		fx.changed = append(fx.changed, id)
		return s.advance(ctx, tx, fx, id)
	})
	if err != nil {
		return "", "", err
	}
	info, err := s.GetDeployment(ctx, id)
	if err != nil {
		return "", "", err
	}
	s.log.Info("deployment stop requested", "deployment_id", id, "by", by)
	if Finished(info.Status) {
		return "Succeeded", "Deployment " + id + " stopped", nil
	}
	n := info.DeploymentOverview.InProgress
	return "Pending", fmt.Sprintf("Stopping deployment %s: %d %s finishing the lifecycle event it runs", id, n, plural(n, "host is", "hosts are")), nil
}

func (s *Service) deployment(ctx context.Context, tx *store.Tx, id string) (store.Deployment, error) {
	if id == "" {
		return store.Deployment{}, errorf("DeploymentIdRequiredException", "the deployment id is required")
	}
	d, err := tx.GetDeployment(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return d, errorf(CodeDeploymentDoesNotExist, "deployment %s does not exist", id)
	}
	return d, err
}

// GetDeployment reads a deployment.
func (s *Service) GetDeployment(ctx context.Context, id string) (DeploymentInfo, error) {
	tx := s.db.Read()
	d, err := s.deployment(ctx, tx, id)
	if err != nil {
		return DeploymentInfo{}, err
	}
	targets, err := tx.ListTargets(ctx, id)
	if err != nil {
		return DeploymentInfo{}, err
	}
	return deploymentInfo(d, targets)
}

func deploymentInfo(d store.Deployment, targets []store.DeploymentTarget) (DeploymentInfo, error) {
	det, err := decodeDetail(&d)
	if err != nil {
		return DeploymentInfo{}, err
	}
	rev, err := decodeRevision(d.Revision)
	if err != nil {
		return DeploymentInfo{}, fmt.Errorf("stored revision of %s: %w", d.ID, err)
	}
	info := DeploymentInfo{ApplicationName: d.Application, DeploymentGroupName: d.GroupName, DeploymentConfigName: d.ConfigName,
		DeploymentID: d.ID, PreviousRevision: det.PreviousRevision, Revision: &rev.Location, Status: d.Status,
		ErrorInformation: det.ErrorInformation, CreateTime: ts(d.Created), StartTime: ts(d.Started), CompleteTime: ts(d.Completed),
		DeploymentOverview: &DeploymentOverview{}, Description: det.Description, Creator: d.Creator,
		IgnoreApplicationStopFailures: det.IgnoreApplicationStopFailures, AutoRollbackConfiguration: det.AutoRollback,
		UpdateOutdatedInstancesOnly: det.UpdateOutdatedInstancesOnly, RollbackInfo: det.RollbackInfo, DeploymentStyle: det.DeploymentStyle,
		FileExistsBehavior: det.FileExistsBehavior, DeploymentStatusMessages: det.StatusMessages, ComputePlatform: ComputePlatformServer,
		ExternalID: d.ExternalID, OverrideAlarmConfiguration: det.OverrideAlarmConfiguration}
	if info.DeploymentStatusMessages == nil {
		info.DeploymentStatusMessages = []string{}
	}
	if info.Creator == CreatorPipeline {
		info.Creator = CreatorUser // CodeDeploy knows no pipeline creator; externalId names the action
	}
	if info.FileExistsBehavior == "" {
		info.FileExistsBehavior = "DISALLOW"
	}
	o := info.DeploymentOverview
	for _, t := range targets {
		switch t.Status {
		case TargetPending:
			o.Pending++
		case TargetInProgress:
			o.InProgress++
		case TargetSucceeded:
			o.Succeeded++
		case TargetFailed:
			o.Failed++
		case TargetSkipped:
			o.Skipped++
		}
	}
	return info, nil
}

// BatchGetDeployments reads deployments; unknown ids are left out, as in CodeDeploy.
func (s *Service) BatchGetDeployments(ctx context.Context, ids []string) ([]DeploymentInfo, error) {
	if len(ids) > 25 {
		return nil, errorf(CodeBatchLimitExceeded, "at most 25 deployments at once")
	}
	out := []DeploymentInfo{}
	for _, id := range ids {
		d, err := s.GetDeployment(ctx, id)
		var e *Error
		if errors.As(err, &e) && e.Code == CodeDeploymentDoesNotExist {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// ListDeploymentsInput is ListDeployments' request.
type ListDeploymentsInput struct {
	ApplicationName     string   `json:"applicationName"`
	DeploymentGroupName string   `json:"deploymentGroupName"`
	IncludeOnlyStatuses []string `json:"includeOnlyStatuses"`
	CreateTimeRange     *struct {
		Start *float64 `json:"start"`
		End   *float64 `json:"end"`
	} `json:"createTimeRange"`
	ExternalID string `json:"externalId"`
	NextToken  string `json:"nextToken"`
}

func epoch(f *float64) time.Time {
	if f == nil {
		return time.Time{}
	}
	return time.UnixMilli(int64(*f * 1000)).UTC()
}

// ListDeployments lists deployment ids, newest first, a page at a time.
func (s *Service) ListDeployments(ctx context.Context, in ListDeploymentsInput) ([]string, string, error) {
	tx := s.db.Read()
	f := store.DeploymentFilter{ExternalID: in.ExternalID, Limit: pageSize + 1}
	switch {
	case in.ApplicationName != "" && in.DeploymentGroupName == "":
		return nil, "", errorf(CodeGroupNameRequired, "with applicationName, deploymentGroupName is required too")
	case in.ApplicationName == "" && in.DeploymentGroupName != "":
		return nil, "", errorf("ApplicationNameRequiredException", "with deploymentGroupName, applicationName is required too")
	case in.ApplicationName != "":
		g, _, err := s.group(ctx, tx, in.ApplicationName, in.DeploymentGroupName)
		if err != nil {
			return nil, "", err
		}
		f.GroupID = g.ID
	}
	for _, st := range in.IncludeOnlyStatuses {
		switch st {
		case StatusCreated, StatusQueued, StatusInProgress, "Baking", StatusSucceeded, StatusFailed, StatusStopped, "Ready":
		default:
			return nil, "", errorf(CodeInvalidDeploymentStatus, "status %q is not a deployment status", st)
		}
		f.Statuses = append(f.Statuses, st)
	}
	if r := in.CreateTimeRange; r != nil {
		f.From, f.To = epoch(r.Start), epoch(r.End)
	}
	if in.NextToken != "" {
		seq, err := strconv.ParseInt(in.NextToken, 10, 64)
		if err != nil || seq <= 0 {
			return nil, "", errorf(CodeInvalidNextToken, "the nextToken is not one this server returned")
		}
		f.AfterSeq = seq
	}
	list, err := tx.ListDeployments(ctx, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > pageSize {
		list = list[:pageSize]
		next = strconv.FormatInt(list[pageSize-1].Seq, 10)
	}
	ids := make([]string, len(list))
	for i, d := range list {
		ids[i] = d.ID
	}
	return ids, next, nil
}

// ListDeploymentTargets lists a deployment's target ids (instance names), optionally of some
// statuses (targetFilters {TargetStatus: [...]}).
func (s *Service) ListDeploymentTargets(ctx context.Context, id string, filters map[string][]string, token string) ([]string, string, error) {
	tx := s.db.Read()
	if _, err := s.deployment(ctx, tx, id); err != nil {
		return nil, "", err
	}
	want := map[string]bool{}
	for k, vals := range filters {
		switch k {
		case "TargetStatus":
			for _, v := range vals {
				want[v] = true
			}
		case "ServerInstanceLabel": // Blue/Green: in-place targets have no label
		default:
			return nil, "", errorf(CodeInvalidTargetFilterName, "target filter %q is not TargetStatus or ServerInstanceLabel", k)
		}
	}
	targets, err := tx.ListTargets(ctx, id)
	if err != nil {
		return nil, "", err
	}
	var names []string
	for _, t := range targets {
		if len(want) == 0 || want[t.Status] {
			names = append(names, t.Instance)
		}
	}
	sort.Strings(names)
	return page(names, token)
}

// BatchGetDeploymentTargets reads targets of a deployment.
func (s *Service) BatchGetDeploymentTargets(ctx context.Context, id string, targetIDs []string) ([]DeploymentTarget, error) {
	if len(targetIDs) > 25 {
		return nil, errorf(CodeTargetListSizeExceeded, "at most 25 targets at once")
	}
	tx := s.db.Read()
	if _, err := s.deployment(ctx, tx, id); err != nil {
		return nil, err
	}
	targets, err := tx.ListTargets(ctx, id)
	if err != nil {
		return nil, err
	}
	byName := map[string]store.DeploymentTarget{}
	for _, t := range targets {
		byName[t.Instance] = t
	}
	out := []DeploymentTarget{}
	for _, tid := range targetIDs {
		t, ok := byName[tid]
		if !ok {
			return nil, errorf(CodeTargetDoesNotExist, "deployment %s has no target %s", id, tid)
		}
		it, err := s.instanceTarget(t)
		if err != nil {
			return nil, err
		}
		out = append(out, DeploymentTarget{DeploymentTargetType: "InstanceTarget", InstanceTarget: &it})
	}
	return out, nil
}

func (s *Service) instanceTarget(t store.DeploymentTarget) (InstanceTarget, error) {
	events, err := decodeEvents(t)
	if err != nil {
		return InstanceTarget{}, err
	}
	return InstanceTarget{DeploymentID: t.DeploymentID, TargetID: t.Instance, TargetArn: s.instanceArn(t.Instance), Status: t.Status,
		LastUpdatedAt: ts(t.Updated), LifecycleEvents: events}, nil
}

// Targets reads every target of a deployment (the CLI's and UI's view).
func (s *Service) Targets(ctx context.Context, id string) ([]InstanceTarget, error) {
	tx := s.db.Read()
	if _, err := s.deployment(ctx, tx, id); err != nil {
		return nil, err
	}
	targets, err := tx.ListTargets(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []InstanceTarget{}
	for _, t := range targets {
		it, err := s.instanceTarget(t)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// --- lifecycle events of a target ---

// agentEvents are the events an agent runs; Start and End are the server's own.
var agentEvents = protocol.InPlaceEvents

const (
	eventStart = "Start"
	eventEnd   = "End"
)

func initialEvents() []LifecycleEvent {
	names := append(append([]string{eventStart}, agentEvents...), eventEnd)
	out := make([]LifecycleEvent, len(names))
	for i, n := range names {
		out[i] = LifecycleEvent{LifecycleEventName: n, Status: TargetPending}
	}
	return out
}

func decodeEvents(t store.DeploymentTarget) ([]LifecycleEvent, error) {
	var ev []LifecycleEvent
	if err := json.Unmarshal(t.Events, &ev); err != nil {
		return nil, fmt.Errorf("stored events of %s on %s: %w", t.DeploymentID, t.Instance, err)
	}
	return ev, nil
}

func encodeEvents(t *store.DeploymentTarget, ev []LifecycleEvent) {
	t.Events, _ = json.Marshal(ev)
}

func eventFinal(status string) bool {
	return status == TargetSucceeded || status == TargetFailed || status == TargetSkipped
}

// failureOf describes how a failed target failed: "host web-1 failed ValidateService (ScriptFailed:
// scripts/validate_service.sh exited 1)".
func failureOf(t store.DeploymentTarget) string {
	ev, err := decodeEvents(t)
	if err == nil {
		for _, e := range ev {
			if e.Status != TargetFailed {
				continue
			}
			s := fmt.Sprintf("host %s failed %s", t.Instance, e.LifecycleEventName)
			if d := e.Diagnostics; d != nil {
				what := d.Message
				if what == "" {
					what = d.ScriptName
				}
				if what != "" {
					s += fmt.Sprintf(" (%s: %s)", d.ErrorCode, what)
				} else if d.ErrorCode != "" {
					s += " (" + d.ErrorCode + ")"
				}
			}
			return s
		}
	}
	if t.Message != "" {
		return fmt.Sprintf("host %s failed: %s", t.Instance, t.Message)
	}
	return "host " + t.Instance + " failed"
}

// firstFailure names the first host that failed (by end time) and how.
func firstFailure(targets []store.DeploymentTarget) (store.DeploymentTarget, bool) {
	var first store.DeploymentTarget
	found := false
	for _, t := range targets {
		if t.Status == TargetFailed && t.EndReason != endStopped && (!found || t.Ended.Before(first.Ended)) {
			first, found = t, true
		}
	}
	return first, found
}

func fileSize(p string) (int64, error) {
	st, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// bundlePath is where an agent downloads a command's bundle.
func bundlePath(commandID string) string {
	return path.Join(protocol.PathPrefix, "bundles", commandID)
}
