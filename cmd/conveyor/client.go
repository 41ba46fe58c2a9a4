package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/smithy-go"

	"github.com/conveyorci/conveyor/server/auth"
)

// clientConfig is how client commands reach a server: endpoint, region, credentials and output.
type clientConfig struct {
	endpoint *string
	region   *string
	data     *string
	output   *string
}

// clientFlags defines the flags every client command shares.
func clientFlags(fs *flag.FlagSet) *clientConfig {
	return &clientConfig{
		endpoint: stringSetting(fs, "endpoint", "CONVEYOR_ENDPOINT", "http://127.0.0.1:8080", "Conveyor server URL"),
		region:   stringSetting(fs, "region", "CONVEYOR_REGION", "local", "region of the server"),
		data:     stringSetting(fs, "data", "CONVEYOR_DATA", "./data", "server data directory, read for admin-credentials when no AWS_ACCESS_KEY_ID is set"),
		output:   stringSetting(fs, "output", "CONVEYOR_OUTPUT", "text", "text (for people) or json (for scripts)"),
	}
}

func (c *clientConfig) json() bool { return *c.output == "json" }

// credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else <data>/admin-credentials.
func (c *clientConfig) credentials() (aws.Credentials, error) {
	if id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, Source: "environment"}, nil
	}
	file := filepath.Join(*c.data, "admin-credentials")
	vals, err := auth.ReadCredentialsFile(file)
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or point --data at the server's data directory (%s: %v)", file, err)
	}
	if vals["aws_access_key_id"] == "" || vals["aws_secret_access_key"] == "" {
		return aws.Credentials{}, fmt.Errorf("%s does not hold aws_access_key_id and aws_secret_access_key", file)
	}
	return aws.Credentials{AccessKeyID: vals["aws_access_key_id"], SecretAccessKey: vals["aws_secret_access_key"], Source: file}, nil
}

// awsConfig is the SDK configuration for the server.
func (c *clientConfig) awsConfig() (aws.Config, error) {
	creds, err := c.credentials()
	if err != nil {
		return aws.Config{}, err
	}
	return aws.Config{
		Region:           *c.region,
		Credentials:      aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		RetryMaxAttempts: 3,
	}, nil
}

// codePipeline returns an SDK client pointed at the server.
func (c *clientConfig) codePipeline() (*codepipeline.Client, error) {
	cfg, err := c.awsConfig()
	if err != nil {
		return nil, err
	}
	return codepipeline.NewFromConfig(cfg, func(o *codepipeline.Options) { o.BaseEndpoint = aws.String(strings.TrimRight(*c.endpoint, "/")) }), nil
}

// codeBuild returns a CodeBuild SDK client pointed at the server.
func (c *clientConfig) codeBuild() (*codebuild.Client, error) {
	cfg, err := c.awsConfig()
	if err != nil {
		return nil, err
	}
	return codebuild.NewFromConfig(cfg, func(o *codebuild.Options) { o.BaseEndpoint = aws.String(strings.TrimRight(*c.endpoint, "/")) }), nil
}

// rest sends a SigV4-signed request to the server's REST extras (/api/v1/…). When body is a file
// or a byte slice its SHA-256 is signed, so the server rejects a body changed in transit.
func (c *clientConfig) rest(ctx context.Context, method, path string, body io.ReadSeeker, out any) error {
	creds, err := c.credentials()
	if err != nil {
		return err
	}
	payloadHash := hex.EncodeToString(sha256.New().Sum(nil))
	var reader io.Reader
	if body != nil {
		h := sha256.New()
		if _, err := io.Copy(h, body); err != nil {
			return err
		}
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return err
		}
		payloadHash = hex.EncodeToString(h.Sum(nil))
		reader = body
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(*c.endpoint, "/")+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, "conveyor", *c.region, time.Now()); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) == nil && e.Type != "" {
			return fmt.Errorf("%s: %s", e.Type, e.Message)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// restJSON sends v as a JSON body.
func (c *clientConfig) restJSON(ctx context.Context, method, path string, v, out any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.rest(ctx, method, path, bytes.NewReader(b), out)
}

// apiError renders an SDK error as "Code: message" (what the server said), without SDK noise.
func apiError(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}

// printJSON writes v indented (the --output json form).
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// restDelete is a `GROUP delete NAME` command over the REST extras: DELETE path(NAME), then say so
// (--output json: the command's own JSON answer).
func restDelete(usage, what string, path func(string) string, asJSON func(string) any) func(context.Context, []string, io.Writer, io.Writer) error {
	return func(ctx context.Context, args []string, out, _ io.Writer) error {
		c := newCmd(usage)
		pos, err := c.parse(args, 1, 1)
		if err != nil {
			return err
		}
		if err := c.cfg.rest(ctx, http.MethodDelete, path(pos[0]), nil, nil); err != nil {
			return err
		}
		if c.cfg.json() {
			return printJSON(out, asJSON(pos[0]))
		}
		fmt.Fprintf(out, "deleted %s %s\n", what, pos[0])
		return nil
	}
}
