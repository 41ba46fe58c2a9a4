package main

// `conveyor upload BUCKET/KEY FILE.zip`: store a new version of a source bundle; the server starts
// every pipeline whose S3 source watches it.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
)

func runUpload(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("upload BUCKET/KEY FILE")
	pos, err := c.parse(args, 2, 2)
	if err != nil {
		return err
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(pos[0], "s3://"), "/")
	if !ok || bucket == "" || key == "" {
		return c.usageError("%q: write BUCKET/KEY, e.g. conveyor-examples/quickstart/app.zip", pos[0])
	}
	f, err := os.Open(pos[1])
	if err != nil {
		return err
	}
	defer f.Close()
	segments := strings.Split(key, "/")
	for i, s := range segments {
		segments[i] = url.PathEscape(s)
	}
	var raw json.RawMessage
	if err := c.cfg.rest(ctx, http.MethodPut, "/api/v1/buckets/"+url.PathEscape(bucket)+"/objects/"+strings.Join(segments, "/"), f, &raw); err != nil {
		return err
	}
	if c.cfg.json() {
		return printRaw(out, raw)
	}
	var res struct {
		VersionID         string            `json:"versionId"`
		SHA256            string            `json:"sha256"`
		Size              int64             `json:"size"`
		StartedExecutions map[string]string `json:"startedExecutions"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("read the upload's answer: %w", err)
	}
	fmt.Fprintf(out, "uploaded %s/%s: version %s (%d bytes, sha256 %s)\n", bucket, key, res.VersionID, res.Size, shortID(res.SHA256))
	if len(res.StartedExecutions) == 0 {
		fmt.Fprintf(out, "no pipeline watches %s/%s\n", bucket, key)
		return nil
	}
	names := make([]string, 0, len(res.StartedExecutions))
	for n := range res.StartedExecutions {
		names = append(names, n)
	}
	sort.Strings(names)
	g := &grid{}
	g.row("STARTED PIPELINE", "EXECUTION ID")
	for _, n := range names {
		g.row(n, res.StartedExecutions[n])
	}
	return g.write(out)
}
