package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/source/git"
	"github.com/conveyorci/conveyor/store"
)

// The git source providers.
var (
	CodeStarType   = executor.ActionType{Category: "Source", Owner: "AWS", Provider: "CodeStarSourceConnection"}
	CodeCommitType = executor.ActionType{Category: "Source", Owner: "AWS", Provider: "CodeCommit"}
)

// Output artifact formats.
const (
	FormatCodeZip   = "CODE_ZIP"
	FormatCloneRef  = "CODEBUILD_CLONE_REF"
	maxCommitMsgLen = 100 << 10 // CodePipeline's limit on the CommitMessage variable
)

// ConnectionLookup says whether a connection exists (nil error) for validation; a nil lookup skips
// the check, as offline validation (conveyor validate) must.
type ConnectionLookup func(name string) error

// Lookup is the ConnectionLookup over the store.
func (c *Connections) Lookup() ConnectionLookup {
	return func(name string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Get(ctx, name)
		return err
	}
}

// hasVariable reports a value that is only known when the action runs (#{…}).
func hasVariable(v string) bool { return strings.Contains(v, "#{") }

func checkConnection(lookup ConnectionLookup, key, name string, problems map[string]string) {
	if lookup == nil {
		return
	}
	switch err := lookup(name); {
	case errors.Is(err, store.ErrNotFound):
		problems[key] = fmt.Sprintf("connection %s does not exist; create it first (conveyor connections create %s --provider … --url …, or a connections: entry in conveyor.yaml)", name, name)
	case err != nil:
		problems[key] = fmt.Sprintf("cannot check connection %s: %v", name, err)
	}
}

func checkCommonConfig(c map[string]string, problems map[string]string) {
	if b, ok := c["BranchName"]; ok && !hasVariable(b) {
		if err := git.CheckBranchName(b); err != nil {
			problems["BranchName"] = err.Error()
		}
	}
	if f, ok := c["OutputArtifactFormat"]; ok && f != FormatCodeZip && f != FormatCloneRef {
		problems["OutputArtifactFormat"] = fmt.Sprintf("must be %s or %s", FormatCodeZip, FormatCloneRef)
	}
}

// CodeStarSpec describes CodeStarSourceConnection. With a lookup, a ConnectionArn naming no
// connection fails validation of the pipeline.
func CodeStarSpec(lookup ConnectionLookup) executor.Spec {
	return executor.Spec{
		Type:           CodeStarType,
		RequiredConfig: []string{"ConnectionArn", "FullRepositoryId", "BranchName"},
		OptionalConfig: []string{"OutputArtifactFormat", "DetectChanges"},
		MinOutputs:     1, MaxOutputs: 1,
		ValidateConfig: func(c map[string]string) map[string]string {
			problems := map[string]string{}
			if arn, ok := c["ConnectionArn"]; ok && !hasVariable(arn) {
				if name, ok := ConnectionNameFromArn(arn); !ok {
					problems["ConnectionArn"] = fmt.Sprintf("%q is not a connection ARN (arn:aws:codeconnections:REGION:000000000000:connection/NAME; conveyor connections list shows them)", arn)
				} else {
					checkConnection(lookup, "ConnectionArn", name, problems)
				}
			}
			if id, ok := c["FullRepositoryId"]; ok && !hasVariable(id) {
				if id == "" || strings.HasPrefix(id, "/") || strings.HasPrefix(id, "-") || strings.Contains(id, "..") || strings.ContainsAny(id, " \t\n\\") {
					problems["FullRepositoryId"] = fmt.Sprintf("%q is not a repository name (owner/repo)", id)
				}
			}
			if v, ok := c["DetectChanges"]; ok && v != "true" && v != "false" {
				problems["DetectChanges"] = "must be true or false"
			}
			checkCommonConfig(c, problems)
			return problems
		},
	}
}

// CodeCommitSpec describes CodeCommit, whose RepositoryName is a connection's name here.
func CodeCommitSpec(lookup ConnectionLookup) executor.Spec {
	return executor.Spec{
		Type:           CodeCommitType,
		RequiredConfig: []string{"RepositoryName", "BranchName"},
		OptionalConfig: []string{"PollForSourceChanges", "OutputArtifactFormat"},
		MinOutputs:     1, MaxOutputs: 1,
		ValidateConfig: func(c map[string]string) map[string]string {
			problems := map[string]string{}
			if name, ok := c["RepositoryName"]; ok && !hasVariable(name) {
				if !connectionNamePattern.MatchString(name) {
					problems["RepositoryName"] = fmt.Sprintf("%q is not a connection name", name)
				} else {
					checkConnection(lookup, "RepositoryName", name, problems)
				}
			}
			if v, ok := c["PollForSourceChanges"]; ok && v != "true" && v != "false" {
				problems["PollForSourceChanges"] = "must be true or false"
			}
			checkCommonConfig(c, problems)
			return problems
		},
	}
}

// GitSource runs the CodeStarSourceConnection and CodeCommit source actions: it fetches exactly
// the commit the execution names (the pushed commit, a sourceRevisions override, or the branch head
// for a manual start) into the connection's cache and stores it as a zip artifact.
type GitSource struct {
	Connections *Connections
	Blobs       *store.Blobs
	Log         *slog.Logger
}

// Execute fetches and archives the commit.
func (g *GitSource) Execute(ctx context.Context, job executor.Job) (executor.Result, error) {
	cfg := job.Configuration
	codeCommit := job.Type.Provider == CodeCommitType.Provider
	connName, repoID := cfg["RepositoryName"], ""
	if !codeCommit {
		name, ok := ConnectionNameFromArn(cfg["ConnectionArn"])
		if !ok {
			return executor.Failure(fmt.Sprintf("ConnectionArn %q is not a connection ARN", cfg["ConnectionArn"])), nil
		}
		connName, repoID = name, cfg["FullRepositoryId"]
	}
	if len(job.OutputArtifacts) != 1 {
		return executor.Failure("a git source action needs exactly one output artifact"), nil
	}
	conn, err := g.Connections.Get(ctx, connName)
	if errors.Is(err, store.ErrNotFound) {
		return executor.Failure(fmt.Sprintf("connection %s does not exist (it was deleted?); create it with conveyor connections create", connName)), nil
	}
	if err != nil {
		return executor.Result{}, err
	}
	repo, err := g.Connections.Repo(ctx, conn, repoID)
	if err != nil {
		return executor.Failure(err.Error()), nil
	}
	if repoID == "" {
		repoID = repo.URL().RepositoryID()
	}
	branch, ref := g.target(job, conn)

	var id string
	if r := job.SourceRevision; r != nil && r.Type == "COMMIT_ID" {
		if !git.IsCommitID(r.Value) {
			return executor.Failure(fmt.Sprintf("source revision %q is not a full commit id (40 hex digits)", r.Value)), nil
		}
		id = r.Value
	} else {
		refs, err := repo.LsRemote(ctx)
		if err != nil {
			return g.gitFailure(ctx, "list the branches of "+repo.URL().String(), err)
		}
		if id = refs.Refs["refs/heads/"+branch]; id == "" {
			return executor.Failure(fmt.Sprintf("branch %s does not exist in %s", branch, repo.URL().String())), nil
		}
	}
	job.Progress(executor.Progress{ExternalExecutionID: id, Summary: "fetching " + shortCommit(id) + " from " + repo.URL().String()})
	commit, err := repo.Ensure(ctx, id, ref)
	if err != nil {
		return g.gitFailure(ctx, "fetch "+id+" from "+repo.URL().String(), err)
	}
	info, err := repo.Commit(ctx, commit)
	if err != nil {
		return g.gitFailure(ctx, "read commit "+commit, err)
	}
	format := cfg["OutputArtifactFormat"]
	blob, err := g.store(ctx, func(w io.Writer) error {
		if format == FormatCloneRef {
			return repo.CloneZip(ctx, commit, branch, w)
		}
		return repo.ArchiveZip(ctx, commit, w)
	})
	if err != nil {
		return g.gitFailure(ctx, "archive "+commit, err)
	}
	message := strings.TrimRight(info.Message, "\n")
	vars := map[string]string{
		"CommitId":      commit,
		"BranchName":    branch,
		"CommitMessage": truncateUTF8(message, maxCommitMsgLen),
		"AuthorDate":    info.AuthorDate.UTC().Format(time.RFC3339),
	}
	if codeCommit {
		vars["CommitterDate"] = info.CommitterDate.UTC().Format(time.RFC3339)
		vars["RepositoryName"] = connName
	} else {
		vars["ConnectionArn"] = cfg["ConnectionArn"]
		vars["FullRepositoryName"] = repoID
	}
	return executor.Result{
		Status:              executor.Succeeded,
		Summary:             fmt.Sprintf("%s %s: %s", repoID, shortCommit(commit), firstLine(message)),
		ExternalExecutionID: commit,
		OutputArtifacts: []executor.Artifact{{
			Name: job.OutputArtifacts[0], BlobSHA256: blob.SHA256, Size: blob.Size,
			Revision: &executor.Revision{
				RevisionID: commit, Summary: truncateUTF8(message, 2048), URL: commitURL(conn.Provider, repo.URL(), commit),
				Created: info.CommitterDate.UTC(), RepositoryURL: repo.URL().String(),
			},
		}},
		OutputVariables: vars,
	}, nil
}

// target is the branch the action builds and the ref to fetch it by: the pushed branch (or the
// pull request's source branch) when an event started the execution, else BranchName.
func (g *GitSource) target(job executor.Job, conn store.Connection) (branch, ref string) {
	branch = job.Configuration["BranchName"]
	ref = "refs/heads/" + branch
	d, ok := parseTriggerDetail(job.TriggerDetail)
	if !ok || d.Ref == "" {
		return branch, ref
	}
	if b, isBranch := strings.CutPrefix(d.Ref, "refs/heads/"); isBranch {
		branch, ref = b, d.Ref
	} else {
		ref = d.Ref
	}
	if d.PullRequest > 0 {
		// The head may live in a fork; the target repository serves it under a pull ref.
		ref = "refs/pull/" + strconv.Itoa(d.PullRequest) + "/head"
		if conn.Provider == ProviderGitLab {
			ref = "refs/merge-requests/" + strconv.Itoa(d.PullRequest) + "/head"
		}
	}
	return branch, ref
}

// store streams what write produces into the blob store.
func (g *GitSource) store(ctx context.Context, write func(io.Writer) error) (store.BlobInfo, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	blob, err := g.Blobs.Put(ctx, pr, MaxObjectSize)
	pr.CloseWithError(err) // stops the writer when the store gave up first
	return blob, err
}

// gitFailure turns failures about the remote or its content (git's errors, DNS, the private
// network rule, a missing commit) into a failed action, and anything else (the disk, the store)
// into a provider error.
func (g *GitSource) gitFailure(ctx context.Context, what string, err error) (executor.Result, error) {
	var ge *git.Error
	if errors.As(err, &ge) || errors.Is(err, git.ErrPrivateNetwork) || errors.Is(err, git.ErrNoCommit) || ctx.Err() != nil {
		return executor.Failure(what + ": " + err.Error()), nil
	}
	return executor.Result{}, fmt.Errorf("%s: %w", what, err)
}

// CanResume: fetching is idempotent, so an interrupted fetch simply runs again.
func (g *GitSource) CanResume(executor.Job) bool { return true }

func commitURL(provider string, u git.URL, commit string) string {
	web := u.WebURL()
	switch {
	case web == "":
		return ""
	case provider == ProviderGitLab:
		return web + "/-/commit/" + commit
	case provider == ProviderGitHub, provider == ProviderGitea:
		return web + "/commit/" + commit
	}
	return ""
}

func shortCommit(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return truncateUTF8(line, 200)
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
