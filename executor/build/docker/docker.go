// Package docker is the Docker backend of the build executor: it runs a build's commands in one
// long-lived container, one exec per command, so commands share the file system and processes the
// way CodeBuild's phases do. It talks to the engine only through the Docker client library
// (github.com/docker/docker/client), configured from the environment (DOCKER_HOST, DOCKER_TLS_VERIFY,
// DOCKER_CERT_PATH), with API version negotiation; engines from 20.10 (API 1.41) on are supported.
//
// # Call order
//
//  1. New connects and pings the engine; it fails with a readable error when Docker is unreachable.
//  2. Setup(spec) makes sure the image is present (pulling it, with progress lines, when it is
//     missing), creates the build's volumes and its container, and starts the container. The
//     container's entrypoint is replaced by a keep-alive shell loop under docker-init, so it does
//     nothing until commands are exec'd into it. When Setup fails it removes what it created, on a
//     context of its own, and returns a nil *Build.
//  3. CopyIn / Exec / CopyOut, any number of times, in any order.
//  4. Destroy removes the container and the build's volumes.
//
// # Concurrency
//
// A Backend is safe for concurrent use; builds are independent. On one Build, CopyIn, CopyOut and
// Exec may run concurrently (two execs run side by side in the container, as two shells would), but
// the OOM flag is per container: an out-of-memory kill during two overlapping execs is reported to
// both. Destroy may be called while an Exec runs: the exec is killed with its container and
// returns an error. Reap may run at any time, provided its alive function answers true for every
// build between the start of its Setup and the end of its Destroy.
//
// # Cancellation and cleanup
//
// Every method honours its context. Exec on a cancelled context kills the command's process group
// inside the container and returns ctx.Err() promptly; the container stays usable (processes the
// command moved to a process group of their own, such as daemons started with setsid, survive
// until Destroy). Destroy is
// idempotent (removing what is already gone is not an error), may be called on a nil *Build, and
// must be given a context that is not the cancelled run context: callers use
// context.WithoutCancel(runCtx) with a short timeout of their own. Errors from Destroy are real
// (the engine refused) and should be logged; Reap removes whatever a failed Destroy or a crash left.
//
// # What the image needs
//
// /bin/sh and sleep: the keep-alive loop and the small wrapper every command runs under (it
// records the command's PID in a tmpfs at /run/conveyor so a cancel can kill its process group).
// busybox, Debian, Ubuntu, Alpine and Amazon Linux images qualify; distroless ones do not.
//
// # Labels
//
// Every container and volume carries conveyor.managed=true, conveyor.instance=<Options.Instance>
// and, for per-build resources, conveyor.build-id=<Spec.BuildID>. Cache volumes (VolumeEnsure)
// carry conveyor.cache=true instead of a build id and outlive builds. Reap removes the containers
// and per-build volumes of this instance whose build is no longer alive.
package docker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// Labels put on everything this package creates.
const (
	LabelManaged  = "conveyor.managed"  // "true" on every container and volume
	LabelInstance = "conveyor.instance" // Options.Instance: which server owns it
	LabelBuildID  = "conveyor.build-id" // Spec.BuildID, on per-build containers and volumes
	LabelCache    = "conveyor.cache"    // "true" on cache volumes (VolumeEnsure); never reaped
	LabelRunOnce  = "conveyor.run-once" // "true" on RunOnce's throw-away containers
)

// DefaultInstance is the instance label value when Options.Instance is empty.
const DefaultInstance = "default"

// Options configure a Backend.
type Options struct {
	// Instance scopes the backend: everything it creates is labelled conveyor.instance=<Instance>
	// and Reap only looks at resources with the same value, so two servers (or two test runs) may
	// share one engine. Empty means DefaultInstance.
	Instance string
}

// Backend creates builds on one Docker engine. It is safe for concurrent use.
type Backend struct {
	cli      *client.Client
	log      *slog.Logger
	instance string
}

// New connects to the engine named by the environment (DOCKER_HOST, default the local socket) and
// pings it. It fails when the engine is unreachable; ctx bounds the ping (10 s when ctx has no
// deadline).
func New(ctx context.Context, log *slog.Logger, opts Options) (*Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker: configure client: %w", err)
	}
	b := &Backend{cli: cli, log: log, instance: opts.Instance}
	if b.instance == "" {
		b.instance = DefaultInstance
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := b.Ping(ctx); err != nil {
		cli.Close()
		return nil, err
	}
	log.Debug("docker engine reachable", "host", cli.DaemonHost(), "api", cli.ClientVersion(), "instance", b.instance)
	return b, nil
}

// Close releases the client's connections.
func (b *Backend) Close() error { return b.cli.Close() }

// Instance is the instance label value of this backend.
func (b *Backend) Instance() string { return b.instance }

// Ping checks that the engine answers.
func (b *Backend) Ping(ctx context.Context) error {
	if _, err := b.cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker: cannot reach the Docker engine at %s (is it running? is DOCKER_HOST right?): %w",
			b.cli.DaemonHost(), err)
	}
	return nil
}

// ImageExists reports whether the image is present on the engine.
func (b *Backend) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := b.cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case cerrdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("docker: inspect image %s: %w", ref, err)
	}
}

// ImageError is returned by Setup when the build image is missing and cannot be pulled. It is a
// configuration problem of the build (fix the image name, build or push the image), not a broken
// engine.
type ImageError struct {
	Image string
	Err   error // why the pull failed
}

func (e *ImageError) Error() string {
	return fmt.Sprintf("image %s is not present and cannot be pulled: %v. "+
		"Build it locally (make images) or push it to a reachable registry", e.Image, e.Err)
}

func (e *ImageError) Unwrap() error { return e.Err }

// ensureImage pulls ref when the engine does not have it, writing progress lines to progress
// (which may be nil).
func (b *Backend) ensureImage(ctx context.Context, ref string, progress io.Writer) error {
	ok, err := b.ImageExists(ctx, ref)
	if err != nil || ok {
		return err
	}
	if progress == nil {
		progress = io.Discard
	}
	// Pull exactly one tag: "busybox" means busybox:latest, not every tag of busybox.
	pullRef := ref
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		pullRef = reference.TagNameOnly(named).String()
	} else {
		return &ImageError{Image: ref, Err: fmt.Errorf("invalid reference: %w", err)}
	}
	start := time.Now()
	fmt.Fprintf(progress, "Pulling %s\n", pullRef)
	rc, err := b.cli.ImagePull(ctx, pullRef, image.PullOptions{})
	if err != nil {
		return &ImageError{Image: ref, Err: err}
	}
	defer rc.Close()
	if err := writePullProgress(rc, progress); err != nil {
		return &ImageError{Image: ref, Err: err}
	}
	// A pull interrupted by ctx may end the stream without an error message.
	if err := ctx.Err(); err != nil {
		return &ImageError{Image: ref, Err: err}
	}
	fmt.Fprintf(progress, "Pulled %s in %s\n", pullRef, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// writePullProgress turns the engine's JSON pull stream into readable lines: one per layer status
// change, and download/extract progress at most every two seconds per layer.
func writePullProgress(r io.Reader, w io.Writer) error {
	type layer struct {
		status string
		at     time.Time
	}
	layers := map[string]*layer{}
	dec := json.NewDecoder(r)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
		if m.ID == "" {
			if m.Status != "" {
				fmt.Fprintln(w, m.Status)
			}
			continue
		}
		l := layers[m.ID]
		if l == nil {
			l = &layer{}
			layers[m.ID] = l
		}
		now := time.Now()
		if m.Status == l.status && now.Sub(l.at) < 2*time.Second {
			continue
		}
		l.status, l.at = m.Status, now
		if m.Progress != nil && m.Progress.Total > 0 {
			fmt.Fprintf(w, "%s: %s %s/%s\n", m.ID, m.Status, size(m.Progress.Current), size(m.Progress.Total))
		} else {
			fmt.Fprintf(w, "%s: %s\n", m.ID, m.Status)
		}
	}
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fkB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// VolumeEnsure creates the named cache volume unless it exists. Cache volumes (per-project
// dependency caches) are labelled conveyor.cache=true, outlive builds and are never reaped; mount
// them with Mount.Cache. It fails when a volume of that name exists but is a per-build volume.
func (b *Backend) VolumeEnsure(ctx context.Context, name string, labels map[string]string) error {
	all := map[string]string{}
	for k, v := range labels {
		all[k] = v
	}
	all[LabelManaged] = "true"
	all[LabelInstance] = b.instance
	all[LabelCache] = "true"
	v, err := b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: all})
	if err != nil {
		return fmt.Errorf("docker: create cache volume %s: %w", name, err)
	}
	// Creating an existing volume returns it as it is.
	if v.Labels[LabelBuildID] != "" {
		return fmt.Errorf("docker: volume %s belongs to build %s, it cannot be a cache volume", name, v.Labels[LabelBuildID])
	}
	return nil
}

// VolumeRemove removes a volume (for example a project's cache). A missing volume is not an error.
func (b *Backend) VolumeRemove(ctx context.Context, name string) error {
	if err := b.cli.VolumeRemove(ctx, name, false); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove volume %s: %w", name, err)
	}
	return nil
}

// RunOnce creates, starts, waits for and removes a container running cmd: the plain "docker run
// --rm IMAGE CMD" path, used as the baseline in benchmarks. The image must be present.
func (b *Backend) RunOnce(ctx context.Context, ref string, cmd []string) (exitCode int, err error) {
	created, err := b.cli.ContainerCreate(ctx,
		&container.Config{Image: ref, Cmd: cmd, Labels: map[string]string{
			LabelManaged: "true", LabelInstance: b.instance, LabelRunOnce: "true",
		}},
		&container.HostConfig{}, nil, nil, "")
	if err != nil {
		return -1, fmt.Errorf("docker: create container: %w", err)
	}
	defer func() {
		rmCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rmErr := b.cli.ContainerRemove(rmCtx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); rmErr != nil && !cerrdefs.IsNotFound(rmErr) {
			err = errors.Join(err, fmt.Errorf("docker: remove container: %w", rmErr))
		}
	}()
	waitC, errC := b.cli.ContainerWait(ctx, created.ID, container.WaitConditionNextExit)
	if err := b.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return -1, fmt.Errorf("docker: start container: %w", err)
	}
	select {
	case w := <-waitC:
		if w.Error != nil {
			return -1, fmt.Errorf("docker: wait: %s", w.Error.Message)
		}
		return int(w.StatusCode), nil
	case err := <-errC:
		return -1, fmt.Errorf("docker: wait: %w", err)
	}
}

// labelFilter is the filter selecting this instance's managed resources, plus extra label=value
// pairs.
func (b *Backend) labelFilter(extra ...string) filters.Args {
	f := filters.NewArgs(
		filters.Arg("label", LabelManaged+"=true"),
		filters.Arg("label", LabelInstance+"="+b.instance),
	)
	for _, e := range extra {
		f.Add("label", e)
	}
	return f
}

// resourceName is the container name of a build, and the prefix of its volumes' names: readable
// (the build id, sanitised and shortened) and unique (a hash of instance and build id).
func (b *Backend) resourceName(buildID string) string {
	sum := sha256.Sum256([]byte(b.instance + "\x00" + buildID))
	s := sanitise(buildID)
	if len(s) > 40 {
		s = s[:40]
	}
	return "conveyor-" + s + "-" + hex.EncodeToString(sum[:4])
}

// sanitise maps s onto Docker's name alphabet [a-zA-Z0-9_.-].
func sanitise(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			sb.WriteRune(r)
		default:
			sb.WriteByte('-')
		}
	}
	return strings.Trim(sb.String(), "-.")
}

func randomHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}
