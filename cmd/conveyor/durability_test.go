package main

import (
	"context"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// fakePipeline declares Source (fake) → Work (one action of the given category, provider and
// configuration) in the given execution mode.
func fakePipeline(name, mode, category, owner, provider string, config map[string]string) []byte {
	d := map[string]any{
		"name": name, "pipelineType": "V2", "executionMode": mode,
		"stages": []any{
			map[string]any{"name": "Source", "actions": []any{map[string]any{
				"name": "Src", "actionTypeId": map[string]string{"category": "Source", "owner": "Custom", "provider": "Fake", "version": "1"},
				"outputArtifacts": []any{map[string]string{"name": "Out"}},
			}}},
			map[string]any{"name": "Work", "actions": []any{map[string]any{
				"name": "Job", "actionTypeId": map[string]string{"category": category, "owner": owner, "provider": provider, "version": "1"},
				"configuration": config,
			}}},
		},
	}
	b, _ := json.Marshal(map[string]any{"pipeline": d})
	return b
}

func createRaw(t *testing.T, c *codepipeline.Client, raw []byte) {
	t.Helper()
	// The SDK's types do not unmarshal from JSON; build the declaration through its shapes.
	in := codepipeline.CreatePipelineInput{Pipeline: sdkDeclaration(t, raw)}
	if _, err := c.CreatePipeline(context.Background(), &in); err != nil {
		t.Fatalf("CreatePipeline: %v", err)
	}
}

// sdkDeclaration converts the get-pipeline JSON used in these tests into SDK types.
func sdkDeclaration(t *testing.T, raw []byte) *types.PipelineDeclaration {
	t.Helper()
	var w struct {
		Pipeline struct {
			Name          string `json:"name"`
			PipelineType  string `json:"pipelineType"`
			ExecutionMode string `json:"executionMode"`
			Stages        []struct {
				Name    string `json:"name"`
				Actions []struct {
					Name            string                  `json:"name"`
					ActionTypeID    map[string]string       `json:"actionTypeId"`
					Configuration   map[string]string       `json:"configuration"`
					RunOrder        int32                   `json:"runOrder"`
					Namespace       string                  `json:"namespace"`
					InputArtifacts  []struct{ Name string } `json:"inputArtifacts"`
					OutputArtifacts []struct{ Name string } `json:"outputArtifacts"`
				} `json:"actions"`
			} `json:"stages"`
		} `json:"pipeline"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	d := &types.PipelineDeclaration{Name: aws.String(w.Pipeline.Name), RoleArn: aws.String("arn:aws:iam::000000000000:role/conveyor"),
		PipelineType: types.PipelineType(w.Pipeline.PipelineType), ExecutionMode: types.ExecutionMode(w.Pipeline.ExecutionMode)}
	for _, s := range w.Pipeline.Stages {
		st := types.StageDeclaration{Name: aws.String(s.Name)}
		for _, a := range s.Actions {
			ad := types.ActionDeclaration{Name: aws.String(a.Name), Configuration: a.Configuration,
				ActionTypeId: &types.ActionTypeId{Category: types.ActionCategory(a.ActionTypeID["category"]),
					Owner: types.ActionOwner(a.ActionTypeID["owner"]), Provider: aws.String(a.ActionTypeID["provider"]), Version: aws.String("1")}}
			if a.RunOrder > 0 {
				ad.RunOrder = aws.Int32(a.RunOrder)
			}
			if a.Namespace != "" {
				ad.Namespace = aws.String(a.Namespace)
			}
			for _, i := range a.InputArtifacts {
				ad.InputArtifacts = append(ad.InputArtifacts, types.InputArtifact{Name: aws.String(i.Name)})
			}
			for _, o := range a.OutputArtifacts {
				ad.OutputArtifacts = append(ad.OutputArtifacts, types.OutputArtifact{Name: aws.String(o.Name)})
			}
			st.Actions = append(st.Actions, ad)
		}
		d.Stages = append(d.Stages, st)
	}
	return d
}

func latestExecutionID(t *testing.T, c *codepipeline.Client, name string) string {
	t.Helper()
	out, err := c.ListPipelineExecutions(context.Background(), &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(name)})
	if err != nil || len(out.PipelineExecutionSummaries) == 0 {
		t.Fatalf("list executions of %s: %v", name, err)
	}
	return aws.ToString(out.PipelineExecutionSummaries[0].PipelineExecutionId)
}

func executionStatus(t *testing.T, c *codepipeline.Client, name, id string) types.PipelineExecutionStatus {
	t.Helper()
	out, err := c.GetPipelineExecution(context.Background(), &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String(name), PipelineExecutionId: aws.String(id)})
	if err != nil {
		t.Fatalf("get execution %s: %v", id, err)
	}
	return out.PipelineExecution.Status
}

func awaitStatus(t *testing.T, c *codepipeline.Client, name, id string, want types.PipelineExecutionStatus) {
	t.Helper()
	eventually(t, name+" execution "+string(want), 30*time.Second, func() bool { return executionStatus(t, c, name, id) == want })
}

// actionState returns the latest execution of a pipeline's stage/action from GetPipelineState.
func actionState(t *testing.T, c *codepipeline.Client, name, stage, action string) *types.ActionExecution {
	t.Helper()
	st, err := c.GetPipelineState(context.Background(), &codepipeline.GetPipelineStateInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.StageStates {
		for _, a := range s.ActionStates {
			if aws.ToString(s.StageName) == stage && aws.ToString(a.ActionName) == action {
				return a.LatestExecution
			}
		}
	}
	return nil
}

func TestServerKilledMidFlightLosesNothing(t *testing.T) {
	data := t.TempDir()
	p := startServerProcess(t, data)
	c := codePipelineClient(p.URL, "", "")
	ctx := context.Background()

	// 1. An execution waiting on a manual approval.
	createRaw(t, c, fakePipeline("approval", "SUPERSEDED", "Approval", "AWS", "Manual", nil))
	approvalExec := latestExecutionID(t, c, "approval")
	var token string
	eventually(t, "an approval token", 20*time.Second, func() bool {
		a := actionState(t, c, "approval", "Work", "Job")
		if a == nil {
			return false
		}
		token = aws.ToString(a.Token)
		return token != ""
	})
	// 2. An execution in the middle of an action that cannot be resumed.
	createRaw(t, c, fakePipeline("midaction", "SUPERSEDED", "Build", "Custom", "Fake", map[string]string{"Wait": "true", "Resumable": "false"}))
	midExec := latestExecutionID(t, c, "midaction")
	// 3. A queued pipeline: the first execution holds the stage with a resumable action, the
	//    second waits behind it.
	createRaw(t, c, fakePipeline("queued", "QUEUED", "Deploy", "Custom", "Fake", map[string]string{"Sleep": "1500ms"}))
	firstQueued := latestExecutionID(t, c, "queued")
	second, err := c.StartPipelineExecution(ctx, &codepipeline.StartPipelineExecutionInput{Name: aws.String("queued")})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mid-flight action and the queue to be in place", 20*time.Second, func() bool {
		a := actionState(t, c, "midaction", "Work", "Job")
		st, err := c.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String("queued")})
		if err != nil {
			t.Fatal(err)
		}
		return a != nil && a.Status == types.ActionExecutionStatusInProgress && len(st.StageStates[1].InboundExecutions) == 1
	})

	p.kill(t)
	p = startServerProcess(t, data)
	c = codePipelineClient(p.URL, "", "")

	// The approval still waits, with the same token, and can be approved.
	a := actionState(t, c, "approval", "Work", "Job")
	if a.Status != types.ActionExecutionStatusInProgress || aws.ToString(a.Token) != token {
		t.Fatalf("after restart the approval is %s with token %q, want InProgress with %q", a.Status, aws.ToString(a.Token), token)
	}
	if _, err := c.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{PipelineName: aws.String("approval"),
		StageName: aws.String("Work"), ActionName: aws.String("Job"), Token: aws.String(token),
		Result: &types.ApprovalResult{Status: types.ApprovalStatusApproved, Summary: aws.String("after the crash")}}); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "approval", approvalExec, types.PipelineExecutionStatusSucceeded)

	// The interrupted action failed with a readable reason instead of staying InProgress.
	awaitStatus(t, c, "midaction", midExec, types.PipelineExecutionStatusFailed)
	if a := actionState(t, c, "midaction", "Work", "Job"); !strings.Contains(aws.ToString(a.Summary), "restarted") {
		t.Errorf("interrupted action summary = %q, want it to say the server restarted", aws.ToString(a.Summary))
	}

	// The queue proceeds: the resumed action finishes, then the queued execution runs.
	awaitStatus(t, c, "queued", firstQueued, types.PipelineExecutionStatusSucceeded)
	awaitStatus(t, c, "queued", aws.ToString(second.PipelineExecutionId), types.PipelineExecutionStatusSucceeded)

	for _, name := range []string{"approval", "midaction", "queued"} {
		out, err := c.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.PipelineExecutionSummaries {
			if s.Status == types.PipelineExecutionStatusInProgress {
				t.Errorf("%s execution %s still InProgress after recovery", name, aws.ToString(s.PipelineExecutionId))
			}
		}
	}
}

func TestSIGTERMShutsDownGracefully(t *testing.T) {
	data := t.TempDir()
	p := startServerProcess(t, data)
	c := codePipelineClient(p.URL, "", "")
	createRaw(t, c, fakePipeline("graceful", "SUPERSEDED", "Approval", "AWS", "Manual", nil))
	var token string
	eventually(t, "an approval token", 20*time.Second, func() bool {
		if a := actionState(t, c, "graceful", "Work", "Job"); a != nil {
			token = aws.ToString(a.Token)
		}
		return token != ""
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("server exited with %v after SIGTERM\n%s", err, p.log())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit within 15 s of SIGTERM")
	}
	<-p.done
	if !strings.Contains(p.log(), "shutting down") {
		t.Errorf("the log should say the server is shutting down:\n%s", p.log())
	}
	p = startServerProcess(t, data)
	c = codePipelineClient(p.URL, "", "")
	if a := actionState(t, c, "graceful", "Work", "Job"); a == nil || aws.ToString(a.Token) != token || a.Status != types.ActionExecutionStatusInProgress {
		t.Fatalf("after a graceful restart the approval must still wait with its token, got %+v", a)
	}
}
