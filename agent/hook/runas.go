package hook

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// command builds how a script runs.
//
// runas: an agent running as root (the normal case: it installs files anywhere and chowns them)
// starts the script directly with the user's uid, gid and groups, and HOME, USER and LOGNAME set
// for that user. That is what AWS's `su <user> -c <script>` amounts to, without depending on su,
// PAM or a login shell, and the script stays the leader of the process group the timeout kills.
// An agent running as another user falls back to AWS's commands: `su <user> -c <script>` (which
// needs a password, so it fails unless PAM lets this user through), and with sudo: true
// `sudo -n [-u <user>] <script>`.
func command(s Script) (argv []string, cred *syscall.Credential, env []string, err error) {
	env = s.Env
	if s.RunAs == "" && !s.Sudo {
		return []string{s.Path}, nil, env, nil
	}
	if os.Geteuid() == 0 {
		if s.RunAs == "" {
			return []string{s.Path}, nil, env, nil // sudo: already root
		}
		u, err := lookupUser(s.RunAs)
		if err != nil {
			return nil, nil, nil, err
		}
		cred, err := credential(u)
		if err != nil {
			return nil, nil, nil, err
		}
		env = setEnv(env, "HOME", u.HomeDir)
		env = setEnv(env, "USER", u.Username)
		env = setEnv(env, "LOGNAME", u.Username)
		return []string{s.Path}, cred, env, nil
	}
	if me, err := user.Current(); err == nil && me.Username == s.RunAs && !s.Sudo {
		return []string{s.Path}, nil, env, nil
	}
	switch {
	case s.Sudo && s.RunAs != "":
		return []string{"sudo", "-n", "-u", s.RunAs, "--", s.Path}, nil, env, nil
	case s.Sudo:
		return []string{"sudo", "-n", "--", s.Path}, nil, env, nil
	}
	return []string{"su", s.RunAs, "-c", shellQuote(s.Path)}, nil, env, nil
}

func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if _, nerr := strconv.Atoi(name); nerr == nil {
		if u, err := user.LookupId(name); err == nil {
			return u, nil
		}
	}
	return nil, fmt.Errorf("no such user %q on this host", name)
}

func credential(u *user.User) (*syscall.Credential, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q", u.Username, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q", u.Username, u.Gid)
	}
	c := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if g, err := strconv.ParseUint(id, 10, 32); err == nil {
				c.Groups = append(c.Groups, uint32(g))
			}
		}
	}
	return c, nil
}

// setEnv replaces or adds one variable.
func setEnv(env []string, key, value string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return append(out, key+"="+value)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
