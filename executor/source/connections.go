package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/executor/source/git"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

// Providers of connections: the forge a connection's webhooks come from (it decides the
// signature header and the payload shape) and how a token is presented when cloning.
const (
	ProviderGitHub = "github"
	ProviderGitea  = "gitea"
	ProviderGitLab = "gitlab"
	ProviderGit    = "git"
)

// ConnectionProviders lists the providers, in the order the CLI shows them.
var ConnectionProviders = []string{ProviderGitHub, ProviderGitea, ProviderGitLab, ProviderGit}

// tokenUsers is the Basic-auth user name each forge expects with a token as the password.
var tokenUsers = map[string]string{ProviderGitHub: "x-access-token", ProviderGitea: "x-access-token", ProviderGitLab: "oauth2", ProviderGit: "x-access-token"}

// DefaultPollInterval is the interval when polling is turned on without one.
const DefaultPollInterval = 60 * time.Second

// MinPollInterval keeps polling from hammering a forge.
const MinPollInterval = time.Second

var connectionNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// InputError is a connection request that cannot be carried out as given.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// ErrorCode lets the API answer an input error as a ValidationException.
func (e *InputError) ErrorCode() string { return "ValidationException" }

func inputErrorf(format string, args ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, args...)}
}

// ConnectionInput is what creates or changes a connection. Nil secrets keep the stored value on a
// change; an empty one removes it.
type ConnectionInput struct {
	Name                string
	Provider            string
	URL                 string
	WebhookSecret       *string
	Token               *string
	SSHKey              *string
	AllowPrivateNetwork bool
	PollInterval        time.Duration
}

// Connections manages connections to git repositories: validation, storage (secrets sealed), their
// ARNs, and the git repositories they lead to.
type Connections struct {
	DB       *store.DB
	Sealer   *store.Sealer
	Git      *git.Client
	Region   string
	Resolver *net.Resolver
	// Pipelines lists the current declarations (to refuse deleting a connection in use); may be nil.
	Pipelines func(ctx context.Context) ([]*pipeline.Declaration, error)
	// Changed is called after a connection was created, changed or deleted (polling follows it).
	Changed func()
}

// Arn is a connection's ARN. The connection's id in it is its name, so a conveyor.yaml can name a
// connection it declares.
func (c *Connections) Arn(name string) string {
	region := c.Region
	if region == "" {
		region = "local"
	}
	return fmt.Sprintf("arn:aws:codeconnections:%s:000000000000:connection/%s", region, name)
}

var arnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]*:[0-9]{12}:connection/([A-Za-z0-9][A-Za-z0-9._-]{0,63})$`)

// ConnectionNameFromArn returns the connection an ARN names (codeconnections or the older
// codestar-connections service; any region), or false when it is not a connection ARN.
func ConnectionNameFromArn(arn string) (string, bool) {
	m := arnPattern.FindStringSubmatch(arn)
	if m == nil {
		return "", false
	}
	return m[2], true
}

// CheckConnectionName checks a connection's name (it appears in URLs, ARNs and directory names).
func CheckConnectionName(name string) error {
	if !connectionNamePattern.MatchString(name) {
		return inputErrorf("connection name %q: 1-64 letters, digits, '.', '_' and '-', starting with a letter or digit", name)
	}
	return nil
}

// CheckProvider checks a connection's provider.
func CheckProvider(provider string) error {
	if !slices.Contains(ConnectionProviders, provider) {
		return inputErrorf("provider %q: use %s", provider, strings.Join(ConnectionProviders, ", "))
	}
	return nil
}

// Validate checks a connection request without storing anything.
func (c *Connections) Validate(ctx context.Context, in ConnectionInput) (git.URL, error) {
	if err := CheckConnectionName(in.Name); err != nil {
		return git.URL{}, err
	}
	if err := CheckProvider(in.Provider); err != nil {
		return git.URL{}, err
	}
	u, err := git.ParseURL(in.URL)
	if err != nil {
		return git.URL{}, inputErrorf("url: %v", err)
	}
	if in.PollInterval != 0 && in.PollInterval < MinPollInterval || in.PollInterval < 0 {
		return git.URL{}, inputErrorf("poll interval %s: at least %s (or 0 to turn polling off)", in.PollInterval, MinPollInterval)
	}
	for _, s := range []struct {
		name  string
		value *string
		max   int
	}{{"webhook secret", in.WebhookSecret, 1024}, {"token", in.Token, 4096}, {"SSH key", in.SSHKey, 64 << 10}} {
		if s.value != nil && len(*s.value) > s.max {
			return git.URL{}, inputErrorf("the %s is longer than %d bytes", s.name, s.max)
		}
	}
	if in.SSHKey != nil && *in.SSHKey != "" {
		if u.Scheme != "ssh" {
			return git.URL{}, inputErrorf("an SSH key needs an ssh URL (ssh://host/path or git@host:path), not %s", u.Scheme)
		}
		if !strings.Contains(*in.SSHKey, "PRIVATE KEY-----") {
			return git.URL{}, inputErrorf("the SSH key is not a private key in OpenSSH or PEM form")
		}
	}
	if in.Token != nil && *in.Token != "" && u.Scheme == "ssh" {
		return git.URL{}, inputErrorf("a token is sent over https or http; this URL is ssh (give an SSH key instead)")
	}
	if err := git.CheckHost(ctx, c.Resolver, u, in.AllowPrivateNetwork); err != nil {
		return git.URL{}, inputErrorf("url: %v", err)
	}
	return u, nil
}

// Create stores a new connection; store.ErrConflict when the name is taken.
func (c *Connections) Create(ctx context.Context, in ConnectionInput) (store.Connection, error) {
	if _, err := c.Validate(ctx, in); err != nil {
		return store.Connection{}, err
	}
	rec := record(in)
	err := c.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.CreateConnection(ctx, c.Sealer, rec, secretsOf(in))
	})
	if err != nil {
		return store.Connection{}, err
	}
	c.changed()
	return c.Get(ctx, in.Name)
}

func record(in ConnectionInput) store.Connection {
	return store.Connection{Name: in.Name, Provider: in.Provider, URL: in.URL, AllowPrivateNetwork: in.AllowPrivateNetwork, PollInterval: in.PollInterval}
}

func secretsOf(in ConnectionInput) store.ConnectionSecrets {
	return store.ConnectionSecrets{Token: in.Token, SSHKey: in.SSHKey, WebhookSecret: in.WebhookSecret}
}

func (c *Connections) changed() {
	if c.Changed != nil {
		c.Changed()
	}
}

// PutResult says what Put did (or would do).
type PutResult struct {
	Connection store.Connection
	Created    bool
	Changed    []string // fields that differ, secrets included by name only
}

// Put creates the connection or brings it to the input (conveyor apply). Secrets are compared by
// the server, which alone can open them, and reported by name. dryRun stores nothing.
func (c *Connections) Put(ctx context.Context, in ConnectionInput, dryRun bool) (PutResult, error) {
	if _, err := c.Validate(ctx, in); err != nil {
		return PutResult{}, err
	}
	var res PutResult
	err := c.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := tx.GetConnection(ctx, in.Name)
		if errors.Is(err, store.ErrNotFound) {
			res.Created = true
			if dryRun {
				return nil
			}
			return tx.CreateConnection(ctx, c.Sealer, record(in), secretsOf(in))
		}
		if err != nil {
			return err
		}
		open, err := tx.ConnectionSecrets(ctx, c.Sealer, in.Name)
		if err != nil {
			return err
		}
		res.Changed = diffConnection(cur, open, in)
		if dryRun || len(res.Changed) == 0 {
			return nil
		}
		return tx.UpdateConnection(ctx, c.Sealer, record(in), secretsOf(in))
	})
	if err != nil {
		return PutResult{}, err
	}
	if !dryRun && (res.Created || len(res.Changed) > 0) {
		c.changed()
	}
	if dryRun && res.Created {
		res.Connection = record(in)
		return res, nil
	}
	res.Connection, err = c.Get(ctx, in.Name)
	return res, err
}

func diffConnection(cur store.Connection, open store.OpenSecrets, in ConnectionInput) []string {
	var out []string
	add := func(differs bool, name string) {
		if differs {
			out = append(out, name)
		}
	}
	add(cur.Provider != in.Provider, "provider")
	add(cur.URL != in.URL, "url")
	add(cur.AllowPrivateNetwork != in.AllowPrivateNetwork, "allowPrivateNetwork")
	add(cur.PollInterval != in.PollInterval, "pollInterval")
	add(in.WebhookSecret != nil && *in.WebhookSecret != open.WebhookSecret, "webhookSecret")
	add(in.Token != nil && *in.Token != open.Token, "token")
	add(in.SSHKey != nil && *in.SSHKey != open.SSHKey, "sshKey")
	return out
}

// Get reads a connection (never its secrets).
func (c *Connections) Get(ctx context.Context, name string) (store.Connection, error) {
	return c.DB.Read().GetConnection(ctx, name)
}

// List lists the connections.
func (c *Connections) List(ctx context.Context) ([]store.Connection, error) {
	return c.DB.Read().ListConnections(ctx)
}

// Secrets opens a connection's credentials and webhook secret.
func (c *Connections) Secrets(ctx context.Context, name string) (store.OpenSecrets, error) {
	return c.DB.Read().ConnectionSecrets(ctx, c.Sealer, name)
}

// Delete removes a connection, its deliveries and its git caches. A connection that pipelines'
// source actions name is refused (store.ErrConflict): they would fail at their next run.
func (c *Connections) Delete(ctx context.Context, name string) error {
	if _, err := c.Get(ctx, name); err != nil {
		return err
	}
	if c.Pipelines != nil {
		decls, err := c.Pipelines(ctx)
		if err != nil {
			return err
		}
		var users []string
		for _, d := range decls {
			for _, a := range sourceActions(d) {
				if connectionOf(a) == name {
					users = append(users, d.Name)
					break
				}
			}
		}
		if len(users) > 0 {
			return fmt.Errorf("connection %s is used by pipeline(s) %s; change or delete them first: %w", name, strings.Join(users, ", "), store.ErrConflict)
		}
	}
	if err := c.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteConnection(ctx, name) }); err != nil {
		return err
	}
	c.changed()
	if c.Git != nil {
		return c.Git.RemoveConnection(name)
	}
	return nil
}

// connectionOf names the connection a source action uses, or "".
func connectionOf(a pipeline.Action) string {
	switch a.ActionTypeID.Provider {
	case CodeStarType.Provider:
		name, _ := ConnectionNameFromArn(a.Configuration["ConnectionArn"])
		return name
	case CodeCommitType.Provider:
		return a.Configuration["RepositoryName"]
	}
	return ""
}

// repositoryURL is the clone URL of a repository under a connection: the connection's URL itself
// when it names one repository, else the repository fullRepositoryID under it.
func repositoryURL(conn store.Connection, fullRepositoryID string) (git.URL, error) {
	u, err := git.ParseURL(conn.URL)
	if err != nil {
		return git.URL{}, fmt.Errorf("connection %s: %w", conn.Name, err)
	}
	if fullRepositoryID != "" && u.IsBase(fullRepositoryID) {
		u = u.Join(fullRepositoryID)
	}
	return u, nil
}

// Repo opens the cached git repository of a repository under a connection, with its credentials.
func (c *Connections) Repo(ctx context.Context, conn store.Connection, fullRepositoryID string) (*git.Repo, error) {
	u, err := repositoryURL(conn, fullRepositoryID)
	if err != nil {
		return nil, err
	}
	sec, err := c.Secrets(ctx, conn.Name)
	if err != nil {
		return nil, err
	}
	return c.Git.Repo(conn.Name, git.Remote{URL: u, Token: sec.Token, TokenUser: tokenUsers[conn.Provider], SSHKey: sec.SSHKey,
		AllowPrivateNetwork: conn.AllowPrivateNetwork})
}
