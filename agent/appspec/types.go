package appspec

import (
	"io/fs"
	"time"
)

// Lifecycle events that take scripts, in the in-place order. Start, DownloadBundle, Install,
// BlockTraffic, AllowTraffic and End are run by CodeDeploy or the agent itself.
var ScriptEvents = []string{
	"BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop", "BeforeInstall", "AfterInstall",
	"ApplicationStart", "ValidateService", "BeforeAllowTraffic", "AfterAllowTraffic",
}

// builtinEvents are lifecycle events that exist but take no scripts.
var builtinEvents = []string{"Start", "DownloadBundle", "Install", "BlockTraffic", "AllowTraffic", "End"}

// File exists behaviours (file_exists_behavior).
const (
	Disallow  = "DISALLOW"
	Overwrite = "OVERWRITE"
	Retain    = "RETAIN"
)

// DefaultTimeout is a hook script's timeout when the appspec gives none, and also the most it
// may give.
const DefaultTimeout = 3600 * time.Second

// AppSpec is a parsed appspec.yml.
type AppSpec struct {
	// OS is "linux".
	OS    string
	Files []File
	// FileExistsBehavior is DISALLOW, OVERWRITE or RETAIN; "" when the appspec does not say.
	FileExistsBehavior string
	Permissions        []Permission
	// Hooks maps a lifecycle event to its scripts, in the order written.
	Hooks map[string][]Script
	// Warnings are things the agent accepts but ignores or changes (SELinux context, a timeout
	// above the maximum); they belong in the deployment's log.
	Warnings []Error
}

// File is one files entry: Source (relative to the revision root, "" for all of it) copied into
// the Destination directory.
type File struct {
	// Source is slash-separated and clean, relative to the revision root; "" means the whole
	// revision ("/" in the appspec).
	Source string
	// Destination is an absolute, clean directory path.
	Destination string
	Line        int
}

// Permission is one permissions entry.
type Permission struct {
	// Object is an absolute, clean path.
	Object string
	// Pattern selects what below Object gets the permissions: "**" (the default) everything at any
	// depth, anything else a path.Match pattern on the names directly in Object.
	Pattern string
	// Except are path.Match patterns on names directly in Object that are left alone.
	Except []string
	Owner  string
	Group  string
	// Mode is set when HasMode.
	Mode    fs.FileMode
	HasMode bool
	// ACLs are setfacl entries in the full form ("user:bob:rw-", "default:group:ops:r-x").
	ACLs []string
	// Files and Dirs say which kinds of object the entry applies to (type: [file, directory]).
	Files, Dirs bool
	Line        int
}

// Script is one hook script.
type Script struct {
	// Location is slash-separated and clean, relative to the revision root.
	Location string
	// Timeout is at most DefaultTimeout.
	Timeout time.Duration
	// RunAs is the user to run as; "" for the agent's own.
	RunAs string
	// Sudo runs the script through sudo (an undocumented key AWS's agent accepts).
	Sudo bool
	Line int
}
