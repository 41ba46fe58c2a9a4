package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// DeployApplication is a CodeDeploy application.
type DeployApplication struct {
	Name            string
	ID              string
	ComputePlatform string
	Created         time.Time
}

// CreateDeployApplication stores a new application; ErrConflict if the name is taken.
func (tx *Tx) CreateDeployApplication(ctx context.Context, a DeployApplication) (DeployApplication, error) {
	a.Created = tx.now
	_, err := tx.q.ExecContext(ctx, `INSERT INTO deploy_applications (name, id, compute_platform, created_at) VALUES (?, ?, ?, ?)`,
		a.Name, a.ID, a.ComputePlatform, ms(tx.now))
	if isUnique(err) {
		return DeployApplication{}, fmt.Errorf("application %s: %w", a.Name, ErrConflict)
	}
	if err != nil {
		return DeployApplication{}, fmt.Errorf("insert application %s: %w", a.Name, err)
	}
	return a, nil
}

func scanApplication(s scanner) (DeployApplication, error) {
	var a DeployApplication
	var created int64
	err := s.Scan(&a.Name, &a.ID, &a.ComputePlatform, &created)
	a.Created = fromMS(created)
	return a, err
}

// GetDeployApplication reads an application.
func (tx *Tx) GetDeployApplication(ctx context.Context, name string) (DeployApplication, error) {
	a, err := scanApplication(tx.q.QueryRowContext(ctx, `SELECT name, id, compute_platform, created_at FROM deploy_applications WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return DeployApplication{}, fmt.Errorf("application %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return DeployApplication{}, fmt.Errorf("read application %s: %w", name, err)
	}
	return a, nil
}

// ListDeployApplications lists applications by name.
func (tx *Tx) ListDeployApplications(ctx context.Context) ([]DeployApplication, error) {
	out, err := queryAll(ctx, tx.q, scanApplication, `SELECT name, id, compute_platform, created_at FROM deploy_applications ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	return out, nil
}

// DeleteDeployApplication removes an application with its groups and deployments.
func (tx *Tx) DeleteDeployApplication(ctx context.Context, name string) error {
	if _, err := tx.q.ExecContext(ctx, `DELETE FROM deployments WHERE application = ?`, name); err != nil {
		return fmt.Errorf("delete deployments of %s: %w", name, err)
	}
	res, err := tx.q.ExecContext(ctx, `DELETE FROM deploy_applications WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete application %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("application %s: %w", name, ErrNotFound)
	}
	return nil
}

// DeployGroup is a deployment group; Definition is the domain's JSON.
type DeployGroup struct {
	ID          string
	Application string
	Name        string
	Definition  []byte
	Created     time.Time
	Updated     time.Time
}

// CreateDeployGroup stores a new group; ErrConflict if the name is taken in the application.
func (tx *Tx) CreateDeployGroup(ctx context.Context, g DeployGroup) (DeployGroup, error) {
	g.Created, g.Updated = tx.now, tx.now
	_, err := tx.q.ExecContext(ctx, `INSERT INTO deploy_groups (id, application, name, definition, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, g.ID, g.Application, g.Name, string(g.Definition), ms(tx.now), ms(tx.now))
	if isUnique(err) {
		return DeployGroup{}, fmt.Errorf("deployment group %s/%s: %w", g.Application, g.Name, ErrConflict)
	}
	if err != nil {
		return DeployGroup{}, fmt.Errorf("insert deployment group %s/%s: %w", g.Application, g.Name, err)
	}
	return g, nil
}

// UpdateDeployGroup renames a group and replaces its definition; ErrConflict if the new name is
// taken.
func (tx *Tx) UpdateDeployGroup(ctx context.Context, id, name string, definition []byte) error {
	res, err := tx.q.ExecContext(ctx, `UPDATE deploy_groups SET name = ?, definition = ?, updated_at = ? WHERE id = ?`,
		name, string(definition), ms(tx.now), id)
	if isUnique(err) {
		return fmt.Errorf("deployment group %s: %w", name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update deployment group %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("deployment group %s: %w", id, ErrNotFound)
	}
	return nil
}

const groupColumns = `id, application, name, definition, created_at, updated_at`

func scanGroup(s scanner) (DeployGroup, error) {
	var g DeployGroup
	var def string
	var created, updated int64
	err := s.Scan(&g.ID, &g.Application, &g.Name, &def, &created, &updated)
	g.Definition, g.Created, g.Updated = []byte(def), fromMS(created), fromMS(updated)
	return g, err
}

// GetDeployGroup reads a group by application and name.
func (tx *Tx) GetDeployGroup(ctx context.Context, app, name string) (DeployGroup, error) {
	g, err := scanGroup(tx.q.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM deploy_groups WHERE application = ? AND name = ?`, app, name))
	if errors.Is(err, sql.ErrNoRows) {
		return DeployGroup{}, fmt.Errorf("deployment group %s/%s: %w", app, name, ErrNotFound)
	}
	if err != nil {
		return DeployGroup{}, fmt.Errorf("read deployment group %s/%s: %w", app, name, err)
	}
	return g, nil
}

// GetDeployGroupByID reads a group by id.
func (tx *Tx) GetDeployGroupByID(ctx context.Context, id string) (DeployGroup, error) {
	g, err := scanGroup(tx.q.QueryRowContext(ctx, `SELECT `+groupColumns+` FROM deploy_groups WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return DeployGroup{}, fmt.Errorf("deployment group %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return DeployGroup{}, fmt.Errorf("read deployment group %s: %w", id, err)
	}
	return g, nil
}

// ListDeployGroups lists an application's groups by name.
func (tx *Tx) ListDeployGroups(ctx context.Context, app string) ([]DeployGroup, error) {
	out, err := queryAll(ctx, tx.q, scanGroup, `SELECT `+groupColumns+` FROM deploy_groups WHERE application = ? ORDER BY name`, app)
	if err != nil {
		return nil, fmt.Errorf("list deployment groups of %s: %w", app, err)
	}
	return out, nil
}

// DeleteDeployGroup removes a group and its deployments.
func (tx *Tx) DeleteDeployGroup(ctx context.Context, id string) error {
	if _, err := tx.q.ExecContext(ctx, `DELETE FROM deployments WHERE group_id = ?`, id); err != nil {
		return fmt.Errorf("delete deployments of group %s: %w", id, err)
	}
	res, err := tx.q.ExecContext(ctx, `DELETE FROM deploy_groups WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete deployment group %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("deployment group %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeployConfig is a custom deployment configuration.
type DeployConfig struct {
	Name            string
	ID              string
	ComputePlatform string
	MinHealthyType  string
	MinHealthyValue int
	Created         time.Time
}

// CreateDeployConfig stores a new configuration; ErrConflict if the name is taken.
func (tx *Tx) CreateDeployConfig(ctx context.Context, c DeployConfig) (DeployConfig, error) {
	c.Created = tx.now
	_, err := tx.q.ExecContext(ctx, `INSERT INTO deploy_configs (name, id, compute_platform, min_healthy_type, min_healthy_value, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, c.Name, c.ID, c.ComputePlatform, c.MinHealthyType, c.MinHealthyValue, ms(tx.now))
	if isUnique(err) {
		return DeployConfig{}, fmt.Errorf("deployment config %s: %w", c.Name, ErrConflict)
	}
	if err != nil {
		return DeployConfig{}, fmt.Errorf("insert deployment config %s: %w", c.Name, err)
	}
	return c, nil
}

func scanConfig(s scanner) (DeployConfig, error) {
	var c DeployConfig
	var created int64
	err := s.Scan(&c.Name, &c.ID, &c.ComputePlatform, &c.MinHealthyType, &c.MinHealthyValue, &created)
	c.Created = fromMS(created)
	return c, err
}

const configColumns = `name, id, compute_platform, min_healthy_type, min_healthy_value, created_at`

// GetDeployConfig reads a custom configuration.
func (tx *Tx) GetDeployConfig(ctx context.Context, name string) (DeployConfig, error) {
	c, err := scanConfig(tx.q.QueryRowContext(ctx, `SELECT `+configColumns+` FROM deploy_configs WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return DeployConfig{}, fmt.Errorf("deployment config %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return DeployConfig{}, fmt.Errorf("read deployment config %s: %w", name, err)
	}
	return c, nil
}

// ListDeployConfigs lists custom configurations by name.
func (tx *Tx) ListDeployConfigs(ctx context.Context) ([]DeployConfig, error) {
	out, err := queryAll(ctx, tx.q, scanConfig, `SELECT `+configColumns+` FROM deploy_configs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list deployment configs: %w", err)
	}
	return out, nil
}
