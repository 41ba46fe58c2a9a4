package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"
)

// runOnceMaxAge is how old a RunOnce container must be before Reap treats it as left over.
const runOnceMaxAge = 10 * time.Minute

// Reap removes this instance's containers and per-build volumes whose build is not alive: what a
// crash, a lost Destroy or a killed server left behind. alive is asked once per build id found; it
// must answer true for every build from before its Setup starts until its Destroy returns, or
// Reap races with them. Cache volumes (conveyor.cache=true) and resources of other instances are
// never touched; RunOnce containers are removed once older than ten minutes. removed counts the
// containers and volumes removed. Errors do not stop the sweep; they are joined.
func (b *Backend) Reap(ctx context.Context, alive func(buildID string) bool) (removed int, err error) {
	verdict := map[string]bool{} // build id -> alive
	isAlive := func(id string) bool {
		v, ok := verdict[id]
		if !ok {
			v = alive(id)
			verdict[id] = v
		}
		return v
	}
	var errs []error

	cs, err := b.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: b.labelFilter()})
	if err != nil {
		return 0, fmt.Errorf("docker: reap: list containers: %w", err)
	}
	for _, c := range cs {
		id := c.Labels[LabelBuildID]
		switch {
		case c.Labels[LabelRunOnce] == "true":
			if time.Since(time.Unix(c.Created, 0)) < runOnceMaxAge {
				continue
			}
		case id == "" || isAlive(id):
			continue
		}
		if err := b.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			if !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("docker: reap container %s: %w", c.ID[:12], err))
			}
			continue
		}
		b.log.Info("docker: reaped container", "container", c.ID[:12], "build", id)
		removed++
	}

	vs, err := b.cli.VolumeList(ctx, volume.ListOptions{Filters: b.labelFilter()})
	if err != nil {
		return removed, errors.Join(append(errs, fmt.Errorf("docker: reap: list volumes: %w", err))...)
	}
	for _, v := range vs.Volumes {
		id := v.Labels[LabelBuildID]
		if v.Labels[LabelCache] == "true" || id == "" || isAlive(id) {
			continue
		}
		if err := b.cli.VolumeRemove(ctx, v.Name, false); err != nil {
			if !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("docker: reap volume %s: %w", v.Name, err))
			}
			continue
		}
		b.log.Info("docker: reaped volume", "volume", v.Name, "build", id)
		removed++
	}
	return removed, errors.Join(errs...)
}
