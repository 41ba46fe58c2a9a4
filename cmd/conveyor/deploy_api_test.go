package main

// The CodeDeploy API through the official Go SDK: applications, deployment groups, deployment
// configurations, on-premises instances, and the errors CodeDeploy names.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
)

func TestCodeDeployResourcesThroughTheSDK(t *testing.T) {
	s := startServer(t)
	c := codeDeployClient(s.URL)
	ctx := context.Background()

	// Applications.
	app, err := c.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String("shop"),
		Tags: []cdtypes.Tag{{Key: aws.String("team"), Value: aws.String("web")}}})
	if err != nil || aws.ToString(app.ApplicationId) == "" {
		t.Fatalf("CreateApplication: %v", err)
	}
	_, err = c.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String("shop")})
	wantAPIError(t, err, "ApplicationAlreadyExistsException")
	_, err = c.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String("lambda-app"), ComputePlatform: cdtypes.ComputePlatformLambda})
	wantAPIError(t, err, "InvalidComputePlatformException")
	got, err := c.GetApplication(ctx, &codedeploy.GetApplicationInput{ApplicationName: aws.String("shop")})
	if err != nil || got.Application.ComputePlatform != cdtypes.ComputePlatformServer || aws.ToString(got.Application.ApplicationId) != aws.ToString(app.ApplicationId) ||
		got.Application.CreateTime == nil {
		t.Fatalf("GetApplication: %v %+v", err, got)
	}
	_, err = c.GetApplication(ctx, &codedeploy.GetApplicationInput{ApplicationName: aws.String("nope")})
	wantAPIError(t, err, "ApplicationDoesNotExistException")
	if _, err := c.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String("admin")}); err != nil {
		t.Fatal(err)
	}
	apps, err := c.ListApplications(ctx, &codedeploy.ListApplicationsInput{})
	if err != nil || strings.Join(apps.Applications, ",") != "admin,shop" {
		t.Fatalf("ListApplications: %v %v", err, apps.Applications)
	}

	// Deployment configurations: predefined and custom.
	one, err := c.GetDeploymentConfig(ctx, &codedeploy.GetDeploymentConfigInput{DeploymentConfigName: aws.String("CodeDeployDefault.OneAtATime")})
	if err != nil || one.DeploymentConfigInfo.MinimumHealthyHosts.Type != "MOST_CONCURRENCY" || one.DeploymentConfigInfo.MinimumHealthyHosts.Value != 1 {
		t.Fatalf("OneAtATime: %v %+v", err, one)
	}
	half, err := c.GetDeploymentConfig(ctx, &codedeploy.GetDeploymentConfigInput{DeploymentConfigName: aws.String("CodeDeployDefault.HalfAtATime")})
	if err != nil || half.DeploymentConfigInfo.MinimumHealthyHosts.Type != cdtypes.MinimumHealthyHostsTypeFleetPercent || half.DeploymentConfigInfo.MinimumHealthyHosts.Value != 50 {
		t.Fatalf("HalfAtATime: %v %+v", err, half)
	}
	if _, err := c.CreateDeploymentConfig(ctx, &codedeploy.CreateDeploymentConfigInput{DeploymentConfigName: aws.String("most"),
		MinimumHealthyHosts: &cdtypes.MinimumHealthyHosts{Type: cdtypes.MinimumHealthyHostsTypeFleetPercent, Value: 75}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateDeploymentConfig(ctx, &codedeploy.CreateDeploymentConfigInput{DeploymentConfigName: aws.String("most"),
		MinimumHealthyHosts: &cdtypes.MinimumHealthyHosts{Type: cdtypes.MinimumHealthyHostsTypeFleetPercent, Value: 75}})
	wantAPIError(t, err, "DeploymentConfigAlreadyExistsException")
	for name, m := range map[string]*cdtypes.MinimumHealthyHosts{
		"too-many":                   {Type: cdtypes.MinimumHealthyHostsTypeFleetPercent, Value: 101},
		"negative":                   {Type: cdtypes.MinimumHealthyHostsTypeHostCount, Value: -1},
		"most-concurrency":           {Type: "MOST_CONCURRENCY", Value: 1},
		"CodeDeployDefault.Sneaky":   {Type: cdtypes.MinimumHealthyHostsTypeHostCount, Value: 1},
		"no-minimum-for-the-servers": nil,
	} {
		_, err := c.CreateDeploymentConfig(ctx, &codedeploy.CreateDeploymentConfigInput{DeploymentConfigName: aws.String(name), MinimumHealthyHosts: m})
		want := "InvalidMinimumHealthyHostValueException"
		if strings.HasPrefix(name, "CodeDeployDefault.") {
			want = "InvalidDeploymentConfigNameException"
		}
		wantAPIError(t, err, want)
	}
	configs, err := c.ListDeploymentConfigs(ctx, &codedeploy.ListDeploymentConfigsInput{})
	if err != nil || strings.Join(configs.DeploymentConfigsList, ",") != "CodeDeployDefault.AllAtOnce,CodeDeployDefault.HalfAtATime,CodeDeployDefault.OneAtATime,most" {
		t.Fatalf("ListDeploymentConfigs: %v %v", err, configs.DeploymentConfigsList)
	}

	// Deployment groups.
	in := &codedeploy.CreateDeploymentGroupInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("web"),
		ServiceRoleArn: aws.String("arn:aws:iam::123456789012:role/CodeDeploy"), DeploymentConfigName: aws.String("most"),
		OnPremisesInstanceTagFilters: []cdtypes.TagFilter{{Key: aws.String("role"), Value: aws.String("web"), Type: cdtypes.TagFilterTypeKeyAndValue},
			{Key: aws.String("canary"), Type: cdtypes.TagFilterTypeKeyOnly}},
		AutoRollbackConfiguration: &cdtypes.AutoRollbackConfiguration{Enabled: true, Events: []cdtypes.AutoRollbackEvent{cdtypes.AutoRollbackEventDeploymentFailure}},
		AlarmConfiguration:        &cdtypes.AlarmConfiguration{Enabled: true, Alarms: []cdtypes.Alarm{{Name: aws.String("5xx-rate")}}},
		DeploymentStyle:           &cdtypes.DeploymentStyle{DeploymentType: cdtypes.DeploymentTypeInPlace, DeploymentOption: cdtypes.DeploymentOptionWithoutTrafficControl},
	}
	g, err := c.CreateDeploymentGroup(ctx, in)
	if err != nil || aws.ToString(g.DeploymentGroupId) == "" {
		t.Fatalf("CreateDeploymentGroup: %v", err)
	}
	_, err = c.CreateDeploymentGroup(ctx, in)
	wantAPIError(t, err, "DeploymentGroupAlreadyExistsException")
	bad := *in
	bad.DeploymentGroupName = aws.String("bad")
	bad.OnPremisesTagSet = &cdtypes.OnPremisesTagSet{OnPremisesTagSetList: [][]cdtypes.TagFilter{{{Key: aws.String("x"), Type: cdtypes.TagFilterTypeKeyOnly}}}}
	_, err = c.CreateDeploymentGroup(ctx, &bad)
	wantAPIError(t, err, "InvalidOnPremisesTagCombinationException")
	bad = *in
	bad.DeploymentGroupName, bad.OnPremisesInstanceTagFilters = aws.String("bad"), nil
	bad.Ec2TagFilters = []cdtypes.EC2TagFilter{{Key: aws.String("Name"), Value: aws.String("web"), Type: cdtypes.EC2TagFilterTypeKeyAndValue}}
	_, err = c.CreateDeploymentGroup(ctx, &bad)
	wantAPIError(t, err, "InvalidEC2TagException")
	bad = *in
	bad.DeploymentGroupName, bad.DeploymentConfigName = aws.String("bad"), aws.String("no-such-config")
	_, err = c.CreateDeploymentGroup(ctx, &bad)
	wantAPIError(t, err, "DeploymentConfigDoesNotExistException")
	bad = *in
	bad.DeploymentGroupName = aws.String("bad")
	bad.AutoRollbackConfiguration = &cdtypes.AutoRollbackConfiguration{Enabled: true}
	_, err = c.CreateDeploymentGroup(ctx, &bad)
	wantAPIError(t, err, "InvalidAutoRollbackConfigException")
	bad = *in
	bad.DeploymentGroupName = aws.String("bad")
	bad.DeploymentStyle = &cdtypes.DeploymentStyle{DeploymentType: cdtypes.DeploymentTypeBlueGreen, DeploymentOption: cdtypes.DeploymentOptionWithTrafficControl}
	_, err = c.CreateDeploymentGroup(ctx, &bad)
	wantAPIError(t, err, "InvalidDeploymentStyleException")

	info, err := c.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	gi := info.DeploymentGroupInfo
	if aws.ToString(gi.DeploymentGroupId) != aws.ToString(g.DeploymentGroupId) || aws.ToString(gi.DeploymentConfigName) != "most" || len(gi.OnPremisesInstanceTagFilters) != 2 ||
		aws.ToString(gi.OnPremisesInstanceTagFilters[0].Key) != "role" || aws.ToString(gi.OnPremisesInstanceTagFilters[0].Value) != "web" ||
		gi.OnPremisesInstanceTagFilters[1].Type != cdtypes.TagFilterTypeKeyOnly || !gi.AutoRollbackConfiguration.Enabled ||
		gi.AlarmConfiguration == nil || aws.ToString(gi.AlarmConfiguration.Alarms[0].Name) != "5xx-rate" || gi.ComputePlatform != cdtypes.ComputePlatformServer ||
		gi.LastSuccessfulDeployment != nil {
		t.Fatalf("GetDeploymentGroup = %+v", gi)
	}

	// UpdateDeploymentGroup: rename and change the configuration; other members are kept.
	if _, err := c.UpdateDeploymentGroup(ctx, &codedeploy.UpdateDeploymentGroupInput{ApplicationName: aws.String("shop"),
		CurrentDeploymentGroupName: aws.String("web"), NewDeploymentGroupName: aws.String("frontend"),
		DeploymentConfigName: aws.String("CodeDeployDefault.AllAtOnce")}); err != nil {
		t.Fatal(err)
	}
	info, err = c.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("frontend")})
	if err != nil || aws.ToString(info.DeploymentGroupInfo.DeploymentConfigName) != "CodeDeployDefault.AllAtOnce" ||
		len(info.DeploymentGroupInfo.OnPremisesInstanceTagFilters) != 2 || aws.ToString(info.DeploymentGroupInfo.DeploymentGroupId) != aws.ToString(g.DeploymentGroupId) {
		t.Fatalf("after update: %v %+v", err, info)
	}
	_, err = c.GetDeploymentGroup(ctx, &codedeploy.GetDeploymentGroupInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("web")})
	wantAPIError(t, err, "DeploymentGroupDoesNotExistException")
	groups, err := c.ListDeploymentGroups(ctx, &codedeploy.ListDeploymentGroupsInput{ApplicationName: aws.String("shop")})
	if err != nil || strings.Join(groups.DeploymentGroups, ",") != "frontend" || aws.ToString(groups.ApplicationName) != "shop" {
		t.Fatalf("ListDeploymentGroups: %v %+v", err, groups)
	}
	if _, err := c.DeleteDeploymentGroup(ctx, &codedeploy.DeleteDeploymentGroupInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("frontend")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteApplication(ctx, &codedeploy.DeleteApplicationInput{ApplicationName: aws.String("admin")}); err != nil {
		t.Fatal(err)
	}

	// On-premises instances.
	_, err = c.RegisterOnPremisesInstance(ctx, &codedeploy.RegisterOnPremisesInstanceInput{InstanceName: aws.String("db-1")})
	wantAPIError(t, err, "IamArnRequiredException")
	if _, err := c.RegisterOnPremisesInstance(ctx, &codedeploy.RegisterOnPremisesInstanceInput{InstanceName: aws.String("db-1"),
		IamUserArn: aws.String("arn:aws:iam::123456789012:user/db-1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.RegisterOnPremisesInstance(ctx, &codedeploy.RegisterOnPremisesInstanceInput{InstanceName: aws.String("db-1"),
		IamUserArn: aws.String("arn:aws:iam::123456789012:user/db-1")})
	wantAPIError(t, err, "InstanceNameAlreadyRegisteredException")
	if _, err := c.AddTagsToOnPremisesInstances(ctx, &codedeploy.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"db-1"},
		Tags: []cdtypes.Tag{{Key: aws.String("role"), Value: aws.String("db")}, {Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AddTagsToOnPremisesInstances(ctx, &codedeploy.AddTagsToOnPremisesInstancesInput{InstanceNames: []string{"ghost"},
		Tags: []cdtypes.Tag{{Key: aws.String("role"), Value: aws.String("db")}}})
	wantAPIError(t, err, "InstanceNotRegisteredException")
	if _, err := c.RemoveTagsFromOnPremisesInstances(ctx, &codedeploy.RemoveTagsFromOnPremisesInstancesInput{InstanceNames: []string{"db-1"},
		Tags: []cdtypes.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	inst, err := c.GetOnPremisesInstance(ctx, &codedeploy.GetOnPremisesInstanceInput{InstanceName: aws.String("db-1")})
	if err != nil || len(inst.InstanceInfo.Tags) != 1 || aws.ToString(inst.InstanceInfo.Tags[0].Key) != "role" ||
		aws.ToString(inst.InstanceInfo.IamUserArn) != "arn:aws:iam::123456789012:user/db-1" || inst.InstanceInfo.RegisterTime == nil ||
		!strings.HasPrefix(aws.ToString(inst.InstanceInfo.InstanceArn), "arn:aws:codedeploy:local:") {
		t.Fatalf("GetOnPremisesInstance: %v %+v", err, inst)
	}
	listed, err := c.ListOnPremisesInstances(ctx, &codedeploy.ListOnPremisesInstancesInput{RegistrationStatus: cdtypes.RegistrationStatusRegistered,
		TagFilters: []cdtypes.TagFilter{{Key: aws.String("role"), Value: aws.String("db"), Type: cdtypes.TagFilterTypeKeyAndValue}}})
	if err != nil || strings.Join(listed.InstanceNames, ",") != "db-1" {
		t.Fatalf("ListOnPremisesInstances: %v %v", err, listed)
	}
	if _, err := c.DeregisterOnPremisesInstance(ctx, &codedeploy.DeregisterOnPremisesInstanceInput{InstanceName: aws.String("db-1")}); err != nil {
		t.Fatal(err)
	}
	listed, err = c.ListOnPremisesInstances(ctx, &codedeploy.ListOnPremisesInstancesInput{RegistrationStatus: cdtypes.RegistrationStatusDeregistered})
	if err != nil || strings.Join(listed.InstanceNames, ",") != "db-1" {
		t.Fatalf("deregistered instances: %v %v", err, listed)
	}

	// Deployments of what does not exist; what CodeDeploy has and Conveyor does not.
	_, err = c.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("none")})
	wantAPIError(t, err, "DeploymentGroupDoesNotExistException")
	deployFixture(t, c, "shop", "web", "CodeDeployDefault.OneAtATime", false)
	_, err = c.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("web")})
	wantAPIError(t, err, "RevisionRequiredException")
	_, err = c.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("web"),
		Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeS3, S3Location: &cdtypes.S3Location{Bucket: aws.String("releases"), Key: aws.String("missing.zip")}}})
	wantAPIError(t, err, "RevisionDoesNotExistException")
	_, err = c.CreateDeployment(ctx, &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("shop"), DeploymentGroupName: aws.String("web"),
		Revision: &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeGitHub, GitHubLocation: &cdtypes.GitHubLocation{Repository: aws.String("a/b"), CommitId: aws.String("abc")}}})
	wantAPIError(t, err, "InvalidRevisionException")
	_, err = c.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: aws.String("d-NOTHERE00")})
	wantAPIError(t, err, "DeploymentDoesNotExistException")
	_, err = c.ContinueDeployment(ctx, &codedeploy.ContinueDeploymentInput{DeploymentId: aws.String("d-NOTHERE00")})
	wantAPIError(t, err, "UnsupportedOperationException")
	_, err = c.ListDeployments(ctx, &codedeploy.ListDeploymentsInput{ApplicationName: aws.String("shop")})
	wantAPIError(t, err, "DeploymentGroupNameRequiredException")

	// A viewer reads but cannot create.
	code, body := restCall(t, s.URL, http.MethodPost, "/api/v1/keys", testAdminKey, testAdminSecret, []byte(`{"role":"viewer"}`))
	if code != http.StatusCreated {
		t.Fatalf("create viewer key: %d %s", code, body)
	}
	var k struct{ AccessKeyID, SecretAccessKey string }
	_ = json.Unmarshal(body, &k)
	viewer := codedeploy.New(codedeploy.Options{Region: "local", BaseEndpoint: aws.String(s.URL), Retryer: closedConnRetryer(),
		Credentials: credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, "")})
	if _, err := viewer.ListApplications(ctx, &codedeploy.ListApplicationsInput{}); err != nil {
		t.Errorf("a viewer lists applications: %v", err)
	}
	_, err = viewer.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String("sneaky")})
	wantAPIError(t, err, "AccessDeniedException")
}

// TestCodeDeployWireNames checks member names on the wire where the model mixes case:
// TagFilter's Key/Value/Type and DeploymentOverview's Pending/InProgress/….
func TestCodeDeployWireNames(t *testing.T) {
	s := startServer(t)
	c := codeDeployClient(s.URL)
	deployFixture(t, c, "shop", "web", "CodeDeployDefault.AllAtOnce", false)
	rev := uploadRevision(t, s.URL, "releases", "v1.zip", revisionZip(t, "v1"))
	registerAgent(t, s.URL, newToken(t, s.URL, nil), "web-1", map[string]string{"role": "web"})
	id := createDeployment(t, c, "shop", "web", rev)
	raw := func(target, body string) string {
		t.Helper()
		r, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-Amz-Target", "CodeDeploy_20141006."+target)
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAdminKey, SecretAccessKey: testAdminSecret}, r,
			hex.EncodeToString(sum[:]), "codedeploy", "local", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", target, resp.StatusCode, b)
		}
		return string(b)
	}
	group := raw("GetDeploymentGroup", `{"applicationName":"shop","deploymentGroupName":"web"}`)
	if !strings.Contains(group, `"onPremisesInstanceTagFilters":[{"Key":"role","Value":"web","Type":"KEY_AND_VALUE"}]`) {
		t.Errorf("GetDeploymentGroup: %s", group)
	}
	dep := raw("GetDeployment", `{"deploymentId":"`+id+`"}`)
	if !strings.Contains(dep, `"deploymentOverview":{"Pending":0,"InProgress":1,"Succeeded":0,"Failed":0,"Skipped":0,"Ready":0}`) ||
		!strings.Contains(dep, `"createTime":`) || !strings.Contains(dep, `"creator":"user"`) {
		t.Errorf("GetDeployment: %s", dep)
	}
}
