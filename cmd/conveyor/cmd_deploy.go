package main

// `conveyor deploy …`: CodeDeploy deployments through the AWS SDK (create, get, list, stop) and
// the hosts' script output through the REST extras (logs).

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/conveyorci/conveyor/executor/deploy"
)

func deployCommands() []subcommand {
	return []subcommand{
		{"create", "APP GROUP (--bucket B --key K [--version V] | --artifact SHA256) [--config NAME] [--wait]",
			"deploy a revision to a deployment group; prints the deployment id (--wait waits and exits by its result)", deployCreate},
		{"get", "DEPLOYMENT_ID", "show a deployment: status, hosts with their lifecycle events and diagnostics, rollback", deployGet},
		{"list", "[--app A --group G] [--status S]... [--max N]", "list deployments, newest first", deployList},
		{"stop", "DEPLOYMENT_ID [--rollback]", "stop a deployment (--rollback: put the last good revision back on the hosts it reached)", deployStop},
		{"logs", "DEPLOYMENT_ID [--host NAME] [--tail N]", "print the hosts' hook script output", deployLogs},
	}
}

func runDeploy(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runGroup(ctx, "deploy", deployCommands(), args, out, errOut)
}

// captureCD records the raw response of a CodeDeploy SDK call (for --output json).
func captureCD(c *responseCapture) func(*codedeploy.Options) {
	return func(o *codedeploy.Options) {
		c.inner = o.HTTPClient
		o.HTTPClient = c
	}
}

func deployCreate(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("deploy create APP GROUP (--bucket B --key K [--version V] | --artifact SHA256) [--config NAME] [--wait]")
	bucket := c.String("bucket", "", "the bucket of the revision (uploaded with conveyor upload BUCKET/KEY FILE.zip)")
	key := c.String("key", "", "the key of the revision")
	version := c.String("version", "", "the object version (default: the latest)")
	bundleType := c.String("bundle-type", "", "zip, tar or tgz (default: from the key's extension, else zip)")
	artifact := c.String("artifact", "", "deploy a pipeline artifact (or any stored blob) by its SHA-256 instead")
	config := c.String("config", "", "the deployment configuration (default: the group's)")
	description := c.String("description", "", "a description")
	exists := c.String("file-exists-behavior", "", "DISALLOW, OVERWRITE or RETAIN for files the previous deployment did not install")
	ignoreStop := c.Bool("ignore-application-stop-failures", false, "go on when the previous revision's ApplicationStop fails")
	wait := c.Bool("wait", false, "wait for the deployment to end; exit 1 unless it succeeded")
	pos, err := c.parse(args, 2, 2)
	if err != nil {
		return err
	}
	rev := &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeS3}
	switch {
	case *artifact != "" && (*bucket != "" || *key != ""):
		return c.usageError("give --artifact or --bucket and --key, not both")
	case *artifact != "":
		rev.S3Location = &cdtypes.S3Location{Bucket: aws.String(deploy.ArtifactBucket), Key: aws.String(*artifact), BundleType: cdtypes.BundleTypeZip}
	case *bucket == "" || *key == "":
		return c.usageError("give the revision: --bucket B --key K, or --artifact SHA256")
	default:
		rev.S3Location = &cdtypes.S3Location{Bucket: bucket, Key: key, BundleType: cdtypes.BundleType(*bundleType)}
		if *version != "" {
			rev.S3Location.Version = version
		}
	}
	cd, err := c.cfg.codeDeploy()
	if err != nil {
		return err
	}
	in := &codedeploy.CreateDeploymentInput{ApplicationName: aws.String(pos[0]), DeploymentGroupName: aws.String(pos[1]), Revision: rev,
		IgnoreApplicationStopFailures: *ignoreStop, FileExistsBehavior: cdtypes.FileExistsBehavior(*exists)}
	if *config != "" {
		in.DeploymentConfigName = config
	}
	if *description != "" {
		in.Description = description
	}
	res, err := cd.CreateDeployment(ctx, in)
	if err != nil {
		return apiError(err)
	}
	id := aws.ToString(res.DeploymentId)
	if !*wait {
		if c.cfg.json() {
			return printJSON(out, map[string]any{"deploymentId": id})
		}
		_, err := fmt.Fprintln(out, id)
		return err
	}
	if !c.cfg.json() {
		fmt.Fprintf(errOut, "deployment %s created; waiting for it to end\n", id)
	}
	d, err := awaitDeploymentEnd(ctx, cd, id)
	if err != nil {
		return err
	}
	if c.cfg.json() {
		if err := printJSON(out, map[string]any{"deploymentId": id, "status": d.Status}); err != nil {
			return err
		}
	} else if err := writeDeployment(ctx, out, cd, d); err != nil {
		return err
	}
	if d.Status != cdtypes.DeploymentStatusSucceeded {
		return failed("deployment %s %s", id, strings.ToLower(string(d.Status)))
	}
	return nil
}

// awaitDeploymentEnd polls a deployment until it ends.
func awaitDeploymentEnd(ctx context.Context, cd *codedeploy.Client, id string) (*cdtypes.DeploymentInfo, error) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		res, err := cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
		if err != nil {
			return nil, apiError(err)
		}
		switch res.DeploymentInfo.Status {
		case cdtypes.DeploymentStatusSucceeded, cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
			return res.DeploymentInfo, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func deployGet(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("deploy get DEPLOYMENT_ID")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cd, err := c.cfg.codeDeploy()
	if err != nil {
		return err
	}
	var cap responseCapture
	res, err := cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String(pos[0])}, captureCD(&cap))
	if err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	return writeDeployment(ctx, out, cd, res.DeploymentInfo)
}

// revisionString renders a revision location for people.
func revisionString(r *cdtypes.RevisionLocation) string {
	if r == nil || r.S3Location == nil {
		return "-"
	}
	l := r.S3Location
	if aws.ToString(l.Bucket) == deploy.ArtifactBucket {
		return "artifact " + aws.ToString(l.Key)
	}
	s := "s3://" + aws.ToString(l.Bucket) + "/" + aws.ToString(l.Key)
	if v := aws.ToString(l.Version); v != "" {
		s += " version " + v
	}
	return s
}

// writeDeployment prints a deployment and its hosts for people.
func writeDeployment(ctx context.Context, w io.Writer, cd *codedeploy.Client, d *cdtypes.DeploymentInfo) error {
	id := aws.ToString(d.DeploymentId)
	var s strings.Builder
	fmt.Fprintf(&s, "deployment %s (%s/%s, %s)\n", id, aws.ToString(d.ApplicationName), aws.ToString(d.DeploymentGroupName), aws.ToString(d.DeploymentConfigName))
	fmt.Fprintf(&s, "status:     %s\n", d.Status)
	if e := d.ErrorInformation; e != nil {
		fmt.Fprintf(&s, "error:      %s: %s\n", e.Code, aws.ToString(e.Message))
	}
	fmt.Fprintf(&s, "revision:   %s\n", revisionString(d.Revision))
	creator := string(d.Creator)
	if ext := aws.ToString(d.ExternalId); ext != "" {
		creator += " (pipeline action " + ext + ")"
	}
	fmt.Fprintf(&s, "creator:    %s\n", creator)
	if d.CreateTime != nil {
		line := clock(*d.CreateTime)
		if d.StartTime != nil && d.CompleteTime != nil {
			line += ", took " + duration(d.CompleteTime.Sub(*d.StartTime))
		}
		fmt.Fprintf(&s, "created:    %s\n", line)
	}
	if o := d.DeploymentOverview; o != nil {
		var parts []string
		for _, p := range []struct {
			n    int64
			what string
		}{{o.Succeeded, "succeeded"}, {o.Failed, "failed"}, {o.InProgress, "in progress"}, {o.Pending, "pending"}, {o.Skipped, "skipped"}} {
			if p.n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
			}
		}
		if len(parts) == 0 {
			parts = []string{"none"}
		}
		fmt.Fprintf(&s, "hosts:      %s\n", strings.Join(parts, ", "))
	}
	if r := d.RollbackInfo; r != nil {
		switch {
		case aws.ToString(r.RollbackDeploymentId) != "":
			fmt.Fprintf(&s, "rollback:   %s (%s)\n", aws.ToString(r.RollbackDeploymentId), aws.ToString(r.RollbackMessage))
		case aws.ToString(r.RollbackTriggeringDeploymentId) != "":
			fmt.Fprintf(&s, "rolls back: %s\n", aws.ToString(r.RollbackTriggeringDeploymentId))
		default:
			fmt.Fprintf(&s, "rollback:   %s\n", aws.ToString(r.RollbackMessage))
		}
	}
	for _, m := range d.DeploymentStatusMessages {
		fmt.Fprintf(&s, "note:       %s\n", m)
	}
	list, err := cd.ListDeploymentTargets(ctx, &codedeploy.ListDeploymentTargetsInput{DeploymentId: aws.String(id)})
	if err != nil {
		return apiError(err)
	}
	for start := 0; start < len(list.TargetIds); start += 25 {
		res, err := cd.BatchGetDeploymentTargets(ctx, &codedeploy.BatchGetDeploymentTargetsInput{DeploymentId: aws.String(id),
			TargetIds: list.TargetIds[start:min(start+25, len(list.TargetIds))]})
		if err != nil {
			return apiError(err)
		}
		for _, dt := range res.DeploymentTargets {
			writeTarget(&s, dt.InstanceTarget)
		}
	}
	_, err = io.WriteString(w, s.String())
	return err
}

func writeTarget(s *strings.Builder, t *cdtypes.InstanceTarget) {
	if t == nil {
		return
	}
	fmt.Fprintf(s, "\nhost %s: %s\n", aws.ToString(t.TargetId), t.Status)
	g := &grid{}
	for _, e := range t.LifecycleEvents {
		took := ""
		if e.StartTime != nil && e.EndTime != nil {
			took = duration(e.EndTime.Sub(*e.StartTime))
		}
		detail := ""
		if d := e.Diagnostics; d != nil && d.ErrorCode != "" && d.ErrorCode != cdtypes.LifecycleErrorCodeSuccess {
			detail = string(d.ErrorCode)
			if m := aws.ToString(d.Message); m != "" {
				detail += ": " + m
			} else if sn := aws.ToString(d.ScriptName); sn != "" {
				detail += ": " + sn
			}
		}
		g.row("  "+aws.ToString(e.LifecycleEventName), string(e.Status), took, detail)
		if d := e.Diagnostics; d != nil && strings.TrimSpace(aws.ToString(d.LogTail)) != "" && e.Status == cdtypes.LifecycleEventStatusFailed {
			for _, line := range strings.Split(strings.TrimRight(aws.ToString(d.LogTail), "\n"), "\n") {
				g.note("| " + line)
			}
		}
	}
	_ = g.write(s)
}

func deployList(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("deploy list [--app A --group G] [--status S]... [--max N]")
	app := c.String("app", "", "only deployments of this application (with --group)")
	group := c.String("group", "", "only deployments of this deployment group (with --app)")
	var statuses stringList
	c.Var(&statuses, "status", "only deployments with this status: Queued, InProgress, Succeeded, Failed, Stopped (repeatable)")
	maxN := c.Int("max", 20, "how many deployments to show, newest first")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if (*app == "") != (*group == "") {
		return c.usageError("--app and --group go together")
	}
	cd, err := c.cfg.codeDeploy()
	if err != nil {
		return err
	}
	in := &codedeploy.ListDeploymentsInput{}
	if *app != "" {
		in.ApplicationName, in.DeploymentGroupName = app, group
	}
	for _, st := range statuses {
		in.IncludeOnlyStatuses = append(in.IncludeOnlyStatuses, cdtypes.DeploymentStatus(st))
	}
	var ids []string
	for len(ids) < *maxN {
		res, err := cd.ListDeployments(ctx, in)
		if err != nil {
			return apiError(err)
		}
		ids = append(ids, res.Deployments...)
		if aws.ToString(res.NextToken) == "" {
			break
		}
		in.NextToken = res.NextToken
	}
	ids = ids[:min(len(ids), *maxN)]
	if c.cfg.json() {
		return printJSON(out, map[string]any{"deployments": append([]string{}, ids...)})
	}
	if len(ids) == 0 {
		fmt.Fprintln(out, "no deployments; create one with conveyor deploy create APP GROUP --bucket B --key K")
		return nil
	}
	g := &grid{}
	g.row("DEPLOYMENT", "APPLICATION/GROUP", "STATUS", "CREATOR", "CREATED", "HOSTS")
	for start := 0; start < len(ids); start += 25 {
		res, err := cd.BatchGetDeployments(ctx, &codedeploy.BatchGetDeploymentsInput{DeploymentIds: ids[start:min(start+25, len(ids))]})
		if err != nil {
			return apiError(err)
		}
		byID := map[string]cdtypes.DeploymentInfo{}
		for _, d := range res.DeploymentsInfo {
			byID[aws.ToString(d.DeploymentId)] = d
		}
		for _, id := range ids[start:min(start+25, len(ids))] {
			d, ok := byID[id]
			if !ok {
				continue
			}
			hosts := "-"
			if o := d.DeploymentOverview; o != nil {
				hosts = fmt.Sprintf("%d/%d ok", o.Succeeded, o.Succeeded+o.Failed+o.InProgress+o.Pending+o.Skipped)
				if o.Failed > 0 {
					hosts += fmt.Sprintf(", %d failed", o.Failed)
				}
			}
			created := "-"
			if d.CreateTime != nil {
				created = clock(*d.CreateTime)
			}
			g.row(id, aws.ToString(d.ApplicationName)+"/"+aws.ToString(d.DeploymentGroupName), string(d.Status), string(d.Creator), created, hosts)
		}
	}
	return g.write(out)
}

func deployStop(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("deploy stop DEPLOYMENT_ID [--rollback]")
	rollback := c.Bool("rollback", false, "roll the hosts the deployment reached back to the last successful revision (default: as the group's DEPLOYMENT_STOP_ON_REQUEST setting says)")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cd, err := c.cfg.codeDeploy()
	if err != nil {
		return err
	}
	in := &codedeploy.StopDeploymentInput{DeploymentId: aws.String(pos[0])}
	if *rollback {
		in.AutoRollbackEnabled = aws.Bool(true)
	}
	res, err := cd.StopDeployment(ctx, in)
	if err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printJSON(out, map[string]any{"status": res.Status, "statusMessage": aws.ToString(res.StatusMessage)})
	}
	fmt.Fprintln(out, aws.ToString(res.StatusMessage))
	return nil
}

func deployLogs(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("deploy logs DEPLOYMENT_ID [--host NAME] [--tail N]")
	host := c.String("host", "", "only this host's output")
	tail := c.Int("tail", 1000, "the last N lines of each host's log")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	q := url.Values{"tail": {strconv.Itoa(*tail)}}
	if *host != "" {
		q.Set("host", *host)
	}
	var resp struct {
		DeploymentID string           `json:"deploymentId"`
		Hosts        []deploy.HostLog `json:"hosts"`
	}
	if err := c.cfg.rest(ctx, "GET", "/api/v1/deployments/"+url.PathEscape(pos[0])+"/logs?"+q.Encode(), nil, &resp); err != nil {
		return err
	}
	if c.cfg.json() {
		return printJSON(out, resp)
	}
	for i, h := range resp.Hosts {
		if *host == "" {
			if i > 0 {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "==> %s <==\n", h.Instance)
		}
		if len(h.Lines) == 0 && *host == "" {
			fmt.Fprintln(out, "(no output)")
		}
		for _, l := range h.Lines {
			fmt.Fprintln(out, l)
		}
	}
	return nil
}
