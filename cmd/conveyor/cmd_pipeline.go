package main

// `conveyor pipeline …`: the CodePipeline operations through the AWS SDK, with output for people
// by default and the API's JSON with --output json.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"gopkg.in/yaml.v3"

	"github.com/conveyorci/conveyor/pipeline"
)

func pipelineCommands() []subcommand {
	return []subcommand{
		{"create", "-f FILE [--tag K=V]...", "create a pipeline from a JSON or YAML declaration", pipelineCreate},
		{"update", "-f FILE", "replace a pipeline's declaration (version + 1)", pipelineUpdate},
		{"get", "NAME [--version N]", "print a declaration (YAML; --output json: as get-pipeline prints it)", pipelineGet},
		{"list", "", "list pipelines", pipelineList},
		{"delete", "NAME", "delete a pipeline and its history", pipelineDelete},
		{"start", "NAME [--variable K=V]... [--token T] [--source-revision A=TYPE:VALUE]...", "start an execution; prints its id", pipelineStart},
		{"stop", "NAME EXECUTION_ID [--abandon] [--reason R]", "stop an execution", pipelineStop},
		{"state", "NAME", "show each stage and action with its latest execution", pipelineState},
		{"executions", "NAME [--max N]", "list recent executions", pipelineExecutions},
		{"retry", "NAME STAGE [EXECUTION_ID] [--all-actions]", "retry a failed or stopped stage", pipelineRetry},
		{"rollback", "NAME STAGE [TARGET_EXECUTION_ID]", "run a stage again with an earlier execution's artifacts; prints the rollback execution's id", pipelineRollback},
		{"override", "NAME STAGE [EXECUTION_ID] [--condition BEFORE_ENTRY|ON_SUCCESS]", "let an execution past a stage condition that is still waiting (a deployment window)", pipelineOverride},
		{"approve", "NAME --stage S --action A [--summary TEXT]", "approve the waiting approval of an action", pipelineApprove},
		{"reject", "NAME --stage S --action A --summary TEXT", "reject the waiting approval of an action", pipelineReject},
		{"transition", "NAME STAGE --disable --reason R | --enable [--type Inbound|Outbound]", "disable or enable a stage transition", pipelineTransition},
	}
}

func runPipeline(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runGroup(ctx, "pipeline", pipelineCommands(), args, out, errOut)
}

// --- create, update ---

func pipelineCreate(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline create -f FILE [--tag KEY=VALUE]...")
	file := c.String("f", "", "the pipeline declaration: JSON or YAML, bare or as get-pipeline prints it; - reads standard input")
	tags := &keyValues{what: "tag"}
	c.Var(tags, "tag", "a tag KEY=VALUE (repeatable)")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return c.usageError("-f FILE is required")
	}
	d, sm, err := readDeclaration(*file)
	if err != nil {
		return err
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	in := &codepipeline.CreatePipelineInput{Pipeline: toSDKDeclaration(d)}
	for _, kv := range tags.pairs {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(kv[0]), Value: aws.String(kv[1])})
	}
	var cap responseCapture
	res, err := cp.CreatePipeline(ctx, in, noInputValidation, capture(&cap))
	if err != nil {
		return declarationAPIError(err, sm, cap.request)
	}
	created := fromSDKDeclaration(res.Pipeline)
	execID, err := firstExecution(ctx, cp, created.Name)
	if err != nil {
		return err
	}
	if c.cfg.json() {
		tagList := []map[string]string{}
		for _, t := range res.Tags {
			tagList = append(tagList, map[string]string{"key": aws.ToString(t.Key), "value": aws.ToString(t.Value)})
		}
		v := map[string]any{"pipeline": created, "tags": tagList}
		if execID != "" {
			v["pipelineExecutionId"] = execID
		}
		return printJSON(out, v)
	}
	fmt.Fprintf(out, "created pipeline %s (version %d)\n", created.Name, created.Version)
	if execID != "" {
		fmt.Fprintf(out, "first execution: %s\n", execID)
	} else {
		fmt.Fprintln(out, "no execution was started (a pipeline variable without a default needs conveyor pipeline start --variable)")
	}
	return nil
}

// firstExecution is the execution CreatePipeline started, if any.
func firstExecution(ctx context.Context, cp *codepipeline.Client, name string) (string, error) {
	res, err := cp.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(name), MaxResults: aws.Int32(5)})
	if err != nil {
		return "", apiError(err)
	}
	for _, s := range res.PipelineExecutionSummaries {
		if s.Trigger != nil && s.Trigger.TriggerType == types.TriggerTypeCreatePipeline {
			return aws.ToString(s.PipelineExecutionId), nil
		}
	}
	return "", nil
}

func pipelineUpdate(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline update -f FILE")
	file := c.String("f", "", "the pipeline declaration: JSON or YAML, bare or as get-pipeline prints it; - reads standard input")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	if *file == "" {
		return c.usageError("-f FILE is required")
	}
	d, sm, err := readDeclaration(*file)
	if err != nil {
		return err
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	var cap responseCapture
	res, err := cp.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: toSDKDeclaration(d)}, noInputValidation, capture(&cap))
	if err != nil {
		return declarationAPIError(err, sm, cap.request)
	}
	updated := fromSDKDeclaration(res.Pipeline)
	if c.cfg.json() {
		return printJSON(out, map[string]any{"pipeline": updated})
	}
	fmt.Fprintf(out, "updated pipeline %s (version %d)\n", updated.Name, updated.Version)
	return nil
}

// readDeclaration reads and checks a declaration file locally, so that mistakes are reported with
// the file's lines and columns before anything is sent. The checks that need the server's action
// providers are left to the server (declarationAPIError maps its answer back to the file).
func readDeclaration(file string) (*pipeline.Declaration, *pipeline.SourceMap, error) {
	data, err := readInput(file)
	if err != nil {
		return nil, nil, err
	}
	name := file
	if file == "-" {
		name = "<stdin>"
	}
	if isConfigFile(file, data) {
		return nil, nil, failed("%s is a conveyor.yaml (it has top-level sections); use conveyor apply -f %s", name, file)
	}
	d, sm, err := pipeline.Parse(name, data)
	if err == nil {
		err = pipeline.Validate(d, nil, sm)
	}
	if err != nil {
		return nil, nil, &exitError{code: 1, err: err}
	}
	return d, sm, nil
}

var serverPositionRe = regexp.MustCompile(`^pipeline:(\d+):(\d+): (\S+): (.*)$`)

// declarationAPIError renders the server's answer to CreatePipeline/UpdatePipeline. Validation
// errors come back as "pipeline:LINE:COL: path: message", positions in the JSON the SDK sent; they
// are mapped to the user's file through its source map.
func declarationAPIError(err error, sm *pipeline.SourceMap, request []byte) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) || sm == nil || !strings.Contains(ae.ErrorMessage(), "pipeline:") {
		return apiError(err)
	}
	var sent *pipeline.SourceMap
	var req struct {
		Pipeline json.RawMessage `json:"pipeline"`
	}
	if json.Unmarshal(request, &req) == nil && len(req.Pipeline) > 0 {
		_, sent, _ = pipeline.Parse("pipeline", req.Pipeline)
	}
	lines := strings.Split(ae.ErrorMessage(), "\n")
	for i, l := range lines {
		m := serverPositionRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		path := m[3]
		var pos pipeline.Position
		if kp, ok := sent.KeyPosition(path); ok && kp == (pipeline.Position{Line: line, Column: col}) {
			pos, _ = sm.KeyPosition(path)
		}
		if pos.IsZero() {
			pos = sm.Nearest(path)
		}
		if pos.IsZero() {
			lines[i] = fmt.Sprintf("%s: %s: %s", sm.File, path, m[4])
			continue
		}
		lines[i] = fmt.Sprintf("%s:%d:%d: %s: %s", sm.File, pos.Line, pos.Column, path, m[4])
	}
	return &exitError{code: 1, err: fmt.Errorf("%s: the server rejected the declaration:\n%s", ae.ErrorCode(), strings.Join(lines, "\n"))}
}

// --- get, list, delete ---

func pipelineGet(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline get NAME [--version N]")
	version := c.Int("version", 0, "an older version of the declaration (default: the current one)")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	in := &codepipeline.GetPipelineInput{Name: aws.String(pos[0])}
	if *version > 0 {
		in.Version = aws.Int32(int32(*version))
	}
	res, err := cp.GetPipeline(ctx, in)
	if err != nil {
		return apiError(err)
	}
	d := fromSDKDeclaration(res.Pipeline)
	meta := map[string]any{}
	if res.Metadata != nil {
		meta["pipelineArn"] = aws.ToString(res.Metadata.PipelineArn)
		if res.Metadata.Created != nil {
			meta["created"] = res.Metadata.Created.UTC()
		}
		if res.Metadata.Updated != nil {
			meta["updated"] = res.Metadata.Updated.UTC()
		}
	}
	if c.cfg.json() {
		return printJSON(out, map[string]any{"pipeline": d, "metadata": meta})
	}
	fmt.Fprintf(out, "# pipeline %s, version %d", d.Name, d.Version)
	if res.Metadata != nil {
		fmt.Fprintf(out, ", updated %s", clockPtr(res.Metadata.Updated))
	}
	fmt.Fprintf(out, "\n# edit and run: conveyor pipeline update -f FILE\n")
	enc := yaml.NewEncoder(out)
	enc.SetIndent(2)
	if err := enc.Encode(d); err != nil {
		return err
	}
	return enc.Close()
}

func pipelineList(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline list")
	if _, err := c.parse(args, 0, 0); err != nil {
		return err
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	var all []types.PipelineSummary
	var raw []json.RawMessage
	var next *string
	for {
		var cap responseCapture
		res, err := cp.ListPipelines(ctx, &codepipeline.ListPipelinesInput{NextToken: next, MaxResults: aws.Int32(1000)}, capture(&cap))
		if err != nil {
			return apiError(err)
		}
		all = append(all, res.Pipelines...)
		raw = append(raw, rawList(cap.response, "pipelines")...)
		if next = res.NextToken; aws.ToString(next) == "" {
			break
		}
	}
	if c.cfg.json() {
		return printJSON(out, map[string]any{"pipelines": nonNil(raw)})
	}
	if len(all) == 0 {
		fmt.Fprintln(out, "no pipelines; create one with conveyor pipeline create -f FILE or conveyor apply -f conveyor.yaml")
		return nil
	}
	g := &grid{}
	g.row("NAME", "VERSION", "TYPE", "MODE", "UPDATED")
	for _, p := range all {
		g.row(aws.ToString(p.Name), strconv.Itoa(int(aws.ToInt32(p.Version))), string(p.PipelineType), string(p.ExecutionMode), clockPtr(p.Updated))
	}
	return g.write(out)
}

// rawList extracts the list under key from a raw response page.
func rawList(body []byte, key string) []json.RawMessage {
	var page map[string]json.RawMessage
	if json.Unmarshal(body, &page) != nil {
		return nil
	}
	var items []json.RawMessage
	_ = json.Unmarshal(page[key], &items)
	return items
}

func nonNil(items []json.RawMessage) []json.RawMessage {
	if items == nil {
		return []json.RawMessage{}
	}
	return items
}

func pipelineDelete(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline delete NAME")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	var cap responseCapture
	if _, err := cp.DeletePipeline(ctx, &codepipeline.DeletePipelineInput{Name: aws.String(pos[0])}, capture(&cap)); err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	fmt.Fprintf(out, "deleted pipeline %s\n", pos[0])
	return nil
}

// --- start, stop ---

func pipelineStart(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline start NAME [--variable NAME=VALUE]... [--token CLIENT_REQUEST_TOKEN] [--source-revision ACTION=TYPE:VALUE]...")
	vars := &keyValues{what: "variable"}
	c.Var(vars, "variable", "a pipeline variable NAME=VALUE for this execution (V2 pipelines; repeatable)")
	token := c.String("token", "", "client request token: starting again with the same token returns the same execution")
	revs := &keyValues{what: "source revision"}
	c.Var(revs, "source-revision", "run a source action at a revision, ACTION=TYPE:VALUE with TYPE S3_OBJECT_VERSION_ID, S3_OBJECT_KEY or COMMIT_ID (repeatable)")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	in := &codepipeline.StartPipelineExecutionInput{Name: aws.String(pos[0])}
	if *token != "" {
		in.ClientRequestToken = token
	}
	for _, kv := range vars.pairs {
		in.Variables = append(in.Variables, types.PipelineVariable{Name: aws.String(kv[0]), Value: aws.String(kv[1])})
	}
	for _, kv := range revs.pairs {
		typ, val, ok := strings.Cut(kv[1], ":")
		if !ok || typ == "" || val == "" {
			return c.usageError("--source-revision %s=%s: write ACTION=TYPE:VALUE, e.g. Source=S3_OBJECT_VERSION_ID:3f2a…", kv[0], kv[1])
		}
		in.SourceRevisions = append(in.SourceRevisions, types.SourceRevisionOverride{ActionName: aws.String(kv[0]),
			RevisionType: types.SourceRevisionType(typ), RevisionValue: aws.String(val)})
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	var cap responseCapture
	res, err := cp.StartPipelineExecution(ctx, in, capture(&cap))
	if err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	fmt.Fprintln(out, aws.ToString(res.PipelineExecutionId))
	return nil
}

func pipelineStop(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline stop NAME EXECUTION_ID [--abandon] [--reason R]")
	abandon := c.Bool("abandon", false, "abandon the actions in progress instead of letting them finish")
	reason := c.String("reason", "", "why the execution is stopped (shown with the execution)")
	pos, err := c.parse(args, 2, 2)
	if err != nil {
		return err
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	in := &codepipeline.StopPipelineExecutionInput{PipelineName: aws.String(pos[0]), PipelineExecutionId: aws.String(pos[1]), Abandon: *abandon}
	if *reason != "" {
		in.Reason = reason
	}
	var cap responseCapture
	if _, err := cp.StopPipelineExecution(ctx, in, capture(&cap)); err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	if *abandon {
		fmt.Fprintf(out, "stopping execution %s of %s: actions in progress are abandoned\n", pos[1], pos[0])
	} else {
		fmt.Fprintf(out, "stopping execution %s of %s: actions in progress finish first (--abandon to cut them short)\n", pos[1], pos[0])
	}
	return nil
}

// --- state ---

func pipelineState(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline state NAME")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	var cap responseCapture
	if _, err := cp.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(pos[0])}, capture(&cap)); err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	// The read model the server marshals, with Conveyor's additions (deadline, reason, execution of
	// each action) that the SDK's types drop.
	var st pipeline.PipelineState
	if err := json.Unmarshal(cap.response, &st); err != nil {
		return fmt.Errorf("read the pipeline state: %w", err)
	}
	return writeState(out, st)
}

// writeState prints a pipeline's state for people: stages and their actions, aligned.
func writeState(w io.Writer, st pipeline.PipelineState) error {
	fmt.Fprintf(w, "pipeline %s, version %d, updated %s\n\n", st.PipelineName, st.PipelineVersion, clock(st.Updated.Time()))
	g := &grid{}
	g.row("STAGE / ACTION", "STATUS", "EXECUTION", "DETAILS")
	for _, s := range st.StageStates {
		status, exec, detail := "-", "", ""
		if s.LatestExecution != nil {
			status, exec = s.LatestExecution.Status, shortID(s.LatestExecution.PipelineExecutionID)
		}
		var notes []string
		if s.LatestExecution != nil && s.LatestExecution.Type == pipeline.ExecutionTypeRollback {
			notes = append(notes, "rollback")
		}
		if t := s.InboundTransitionState; !t.Enabled {
			n := "inbound transition disabled"
			if t.DisabledReason != "" {
				n += ": " + strconv.Quote(t.DisabledReason)
			}
			if t.LastChangedBy != "" {
				n += " (by " + t.LastChangedBy
				if t.LastChangedAt != nil {
					n += ", " + clock(t.LastChangedAt.Time())
				}
				n += ")"
			}
			notes = append(notes, n)
		}
		inbound := s.InboundExecutions
		if len(inbound) == 0 && s.InboundExecution != nil {
			inbound = []pipeline.StageExecutionRef{*s.InboundExecution}
		}
		for _, in := range inbound {
			notes = append(notes, "waiting to enter: "+in.PipelineExecutionID)
		}
		if m := s.RetryStageMetadata; m != nil {
			notes = append(notes, fmt.Sprintf("retried %d× automatically, %d× by hand", m.AutoStageRetryAttempt, m.ManualStageRetryAttempt))
		}
		for _, cs := range s.Conditions() {
			n := conditionNames[cs.Type] + " condition " + strings.ToLower(cs.State.LatestExecution.Status)
			if sum := cs.State.LatestExecution.Summary; sum != "" {
				n += ": " + sum
			}
			notes = append(notes, n)
		}
		if len(notes) > 0 {
			detail, notes = notes[0], notes[1:]
		}
		g.row(s.StageName, status, exec, detail)
		for _, n := range notes {
			g.note(n)
		}
		for _, a := range s.ActionStates {
			status, exec := "-", ""
			var notes []string
			var urls []string
			if le := a.LatestExecution; le != nil {
				status, exec = le.Status, shortID(le.PipelineExecutionID)
				switch {
				case le.ErrorDetails != nil && le.ErrorDetails.Message != "":
					notes = append(notes, "error: "+oneLine(le.ErrorDetails.Message, 240))
				case le.Summary != "":
					notes = append(notes, oneLine(le.Summary, 240))
				}
				if le.Reason != "" && le.Reason != pipeline.ReasonFailed && le.Status != pipeline.StatusSucceeded {
					notes = append(notes, "reason: "+le.Reason)
				}
				if le.ExternalExecutionID != "" {
					notes = append(notes, "external id: "+le.ExternalExecutionID)
				}
				if le.Status == pipeline.StatusInProgress && le.Token != "" {
					n := "approval waiting, token " + le.Token
					if le.Deadline != nil {
						n += ", expires " + clock(le.Deadline.Time())
					}
					notes = append(notes, n,
						fmt.Sprintf("approve: conveyor pipeline approve %s --stage %s --action %s [--summary TEXT]", st.PipelineName, s.StageName, a.ActionName),
						fmt.Sprintf("reject:  conveyor pipeline reject %s --stage %s --action %s --summary TEXT", st.PipelineName, s.StageName, a.ActionName))
					if a.EntityURL != "" {
						urls = append(urls, a.EntityURL)
					}
				}
				if le.ExternalExecutionURL != "" {
					urls = append(urls, le.ExternalExecutionURL)
				}
				if r := a.CurrentRevision; r != nil && !strings.Contains(le.Summary, r.RevisionID) {
					notes = append(notes, "revision "+r.RevisionID)
				}
			}
			for i, u := range urls {
				if i == 0 || u != urls[0] {
					notes = append(notes, u)
				}
			}
			detail := ""
			if len(notes) > 0 {
				detail, notes = notes[0], notes[1:]
			}
			g.row("  "+a.ActionName, status, exec, detail)
			for _, n := range notes {
				g.note(n)
			}
		}
	}
	return g.write(w)
}

// --- executions ---

func pipelineExecutions(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline executions NAME [--max N]")
	maxN := c.Int("max", 20, "how many executions to list, newest first")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *maxN < 1 {
		return c.usageError("--max must be at least 1")
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	var all []types.PipelineExecutionSummary
	var raw []json.RawMessage
	var next *string
	for len(all) < *maxN {
		var cap responseCapture
		res, err := cp.ListPipelineExecutions(ctx, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(pos[0]),
			MaxResults: aws.Int32(int32(min(*maxN-len(all), 100))), NextToken: next}, capture(&cap))
		if err != nil {
			return apiError(err)
		}
		all = append(all, res.PipelineExecutionSummaries...)
		raw = append(raw, rawList(cap.response, "pipelineExecutionSummaries")...)
		if next = res.NextToken; aws.ToString(next) == "" || len(res.PipelineExecutionSummaries) == 0 {
			break
		}
	}
	if c.cfg.json() {
		return printJSON(out, map[string]any{"pipelineExecutionSummaries": nonNil(raw)})
	}
	if len(all) == 0 {
		fmt.Fprintf(out, "pipeline %s has no executions; start one with conveyor pipeline start %s\n", pos[0], pos[0])
		return nil
	}
	g := &grid{}
	g.row("EXECUTION ID", "STATUS", "TRIGGER", "STARTED", "SOURCE REVISION", "SUMMARY")
	for _, e := range all {
		trigger := ""
		if e.Trigger != nil {
			trigger = string(e.Trigger.TriggerType)
		}
		var revs []string
		for _, r := range e.SourceRevisions {
			revs = append(revs, aws.ToString(r.ActionName)+":"+shortID(aws.ToString(r.RevisionId)))
		}
		summary := aws.ToString(e.StatusSummary)
		if e.StopTrigger != nil && aws.ToString(e.StopTrigger.Reason) != "" {
			summary = strings.TrimSpace(summary + " (stopped: " + aws.ToString(e.StopTrigger.Reason) + ")")
		}
		rev := strings.Join(revs, ", ")
		if rev == "" {
			rev = "-"
		}
		g.row(aws.ToString(e.PipelineExecutionId), string(e.Status), trigger, clockPtr(e.StartTime), rev, oneLine(summary, 80))
	}
	return g.write(out)
}

// --- retry ---

func pipelineRetry(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline retry NAME STAGE [EXECUTION_ID] [--all-actions]")
	allActions := c.Bool("all-actions", false, "run every action of the stage again, not only the failed ones")
	pos, err := c.parse(args, 2, 3)
	if err != nil {
		return err
	}
	name, stage := pos[0], pos[1]
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	execID := ""
	if len(pos) == 3 {
		execID = pos[2]
	} else {
		st, err := cp.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(name)})
		if err != nil {
			return apiError(err)
		}
		s, err := findStage(st, name, stage)
		if err != nil {
			return err
		}
		if s.LatestExecution == nil {
			return failed("stage %s of pipeline %s has not run yet: there is nothing to retry", stage, name)
		}
		execID = aws.ToString(s.LatestExecution.PipelineExecutionId)
	}
	mode := types.StageRetryModeFailedActions
	if *allActions {
		mode = types.StageRetryModeAllActions
	}
	var cap responseCapture
	if _, err := cp.RetryStageExecution(ctx, &codepipeline.RetryStageExecutionInput{PipelineName: aws.String(name),
		StageName: aws.String(stage), PipelineExecutionId: aws.String(execID), RetryMode: mode}, capture(&cap)); err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	what := "failed actions"
	if *allActions {
		what = "all actions"
	}
	fmt.Fprintf(out, "retrying stage %s of execution %s (%s)\n", stage, execID, what)
	return nil
}

// --- rollback ---

func pipelineRollback(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("pipeline rollback NAME STAGE [TARGET_EXECUTION_ID]")
	pos, err := c.parse(args, 2, 3)
	if err != nil {
		return err
	}
	name, stage := pos[0], pos[1]
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	target := ""
	if len(pos) == 3 {
		target = pos[2]
	} else {
		if target, err = lastSucceededIn(ctx, cp, name, stage); err != nil {
			return err
		}
		fmt.Fprintf(errOut, "rolling stage %s of %s back to execution %s, the last that succeeded in it\n", stage, name, target)
	}
	var cap responseCapture
	res, err := cp.RollbackStage(ctx, &codepipeline.RollbackStageInput{PipelineName: aws.String(name), StageName: aws.String(stage),
		TargetPipelineExecutionId: aws.String(target)}, capture(&cap))
	if err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	fmt.Fprintln(out, aws.ToString(res.PipelineExecutionId))
	return nil
}

// conditionNames name condition types in `pipeline state`.
var conditionNames = map[string]string{pipeline.ConditionBeforeEntry: "entry", pipeline.ConditionOnSuccess: "success",
	pipeline.ConditionOnFailure: "failure"}

func pipelineOverride(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("pipeline override NAME STAGE [EXECUTION_ID] [--condition BEFORE_ENTRY|ON_SUCCESS]")
	condition := c.String("condition", "", "the condition to override (default: the one that is waiting)")
	pos, err := c.parse(args, 2, 3)
	if err != nil {
		return err
	}
	name, stage := pos[0], pos[1]
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	execID := ""
	if len(pos) == 3 {
		execID = pos[2]
	}
	if execID == "" || *condition == "" {
		// Default to the execution in the stage and the condition it is waiting on.
		st, err := cp.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(name)})
		if err != nil {
			return apiError(err)
		}
		s, err := findStage(st, name, stage)
		if err != nil {
			return err
		}
		if execID == "" {
			if s.LatestExecution == nil || s.LatestExecution.Status != types.StageExecutionStatusInProgress {
				return failed("no execution is in stage %s of %s", stage, name)
			}
			execID = aws.ToString(s.LatestExecution.PipelineExecutionId)
		}
		if *condition == "" {
			for typ, cs := range map[types.ConditionType]*types.StageConditionState{types.ConditionTypeBeforeEntry: s.BeforeEntryConditionState,
				types.ConditionTypeOnSuccess: s.OnSuccessConditionState} {
				if cs != nil && cs.LatestExecution != nil && cs.LatestExecution.Status == types.ConditionExecutionStatusInProgress {
					*condition = string(typ)
				}
			}
			if *condition == "" {
				return failed("no condition of stage %s is waiting; name one with --condition", stage)
			}
		}
		fmt.Fprintf(errOut, "overriding the %s condition of stage %s for execution %s\n", *condition, stage, execID)
	}
	var cap responseCapture
	if _, err := cp.OverrideStageCondition(ctx, &codepipeline.OverrideStageConditionInput{PipelineName: aws.String(name),
		StageName: aws.String(stage), PipelineExecutionId: aws.String(execID), ConditionType: types.ConditionType(*condition)},
		capture(&cap)); err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	return nil
}

// lastSucceededIn finds the newest standard execution in which a stage succeeded: the target a
// rollback takes when none is named.
func lastSucceededIn(ctx context.Context, cp *codepipeline.Client, name, stage string) (string, error) {
	p := codepipeline.NewListPipelineExecutionsPaginator(cp, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(name),
		Filter: &types.PipelineExecutionFilter{SucceededInStage: &types.SucceededInStageFilter{StageName: aws.String(stage)}}})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", apiError(err)
		}
		for _, e := range page.PipelineExecutionSummaries {
			if e.ExecutionType != types.ExecutionTypeRollback {
				return aws.ToString(e.PipelineExecutionId), nil
			}
		}
	}
	return "", failed("no execution of pipeline %s succeeded in stage %s: there is nothing to roll back to", name, stage)
}

// findStage returns the named stage of a GetPipelineState answer.
func findStage(st *codepipeline.GetPipelineStateOutput, name, stage string) (*types.StageState, error) {
	var names []string
	for i := range st.StageStates {
		if aws.ToString(st.StageStates[i].StageName) == stage {
			return &st.StageStates[i], nil
		}
		names = append(names, aws.ToString(st.StageStates[i].StageName))
	}
	return nil, failed("pipeline %s has no stage %q; its stages: %s", name, stage, strings.Join(names, ", "))
}

// --- approve, reject ---

func pipelineApprove(ctx context.Context, args []string, out, _ io.Writer) error {
	return approvalCommand(ctx, args, out, types.ApprovalStatusApproved)
}

func pipelineReject(ctx context.Context, args []string, out, _ io.Writer) error {
	return approvalCommand(ctx, args, out, types.ApprovalStatusRejected)
}

func approvalCommand(ctx context.Context, args []string, out io.Writer, status types.ApprovalStatus) error {
	verb := "approve"
	if status == types.ApprovalStatusRejected {
		verb = "reject"
	}
	synopsis := "pipeline approve NAME --stage STAGE --action ACTION [--summary TEXT]"
	if verb == "reject" {
		synopsis = "pipeline reject NAME --stage STAGE --action ACTION --summary TEXT"
	}
	c := newCmd(synopsis)
	stage := c.String("stage", "", "the stage of the approval action")
	action := c.String("action", "", "the approval action")
	summary := c.String("summary", "", "why (recorded with the decision; required to reject)")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	switch {
	case *stage == "" || *action == "":
		return c.usageError("--stage and --action are required")
	case verb == "reject" && *summary == "":
		return c.usageError("--summary is required: say why")
	}
	name := pos[0]
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	token, execID, err := waitingApproval(ctx, cp, name, *stage, *action)
	if err != nil {
		return err
	}
	var cap responseCapture
	if _, err := cp.PutApprovalResult(ctx, &codepipeline.PutApprovalResultInput{PipelineName: aws.String(name), StageName: aws.String(*stage),
		ActionName: aws.String(*action), Token: aws.String(token),
		Result: &types.ApprovalResult{Status: status, Summary: aws.String(*summary)}}, capture(&cap)); err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	done := "approved"
	if verb == "reject" {
		done = "rejected"
	}
	fmt.Fprintf(out, "%s %s/%s of pipeline %s", done, *stage, *action, name)
	if execID != "" {
		fmt.Fprintf(out, " (execution %s)", execID)
	}
	fmt.Fprintln(out)
	return nil
}

// waitingApproval finds the token of the approval waiting at stage/action, from GetPipelineState.
func waitingApproval(ctx context.Context, cp *codepipeline.Client, name, stage, action string) (token, execID string, err error) {
	var cap responseCapture
	st, err := cp.GetPipelineState(ctx, &codepipeline.GetPipelineStateInput{Name: aws.String(name)}, capture(&cap))
	if err != nil {
		return "", "", apiError(err)
	}
	s, err := findStage(st, name, stage)
	if err != nil {
		return "", "", err
	}
	var names []string
	for _, a := range s.ActionStates {
		if aws.ToString(a.ActionName) != action {
			names = append(names, aws.ToString(a.ActionName))
			continue
		}
		le := a.LatestExecution
		if le == nil || le.Status != types.ActionExecutionStatusInProgress || aws.ToString(le.Token) == "" {
			why := "it has not run yet"
			if le != nil {
				why = "its latest execution is " + string(le.Status)
			}
			return "", "", failed("no approval is waiting at %s/%s of pipeline %s: %s", stage, action, name, why)
		}
		// The execution the approval belongs to is a Conveyor addition to the state.
		var raw pipeline.PipelineState
		if json.Unmarshal(cap.response, &raw) == nil {
			for _, rs := range raw.StageStates {
				for _, ra := range rs.ActionStates {
					if rs.StageName == stage && ra.ActionName == action && ra.LatestExecution != nil {
						execID = ra.LatestExecution.PipelineExecutionID
					}
				}
			}
		}
		return aws.ToString(le.Token), execID, nil
	}
	return "", "", failed("stage %s of pipeline %s has no action %q; its actions: %s", stage, name, action, strings.Join(names, ", "))
}

// --- transition ---

func pipelineTransition(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("pipeline transition NAME STAGE --disable --reason R | --enable [--type Inbound|Outbound]")
	disable := c.Bool("disable", false, "stop executions from entering (Inbound) or leaving (Outbound) the stage")
	enable := c.Bool("enable", false, "let executions through again")
	reason := c.String("reason", "", "why the transition is disabled (required with --disable)")
	typ := c.String("type", "Inbound", "Inbound or Outbound")
	pos, err := c.parse(args, 2, 2)
	if err != nil {
		return err
	}
	switch {
	case *disable == *enable:
		return c.usageError("give one of --disable and --enable")
	case *disable && *reason == "":
		return c.usageError("--disable needs --reason")
	case *typ != "Inbound" && *typ != "Outbound":
		return c.usageError("--type %q: use Inbound or Outbound", *typ)
	}
	cp, err := c.cfg.codePipeline()
	if err != nil {
		return err
	}
	var cap responseCapture
	if *disable {
		_, err = cp.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{PipelineName: aws.String(pos[0]), StageName: aws.String(pos[1]),
			TransitionType: types.StageTransitionType(*typ), Reason: aws.String(*reason)}, capture(&cap))
	} else {
		_, err = cp.EnableStageTransition(ctx, &codepipeline.EnableStageTransitionInput{PipelineName: aws.String(pos[0]), StageName: aws.String(pos[1]),
			TransitionType: types.StageTransitionType(*typ)}, capture(&cap))
	}
	if err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	verb := "enabled"
	if *disable {
		verb = "disabled"
	}
	fmt.Fprintf(out, "%s the %s transition of stage %s of pipeline %s\n", verb, strings.ToLower(*typ), pos[1], pos[0])
	return nil
}

// --- declarations: Conveyor's model ⇄ the SDK's types ---
//
// The two converters cover every field of pipeline.Declaration (TestDeclarationConversionCoversEveryField
// fills them all and checks the round trip). Empty strings and zero numbers become absent members,
// which the server decodes to the same declaration; nil and empty lists are kept apart.

func convertSlice[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func convertPtr[T, U any](in *T, f func(T) U) *U {
	if in == nil {
		return nil
	}
	u := f(*in)
	return &u
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func optInt32(n int) *int32 {
	if n == 0 {
		return nil
	}
	return aws.Int32(int32(n))
}

func toSDKDeclaration(d *pipeline.Declaration) *types.PipelineDeclaration {
	if d == nil {
		return nil
	}
	out := &types.PipelineDeclaration{
		Name:          optString(d.Name),
		RoleArn:       optString(d.RoleArn),
		ArtifactStore: convertPtr(d.ArtifactStore, toSDKArtifactStore),
		Stages:        convertSlice(d.Stages, toSDKStage),
		Version:       optInt32(d.Version),
		PipelineType:  types.PipelineType(d.PipelineType),
		ExecutionMode: types.ExecutionMode(d.ExecutionMode),
		Variables: convertSlice(d.Variables, func(v pipeline.VariableDeclaration) types.PipelineVariableDeclaration {
			return types.PipelineVariableDeclaration{Name: optString(v.Name), DefaultValue: optString(v.DefaultValue), Description: optString(v.Description)}
		}),
		Triggers: convertSlice(d.Triggers, func(t pipeline.Trigger) types.PipelineTriggerDeclaration {
			return types.PipelineTriggerDeclaration{ProviderType: types.PipelineTriggerProviderType(t.ProviderType),
				GitConfiguration: convertPtr(t.GitConfiguration, toSDKGitConfiguration)}
		}),
	}
	if d.ArtifactStores != nil {
		out.ArtifactStores = make(map[string]types.ArtifactStore, len(d.ArtifactStores))
		for region, s := range d.ArtifactStores {
			out.ArtifactStores[region] = toSDKArtifactStore(s)
		}
	}
	return out
}

func toSDKArtifactStore(s pipeline.ArtifactStore) types.ArtifactStore {
	return types.ArtifactStore{Type: types.ArtifactStoreType(s.Type), Location: optString(s.Location),
		EncryptionKey: convertPtr(s.EncryptionKey, func(k pipeline.EncryptionKey) types.EncryptionKey {
			return types.EncryptionKey{Id: optString(k.ID), Type: types.EncryptionKeyType(k.Type)}
		})}
}

func toSDKGitConfiguration(g pipeline.GitConfiguration) types.GitConfiguration {
	return types.GitConfiguration{
		SourceActionName: optString(g.SourceActionName),
		Push: convertSlice(g.Push, func(p pipeline.GitPushFilter) types.GitPushFilter {
			return types.GitPushFilter{
				Tags: convertPtr(p.Tags, func(f pipeline.FilterCriteria) types.GitTagFilterCriteria {
					return types.GitTagFilterCriteria{Includes: f.Includes, Excludes: f.Excludes}
				}),
				Branches:  convertPtr(p.Branches, toSDKBranches),
				FilePaths: convertPtr(p.FilePaths, toSDKFilePaths),
			}
		}),
		PullRequest: convertSlice(g.PullRequest, func(p pipeline.GitPullRequestFilter) types.GitPullRequestFilter {
			return types.GitPullRequestFilter{
				Events:    convertSlice(p.Events, func(e string) types.GitPullRequestEventType { return types.GitPullRequestEventType(e) }),
				Branches:  convertPtr(p.Branches, toSDKBranches),
				FilePaths: convertPtr(p.FilePaths, toSDKFilePaths),
			}
		}),
	}
}

func toSDKBranches(f pipeline.FilterCriteria) types.GitBranchFilterCriteria {
	return types.GitBranchFilterCriteria{Includes: f.Includes, Excludes: f.Excludes}
}

func toSDKFilePaths(f pipeline.FilterCriteria) types.GitFilePathFilterCriteria {
	return types.GitFilePathFilterCriteria{Includes: f.Includes, Excludes: f.Excludes}
}

func toSDKStage(s pipeline.Stage) types.StageDeclaration {
	return types.StageDeclaration{
		Name: optString(s.Name),
		Blockers: convertSlice(s.Blockers, func(b pipeline.BlockerDeclaration) types.BlockerDeclaration {
			return types.BlockerDeclaration{Name: optString(b.Name), Type: types.BlockerType(b.Type)}
		}),
		Actions: convertSlice(s.Actions, toSDKAction),
		OnFailure: convertPtr(s.OnFailure, func(f pipeline.FailureConditions) types.FailureConditions {
			return types.FailureConditions{Result: types.Result(f.Result), Conditions: convertSlice(f.Conditions, toSDKCondition),
				RetryConfiguration: convertPtr(f.RetryConfiguration, func(r pipeline.RetryConfiguration) types.RetryConfiguration {
					return types.RetryConfiguration{RetryMode: types.StageRetryMode(r.RetryMode)}
				})}
		}),
		OnSuccess: convertPtr(s.OnSuccess, func(c pipeline.SuccessConditions) types.SuccessConditions {
			return types.SuccessConditions{Conditions: convertSlice(c.Conditions, toSDKCondition)}
		}),
		BeforeEntry: convertPtr(s.BeforeEntry, func(c pipeline.BeforeEntryConditions) types.BeforeEntryConditions {
			return types.BeforeEntryConditions{Conditions: convertSlice(c.Conditions, toSDKCondition)}
		}),
	}
}

func toSDKCondition(c pipeline.Condition) types.Condition {
	return types.Condition{Result: types.Result(c.Result), Rules: convertSlice(c.Rules, func(r pipeline.RuleDeclaration) types.RuleDeclaration {
		return types.RuleDeclaration{
			Name: optString(r.Name),
			RuleTypeId: &types.RuleTypeId{Category: types.RuleCategory(r.RuleTypeID.Category), Owner: types.RuleOwner(r.RuleTypeID.Owner),
				Provider: optString(r.RuleTypeID.Provider), Version: optString(r.RuleTypeID.Version)},
			Configuration:    r.Configuration,
			Commands:         r.Commands,
			InputArtifacts:   convertSlice(r.InputArtifacts, toSDKInputArtifact),
			RoleArn:          optString(r.RoleArn),
			Region:           optString(r.Region),
			TimeoutInMinutes: optInt32(r.TimeoutInMinutes),
		}
	})}
}

func toSDKInputArtifact(a pipeline.ArtifactName) types.InputArtifact {
	return types.InputArtifact{Name: optString(a.Name)}
}

func toSDKAction(a pipeline.Action) types.ActionDeclaration {
	return types.ActionDeclaration{
		Name: optString(a.Name),
		ActionTypeId: &types.ActionTypeId{Category: types.ActionCategory(a.ActionTypeID.Category), Owner: types.ActionOwner(a.ActionTypeID.Owner),
			Provider: optString(a.ActionTypeID.Provider), Version: optString(a.ActionTypeID.Version)},
		RunOrder:      optInt32(a.RunOrder),
		Configuration: a.Configuration,
		Commands:      a.Commands,
		OutputArtifacts: convertSlice(a.OutputArtifacts, func(o pipeline.OutputArtifact) types.OutputArtifact {
			return types.OutputArtifact{Name: optString(o.Name), Files: o.Files}
		}),
		InputArtifacts:   convertSlice(a.InputArtifacts, toSDKInputArtifact),
		OutputVariables:  a.OutputVariables,
		RoleArn:          optString(a.RoleArn),
		Region:           optString(a.Region),
		Namespace:        optString(a.Namespace),
		TimeoutInMinutes: optInt32(a.TimeoutInMinutes),
		EnvironmentVariables: convertSlice(a.EnvironmentVariables, func(e pipeline.EnvironmentVariable) types.EnvironmentVariable {
			return types.EnvironmentVariable{Name: optString(e.Name), Value: optString(e.Value), Type: types.EnvironmentVariableType(e.Type)}
		}),
	}
}

func fromSDKDeclaration(p *types.PipelineDeclaration) *pipeline.Declaration {
	if p == nil {
		return nil
	}
	d := &pipeline.Declaration{
		Name:          aws.ToString(p.Name),
		RoleArn:       aws.ToString(p.RoleArn),
		ArtifactStore: convertPtr(p.ArtifactStore, fromSDKArtifactStore),
		Stages:        convertSlice(p.Stages, fromSDKStage),
		Version:       int(aws.ToInt32(p.Version)),
		PipelineType:  string(p.PipelineType),
		ExecutionMode: string(p.ExecutionMode),
		Variables: convertSlice(p.Variables, func(v types.PipelineVariableDeclaration) pipeline.VariableDeclaration {
			return pipeline.VariableDeclaration{Name: aws.ToString(v.Name), DefaultValue: aws.ToString(v.DefaultValue), Description: aws.ToString(v.Description)}
		}),
		Triggers: convertSlice(p.Triggers, func(t types.PipelineTriggerDeclaration) pipeline.Trigger {
			return pipeline.Trigger{ProviderType: string(t.ProviderType), GitConfiguration: convertPtr(t.GitConfiguration, fromSDKGitConfiguration)}
		}),
	}
	if p.ArtifactStores != nil {
		d.ArtifactStores = make(map[string]pipeline.ArtifactStore, len(p.ArtifactStores))
		for region, s := range p.ArtifactStores {
			d.ArtifactStores[region] = fromSDKArtifactStore(s)
		}
	}
	return d
}

func fromSDKArtifactStore(s types.ArtifactStore) pipeline.ArtifactStore {
	return pipeline.ArtifactStore{Type: string(s.Type), Location: aws.ToString(s.Location),
		EncryptionKey: convertPtr(s.EncryptionKey, func(k types.EncryptionKey) pipeline.EncryptionKey {
			return pipeline.EncryptionKey{ID: aws.ToString(k.Id), Type: string(k.Type)}
		})}
}

func fromSDKGitConfiguration(g types.GitConfiguration) pipeline.GitConfiguration {
	return pipeline.GitConfiguration{
		SourceActionName: aws.ToString(g.SourceActionName),
		Push: convertSlice(g.Push, func(p types.GitPushFilter) pipeline.GitPushFilter {
			return pipeline.GitPushFilter{
				Tags: convertPtr(p.Tags, func(f types.GitTagFilterCriteria) pipeline.FilterCriteria {
					return pipeline.FilterCriteria{Includes: f.Includes, Excludes: f.Excludes}
				}),
				Branches: convertPtr(p.Branches, fromSDKBranches),
				FilePaths: convertPtr(p.FilePaths, func(f types.GitFilePathFilterCriteria) pipeline.FilterCriteria {
					return pipeline.FilterCriteria{Includes: f.Includes, Excludes: f.Excludes}
				}),
			}
		}),
		PullRequest: convertSlice(g.PullRequest, func(p types.GitPullRequestFilter) pipeline.GitPullRequestFilter {
			return pipeline.GitPullRequestFilter{
				Events:   convertSlice(p.Events, func(e types.GitPullRequestEventType) string { return string(e) }),
				Branches: convertPtr(p.Branches, fromSDKBranches),
				FilePaths: convertPtr(p.FilePaths, func(f types.GitFilePathFilterCriteria) pipeline.FilterCriteria {
					return pipeline.FilterCriteria{Includes: f.Includes, Excludes: f.Excludes}
				}),
			}
		}),
	}
}

func fromSDKBranches(f types.GitBranchFilterCriteria) pipeline.FilterCriteria {
	return pipeline.FilterCriteria{Includes: f.Includes, Excludes: f.Excludes}
}

func fromSDKStage(s types.StageDeclaration) pipeline.Stage {
	return pipeline.Stage{
		Name: aws.ToString(s.Name),
		Blockers: convertSlice(s.Blockers, func(b types.BlockerDeclaration) pipeline.BlockerDeclaration {
			return pipeline.BlockerDeclaration{Name: aws.ToString(b.Name), Type: string(b.Type)}
		}),
		Actions: convertSlice(s.Actions, fromSDKAction),
		OnFailure: convertPtr(s.OnFailure, func(f types.FailureConditions) pipeline.FailureConditions {
			return pipeline.FailureConditions{Result: string(f.Result), Conditions: convertSlice(f.Conditions, fromSDKCondition),
				RetryConfiguration: convertPtr(f.RetryConfiguration, func(r types.RetryConfiguration) pipeline.RetryConfiguration {
					return pipeline.RetryConfiguration{RetryMode: string(r.RetryMode)}
				})}
		}),
		OnSuccess: convertPtr(s.OnSuccess, func(c types.SuccessConditions) pipeline.SuccessConditions {
			return pipeline.SuccessConditions{Conditions: convertSlice(c.Conditions, fromSDKCondition)}
		}),
		BeforeEntry: convertPtr(s.BeforeEntry, func(c types.BeforeEntryConditions) pipeline.BeforeEntryConditions {
			return pipeline.BeforeEntryConditions{Conditions: convertSlice(c.Conditions, fromSDKCondition)}
		}),
	}
}

func fromSDKCondition(c types.Condition) pipeline.Condition {
	return pipeline.Condition{Result: string(c.Result), Rules: convertSlice(c.Rules, func(r types.RuleDeclaration) pipeline.RuleDeclaration {
		out := pipeline.RuleDeclaration{
			Name:             aws.ToString(r.Name),
			Configuration:    r.Configuration,
			Commands:         r.Commands,
			InputArtifacts:   convertSlice(r.InputArtifacts, fromSDKInputArtifact),
			RoleArn:          aws.ToString(r.RoleArn),
			Region:           aws.ToString(r.Region),
			TimeoutInMinutes: int(aws.ToInt32(r.TimeoutInMinutes)),
		}
		if t := r.RuleTypeId; t != nil {
			out.RuleTypeID = pipeline.RuleTypeID{Category: string(t.Category), Owner: string(t.Owner), Provider: aws.ToString(t.Provider), Version: aws.ToString(t.Version)}
		}
		return out
	})}
}

func fromSDKInputArtifact(a types.InputArtifact) pipeline.ArtifactName {
	return pipeline.ArtifactName{Name: aws.ToString(a.Name)}
}

func fromSDKAction(a types.ActionDeclaration) pipeline.Action {
	out := pipeline.Action{
		Name:          aws.ToString(a.Name),
		RunOrder:      int(aws.ToInt32(a.RunOrder)),
		Configuration: a.Configuration,
		Commands:      a.Commands,
		OutputArtifacts: convertSlice(a.OutputArtifacts, func(o types.OutputArtifact) pipeline.OutputArtifact {
			return pipeline.OutputArtifact{Name: aws.ToString(o.Name), Files: o.Files}
		}),
		InputArtifacts:   convertSlice(a.InputArtifacts, fromSDKInputArtifact),
		OutputVariables:  a.OutputVariables,
		RoleArn:          aws.ToString(a.RoleArn),
		Region:           aws.ToString(a.Region),
		Namespace:        aws.ToString(a.Namespace),
		TimeoutInMinutes: int(aws.ToInt32(a.TimeoutInMinutes)),
		EnvironmentVariables: convertSlice(a.EnvironmentVariables, func(e types.EnvironmentVariable) pipeline.EnvironmentVariable {
			return pipeline.EnvironmentVariable{Name: aws.ToString(e.Name), Value: aws.ToString(e.Value), Type: string(e.Type)}
		}),
	}
	if t := a.ActionTypeId; t != nil {
		out.ActionTypeID = pipeline.ActionTypeID{Category: string(t.Category), Owner: string(t.Owner), Provider: aws.ToString(t.Provider), Version: aws.ToString(t.Version)}
	}
	return out
}

// --- helpers shared by the client commands: subcommand groups, flags after positional arguments,
// repeatable KEY=VALUE flags, the raw API response for --output json, aligned text ---

// subcommand is one command of a group such as `conveyor pipeline`.
type subcommand struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, out, errOut io.Writer) error
}

// runGroup dispatches `conveyor GROUP SUB args…` to SUB.
func runGroup(ctx context.Context, group string, subs []subcommand, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		groupUsage(errOut, group, subs)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, args[1:], out, errOut)
		}
	}
	fmt.Fprintf(errOut, "conveyor %s: unknown command %q\n\n", group, args[0])
	groupUsage(errOut, group, subs)
	return &exitError{code: 2}
}

func groupUsage(w io.Writer, group string, subs []subcommand) {
	fmt.Fprintf(w, "Usage: conveyor %s COMMAND [flags]\n\nCommands:\n", group)
	for _, s := range subs {
		fmt.Fprintf(w, "  %s\n        %s\n", strings.TrimSpace(s.name+" "+s.args), s.summary)
	}
	fmt.Fprintf(w, "\nRun 'conveyor %s COMMAND -h' for a command's flags. Every command takes --endpoint, --region,\n--data and --output json; docs/cli.md has examples.\n", group)
}

// cmdFlags is the flag set of one client command, with the flags every client command shares.
type cmdFlags struct {
	*flag.FlagSet
	cfg      *clientConfig
	name     string // "pipeline start"
	synopsis string
}

// newCmd starts the flags of a client command; synopsis is its usage without "conveyor ", e.g.
// "pipeline start NAME [--variable K=V]...".
func newCmd(synopsis string) *cmdFlags {
	var words []string
	for _, w := range strings.Fields(synopsis) {
		if w[0] < 'a' || w[0] > 'z' {
			break
		}
		words = append(words, w)
	}
	name := strings.Join(words, " ")
	fs := flag.NewFlagSet("conveyor "+name, flag.ContinueOnError)
	c := &cmdFlags{FlagSet: fs, name: name, synopsis: synopsis}
	c.cfg = clientFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: conveyor %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return c
}

// usageError is a command line that cannot be run (exit status 2).
func (c *cmdFlags) usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf("conveyor %s: %s\nusage: conveyor %s", c.name, fmt.Sprintf(format, args...), c.synopsis)}
}

// parse reads flags anywhere among the arguments and checks the number of positional ones
// (maxPos < 0: no limit).
func (c *cmdFlags) parse(args []string, minPos, maxPos int) ([]string, error) {
	pos, err := parseArgs(c.FlagSet, args)
	if err != nil {
		return nil, err
	}
	if o := *c.cfg.output; o != "text" && o != "json" {
		return nil, c.usageError("--output %q: use text or json", o)
	}
	switch {
	case len(pos) < minPos:
		return nil, c.usageError("missing argument(s)")
	case maxPos >= 0 && len(pos) > maxPos:
		return nil, c.usageError("unexpected argument %q", pos[maxPos])
	}
	return pos, nil
}

// parseArgs parses flags wherever they appear among the positional arguments: Go's flag package
// stops at the first positional one, but people type `conveyor pipeline start NAME --variable K=V`.
// An argument "--" ends the flags; everything after it is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// keyValues is a repeatable KEY=VALUE flag, in the order given.
type keyValues struct {
	what  string // "tag", "variable": for messages
	pairs [][2]string
}

func (kv *keyValues) String() string {
	parts := make([]string, len(kv.pairs))
	for i, p := range kv.pairs {
		parts[i] = p[0] + "=" + p[1]
	}
	return strings.Join(parts, ",")
}

func (kv *keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%s %q: write KEY=VALUE", kv.what, s)
	}
	kv.pairs = append(kv.pairs, [2]string{k, v})
	return nil
}

// responseCapture records the raw response body of an SDK call, for --output json: what the server
// said, in the API's own shape (the SDK's output types do not marshal back to it). It also keeps the
// request body, to map the server's validation errors back to the user's file.
type responseCapture struct {
	inner    codepipeline.HTTPClient
	request  []byte
	response []byte
}

func (c *responseCapture) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
		c.request = b
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	inner := c.inner
	if inner == nil {
		inner = http.DefaultClient
	}
	resp, err := inner.Do(r)
	if err != nil {
		return resp, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.response = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// capture is an SDK option recording the call's raw request and response into c.
func capture(c *responseCapture) func(*codepipeline.Options) {
	return func(o *codepipeline.Options) {
		c.inner = o.HTTPClient
		o.HTTPClient = c
	}
}

// noInputValidation drops the SDK's client-side checks of required members (CreatePipeline wants a
// roleArn, which Conveyor does not need): the server validates everything and says where.
func noInputValidation(o *codepipeline.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		_, err := s.Initialize.Remove("OperationInputValidation")
		return err
	})
}

// printRaw writes a raw JSON response indented ({} when the server sent no body).
func printRaw(w io.Writer, raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		raw = []byte("{}")
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// readInput reads a file, or standard input for "-".
func readInput(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
	}
	return os.ReadFile(file)
}

// failed is an error that ends the command with status 1 and prints msg as is.
func failed(format string, args ...any) error {
	return &exitError{code: 1, err: fmt.Errorf(format, args...)}
}

// isAPIError reports whether err is the server's error with the given code.
func isAPIError(err error, code string) bool {
	var ae interface{ ErrorCode() string }
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// shortID is the first 8 characters of an execution id: enough to tell executions apart on screen.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// clock renders a time for people: local time to the second ("-" when unknown).
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func clockPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return clock(*t)
}

// oneLine collapses white space (summaries may hold newlines) and shortens s to n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if n > 0 && utf8.RuneCountInString(s) > n {
		r := []rune(s)
		s = string(r[:n-1]) + "…"
	}
	return s
}

// grid prints rows with aligned columns; a note is a line under the previous row, starting where
// its last column starts. The last column is not padded.
type grid struct {
	rows []gridRow
}

type gridRow struct {
	cells []string
	note  string
}

func (g *grid) row(cells ...string) { g.rows = append(g.rows, gridRow{cells: cells}) }
func (g *grid) note(text string)    { g.rows = append(g.rows, gridRow{note: text}) }

func (g *grid) write(w io.Writer) error {
	cols := 0
	for _, r := range g.rows {
		cols = max(cols, len(r.cells))
	}
	widths := make([]int, cols)
	for _, r := range g.rows {
		for i, c := range r.cells {
			if i < cols-1 {
				widths[i] = max(widths[i], utf8.RuneCountInString(c))
			}
		}
	}
	const gap = 2
	indent := 0
	for i := 0; i < cols-1; i++ {
		indent += widths[i] + gap
	}
	var b strings.Builder
	for _, r := range g.rows {
		var line strings.Builder
		if r.cells == nil {
			line.WriteString(strings.Repeat(" ", indent))
			line.WriteString(r.note)
		}
		for i, c := range r.cells {
			line.WriteString(c)
			if i < len(r.cells)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+gap))
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
