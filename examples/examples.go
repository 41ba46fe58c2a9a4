// Package examples embeds the example that `conveyor server --example` (and `make run`) loads: a
// pipeline declaration and the sample application it releases.
package examples

import (
	"archive/zip"
	"bytes"
	"embed"
	"io/fs"
	"path"
	"strings"
)

//go:embed all:quickstart
var files embed.FS

// QuickstartPipeline is the example pipeline declaration (get-pipeline JSON).
func QuickstartPipeline() ([]byte, error) { return files.ReadFile("quickstart/pipeline.json") }

// QuickstartDeployment is the example's CodeDeploy application and deployment group
// ({"application": CreateApplication, "deploymentGroup": CreateDeploymentGroup request shapes}).
func QuickstartDeployment() ([]byte, error) { return files.ReadFile("quickstart/deploy.json") }

// QuickstartAgentTags are the tags a host needs to receive the example's deployments.
var QuickstartAgentTags = map[string]string{"role": "quickstart"}

// QuickstartProject is the example's CodeBuild project (the CreateProject request shape).
func QuickstartProject() ([]byte, error) { return files.ReadFile("quickstart/project.json") }

// QuickstartBucket and QuickstartKey are where the example's source bundle is uploaded.
const (
	QuickstartBucket = "conveyor-examples"
	QuickstartKey    = "quickstart/app.zip"
)

// QuickstartBundle zips the sample application as a source bundle; scripts keep their
// executable bit.
func QuickstartBundle() ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	root := "quickstart/_app"
	err := fs.WalkDir(files, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		// The app is stored under _app, with go.mod renamed, so that Go does not treat it as a
		// package or a nested module of this repository; the bundle restores the real names.
		name := strings.TrimSuffix(p[len(root)+1:], ".example")
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		mode := fs.FileMode(0o644)
		if path.Ext(name) == ".sh" {
			mode = 0o755
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = w.Write(body)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
