// Package source holds the source action providers. The S3 provider reads versioned objects from
// Conveyor's own object store (uploaded with `conveyor upload` or the REST upload endpoint); an
// upload of a new version of a watched key starts the pipelines that watch it.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

// S3Type is the S3 source provider's action type.
var S3Type = executor.ActionType{Category: "Source", Owner: "AWS", Provider: "S3"}

// MaxObjectSize caps one uploaded object (a source bundle).
const MaxObjectSize = 2 << 30

// S3 is the S3 source provider over the local object store.
type S3 struct {
	DB    *store.DB
	Blobs *store.Blobs
}

var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$`)

// ValidateBucketKey checks a bucket name and object key the way S3 would.
func ValidateBucketKey(bucket, key string) error {
	if !bucketPattern.MatchString(bucket) || strings.Contains(bucket, "..") {
		return fmt.Errorf("bucket name %q: 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", bucket)
	}
	if key == "" || len(key) > 1024 || strings.HasPrefix(key, "/") {
		return fmt.Errorf("object key %q: 1-1024 characters, not starting with /", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("object key %q: must not contain . or .. segments", key)
		}
	}
	return nil
}

// S3Spec describes the provider for validation.
func S3Spec() executor.Spec {
	return executor.Spec{
		Type:           S3Type,
		RequiredConfig: []string{"S3Bucket", "S3ObjectKey"},
		OptionalConfig: []string{"PollForSourceChanges", "AllowOverrideForS3ObjectKey"},
		MinOutputs:     1, MaxOutputs: 1,
		ValidateConfig: func(c map[string]string) map[string]string {
			problems := map[string]string{}
			if v, ok := c["PollForSourceChanges"]; ok && v != "true" && v != "false" {
				problems["PollForSourceChanges"] = "must be true or false"
			}
			if b, ok := c["S3Bucket"]; ok && !strings.Contains(b, "#{") && !bucketPattern.MatchString(b) {
				problems["S3Bucket"] = "must be 3-63 lowercase letters, digits, dots and hyphens"
			}
			return problems
		},
	}
}

// Execute outputs the object version the execution pinned (an upload trigger or sourceRevisions),
// or the latest version of the key.
func (s *S3) Execute(ctx context.Context, job executor.Job) (executor.Result, error) {
	bucket, key, version := job.Configuration["S3Bucket"], job.Configuration["S3ObjectKey"], ""
	if r := job.SourceRevision; r != nil {
		switch r.Type {
		case "S3_OBJECT_VERSION_ID":
			version = r.Value
		case "S3_OBJECT_KEY":
			key = r.Value
		}
	}
	obj, err := s.DB.Read().GetObject(ctx, bucket, key, version)
	if errors.Is(err, store.ErrNotFound) {
		what := fmt.Sprintf("s3://%s/%s", bucket, key)
		if version != "" {
			what += " version " + version
		}
		return executor.Failure(fmt.Sprintf("The object %s does not exist. Upload it with: conveyor upload %s/%s FILE.zip", what, bucket, key)), nil
	}
	if err != nil {
		return executor.Result{}, err
	}
	if len(job.OutputArtifacts) != 1 {
		return executor.Failure("the S3 source action needs exactly one output artifact"), nil
	}
	return executor.Result{
		Status:  executor.Succeeded,
		Summary: fmt.Sprintf("s3://%s/%s version %s", bucket, key, obj.VersionID),
		OutputArtifacts: []executor.Artifact{{
			Name: job.OutputArtifacts[0], BlobSHA256: obj.SHA256, Size: obj.Size,
			Revision: &executor.Revision{RevisionID: obj.VersionID, RevisionChangeID: obj.ETag,
				Summary: fmt.Sprintf("s3://%s/%s", bucket, key), Created: obj.Created},
		}},
		OutputVariables: map[string]string{"ETag": obj.ETag, "VersionId": obj.VersionID},
	}, nil
}

// CanResume: fetching is idempotent and quick, so an interrupted fetch simply runs again.
func (s *S3) CanResume(executor.Job) bool { return true }

// Starter starts executions (the engine).
type Starter interface {
	StartExecution(ctx context.Context, in pipeline.StartInput) (string, error)
	Declarations(ctx context.Context) ([]*pipeline.Declaration, error)
}

// Uploads stores new object versions and starts the pipelines that watch them.
type Uploads struct {
	S3     *S3
	Engine Starter
	Log    *slog.Logger
}

// UploadResult is what an upload stored and started.
type UploadResult struct {
	Object     store.Object
	Executions map[string]string // pipeline → execution id
}

// Put stores r as a new version of bucket/key and starts every pipeline whose S3 source action
// watches bucket/key with PollForSourceChanges not false. The new execution is pinned to the
// uploaded version, so a second upload racing the first cannot change what it builds.
func (u *Uploads) Put(ctx context.Context, bucket, key string, r io.Reader, identity string) (UploadResult, error) {
	if err := ValidateBucketKey(bucket, key); err != nil {
		return UploadResult{}, err
	}
	blob, err := u.S3.Blobs.Put(ctx, r, MaxObjectSize)
	if err != nil {
		return UploadResult{}, err
	}
	var obj store.Object
	err = u.S3.DB.Write(ctx, func(tx *store.Tx) error {
		obj, err = tx.PutObject(ctx, bucket, key, blob)
		return err
	})
	if err != nil {
		return UploadResult{}, err
	}
	res := UploadResult{Object: obj, Executions: map[string]string{}}
	decls, err := u.Engine.Declarations(ctx)
	if err != nil {
		return res, err
	}
	for _, d := range decls {
		for _, a := range d.Stages[0].Actions {
			t := a.ActionTypeID
			if t.Category != S3Type.Category || t.Owner != S3Type.Owner || t.Provider != S3Type.Provider {
				continue
			}
			if a.Configuration["S3Bucket"] != bucket || a.Configuration["S3ObjectKey"] != key || a.Configuration["PollForSourceChanges"] == "false" {
				continue
			}
			id, err := u.Engine.StartExecution(ctx, pipeline.StartInput{
				Pipeline:        d.Name,
				TriggerType:     pipeline.TriggerPollForSourceChanges,
				TriggerDetail:   fmt.Sprintf("s3://%s/%s?versionId=%s uploaded by %s", bucket, key, obj.VersionID, identity),
				SourceRevisions: []pipeline.SourceRevisionInput{{ActionName: a.Name, RevisionType: "S3_OBJECT_VERSION_ID", RevisionValue: obj.VersionID}},
			})
			if err != nil {
				u.Log.Error("starting pipeline for upload", "pipeline", d.Name, "bucket", bucket, "key", key, "err", err)
				continue
			}
			res.Executions[d.Name] = id
			u.Log.Info("upload started pipeline", "pipeline", d.Name, "execution_id", id, "bucket", bucket, "key", key, "version", obj.VersionID)
		}
	}
	return res, nil
}
