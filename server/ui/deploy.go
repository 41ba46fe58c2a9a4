package ui

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/executor/deploy"
)

// Deployment and agent pages: shown when the deploy service is wired (Deps.Deploy).

type deploymentsData struct {
	Deployments []deploy.DeploymentInfo
	Next        string
}

func (u *UI) deploymentsPage(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	ids, next, err := u.d.Deploy.ListDeployments(ctx, deploy.ListDeploymentsInput{NextToken: r.URL.Query().Get("next")})
	if err != nil {
		return err
	}
	list, err := u.d.Deploy.BatchGetDeployments(ctx, ids)
	if err != nil {
		return err
	}
	sort.SliceStable(list, func(i, j int) bool { return tsTime(list[i].CreateTime).After(tsTime(list[j].CreateTime)) })
	p.Title, p.Template, p.Active = "Deployments", "deployments", "/deployments"
	p.Data = deploymentsData{Deployments: list, Next: next}
	p.Topics = []string{"deployment:*"}
	return nil
}

type deploymentData struct {
	D       deploy.DeploymentInfo
	Targets []deploy.InstanceTarget
	Logs    map[string]deploy.HostLog
	Active  bool
}

func (u *UI) deploymentPage(w http.ResponseWriter, r *http.Request, p *page) error {
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	d, err := u.d.Deploy.GetDeployment(ctx, id)
	if err != nil {
		return err
	}
	targets, err := u.d.Deploy.Targets(ctx, id)
	if err != nil {
		return err
	}
	hostLogs, err := u.d.Deploy.Logs(ctx, id, "", 200)
	if err != nil {
		return err
	}
	logs := map[string]deploy.HostLog{}
	for _, l := range hostLogs {
		logs[l.Instance] = l
	}
	p.Title, p.Template, p.Active = "Deployment "+id, "deployment", "/deployments"
	p.Data = deploymentData{D: d, Targets: targets, Logs: logs, Active: !deploy.Finished(d.Status)}
	p.Topics = []string{"deployment:" + id}
	return nil
}

// stopDeployment stops a running deployment; rollback=true rolls the hosts back to the last good
// revision (a new deployment), false leaves them as they are, absent follows the group's setting.
func (u *UI) stopDeployment(w http.ResponseWriter, r *http.Request) (string, string, error) {
	id := chi.URLParam(r, "id")
	var rollback *bool
	if v := r.PostFormValue("rollback"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", "", badInput("rollback must be true or false")
		}
		rollback = &b
	}
	who, _ := identity(r)
	status, msg, err := u.d.Deploy.StopDeployment(r.Context(), id, rollback, who)
	u.recordOp(r, "deployment.stop", id, "rollback="+r.PostFormValue("rollback"), err)
	if err != nil {
		return "", "", err
	}
	if msg == "" {
		msg = "Stop requested (" + status + ")"
	}
	return msg, "/deployments/" + id, nil
}

func (u *UI) agentsPage(w http.ResponseWriter, r *http.Request, p *page) error {
	agents, err := u.d.Deploy.ListAgents(r.Context())
	if err != nil {
		return err
	}
	p.Title, p.Template, p.Active, p.Data = "Agents", "agents", "/agents", agents
	p.Topics = []string{"agent:*", "deployment:*"}
	return nil
}

func (u *UI) revokeAgent(w http.ResponseWriter, r *http.Request) (string, string, error) {
	name := chi.URLParam(r, "name")
	err := u.d.Deploy.RevokeAgent(r.Context(), name, false)
	u.recordOp(r, "agent.revoke", name, "", err)
	if err != nil {
		return "", "", err
	}
	return "Revoked the agent of " + name + "; it must register again", "/agents", nil
}
