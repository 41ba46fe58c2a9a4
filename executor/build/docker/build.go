package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"
)

// KeepAlive is the entrypoint of every build container: a shell that sleeps until the container
// is stopped. It needs only /bin/sh and sleep (busybox, Debian, Alpine, Ubuntu, Amazon Linux);
// the container runs with init (docker-init) as PID 1, which reaps the zombies that exec'd
// commands leave behind.
var KeepAlive = []string{"/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait; done"}

// runDir is a small tmpfs in every build container where Exec's wrapper records the PID of each
// command (see Exec). It is not in the image, not in a volume, and gone with the container.
const runDir = "/run/conveyor"

// Spec describes a build's container.
type Spec struct {
	// BuildID identifies the build: the conveyor.build-id label, and (sanitised) the names of the
	// container and volumes. Required.
	BuildID string
	// Image is the build image; pulled when missing.
	Image string
	// NanoCPUs (1e9 = one CPU) and MemoryBytes limit the container; 0 means no limit. With a
	// memory limit, swap is disabled (memory+swap = memory) so the limit is a real one.
	NanoCPUs    int64
	MemoryBytes int64
	// Privileged runs the container privileged (Docker-in-Docker builds).
	Privileged bool
	// Env is the container's environment (KEY=value); each Exec may add to it.
	Env []string
	// Labels are extra labels (project, pipeline execution…). The conveyor.* labels of this
	// package take precedence.
	Labels map[string]string
	// Mounts are named volumes mounted into the container.
	Mounts []Mount
	// WorkDir is the container's working directory (created when missing) and the default
	// directory of every Exec.
	WorkDir string
	// PullProgress receives readable pull progress lines when the image must be pulled; may be nil.
	PullProgress io.Writer
}

// Mount is a named volume in a build container.
type Mount struct {
	// Volume names the volume. For a per-build volume (Cache false) it is a short name unique
	// within the build ("src", "output"); the Docker volume is named after the build (see
	// Build.Volumes), created by Setup and removed by Destroy. For a cache volume it is the
	// Docker volume's full name.
	Volume string
	// Target is the absolute path in the container.
	Target string
	// Cache marks a cache volume shared between builds (VolumeEnsure): created when missing,
	// never removed by Destroy or Reap.
	Cache bool
	// ReadOnly mounts the volume read-only.
	ReadOnly bool
}

// Build is a running build container. Its methods may be called concurrently (see the package
// comment).
type Build struct {
	// ID is the container's id; Name its name.
	ID   string
	Name string
	// BuildID is Spec.BuildID.
	BuildID string
	// Volumes are the Docker names of the per-build volumes, in Spec.Mounts order.
	Volumes []string

	b *Backend
}

// Setup makes sure the image is present, creates the build's per-build volumes and its container,
// and starts it. Everything is labelled with the build id. When Setup fails it removes what it
// created (on a context of its own, so a cancelled ctx still cleans up) and returns a nil *Build.
// An *ImageError means the image is missing and could not be pulled.
//
// Setup may be retried with the same BuildID: leftovers of an earlier attempt are replaced.
func (b *Backend) Setup(ctx context.Context, spec Spec) (*Build, error) {
	if spec.BuildID == "" || spec.Image == "" {
		return nil, errors.New("docker: Setup needs a BuildID and an Image")
	}
	if err := b.ensureImage(ctx, spec.Image, spec.PullProgress); err != nil {
		return nil, err
	}
	bd, err := b.setup(ctx, spec)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := b.destroyBuild(cctx, spec.BuildID); derr != nil {
			b.log.Warn("docker: cleanup after failed setup", "build", spec.BuildID, "err", derr)
		}
		return nil, err
	}
	return bd, nil
}

func (b *Backend) setup(ctx context.Context, spec Spec) (*Build, error) {
	name := b.resourceName(spec.BuildID)
	labels := map[string]string{}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	labels[LabelManaged] = "true"
	labels[LabelInstance] = b.instance
	labels[LabelBuildID] = spec.BuildID

	bd := &Build{Name: name, BuildID: spec.BuildID, b: b}
	var mounts []mount.Mount
	for _, m := range spec.Mounts {
		if m.Volume == "" || m.Target == "" {
			return nil, fmt.Errorf("docker: mount needs a volume name and a target: %+v", m)
		}
		vol := m.Volume
		if m.Cache {
			if err := b.VolumeEnsure(ctx, vol, nil); err != nil {
				return nil, err
			}
		} else {
			vol = name + "-" + sanitise(m.Volume)
			v, err := b.cli.VolumeCreate(ctx, volume.CreateOptions{Name: vol, Labels: labels})
			if err != nil {
				return nil, fmt.Errorf("docker: create volume %s: %w", vol, err)
			}
			// An existing volume is returned as it is: it must be this build's (a retried Setup).
			if v.Labels[LabelBuildID] != spec.BuildID || v.Labels[LabelInstance] != b.instance {
				return nil, fmt.Errorf("docker: volume %s exists and does not belong to build %s", vol, spec.BuildID)
			}
			bd.Volumes = append(bd.Volumes, vol)
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: vol, Target: m.Target, ReadOnly: m.ReadOnly})
	}

	cfg := &container.Config{
		Image:      spec.Image,
		Entrypoint: KeepAlive,
		Cmd:        []string{},
		Env:        spec.Env,
		Labels:     labels,
		WorkingDir: spec.WorkDir,
	}
	useInit := true
	host := &container.HostConfig{
		Init:       &useInit,
		Privileged: spec.Privileged,
		Mounts:     mounts,
		Tmpfs:      map[string]string{runDir: "rw,nosuid,nodev,mode=1777,size=4m"},
		Resources:  container.Resources{NanoCPUs: spec.NanoCPUs, Memory: spec.MemoryBytes},
	}
	if spec.MemoryBytes > 0 {
		host.Resources.MemorySwap = spec.MemoryBytes
	}
	created, err := b.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
	if err != nil && cerrdefs.IsConflict(err) {
		// A container of an earlier attempt holds the name: remove it if it is this build's.
		if rmErr := b.removeContainerOf(ctx, name, spec.BuildID); rmErr != nil {
			return nil, rmErr
		}
		created, err = b.cli.ContainerCreate(ctx, cfg, host, nil, nil, name)
	}
	if err != nil {
		return nil, fmt.Errorf("docker: create container %s: %w", name, err)
	}
	bd.ID = created.ID
	if err := b.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("docker: start container %s: %w", name, err)
	}
	return bd, nil
}

// removeContainerOf force-removes the container called name if it belongs to buildID.
func (b *Backend) removeContainerOf(ctx context.Context, name, buildID string) error {
	info, err := b.cli.ContainerInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("docker: inspect container %s: %w", name, err)
	}
	if info.Config == nil || info.Config.Labels[LabelBuildID] != buildID || info.Config.Labels[LabelInstance] != b.instance {
		return fmt.Errorf("docker: container %s exists and does not belong to build %s", name, buildID)
	}
	if err := b.cli.ContainerRemove(ctx, info.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove container %s: %w", name, err)
	}
	return nil
}

// Destroy force-removes the build's container (killing whatever runs in it) and its per-build
// volumes; cache volumes stay. It is idempotent and a no-op on a nil *Build. Give it a context
// that is not the (possibly cancelled) run context: context.WithoutCancel plus a short timeout.
func (bd *Build) Destroy(ctx context.Context) error {
	if bd == nil {
		return nil
	}
	return bd.b.destroyBuild(ctx, bd.BuildID)
}

// DestroyBuild removes every container and per-build volume of buildID, as Build.Destroy does, for
// callers that lost the *Build (a restarted server cleaning up a build it knows about).
func (b *Backend) DestroyBuild(ctx context.Context, buildID string) error {
	return b.destroyBuild(ctx, buildID)
}

// destroyBuild removes by label rather than by remembered ids, so it also removes the leftovers
// of a Setup that failed half way.
func (b *Backend) destroyBuild(ctx context.Context, buildID string) error {
	f := b.labelFilter(LabelBuildID + "=" + buildID)
	var errs []error
	cs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("docker: list containers of build %s: %w", buildID, err)
	}
	for _, c := range cs {
		if err := b.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("docker: remove container %s: %w", c.ID[:12], err))
		}
	}
	vs, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("docker: list volumes of build %s: %w", buildID, err))...)
	}
	for _, v := range vs.Volumes {
		if v.Labels[LabelCache] == "true" {
			continue
		}
		if err := b.cli.VolumeRemove(ctx, v.Name, false); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("docker: remove volume %s: %w", v.Name, err))
		}
	}
	return errors.Join(errs...)
}

// CopyIn extracts a tar stream into dir in the container, creating dir (as root, mkdir -p) first.
// Ownership and modes come from the tar headers.
func (bd *Build) CopyIn(ctx context.Context, dir string, tar io.Reader) error {
	if code, out, err := bd.run(ctx, []string{"mkdir", "-p", "--", dir}); err != nil {
		return err
	} else if code != 0 {
		return fmt.Errorf("docker: mkdir -p %s in the build container: exit %d: %s", dir, code, bytes.TrimSpace(out))
	}
	if err := bd.b.cli.CopyToContainer(ctx, bd.ID, dir, tar, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("docker: copy into %s: %w", dir, err)
	}
	return nil
}

// CopyOut returns a tar stream of path (a file or a directory, which appears in the stream under
// its base name). The caller closes it.
func (bd *Build) CopyOut(ctx context.Context, path string) (io.ReadCloser, error) {
	rc, _, err := bd.b.cli.CopyFromContainer(ctx, bd.ID, path)
	if err != nil {
		return nil, fmt.Errorf("docker: copy out %s: %w", path, err)
	}
	return rc, nil
}

// run execs a short housekeeping command as root and returns its exit code and combined output.
func (bd *Build) run(ctx context.Context, cmd []string) (int, []byte, error) {
	cli := bd.b.cli
	ex, err := cli.ContainerExecCreate(ctx, bd.ID, container.ExecOptions{
		User: "0", Cmd: cmd, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return -1, nil, fmt.Errorf("docker: exec %q: %w", cmd, err)
	}
	resp, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return -1, nil, fmt.Errorf("docker: exec %q: %w", cmd, err)
	}
	defer resp.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, resp.Reader); err != nil {
		return -1, out.Bytes(), fmt.Errorf("docker: exec %q: read output: %w", cmd, err)
	}
	code, err := bd.exitCode(ctx, ex.ID)
	return code, out.Bytes(), err
}

// exitCode waits for the exec to be marked finished (the engine may still be recording the exit
// when its output ends) and returns its exit code.
func (bd *Build) exitCode(ctx context.Context, execID string) (int, error) {
	delay := time.Millisecond
	for {
		info, err := bd.b.cli.ContainerExecInspect(ctx, execID)
		if err != nil {
			return -1, fmt.Errorf("docker: inspect exec: %w", err)
		}
		if !info.Running {
			return info.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(delay):
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}
